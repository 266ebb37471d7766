"""Fashion-MNIST (28x28 grey, 10 classes) through tfds, without TensorFlow.

Why our own builder: tfds's built-in `fashion_mnist` builder needs TensorFlow
to prepare (gzip extraction via GFile, PNG encoding of every image), and it
rejects the files of Debian's `dataset-fashion-mnist` package
(`/usr/share/datasets/fashion-mnist/*.gz`) because their checksums differ from
upstream: Debian rewrote the gzip headers, the data inside is identical. So
`GaxlaFashionMnist` (registered as `gaxla_fashion_mnist`) parses the original
IDX files with numpy and stores images as a raw `uint8` Tensor feature (no PNG,
so nothing needs TensorFlow to encode or decode).

Storage and reading: the builder writes ArrayRecord files in the usual tfds
layout (`<data_dir>/gaxla_fashion_mnist/1.0.0/`), in the original IDX order.
`load()` prepares that once, then reads a split back with tfds's random-access
data source (`builder.as_data_source`, the same thing `tfds.data_source`
returns), in batches. A whole split is loaded into RAM as numpy arrays: the
set is small (47 MB as uint8 for train + test), so training batches are cut
from memory rather than streamed.

Sources: IDX files from a local folder (default `DEFAULT_SOURCE_DIR`, passed
to tfds as the download config's `manual_dir`). If that folder lacks them, the
builder downloads the upstream IDX files through the tfds download manager;
`load()` only lets it do so with `allow_download=True`. The download path is
unverified offline (written for the official URLs, never run here).
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import tensorflow_datasets as tfds

DEFAULT_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
DOWNLOAD_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
SPLITS = ("train", "test")
# split -> (images file, labels file), as named upstream and by Debian.
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_ALL_FILES = tuple(f for pair in FILES.values() for f in pair)

# IDX type byte -> numpy dtype (big-endian on disk).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4",
               0x0D: ">f4", 0x0E: ">f8"}
_READ_BATCH = 4096


def read_idx(path) -> np.ndarray:
  """Reads an IDX file (gzip-compressed or plain) into a numpy array.

  Raises:
    ValueError: naming the file, when it is not a valid IDX file (bad magic
      number, bad gzip data, or fewer bytes than its header announces).
  """
  path = os.fspath(path)
  try:
    with open(path, "rb") as f:
      raw = f.read()
    if raw[:2] == b"\x1f\x8b":
      raw = gzip.decompress(raw)
  except (EOFError, gzip.BadGzipFile, OSError) as e:
    if isinstance(e, FileNotFoundError):
      raise
    raise ValueError(f"corrupt IDX file {path}: cannot decompress ({e})") from e
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
    raise ValueError(f"corrupt IDX file {path}: bad magic number {raw[:4].hex() or '(empty)'}")
  dtype = np.dtype(_IDX_DTYPES[raw[2]])
  ndim = raw[3]
  header = 4 + 4 * ndim
  if len(raw) < header:
    raise ValueError(f"corrupt IDX file {path}: truncated header")
  shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
  count = int(np.prod(shape, dtype=np.int64))
  expected = header + count * dtype.itemsize
  if len(raw) != expected:
    raise ValueError(f"corrupt IDX file {path}: {len(raw)} bytes, expected "
                     f"{expected} for shape {shape}")
  return np.frombuffer(raw, dtype, count, offset=header).reshape(shape).astype(
      dtype.newbyteorder("="))


def _local_files(source_dir) -> dict[str, str] | None:
  """Maps file name -> path if all four IDX files are in source_dir."""
  if source_dir is None:
    return None
  paths = {f: os.path.join(os.fspath(source_dir), f) for f in _ALL_FILES}
  return paths if all(os.path.isfile(p) for p in paths.values()) else None


class GaxlaFashionMnist(tfds.core.GeneratorBasedBuilder):
  """Fashion-MNIST from the original IDX files, TF-free (uint8 Tensor images)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "IDX files -> uint8 Tensor features, original order."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put the four Fashion-MNIST IDX files (" + ", ".join(_ALL_FILES) + ") in "
      "the manual dir, e.g. `apt-get install dataset-fashion-mnist` and use "
      f"{DEFAULT_SOURCE_DIR}. Without them the builder downloads from {DOWNLOAD_URL}.")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="Zalando's Fashion-MNIST: 28x28 grey article images, 10 classes.",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
        }),
        supervised_keys=("image", "label"),
        disable_shuffling=True,  # keep the IDX order
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    )

  def _split_generators(self, dl_manager):
    try:
      paths = _local_files(dl_manager.manual_dir)
    except AssertionError:  # no manual dir, or it is missing/empty
      paths = None
    if paths is None:  # unverified offline: plain HTTP download of the .gz files
      paths = dl_manager.download({f: DOWNLOAD_URL + f for f in _ALL_FILES})
    return {split: self._generate_examples(paths[images], paths[labels])
            for split, (images, labels) in FILES.items()}

  def _generate_examples(self, images_path, labels_path):
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
      raise ValueError(f"{images_path}: expected uint8 [N, 28, 28] images, "
                       f"got {images.dtype} {images.shape}")
    if labels.shape != images.shape[:1]:
      raise ValueError(f"{labels_path}: {labels.shape[0] if labels.ndim else 0} "
                       f"labels for {images.shape[0]} images in {images_path}")
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {"image": image[..., None], "label": int(label)}


