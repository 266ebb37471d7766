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


def test_bench_stacked_gives_each_row_the_baselines_wall_time():
  bench = _load("bench_stacked")
  rates = {"": 25.0, "pac2": 37.5, "unroll5": 1.0}
  assert bench.row_steps(5000, rates, "") == 5000
  assert bench.row_steps(5000, rates, "pac2") == 7500     # 1.5x the rate, 1.5x the steps
  assert bench.row_steps(5000, rates, "unroll5") == 200
  assert bench.row_steps(100, rates, "unroll5") == 100    # never below 100
  assert bench.parse_seeds("3") == [0, 1, 2]
  assert bench.parse_seeds("1,2,") == [1, 2] and bench.parse_seeds("0,") == [0]
  table = bench.summary([
      {"row": "real test images", "seed": None},
      *({"row": "pac2", "seed": s, "steps": 7500, "modes_covered": m, "reverse_kl": kl,
         "class_imbalance": kl / 2, "dependence": kl / 2, "channel_confidence": 0.7}
        for s, (m, kl) in enumerate([(990, 0.2), (1000, 0.1)]))])
  assert table[2] == ("| pac2 (n = 2) | 7500 | 995.0 ± 7.1 | 0.150 ± 0.071 | 0.075 ± 0.035 "
                      "| 0.075 ± 0.035 | 0.700 ± 0.000 |")


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
