"""`data.name = "folder"`: your own images, prepared once into ArrayRecord shards.

  gaxla prepare --source DIR --out PREPARED --image_size 64

Layout of DIR: class subfolders (`DIR/cat/*.jpg`, `DIR/dog/*.png`, ...) give
labels, classes in sorted name order; images directly in DIR (and no
subfolders with images) give an unconditional dataset. Every file is tried
with Pillow; unreadable or non-image files are skipped and counted, never
fatal. An empty folder, or a single class folder, is an error that says what
to do.

Each image is converted to RGB, centre-cropped to a square and resized to
`image_size` (area averaging when shrinking, bilinear when growing: the same
`center_crop_resize` the tfds datasets use), PNG-encoded (lossless) and
written as one record: 4 bytes little-endian int32 label, then the PNG (or
JPEG, `encoding='jpeg'`). A
seeded `test_fraction` of the images (at least one) forms the 'test' split
that classifier metrics use; the rest is 'train'. Shards are
`PREPARED/{split}-{i:05d}-of-{n:05d}.array_record`, of at most
`shard_size` records, with `PREPARED/dataset_info.json` holding the classes,
counts, image size, skipped files and a hash of the source files (relative
paths, sizes, modification times): the key reference statistics are cached
under.

Reading: `FolderRecords(PREPARED, split)` is a random-access source (length,
`[i] -> {'image': uint8 [S, S, 3], 'label': int}`), batched by the grain
pipeline (gaxla/data/grain_pipeline.py) like CIFAR-10 / ImageNet.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import io
import json
import os
import struct
import sys
import time

import numpy as np

INFO_FILE = "dataset_info.json"
PREPARE_HINT = ("prepare it once with `gaxla prepare --source YOUR_IMAGES --out {out} "
                "--image_size N`, then set --config.data.data_dir={out}")


@dataclasses.dataclass
class Summary:
  """What `prepare` did."""

  out_dir: str
  classes: list
  counts: dict            # split -> images written
  skipped: int            # unreadable / non-image files
  skipped_examples: list  # up to 10 of them, relative paths
  seconds: float

  def __str__(self) -> str:
    kind = (f"{len(self.classes)} classes ({', '.join(self.classes[:8])}"
            f"{', ...' if len(self.classes) > 8 else ''})" if self.classes else "unlabelled")
    skipped = (f"; skipped {self.skipped} unreadable file(s), e.g. "
               f"{', '.join(self.skipped_examples[:3])}" if self.skipped else "; nothing skipped")
    return (f"prepared {sum(self.counts.values())} images ({kind}): "
            f"{self.counts.get('train', 0)} train, {self.counts.get('test', 0)} test, in "
            f"{self.out_dir}{skipped} ({self.seconds:.1f} s)")


def _scan(source_dir: str) -> tuple[list[str], list[tuple[str, int]]]:
  """(class names, [(path, label)]) from the folder layout; label 0 when unlabelled."""
  if not os.path.isdir(source_dir):
    raise FileNotFoundError(f"image folder {source_dir!r} does not exist")
  entries = sorted(os.listdir(source_dir))
  subdirs = [e for e in entries if os.path.isdir(os.path.join(source_dir, e))
             and not e.startswith(".")]
  files = [os.path.join(source_dir, e) for e in entries
           if os.path.isfile(os.path.join(source_dir, e)) and not e.startswith(".")]
  class_files = {}
  for name in subdirs:
    found = sorted(p for p in glob.glob(os.path.join(source_dir, name, "**", "*"), recursive=True)
                   if os.path.isfile(p) and not os.path.basename(p).startswith("."))
    if found:
      class_files[name] = found
  if class_files:
    if len(class_files) == 1:
      only = next(iter(class_files))
      raise ValueError(
          f"{source_dir!r} has one class folder only ({only!r}): put each class's images in "
          f"its own subfolder (at least two), or all images directly in {source_dir!r} for "
          "an unconditional dataset")
    classes = sorted(class_files)
    return classes, [(p, c) for c, name in enumerate(classes) for p in class_files[name]]
  if not files:
    raise ValueError(f"{source_dir!r} holds no files: put images in it (flat: unconditional) "
                     "or in one subfolder per class")
  return [], [(p, 0) for p in files]


def _source_hash(items, source_dir: str) -> str:
  digest = hashlib.sha1()
  for path, label in items:
    stat = os.stat(path)
    digest.update(f"{os.path.relpath(path, source_dir)}|{label}|{stat.st_size}|"
                  f"{int(stat.st_mtime)}\n".encode())
  return digest.hexdigest()[:16]


def _load(path: str, size: int) -> np.ndarray | None:
  """uint8 [size, size, 3], or None when Pillow cannot read the file."""
  from PIL import Image

  from gaxla.data.tfds_images import center_crop_resize
  try:
    with Image.open(path) as image:
      image = image.convert("RGB")
      array = np.asarray(image)
  except Exception:  # noqa: BLE001 -- any unreadable file is skipped and counted, by design
    return None
  if array.ndim != 3 or min(array.shape[:2]) < 1:
    return None
  return center_crop_resize(array, size)


def encode(image: np.ndarray, label: int, encoding: str = "png") -> bytes:
  from PIL import Image
  buffer = io.BytesIO()
  if encoding == "jpeg":
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
  else:
    Image.fromarray(image).save(buffer, format="PNG")
  return struct.pack("<i", int(label)) + buffer.getvalue()


def decode(record: bytes) -> dict:
  from PIL import Image
  label = struct.unpack("<i", record[:4])[0]
  with Image.open(io.BytesIO(record[4:])) as image:
    return {"image": np.asarray(image.convert("RGB")), "label": label}


def prepare(source_dir: str, out_dir: str, image_size: int, test_fraction: float = 0.1,
            shard_size: int = 10_000, seed: int = 0, progress: bool | None = None,
            encoding: str = "png") -> Summary:
  """Reads an image folder and writes ArrayRecord shards plus `dataset_info.json`.

  Args:
    source_dir: class subfolders, or images directly inside (unconditional).
    out_dir: where the shards go (created; previous shards there are replaced).
    image_size: side of the stored square images.
    test_fraction: share of images held out as the 'test' split (at least one).
    shard_size: records per shard file.
    seed: fixes which images are held out.
    progress: show a progress bar (default: when stderr is a terminal).
    encoding: 'png' (lossless, default) or 'jpeg' (quality 95, ~5x smaller).

  Returns:
    A `Summary` (its str is the one-line report `gaxla prepare` prints).

  Raises:
    ValueError: no readable image, or a single class folder.
    FileNotFoundError: `source_dir` does not exist.
  """
  from array_record.python.array_record_module import ArrayRecordWriter
  if encoding not in ("png", "jpeg"):
    raise ValueError(f"encoding must be 'png' or 'jpeg', got {encoding!r}")
  if not isinstance(image_size, int) or image_size < 1:
    raise ValueError(f"--image_size must be a positive integer, got {image_size!r}")
  start = time.perf_counter()
  classes, items = _scan(source_dir)
  show = sys.stderr.isatty() if progress is None else progress
  bar = None
  if show:
    from tqdm import tqdm
    bar = tqdm(total=len(items), desc="gaxla prepare", unit="img")
  images, labels, skipped = [], [], []
  for path, label in items:
    image = _load(path, image_size)
    if image is None:
      skipped.append(os.path.relpath(path, source_dir))
    else:
      images.append(image)
      labels.append(label)
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  if not images:
    raise ValueError(f"no readable images in {source_dir!r} ({len(skipped)} file(s) tried, "
                     "none opened with Pillow)")
  present = sorted(set(labels))
  if classes and len(present) < 2:
    raise ValueError(f"{source_dir!r}: only class {classes[present[0]]!r} has readable "
                     "images; a labelled dataset needs at least two classes")
  order = np.random.default_rng(seed).permutation(len(images))
  num_test = max(1, round(test_fraction * len(images))) if len(images) > 1 else 0
  splits = {"test": np.sort(order[:num_test]), "train": np.sort(order[num_test:])}
  os.makedirs(out_dir, exist_ok=True)
  for old in glob.glob(os.path.join(out_dir, "*.array_record")):
    os.remove(old)
  counts, shards = {}, {}
  for split, idx in splits.items():
    num_shards = max(1, -(-len(idx) // shard_size))
    names = []
    for s in range(num_shards):
      name = f"{split}-{s:05d}-of-{num_shards:05d}.array_record"
      writer = ArrayRecordWriter(os.path.join(out_dir, name), "group_size:1")
      for i in idx[s * shard_size:(s + 1) * shard_size]:
        writer.write(encode(images[i], labels[i], encoding))
      writer.close()
      names.append(name)
    counts[split], shards[split] = int(len(idx)), names
  info = {"classes": classes, "num_classes": len(classes), "image_size": image_size,
          "channels": 3, "counts": counts, "shards": shards, "skipped": len(skipped),
          "skipped_examples": skipped[:10], "source_dir": os.path.abspath(source_dir),
          "source_hash": _source_hash(items, source_dir), "encoding": f"label int32le + {encoding}",
          "test_fraction": test_fraction, "seed": seed}
  with open(os.path.join(out_dir, INFO_FILE), "w") as f:
    json.dump(info, f, indent=1)
  return Summary(out_dir, classes, counts, len(skipped), skipped[:10],
                 time.perf_counter() - start)


def read_info(prepared_dir: str) -> dict:
  """`dataset_info.json` of a prepared folder dataset.

  Raises:
    FileNotFoundError: not prepared (the message gives the command).
  """
  path = os.path.join(os.path.expanduser(prepared_dir or ""), INFO_FILE)
  if not prepared_dir or not os.path.exists(path):
    raise FileNotFoundError(
        f"data.name 'folder' reads a prepared image folder from data.data_dir, and "
        f"{prepared_dir or '(data.data_dir is empty)'} holds no {INFO_FILE}: "
        + PREPARE_HINT.format(out=prepared_dir or "PREPARED"))
  with open(path) as f:
    return json.load(f)


class FolderRecords:
  """Random access to one split of a prepared folder: `[i] -> {'image', 'label'}`."""

  def __init__(self, prepared_dir: str, split: str):
    from array_record.python.array_record_data_source import ArrayRecordDataSource
    info = read_info(prepared_dir)
    if split not in info["shards"] or not info["counts"].get(split):
      raise FileNotFoundError(f"prepared folder {prepared_dir!r} has no '{split}' images")
    self.info = info
    self.split = split
    self._records = ArrayRecordDataSource(
        [os.path.join(prepared_dir, name) for name in info["shards"][split]])

  def __len__(self) -> int:
    return len(self._records)

  def __getitem__(self, index: int) -> dict:
    return decode(self._records[int(index)])

  def __getitems__(self, indices) -> list[dict]:
    return [decode(r) for r in self._records.__getitems__([int(i) for i in indices])]
