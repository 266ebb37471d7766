"""Decoded images/s of the image input pipeline vs grain worker count.

  python scripts/bench_data.py --num_images 2048 --size 128 --workers 0,1,2,4

Makes `--num_images` smooth random RGB images (JPEG-compressible like photos,
not white noise), prepares them with `gaxla.data.folder.prepare` as
`--size`-px JPEG (quality 95) ArrayRecord shards in a temporary folder, then
times `make_source(...).batch(step)` (read, JPEG decode, crop/resize, scale to
[-1, 1]) for `--steps` batches of `--batch_size` after `--warmup` batches:
workers 0 is the per-example path in the training process, k > 0 the grain
`WorkerSource` with k processes. Prints one JSON line per worker count.
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


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num_images", type=int, default=2048)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--workers", default="0,1,2,4")
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
      if hasattr(source, "close"):
        source.close()
      print(json.dumps({
          "workers": workers, "images_per_s": round(args.steps * args.batch_size / seconds, 1),
          "batch_size": args.batch_size, "steps": args.steps, "size": args.size,
          "train_images": summary.counts["train"], "mb_on_disk": round(bytes_on_disk / 1e6, 1),
          "machine": f"{platform.machine()}, {os.cpu_count()} cores"}), flush=True)


if __name__ == "__main__":
  main()
