"""Decoded images/s of the image input pipeline vs grain worker count.

  python scripts/bench_data.py --num_images 2048 --size 128 --workers 0,1,2,4

Makes `--num_images` smooth random RGB images (JPEG-compressible like photos,
not white noise), prepares them with `gaxla.data.folder.prepare` as
`--size`-px JPEG (quality 95) ArrayRecord shards in a temporary folder, then
times `make_source(...).batch(step)` (the grain pipeline: read, JPEG decode,
crop/resize, batch, scale to [-1, 1]) for `--steps` batches of `--batch_size`
after `--warmup` batches, for each `--workers` count (0: grain in the training
process, k: k grain worker processes). `--per_example` first times the path
the pipeline replaced: a Python loop in the training process reading and
decoding one record at a time in a seeded permutation (what the removed
`TfdsImageSource` did). Prints one JSON line per path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np


def _make_images(folder_path: str, count: int, size: int, seed: int = 0) -> None:
  from PIL import Image
  rng = np.random.default_rng(seed)
  for c in range(2):
    os.makedirs(os.path.join(folder_path, f"class{c}"), exist_ok=True)
  for i in range(count):
    coarse = rng.integers(0, 256, (size // 8, size // 8, 3), np.uint8)
    image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
    image.save(os.path.join(folder_path, f"class{i % 2}", f"{i:06d}.png"))


def _per_example(records, args) -> float:
  """Seconds for `args.steps` batches the pre-grain way: one record at a time, in process."""
  from gaxla.data.tfds_images import center_crop_resize, to_float
  order = np.random.default_rng(0).permutation(len(records))

  def batch(step):
    idx = order[np.arange(step * args.batch_size, (step + 1) * args.batch_size) % len(order)]
    parts = [records[int(i)] for i in idx]
    images = np.stack([center_crop_resize(np.asarray(p["image"]), args.size) for p in parts])
    return to_float({"x": images[None], "label": np.asarray([p["label"] for p in parts])[None]})

  for step in range(args.warmup):
    batch(step)
  start = time.perf_counter()
  for step in range(args.warmup, args.warmup + args.steps):
    batch(step)
  return time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num_images", type=int, default=2048)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--workers", default="0,1,2,4")
  parser.add_argument("--per_example", action=argparse.BooleanOptionalAction, default=True)
  args = parser.parse_args()
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  import ml_collections

  from gaxla import data
  from gaxla.data import folder
  with tempfile.TemporaryDirectory() as tmp:
    source_dir, prepared = os.path.join(tmp, "images"), os.path.join(tmp, "prepared")
    _make_images(source_dir, args.num_images, args.size)
    summary = folder.prepare(source_dir, prepared, args.size, test_fraction=0.01,
                             encoding="jpeg", progress=False)
    bytes_on_disk = sum(os.path.getsize(os.path.join(prepared, f)) for f in os.listdir(prepared))
    common = {"batch_size": args.batch_size, "steps": args.steps, "size": args.size,
              "train_images": summary.counts["train"], "mb_on_disk": round(bytes_on_disk / 1e6, 1),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    if args.per_example:
      seconds = _per_example(folder.FolderRecords(prepared, "train"), args)
      print(json.dumps({"path": "per_example", "workers": 0, "images_per_s": round(
          args.steps * args.batch_size / seconds, 1), **common}), flush=True)
    for workers in (int(w) for w in args.workers.split(",")):
      config = ml_collections.ConfigDict({"name": "folder", "data_dir": prepared,
                                          "source_dir": "", "image_size": 0,
                                          "workers": workers})
      source = data.make_source(config, args.batch_size, 1, seed=0)
      for step in range(args.warmup):
        source.batch(step)
      start = time.perf_counter()
      for step in range(args.warmup, args.warmup + args.steps):
        source.batch(step)
      seconds = time.perf_counter() - start
      source.close()
      print(json.dumps({"path": "grain", "workers": workers, "images_per_s": round(
          args.steps * args.batch_size / seconds, 1), **common}), flush=True)


if __name__ == "__main__":
  main()
