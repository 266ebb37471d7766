"""`gaxla describe`: parameter counts per group and XLA FLOPs, from shapes only."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from gaxla import describe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(name):
  from gaxla.config import from_file
  return from_file(os.path.join(ROOT, "configs", name))


def test_a_multiply_add_counts_as_two_flops():
  a = jax.ShapeDtypeStruct((3, 5), jnp.float32)
  b = jax.ShapeDtypeStruct((5, 7), jnp.float32)
  assert describe.lowered_flops(jnp.matmul, a, b) == 2 * 3 * 5 * 7


def test_convolution_taps_on_zero_padding_are_not_counted():
  conv = lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  flops = describe.lowered_flops(conv, jax.ShapeDtypeStruct((1, 8, 8, 16), jnp.float32),
                                 jax.ShapeDtypeStruct((3, 3, 16, 32), jnp.float32))
  assert flops == pytest.approx(2 * 64 * 9 * 16 * 32 * (22 / 24) ** 2)


def test_tiny_biggan_counts_match_a_real_init():
  from gaxla.system import system_for
  from test_biggan import tiny_biggan_config
  config = tiny_biggan_config()
  report = describe.describe(config)
  trainer = system_for(config)
  state = jax.jit(trainer.init, static_argnums=0)(config.seed)
  for role, params in (("generator", state.g.params), ("critic", state.d.params)):
    part = report[role]
    assert part["params"] == describe.count_params(params)
    assert sum(part["groups"].values()) == part["params"]
    assert set(part["groups"]) == set(params)
    assert part["forward_flops_per_image"] > 0
  step = report["train_step"]
  # The step runs G forward at least n_critic + 1 times per example and D
  # forward + backward several times: far more than one G + D forward.
  one_pass = (report["generator"]["forward_flops_per_image"]
              + report["critic"]["forward_flops_per_image"])
  assert step["flops_per_example"] > 3 * one_pass
  assert step["flops"] == pytest.approx(step["flops_per_example"] * config.batch_size)
  text = describe.format_report(report)
  assert f"{report['generator']['params']:,} parameters" in text and "shared" in text


def test_imagenet128_biggan_sizes_and_generator_flops():
  """Parameter counts and G/D forward FLOPs only: the train step at batch 2048
  lowers in ~30 s on a loaded 2-core CPU, so it is left to `gaxla describe`."""
  report = describe.describe(_config("imagenet128_biggan.py"), step_flops=False)
  assert report["generator"]["params"] == 70_433_988
  assert report["critic"]["params"] == 87_982_370
  assert report["generator"]["groups"]["block0"] == 45_740_544
  # The usual hand count is 42.2 GFLOP (2 per multiply-add, padded taps
  # included); XLA counts 40.7 G because it skips taps on the zero padding.
  assert 39e9 < report["generator"]["forward_flops_per_image"] < 43e9
  assert 15e9 < report["critic"]["forward_flops_per_image"] < 25e9
  assert "train_step" not in report


def test_cli_describe_prints_the_report():
  result = subprocess.run(
      [sys.executable, "-m", "gaxla", "describe", "--config", "configs/fashion_mnist_biggan.py",
       "--nostep_flops"], cwd=ROOT, env=dict(os.environ, JAX_PLATFORMS="cpu"),
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  assert "generator:" in result.stdout and "critic:" in result.stdout
  assert "FLOP per image" in result.stdout and "train step" not in result.stdout
