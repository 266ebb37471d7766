"""The benchmark scripts' own argument handling (their numbers live in BENCHMARKS.md)."""

import importlib.util
import os

import pytest

from gaxla import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_bench_step_set_overrides_nested_keys_with_literals():
  bench_step = _load("bench_step")
  config = config_lib.from_file(os.path.join(ROOT, "configs", "mog_grid.py"))
  bench_step._override(config, "model.critic.hidden=(256, 256)")
  bench_step._override(config, "optim.generator.lr=2e-3")
  bench_step._override(config, "loss.name=hinge")   # not a literal: kept as a string
  assert tuple(config.model.critic.hidden) == (256, 256)
  assert config.optim.generator.lr == 2e-3
  assert config.loss.name == "hinge"
  config_lib.validate(config)


def test_bench_step_set_rejects_bad_items():
  bench_step = _load("bench_step")
  config = config_lib.from_file(os.path.join(ROOT, "configs", "mog_grid.py"))
  with pytest.raises(SystemExit, match="KEY=VALUE"):
    bench_step._override(config, "model.critic.hidden")
  bench_step._override(config, "optim.generator.lrr=1e-3")  # a typo: validate names it
  with pytest.raises(config_lib.ConfigError, match="lrr"):
    config_lib.validate(config)
