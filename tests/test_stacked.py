"""Stacked Fashion-MNIST: the source, the mode counting, the evaluator, and sampling."""

import numpy as np
import pytest

from gaxla.config import from_file
from gaxla.data import stacked
from gaxla.data.pipeline import ArraySource
from gaxla.evaluate import evaluators
from gaxla.evaluate.mode_coverage import stacked_mode_coverage
from test_cli import gaxla
from test_fashion_mnist import _synthetic, _write_idx
from gaxla.data import fashion_mnist as fm


def _images(n=30):
  images = (np.arange(n)[:, None, None, None] * 8 % 256).astype(np.uint8)
  return np.broadcast_to(images, (n, 28, 28, 1)).copy(), (np.arange(n) % 10).astype(np.int32)


def test_source_channels_are_independent_array_sources():
  images, labels = _images()
  source = stacked.StackedSource(images, labels, batch_size=8, n_critic=2, seed=1)
  batch = source.batch(5)
  assert batch["x"].shape == (2, 8, 28, 28, 3) and batch["x"].dtype == np.float32
  np.testing.assert_array_equal(batch["label"], 0)   # unconditional
  for k in range(3):
    alone = ArraySource(images, labels, 8, 2, seed=3 + k).batch(5)["x"][..., 0]
    np.testing.assert_array_equal(batch["x"][..., k], alone)
  # The channels are not copies of one another, and the batch is a function of the step.
  assert not np.array_equal(batch["x"][..., 0], batch["x"][..., 1])
  np.testing.assert_array_equal(source.batch(5)["x"], batch["x"])
  # Every image appears once per epoch in every channel.
  epoch = np.concatenate([source.batch(s)["x"][:, :, 0, 0, 2].ravel() for s in range(15)])
  assert sorted(epoch[:30]) == sorted(images[:, 0, 0, 0].astype(np.float32) / 127.5 - 1.0)


def test_fixed_stacked_set_labels_are_mode_indices():
  images, labels = _images()
  x, modes = stacked.stack(images, labels, 50, seed=0)
  assert x.shape == (50, 28, 28, 3) and modes.shape == (50,)
  classes = (x[:, 0, 0, :].astype(int) // 8) % 10   # pixel value 8 i -> example i -> class
  np.testing.assert_array_equal(modes, classes[:, 0] * 100 + classes[:, 1] * 10 + classes[:, 2])


def test_stacked_mode_coverage_closed_form():
  one = stacked_mode_coverage(np.tile([[1, 2, 3]], (40, 1)))
  assert one["modes_covered"] == 1 and one["reverse_kl"] == pytest.approx(np.log(1000))
  every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), axis=1)
  uniform = stacked_mode_coverage(np.concatenate([every, every]))
  assert uniform["modes_covered"] == 1000 and uniform["reverse_kl"] == pytest.approx(0.0)
  half = stacked_mode_coverage(every[:500])
  assert half["modes_covered"] == 500 and half["reverse_kl"] == pytest.approx(np.log(2))


def test_noise_row_anneals_at_half_of_an_overridden_length():
  config = from_file("configs/stacked_fashion_mnist.py", "noise")
  assert config.instance_noise.anneal_steps == config.num_steps // 2
  config.num_steps = 4300     # what --config.num_steps=4300 does
  assert config.instance_noise.anneal_steps == 2150


def test_reverse_kl_splits_into_class_imbalance_and_dependence():
  every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), axis=1)
  # Collapse onto the diagonal (c, c, c): balanced classes, all dependence.
  diagonal = stacked_mode_coverage(np.repeat(np.arange(10), 3).reshape(10, 3))
  assert diagonal["class_imbalance"] == pytest.approx(0.0, abs=1e-12)
  assert diagonal["dependence"] == pytest.approx(2 * np.log(10))
  # Independent channels whose classes 0-4 are 3x as likely as 5-9 (the
  # product of the marginals, exactly): all imbalance, no dependence.
  weights = np.where(every < 5, 3, 1).prod(axis=1)
  skewed = stacked_mode_coverage(np.repeat(every, weights, axis=0))
  marginal = np.array([3] * 5 + [1] * 5) / 20
  assert skewed["class_imbalance"] == pytest.approx(3 * np.sum(marginal * np.log(10 * marginal)))
  assert skewed["dependence"] == pytest.approx(0.0, abs=1e-12)
  # Any histogram: the two parts add up to the reverse KL.
  draws = np.random.default_rng(0).integers(0, 10, (3000, 3))
  draws[:500, 1] = draws[:500, 0]
  draws[:300, 2] = 6
  scores = stacked_mode_coverage(draws)
  assert scores["dependence"] > 0.01 and scores["class_imbalance"] > 0.01
  assert scores["class_imbalance"] + scores["dependence"] == pytest.approx(scores["reverse_kl"])


def test_evaluator_classifies_each_channel(monkeypatch):
  class ByBrightness:
    """A stand-in classifier: the class is the image's mean value bucket."""

    def __call__(self, images):
      classes = np.clip(((images.mean(axis=(1, 2, 3)) + 1) * 5).astype(int), 0, 9)
      return {"logits": np.eye(10)[classes] * 5.0}

  monkeypatch.setattr(evaluators, "_classifier", lambda config: (ByBrightness(), 0.9))
  evaluator = evaluators.StackedModes(from_file("configs/stacked_fashion_mnist.py"))
  # Channel values -1 + 0.2 c + 0.1 fall in bucket c; modes (c0, c1, c2) = (i, 2, 9 - i).
  samples = np.zeros((10, 28, 28, 3), np.float32)
  for i in range(10):
    for k, c in enumerate((i, 2, 9 - i)):
      samples[i, ..., k] = -1 + 0.2 * c + 0.1
  scores = evaluator.score(samples, np.zeros(10, np.int32), {})
  assert scores["modes_covered"] == 10
  assert scores["reverse_kl"] == pytest.approx(np.log(100))
  assert 0.9 < scores["channel_confidence"] <= 1.0


def test_stacked_metric_only_on_stacked_data():
  from gaxla import evaluate
  config = from_file("configs/fashion_mnist_dcgan.py")
  with pytest.raises(ValueError, match="stacked_fashion_mnist"):
    evaluate.check(config, ["stacked_modes"], check_files=False)


def test_train_and_sample_writes_three_channel_npy(tmp_path):
  src = tmp_path / "src"
  src.mkdir()
  for split, (images_file, labels_file) in fm.FILES.items():
    images, labels = _synthetic(40 if split == "train" else 20, 0)
    _write_idx(src / images_file, images)
    _write_idx(src / labels_file, labels)
  workdir = str(tmp_path / "run")
  gaxla("train", "--config", "configs/stacked_fashion_mnist.py:pac2", "--workdir", workdir,
        f"--config.data.source_dir={src}", f"--config.data.data_dir={tmp_path / 'tfds'}",
        "--config.num_steps=2", "--config.batch_size=8", "--config.log_every_steps=1",
        "--config.eval_every_steps=2", "--config.checkpoint_every_steps=2",
        "--config.eval.metrics=()", "--config.checkpoint.best_metric=",
        "--config.model.generator.base_channels=4", "--config.model.critic.base_channels=4")
  out = str(tmp_path / "s.npy")
  gaxla("sample", "--workdir", workdir, "--num", "5", "--out", out)
  samples = np.load(out)
  assert samples.shape == (5, 28, 28, 3) and samples.dtype == np.float32
  assert samples.min() >= -1 and samples.max() <= 1
