"""The grain pipeline (gaxla/data/grain_pipeline.py) on a tiny prepared folder: the same
batches for the same (seed, step) from one process or two processes' rows combined, with
0 or N worker processes, after a restore of its iterator state, and through gaxla's real
checkpoint path (train, SIGTERM in mid-epoch, resume) bit for bit."""

import os
import signal

import jax
import ml_collections
import numpy as np
import pytest
from conftest import tiny_dcgan_config
from PIL import Image

grain = pytest.importorskip("grain")

from gaxla import checkpoint, data, train  # noqa: E402
from gaxla.data import folder  # noqa: E402
from gaxla.data.grain_pipeline import GrainPipeline  # noqa: E402
from gaxla.data.tfds_images import center_crop_resize  # noqa: E402

TRAIN_IMAGES = 13   # 15 written, 2 held out for 'test'


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
                                    "image_size": 0, "workers": 0, "random_flip": True})


def _with(data_config, **changes):
  config = ml_collections.ConfigDict(data_config.to_dict())
  config.update(changes)
  return config


def _assert_batches_equal(a, b):
  np.testing.assert_array_equal(a["x"], b["x"])
  np.testing.assert_array_equal(a["label"], b["label"])


def test_one_process_equals_two_processes_rows_and_any_worker_count(data_config):
  one = data.make_source(data_config, 4, 2, seed=5,
                         shard_options=grain.sharding.ShardOptions(0, 1))
  assert isinstance(one, GrainPipeline) and one.rows == slice(0, 4)
  steps = range(5)   # 5 steps x 8 examples = 40 > 3 epochs of 13 images
  expected = [one.uint8_batch(s) for s in steps]
  np.testing.assert_array_equal(one.batch(5)["x"],
                                one.uint8_batch(5)["x"].astype(np.float32) / 127.5 - 1.0)
  # Every epoch is a permutation of the training images, each epoch a new one.
  records = folder.FolderRecords(data_config.data_dir, "train")
  everything = sorted(center_crop_resize(records[i]["image"], 8).tobytes()
                      for i in range(TRAIN_IMAGES))
  stream = np.concatenate([b["x"].reshape(-1, 8, 8, 3) for b in expected])
  epochs = [stream[e * TRAIN_IMAGES:(e + 1) * TRAIN_IMAGES] for e in range(3)]
  for epoch in epochs:   # a flip is undone where it happened: compare as sets of both views
    seen = sorted(min(x.tobytes(), x[:, ::-1].tobytes()) for x in epoch)
    assert seen == sorted(min(x, np.frombuffer(x, np.uint8).reshape(8, 8, 3)[:, ::-1].tobytes())
                          for x in everything)
  assert not np.array_equal(epochs[0], epochs[1])
  # Flips happen, and only on some images.
  unflipped = data.make_source(_with(data_config, random_flip=False), 4, 2, seed=5,
                               shard_options=grain.sharding.ShardOptions(0, 1)).uint8_batch(0)["x"]
  same = [np.array_equal(a, b) for a, b in zip(unflipped.reshape(-1, 8, 8, 3),
                                               expected[0]["x"].reshape(-1, 8, 8, 3))]
  assert 0 < sum(same) < len(same)
  # Two processes (simulated through grain's ShardOptions), one with a worker process.
  halves = [data.make_source(_with(data_config, workers=workers), 4, 2, seed=5,
                             shard_options=grain.sharding.ShardOptions(index, 2))
            for index, workers in ((0, 0), (1, 1))]
  assert [h.rows for h in halves] == [slice(0, 2), slice(2, 4)]
  try:
    for step, want in zip(steps, expected):
      parts = [h.uint8_batch(step) for h in halves]
      _assert_batches_equal({k: np.concatenate([p[k] for p in parts], axis=1) for k in want},
                            want)
  finally:
    for h in halves:
      h.close()
  with pytest.raises(ValueError, match="multiple of the process count"):
    data.make_source(data_config, 5, 1, seed=5, shard_options=grain.sharding.ShardOptions(0, 2))


def test_iterator_state_restores_mid_epoch_with_workers(data_config):
  config = _with(data_config, workers=1)
  straight = data.make_source(_with(data_config, workers=0), 3, 1, seed=9)
  first = data.make_source(config, 3, 1, seed=9)
  try:
    want = [straight.batch(s) for s in range(8)]
    for s in range(6):   # read ahead of step 4, as the device prefetch does
      _assert_batches_equal(first.batch(s), want[s])
    saved = first.state(4)
    assert saved["step"] == 4 and saved["workers"] == 1 and saved["iterator"] is not None
    resumed = data.make_source(config, 3, 1, seed=9)
    assert resumed.restore(saved, 4)
    for s in range(4, 8):   # step 4 starts mid-epoch (position 12 of 13)
      _assert_batches_equal(resumed.batch(s), want[s])
    # A state from another worker count is not used; the step alone gives the same batches.
    in_process = data.make_source(_with(data_config, workers=0), 3, 1, seed=9)
    assert not in_process.restore(saved, 4)
    _assert_batches_equal(in_process.batch(4), want[4])
  finally:
    for source in (straight, first, resumed):
      source.close()


class _Recorder:
  """Records a source's batches and restores; sends SIGTERM to itself at one step."""

  def __init__(self, source, sigterm_at):
    self.source, self.sigterm_at, self.seen, self.restored = source, sigterm_at, {}, []

  def __getattr__(self, name):   # state, close, rows, ...
    return getattr(self.source, name)

  def restore(self, state, step):
    self.restored.append((step, self.source.restore(state, step)))
    return self.restored[-1][1]

  def batch(self, step):
    if step == self.sigterm_at:
      os.kill(os.getpid(), signal.SIGTERM)
    self.seen[step] = self.source.batch(step)
    return self.seen[step]


def test_training_resume_through_the_checkpoint_is_bit_identical(data_config, tmp_path,
                                                                 monkeypatch):
  config = tiny_dcgan_config(**{
      "data.name": "folder", "data.data_dir": data_config.data_dir, "data.random_flip": True,
      "batch_size": 3, "num_steps": 8, "checkpoint_every_steps": 4, "eval_every_steps": 8,
      "log_every_steps": 8, "eval.metrics": ()})
  runs, sigterm_at = [], None
  make_source = data.make_source

  def recording(*args, **kwargs):
    runs.append(_Recorder(make_source(*args, **kwargs), sigterm_at))
    return runs[-1]

  monkeypatch.setattr(data, "make_source", recording)
  straight, _ = train.train_and_evaluate(config, str(tmp_path / "a"), show_progress=False)
  sigterm_at = 4   # arrives while step 5's batch is read ahead: the run stops at step 5
  with pytest.raises(checkpoint.Preempted, match="at step 5"):
    train.train_and_evaluate(config, str(tmp_path / "b"), show_progress=False)
  manager = checkpoint.make_manager(str(tmp_path / "b"), config, read_only=True)
  saved = checkpoint.data_state(manager, 5)
  manager.close()
  assert saved["step"] == 5 and saved["iterator"] is not None   # 15 examples read: mid-epoch
  sigterm_at = None
  resumed, _ = train.train_and_evaluate(config, str(tmp_path / "b"), show_progress=False)
  assert runs[2].restored == [(5, True)]   # the grain iterator resumed from the checkpoint
  assert int(resumed.step) == 8
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  assert sorted(runs[2].seen) == [5, 6, 7]
  for step, batch in runs[2].seen.items():
    _assert_batches_equal(batch, runs[0].seen[step])
