"""Batch sources: deterministic in (seed, step), exact epochs, real datasets."""

import ml_collections
import numpy as np

from gaxla import data
from gaxla.data.pipeline import ArraySource


def _source(n=10, batch=4, n_critic=1, seed=0):
  images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(2, axis=1)
  labels = np.arange(n) % 3
  return ArraySource(images, labels, batch, n_critic, seed)


def test_every_example_once_per_epoch_across_batch_boundaries():
  source = _source(n=10, batch=4)
  seen = np.concatenate([source.indices(s) for s in range(5)])  # 20 positions = 2 epochs
  assert sorted(seen[:10]) == list(range(10))
  assert sorted(seen[10:]) == list(range(10))
  assert not np.array_equal(seen[:10], seen[10:])  # reshuffled each epoch


def test_batches_are_a_pure_function_of_seed_and_step():
  a, b = _source(), _source()
  for step in (7, 0, 3):  # any order: no hidden iterator state
    np.testing.assert_array_equal(a.batch(step)["x"], b.batch(step)["x"])
  assert not np.array_equal(_source(seed=1).indices(0), a.indices(0))


def test_batch_layout_and_scaling():
  source = _source(n=10, batch=4, n_critic=2)
  batch = source.batch(0)
  assert batch["x"].shape == (2, 4, 2, 1, 1) and batch["x"].dtype == np.float32
  assert batch["label"].shape == (2, 4) and batch["label"].dtype == np.int32
  idx = source.indices(0).reshape(2, 4)
  np.testing.assert_allclose(batch["x"][..., 0, 0, 0], idx / 127.5 - 1.0)
  np.testing.assert_array_equal(batch["label"], idx % 3)


def test_digits_loads_and_resizes():
  cfg = ml_collections.ConfigDict(dict(name="digits", data_dir="", source_dir="", image_size=16))
  images, labels = data.load_images(cfg)
  assert images.shape == (1797, 16, 16, 1) and images.dtype == np.uint8
  assert set(np.unique(labels)) == set(range(10))
  assert images.max() > 200 and images.min() == 0
  assert data.example_shape(cfg) == (16, 16, 1)


def test_pixel_convention_round_trips_every_uint8_value():
  from gaxla.data import pixels
  values = np.arange(256, dtype=np.uint8)
  model = pixels.to_model(values)
  assert model.dtype == np.float32 and model[0] == -1.0 and model[-1] == 1.0
  np.testing.assert_array_equal(pixels.to_uint8(model), values)
  # Out-of-range model outputs clip; half-way values round to nearest.
  np.testing.assert_array_equal(pixels.to_uint8(np.array([-3.0, 3.0, -1 + 1.0 / 127.5 * 0.6])),
                                [0, 255, 1])
