"""Fashion-MNIST via our TF-free tfds builder, on tiny synthetic IDX files."""

import gzip
import os

import numpy as np
import pytest

from gaxla.data import fashion_mnist as fm

N_TRAIN, N_TEST = 20, 10


def _idx_bytes(array: np.ndarray) -> bytes:
  code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}[array.dtype]
  header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
  return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_idx(path, array, compress=True):
  data = _idx_bytes(array)
  with open(path, "wb") as f:
    f.write(gzip.compress(data) if compress else data)


def _synthetic(n, offset):
  """Images whose pixels encode (example, row, col); labels cycle 0..9."""
  i, r, c = np.meshgrid(np.arange(n), np.arange(28), np.arange(28), indexing="ij")
  images = ((i * 7 + r * 3 + c + offset) % 256).astype(np.uint8)
  labels = ((np.arange(n) * 3 + offset) % 10).astype(np.uint8)
  return images, labels


@pytest.fixture
def source(tmp_path):
  src = tmp_path / "src"
  src.mkdir()
  arrays = {"train": _synthetic(N_TRAIN, 0), "test": _synthetic(N_TEST, 5)}
  for split, (images_file, labels_file) in fm.FILES.items():
    _write_idx(src / images_file, arrays[split][0])
    _write_idx(src / labels_file, arrays[split][1])
  return src, arrays


def test_read_idx_plain_and_gzip(tmp_path):
  images, labels = _synthetic(3, 1)
  _write_idx(tmp_path / "a.gz", images)
  _write_idx(tmp_path / "b", labels, compress=False)
  got = fm.read_idx(tmp_path / "a.gz")
  assert got.dtype == np.uint8 and got.shape == (3, 28, 28)
  np.testing.assert_array_equal(got, images)
  np.testing.assert_array_equal(fm.read_idx(tmp_path / "b"), labels)
  wide = np.arange(-3, 3, dtype=np.int32).reshape(2, 3)
  _write_idx(tmp_path / "c", wide, compress=False)
  got = fm.read_idx(tmp_path / "c")
  assert got.dtype == np.int32
  np.testing.assert_array_equal(got, wide)


def test_build_and_load_round_trip(source, tmp_path):
  src, arrays = source
  data_dir = tmp_path / "tfds"
  for split in ("train", "test"):
    images, labels = fm.load(split, data_dir=str(data_dir), source_dir=str(src))
    want_images, want_labels = arrays[split]
    assert images.dtype == np.uint8 and images.shape == (len(want_images), 28, 28, 1)
    assert labels.dtype == np.int32 and labels.shape == (len(want_images),)
    np.testing.assert_array_equal(images[..., 0], want_images)  # IDX order kept
    np.testing.assert_array_equal(labels, want_labels)
  assert (data_dir / "gaxla_fashion_mnist" / "1.0.0").is_dir()

  # The prepared dataset is an ordinary tfds dataset under the registered name.
  import tensorflow_datasets as tfds
  ds = tfds.data_source("gaxla_fashion_mnist", data_dir=str(data_dir), split="test",
                        download=False)
  assert len(ds) == N_TEST
  assert ds.dataset_info.features["label"].names == list(fm.CLASS_NAMES)
  np.testing.assert_array_equal(ds[3]["image"][..., 0], arrays["test"][0][3])


def test_second_load_reuses_prepared_dataset(source, tmp_path):
  src, arrays = source
  data_dir = str(tmp_path / "tfds")
  first = fm.load("train", data_dir=data_dir, source_dir=str(src))
  for f in src.iterdir():
    f.unlink()
  second = fm.load("train", data_dir=data_dir, source_dir=str(src))
  np.testing.assert_array_equal(first[0], second[0])
  np.testing.assert_array_equal(first[1], second[1])
  np.testing.assert_array_equal(second[1], arrays["train"][1])
  # ... and the default source dir is not consulted either.
  third = fm.load("test", data_dir=data_dir, source_dir=str(tmp_path / "nowhere"))
  np.testing.assert_array_equal(third[1], arrays["test"][1])


def test_missing_files_give_readable_error(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  data_dir = tmp_path / "tfds"
  with pytest.raises(FileNotFoundError) as info:
    fm.load("train", data_dir=str(data_dir), source_dir=str(empty))
  msg = str(info.value)
  assert str(empty) in msg and str(data_dir) in msg
  assert "apt-get install dataset-fashion-mnist" in msg
  assert "train-images-idx3-ubyte.gz" in msg and "allow_download=True" in msg
  assert not (data_dir / "gaxla_fashion_mnist").exists()  # nothing half-built


def test_partial_source_dir_counts_as_missing(source, tmp_path):
  src, _ = source
  (src / "t10k-labels-idx1-ubyte.gz").unlink()
  with pytest.raises(FileNotFoundError, match="Fashion-MNIST not found"):
    fm.load("train", data_dir=str(tmp_path / "tfds"), source_dir=str(src))


@pytest.mark.parametrize("damage", ["bad_magic", "truncated_gzip", "short_payload", "empty"])
def test_corrupt_idx_names_the_file(tmp_path, damage):
  images, _ = _synthetic(4, 0)
  path = tmp_path / "train-images-idx3-ubyte.gz"
  data = _idx_bytes(images)
  if damage == "bad_magic":
    blob = gzip.compress(b"\x12\x34" + data[2:])
  elif damage == "truncated_gzip":
    blob = gzip.compress(data)[:-200]
  elif damage == "short_payload":
    blob = gzip.compress(data[:-5])
  else:
    blob = b""
  path.write_bytes(blob)
  with pytest.raises(ValueError, match="corrupt IDX file .*train-images-idx3-ubyte.gz"):
    fm.read_idx(path)


def test_corrupt_source_fails_build_with_file_name(source, tmp_path):
  src, arrays = source
  bad = src / "t10k-images-idx3-ubyte.gz"
  bad.write_bytes(gzip.compress(b"not an idx file at all"))
  data_dir = tmp_path / "tfds"
  with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
    fm.load("train", data_dir=str(data_dir), source_dir=str(src))
  # The failed build leaves no prepared dataset behind; fixing the file works.
  _write_idx(bad, arrays["test"][0])
  images, _ = fm.load("test", data_dir=str(data_dir), source_dir=str(src))
  np.testing.assert_array_equal(images[..., 0], arrays["test"][0])


def test_unknown_split(tmp_path):
  with pytest.raises(ValueError, match="valid splits: train, test"):
    fm.load("validation", data_dir=str(tmp_path))


@pytest.mark.skipif(
    not os.path.exists(fm.DEFAULT_SOURCE_DIR + "/t10k-images-idx3-ubyte.gz"),
    reason="Debian package dataset-fashion-mnist not installed")
def test_real_debian_test_split(tmp_path):
  images, labels = fm.load("test", data_dir=str(tmp_path))
  assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8
  assert labels.shape == (10000,) and labels.dtype == np.int32
  np.testing.assert_array_equal(np.bincount(labels, minlength=10), [1000] * 10)
  assert 0 < images.mean() < 255
