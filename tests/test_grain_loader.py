"""grain worker processes decode ahead without changing a single batch: same
batches for the same (seed, step) with and without workers, for one process and
two processes' rows combined, and after a resume (restart at a later step)."""

import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("grain")

from gaxla import data  # noqa: E402
from gaxla.data import folder  # noqa: E402
from gaxla.data.grain_loader import WorkerSource  # noqa: E402


@pytest.fixture(scope="module")
def data_config(tmp_path_factory):
  source = tmp_path_factory.mktemp("images")
  rng = np.random.default_rng(0)
  for c in ("a", "b", "c"):
    os.makedirs(source / c)
    for i in range(5):
      Image.fromarray(rng.integers(0, 256, (12, 10, 3), np.uint8)).save(source / c / f"{i}.jpg")
  out = str(tmp_path_factory.mktemp("prepared"))
  folder.prepare(str(source), out, 8)
  return ml_collections.ConfigDict({"name": "folder", "data_dir": out, "source_dir": "",
                                    "image_size": 0, "workers": 0})


def _workers(data_config, count):
  config = ml_collections.ConfigDict(data_config.to_dict())
  config.workers = count
  return config


def test_workers_and_process_rows_give_the_same_batches(data_config):
  plain = data.make_source(data_config, 4, 2, seed=5)
  steps = [0, 1, 2, 3, 4]   # 4 steps x 8 examples > 13 train images: crosses epochs
  expected = [plain.batch(s) for s in steps]
  # Two processes' rows, each decoded by its own grain worker.
  halves = [data.make_source(_workers(data_config, 1), 4, 2, seed=5, rows=rows)
            for rows in (slice(0, 2), slice(2, 4))]
  assert all(isinstance(h, WorkerSource) for h in halves)
  try:
    for step, want in zip(steps, expected):
      parts = [h.batch(step) for h in halves]
      np.testing.assert_array_equal(np.concatenate([p["x"] for p in parts], axis=1), want["x"])
      np.testing.assert_array_equal(np.concatenate([p["label"] for p in parts], axis=1),
                                    want["label"])
  finally:
    for h in halves:
      h.close()


def test_resume_restarts_at_the_step_with_the_same_batches(data_config):
  plain = data.make_source(data_config, 4, 1, seed=7)
  resumed = data.make_source(_workers(data_config, 2), 4, 1, seed=7)
  try:
    for step in (3, 4, 5, 1):   # a resume at 3, then an out-of-order request
      np.testing.assert_array_equal(resumed.batch(step)["x"], plain.batch(step)["x"])
  finally:
    resumed.close()
