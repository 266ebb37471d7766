"""CIFAR-10 / ImageNet sources over tfds data_source (mocked data, no TF)."""

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gaxla import data
from gaxla.data.tfds_images import center_crop_resize


def _config(name, image_size=0, data_dir=""):
  return ml_collections.ConfigDict(
      {"name": name, "data_dir": data_dir, "source_dir": "", "image_size": image_size})


def test_unprepared_dataset_names_the_fix(tmp_path):
  with pytest.raises(FileNotFoundError, match="tfds build cifar10 .*array_record"):
    data.make_source(_config("cifar10", data_dir=str(tmp_path)), 4, 1, 0)


@pytest.mark.parametrize("name,size", [("cifar10", 0), ("imagenet2012", 16)])
def test_batches_are_deterministic_images_and_labels(name, size):
  with tfds.testing.mock_data(num_examples=12):
    source = data.make_source(_config(name, size), 4, 2, seed=3)
    batch = source.batch(5)
    again = data.make_source(_config(name, size), 4, 2, seed=3).batch(5)
    other = source.batch(6)
  side = size or 32
  assert batch["x"].shape == (2, 4, side, side, 3) and batch["x"].dtype == np.float32
  assert -1.0 <= batch["x"].min() and batch["x"].max() <= 1.0
  assert batch["label"].shape == (2, 4) and batch["label"].dtype == np.int32
  np.testing.assert_array_equal(batch["x"], again["x"])
  np.testing.assert_array_equal(batch["label"], again["label"])
  assert not np.array_equal(batch["x"], other["x"])


def test_center_crop_keeps_the_middle_square():
  image = np.zeros((6, 10, 3), np.uint8)
  image[:, 2:8] = 255                  # the centre 6x6 square is white
  np.testing.assert_array_equal(center_crop_resize(image, 6), np.full((6, 6, 3), 255))
  assert center_crop_resize(image, 3).shape == (3, 3, 3)