def _missing_message(source_dir, data_dir_root) -> str:
  return (
      f"Fashion-MNIST not found: no IDX files in {source_dir} and no prepared "
      f"tfds dataset in {data_dir_root}. Install the Debian package "
      "`dataset-fashion-mnist` (apt-get install dataset-fashion-mnist), or set "
      f"data.source_dir to a folder holding {', '.join(_ALL_FILES)}, or run "
      f"with internet access and allow_download=True (downloads from {DOWNLOAD_URL}).")


def load(split: str, data_dir: str | None = None, source_dir: str | None = None,
         *, allow_download: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """Loads a whole split as (images uint8 [N, 28, 28, 1], labels int32 [N]).

  Prepares the tfds dataset in `data_dir` on first use (from the IDX files in
  `source_dir`), then reads it back from its ArrayRecord files.

  Args:
    split: 'train' (60,000 examples) or 'test' (10,000).
    data_dir: tfds data dir; default `$TFDS_DATA_DIR` or ~/tensorflow_datasets.
    source_dir: folder with the four IDX .gz files; default DEFAULT_SOURCE_DIR.
      Only read when the dataset is not prepared yet.
    allow_download: if the IDX files are missing, download them from the
      official URLs instead of raising FileNotFoundError.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown Fashion-MNIST split {split!r}; valid splits: {', '.join(SPLITS)}")
  builder = GaxlaFashionMnist(data_dir=data_dir or None)
  if not builder.is_prepared():
    source_dir = os.fspath(source_dir or DEFAULT_SOURCE_DIR)
    have_files = _local_files(source_dir) is not None
    if not have_files and not allow_download:
      raise FileNotFoundError(_missing_message(source_dir, builder.data_dir_root))
    config = tfds.download.DownloadConfig(manual_dir=source_dir if have_files else None)
    builder.download_and_prepare(file_format="array_record", download_config=config)
  source = builder.as_data_source(split=split)
  n = len(source)
  images = np.empty((n, 28, 28, 1), np.uint8)
  labels = np.empty((n,), np.int32)
  for start in range(0, n, _READ_BATCH):
    stop = min(start + _READ_BATCH, n)
    batch = source.__getitems__(range(start, stop))
    images[start:stop] = np.stack([ex["image"] for ex in batch])
    labels[start:stop] = [ex["label"] for ex in batch]
  return images, labels
