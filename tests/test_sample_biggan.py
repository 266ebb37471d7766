"""Truncation, standing statistics, sheets and interpolations (tiny BigGAN)."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from gaxla import cli_sample, sample
from gaxla.nn import BATCH_MOMENTS


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_truncation_is_a_true_truncated_normal(threshold):
  z = np.asarray(sample.latent(jax.random.key(0), (20000,), threshold), np.float64)
  assert np.all(np.abs(z) <= threshold)
  reference = scipy.stats.truncnorm(-threshold, threshold)
  assert scipy.stats.kstest(z, reference.cdf).pvalue > 1e-3
  # Clipping or rescaling a normal would not pass: the clipped draw has atoms
  # at +-t, which the KS statistic sees.
  clipped = np.clip(np.asarray(jax.random.normal(jax.random.key(1), (20000,))),
                    -threshold, threshold)
  assert scipy.stats.kstest(clipped, reference.cdf).pvalue < 1e-3


@pytest.fixture(scope="module")
def tiny():
  """A trainer with a tiny conditional BigGAN (8x8 digits) and its variables."""
  from gaxla import config as config_lib
  from gaxla.system import GANSystem
  from test_biggan import tiny_biggan_config
  config = config_lib.validate(tiny_biggan_config())
  trainer = GANSystem(config, (8, 8, 1), 10)
  variables = jax.jit(trainer.generator.init, static_argnames="train")(
      jax.random.key(0), jnp.zeros((1, 4)), jnp.zeros((1,), jnp.int32), train=False)
  # Perturbed params stand in for EMA params: the raw running stats no longer fit them.
  params = jax.tree.map(lambda p: p * 1.5 + 0.05, variables["params"])
  return trainer, {**variables, "params": params}


def _bn_stats(variables):
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables["batch_stats"]))
  return {k: v for k, v in flat.items() if k[-1] in ("mean", "var")}


def test_standing_statistics_of_one_batch_reproduce_train_mode(tiny):
  trainer, variables = tiny
  key = jax.random.key(3)
  standing = sample.standing_statistics(trainer, variables, key, 1, 16)
  z, labels = sample.standing_batch(trainer, key, 0, 16)
  # With the statistics of exactly this batch, eval mode equals train mode.
  train_out, _ = trainer.generator.apply(variables, z, labels, train=True,
                                         mutable=["batch_stats"])
  eval_out = trainer.generator.apply(standing, z, labels, train=False)
  np.testing.assert_allclose(eval_out, train_out, rtol=1e-4, atol=1e-5)
  raw_out = trainer.generator.apply(variables, z, labels, train=False)
  assert not np.allclose(raw_out, eval_out, atol=1e-3)
  # Every BatchNorm (CBN and output) was re-estimated; SN state is untouched.
  before, after = _bn_stats(variables), _bn_stats(standing)
  assert len(after) == 2 * 3     # block0 bn1/bn2 + output_bn, mean and var each
  assert all(not np.allclose(before[k], after[k]) for k in before)
  sn = lambda v: [x for k, x in flax.traverse_util.flatten_dict(
      flax.core.unfreeze(v["batch_stats"])).items() if k[-1].endswith(("/u", "/sigma"))]
  assert all(np.array_equal(a, b) for a, b in zip(sn(variables), sn(standing)))


def test_standing_statistics_average_batch_moments(tiny):
  trainer, variables = tiny
  key = jax.random.key(4)
  standing = sample.standing_statistics(trainer, variables, key, 3, 8)
  per_batch = []
  for i in range(3):
    z, labels = sample.standing_batch(trainer, key, i, 8)
    _, upd = trainer.generator.apply(variables, z, labels, train=True,
                                     mutable=["batch_stats", BATCH_MOMENTS])
    per_batch.append(upd[BATCH_MOMENTS]["output_bn"]["mean"])
  np.testing.assert_allclose(standing["batch_stats"]["output_bn"]["mean"],
                             np.mean(per_batch, axis=0), rtol=1e-5, atol=1e-6)


def test_write_samples_uses_standing_statistics(tiny, tmp_path):
  trainer, variables = tiny
  out_plain = cli_sample.write_samples(trainer, variables, str(tmp_path / "a.npy"), 6, seed=2)[0]
  out_standing = cli_sample.write_samples(trainer, variables, str(tmp_path / "b.npy"), 6, seed=2,
                                      standing_batches=2, standing_batch_size=8)[0]
  expected_vars = sample.standing_statistics(trainer, variables, sample.standing_key(2), 2, 8)
  labels = np.load(str(tmp_path / "b.labels.npy"))
  expected = sample.generate(trainer, expected_vars, jax.random.key(2), 6, labels)
  np.testing.assert_allclose(np.load(out_standing), expected, rtol=1e-5, atol=1e-6)
  assert not np.allclose(np.load(out_plain), np.load(out_standing), atol=1e-3)


def test_sheet_and_interpolations(tiny, tmp_path):
  from PIL import Image
  trainer, variables = tiny
  sheet = sample.sample_sheet(trainer, variables, jax.random.key(0), [1, 2], [0.25, 0.5, 0.0])
  assert sheet.shape == (6, 8, 8, 1)
  walk = sample.interpolation(trainer, variables, jax.random.key(0), "class", [1, 2], 4)
  assert walk.shape == (8, 8, 8, 1)
  # Class interpolation starts at the row's class and ends at the next one,
  # with the latent fixed.
  z = np.asarray(trainer.sample_latent(jax.random.fold_in(jax.random.key(0), 0), 1))
  ends = sample.generate_from(trainer, variables, np.repeat(z, 2, 0), np.array([1, 2]))
  np.testing.assert_allclose(walk[[0, 3]], ends, rtol=1e-4, atol=1e-5)
  assert not np.allclose(walk[1], walk[0], atol=1e-4)
  latent_walk = sample.interpolation(trainer, variables, jax.random.key(0), "latent", [3], 5)
  assert latent_walk.shape == (5, 8, 8, 1)
  path = cli_sample.write_samples(trainer, variables, str(tmp_path / "s.png"), 4, labels="1,2,3",
                              sheet_truncations=[0.5, 1.0])[0]
  with Image.open(path) as picture:
    assert picture.size[0] > 0
  with pytest.raises(ValueError, match="must end in .png"):
    cli_sample.write_samples(trainer, variables, str(tmp_path / "s.npy"), 4, interpolate="latent")


@pytest.fixture(scope="module")
def biggan_workdir(tmp_path_factory):
  """A 3-step tiny BigGAN run (in-process), for the CLI."""
  from gaxla import train
  from test_biggan import tiny_biggan_config
  workdir = str(tmp_path_factory.mktemp("biggan"))
  config = tiny_biggan_config()
  config.eval.grid_size = 2
  config.eval.metrics = ("classifier",)
  config.eval.feature_extractor = "classifier"
  config.eval.classifier_steps = 20
  config.eval.num_samples = 40
  config.eval.standing_batches = 3   # not the default: sample/eval/load must read the run's
  config.eval.cache_dir = str(tmp_path_factory.mktemp("eval_cache"))
  train.train_and_evaluate(config, workdir, show_progress=False)
  return workdir


def _gaxla(*args):
  import os
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return subprocess.run([sys.executable, "-m", "gaxla", *args], cwd=root, check=False,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True,
                        text=True, timeout=300)


def test_cli_sheet_and_class_interpolation(biggan_workdir, tmp_path):
  from PIL import Image
  sheet = str(tmp_path / "sheet.png")
  result = _gaxla("sample", "--workdir", biggan_workdir, "--out", sheet, "--sheet", "0,0.5,1",
                  "--labels", "0,1", "--standing_batches", "2")
  assert result.returncode == 0, result.stderr
  assert "standing stats over 2 batches" in result.stdout
  walk = str(tmp_path / "walk.png")
  result = _gaxla("sample", "--workdir", biggan_workdir, "--out", walk, "--interpolate", "class",
                  "--num", "4", "--labels", "0,1,2")
  assert result.returncode == 0, result.stderr
  # Without the flag: the run's eval.standing_batches, the generator its evaluations scored.
  assert "standing stats over 3 batches" in result.stdout
  with Image.open(sheet) as a, Image.open(walk) as b:
    # 2 rows x 3 columns and 3 rows x 4 columns of 8-px tiles with 1-px gaps,
    # both upscaled by the same integer factor: compare aspect ratios.
    assert a.size[0] * 19 == a.size[1] * 28 and b.size[0] * 28 == b.size[1] * 37
  result = _gaxla("sample", "--workdir", biggan_workdir, "--out", walk, "--sheet", "x")
  assert result.returncode == 2 and "--sheet must be comma-separated numbers" in result.stderr


def test_class_interpolation_needs_a_model_that_mixes_classes():
  from gaxla.system import system_for
  from conftest import tiny_dcgan_config
  trainer = system_for(tiny_dcgan_config())
  variables = jax.jit(trainer.init, static_argnums=0)(0).ema_generator_variables()
  with pytest.raises(ValueError, match="cannot mix classes"):
    sample.interpolation(trainer, variables, jax.random.key(0), "class", [0, 1], 3)
  # Latent interpolation works for any generator.
  assert sample.interpolation(trainer, variables, jax.random.key(0), "latent", [0], 3).shape[0] == 3


def test_categorical_code_is_uniform_one_hot_after_the_normal_part():
  z = np.asarray(sample.latent(jax.random.key(0), (40000, 3), 0.5, categories=5))
  assert z.shape == (40000, 8)
  assert np.all(np.abs(z[:, :3]) <= 0.5)   # truncation applies to the normal part only
  code = z[:, 3:]
  assert set(np.unique(code)) == {0.0, 1.0}
  np.testing.assert_array_equal(code.sum(1), 1.0)
  counts = code.sum(0)
  assert scipy.stats.chisquare(counts).pvalue > 1e-3
  # Without a code, the key draws the normal part exactly as before.
  np.testing.assert_array_equal(sample.latent(jax.random.key(0), (4, 3)),
                                jax.random.normal(jax.random.key(0), (4, 3)))


def test_training_time_eval_equals_gaxla_eval(biggan_workdir):
  """The loop scores what `gaxla eval` scores: EMA G + standing statistics, same key."""
  import json
  import os
  result = _gaxla("eval", "--workdir", biggan_workdir)
  assert result.returncode == 0, result.stderr
  assert "standing stats over 3 batches" in result.stdout   # the run's eval.standing_batches
  with open(os.path.join(biggan_workdir, "metrics.jsonl")) as f:
    logged = [json.loads(line) for line in f]
  logged = {k[len("eval/"):]: v for r in logged for k, v in r.items() if k.startswith("eval/")}
  with open(os.path.join(biggan_workdir, "eval.jsonl")) as f:
    scored = json.loads(f.readlines()[-1])
  assert scored["step"] == 3
  names = ("classifier/fd", "classifier/accuracy", "classifier/intra_fd")
  assert all(name in logged for name in names), logged
  for name in names:
    np.testing.assert_allclose(scored[name], logged[name], rtol=1e-5, err_msg=name)
  # Without standing statistics the generator differs (BatchNorm running stats).
  raw = _gaxla("eval", "--workdir", biggan_workdir, "--standing_batches", "0")
  assert raw.returncode == 0, raw.stderr
  with open(os.path.join(biggan_workdir, "eval.jsonl")) as f:
    unstood = json.loads(f.readlines()[-1])
  assert unstood["classifier/fd"] != scored["classifier/fd"]
  # The notebook API samples the same generator: the run's standing statistics by default.
  import gaxla
  run = gaxla.load(biggan_workdir)
  assert run.standing_batches == 3
  expected = sample.eval_variables(run.system, run.state, 3, run.config.batch_size)
  for got, want in zip(jax.tree.leaves(run.variables), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-6)
