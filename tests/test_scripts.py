"""The benchmark scripts' own argument handling (their numbers live in BENCHMARKS.md)."""

import importlib.util
import os
import subprocess
import sys
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = os.path.join(ROOT, "configs", "mog_grid.py")


def _load(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _load_config(path, overrides):
  # ml_collections' config_flags loads the file with importlib's deprecated
  # load_module(); `gaxla train` does the same (there, in a subprocess, the
  # warning is silent).
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "the load_module", DeprecationWarning)
    return _load("bench_step")._load_config(path, overrides)


def test_bench_step_config_overrides_parse_like_gaxla_train():
  config = _load_config(GRID, ["--config.model.critic.hidden=(256, 256)",
                               "--config.optim.generator.lr=2e-3",
                               "--config.loss.name=hinge",
                               "--config.penalty.every=4"])
  assert tuple(config.model.critic.hidden) == (256, 256)
  assert config.optim.generator.lr == 2e-3
  assert config.loss.name == "hinge"
  assert config.penalty.every == 4
  assert config.model.latent_dim == 2   # untouched keys keep the file's values


def test_bench_step_unknown_config_key_names_it():
  with pytest.raises(SystemExit, match="lrr"):
    _load_config(GRID, ["--config.optim.generator.lrr=1e-3"])


def test_bench_step_rejects_arguments_that_are_not_overrides():
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "bench_step.py"), "--config", GRID,
       "--penalty.every=4"], capture_output=True, text=True, cwd=ROOT)
  assert result.returncode == 2
  assert "--config.KEY=VALUE" in result.stderr


def test_bench_step_mfu_uses_the_peak_table():
  bench = _load("bench_step")
  assert bench.peak_kind("NVIDIA H100 80GB HBM3") == "H100"
  assert bench.peak_kind("NVIDIA H200") == "H200"
  assert bench.peak_kind("NVIDIA A100-SXM4-80GB") == "A100"
  assert bench.peak_kind("TPU v4") == "TPU v4"
  assert bench.peak_kind("TPU v5 lite") == "TPU v5e"
  assert bench.peak_kind("TPU v5p") == "TPU v5p"
  assert bench.peak_kind("cpu") is None
  assert bench.mfu(1e12, 1.0, "cpu", 1, "float32") is None
  # 8 H100s at bf16 doing 3.958 PFLOP/s: half of 8 x 989.4 TFLOP/s.
  assert abs(bench.mfu(8 * 494.7e12, 1.0, "NVIDIA H100 80GB HBM3", 8, "bfloat16") - 0.5) < 1e-9
  assert abs(bench.mfu(156e12, 2.0, "NVIDIA A100-SXM4-80GB", 1, "float32") - 0.5) < 1e-9
