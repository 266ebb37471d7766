"""Bad inputs and faults a new user meets: each gets one clear error and loses nothing.

The cases of issue 16 (see docs/errors.md for the table of messages). Most run
in-process on the tiny MLP; a few go through the CLI where the CLI is the point.
"""

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import tiny_mlp_config
from gaxla import checkpoint, cli_sample, config as config_lib, train, workdir as workdir_lib
from gaxla.system import system_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")


def _gaxla(*args, file_size_kib=None):
  command = [sys.executable, "-m", "gaxla", *args]
  if file_size_kib:  # `ulimit -f`, set in a shell: no fork of this (threaded) process
    command = ["bash", "-c", f'ulimit -f {file_size_kib} && exec "$0" "$@"', *command]
  return subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True,
                        timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A finished 4-step tiny run (checkpoints at 2 and 4); tests copy it before changing it."""
  workdir = str(tmp_path_factory.mktemp("trained") / "run")
  train.train_and_evaluate(tiny_mlp_config(num_steps=4, checkpoint_every_steps=2,
                                           eval_every_steps=4), workdir, show_progress=False)
  return workdir


def _copy(trained, tmp_path) -> str:
  workdir = str(tmp_path / "run")
  shutil.copytree(trained, workdir)
  return workdir


def _config_json(workdir) -> dict:
  with open(os.path.join(workdir, "config.json")) as f:
    return json.load(f)


# ----------------------------------------------------------------------------
# Losing a run
# ----------------------------------------------------------------------------
def test_best_metric_typo_is_an_error_before_training(tmp_path):
  config = tiny_mlp_config(**{"checkpoint.best_metric": "eval/mode_coverage/high_qualty"})
  with pytest.raises(config_lib.ConfigError,
                     match="Did you mean 'eval/mode_coverage/high_quality'"):
    train.train_and_evaluate(config, str(tmp_path), show_progress=False)
  assert not os.path.exists(tmp_path / "checkpoints")


def test_arrays_that_read_fine_but_are_not_the_saved_ones_are_refused(trained, tmp_path):
  # orbax compresses array chunks, so random bytes in them may decompress to
  # garbage without an error (issue 16: 100% NaN samples, exit 0). Stand-in
  # that reads fine for sure: step 4's arrays replaced by step 2's.
  workdir = _copy(trained, tmp_path)
  step_4 = os.path.join(workdir, "checkpoints", "4", "default")
  shutil.rmtree(step_4)
  shutil.copytree(os.path.join(workdir, "checkpoints", "2", "default"), step_4)
  config = workdir_lib.load_config(workdir)
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  try:
    with pytest.raises(ValueError, match="could not restore checkpoint step 4") as info:
      checkpoint.restore(manager, system_for(config).abstract_state(), 4)
  finally:
    manager.close()
  assert "do not match the checksum saved with them" in str(info.value)
  assert "Older complete steps: [2]" in str(info.value)


def test_one_changed_value_or_a_nan_fails_the_check(trained):
  config = workdir_lib.load_config(trained)
  manager = checkpoint.make_manager(trained, config, read_only=True)
  try:
    state = checkpoint.restore(manager, system_for(config).abstract_state(), 4)
    assert checkpoint._check_restored(manager, 4, state) == ""
    kernel = state.g.params["Dense_1"]["Dense_0"]["kernel"]
    changed = state.replace(g=state.g.replace(params={**state.g.params, "Dense_1": {
        "Dense_0": {**state.g.params["Dense_1"]["Dense_0"], "kernel": kernel.at[3, 5].add(1e-6)}}}))
    assert "checksum" in checkpoint._check_restored(manager, 4, changed)
    nan = changed.replace(g_ema_params=jax.tree.map(lambda x: x * np.nan, state.g_ema_params))
    assert "non-finite" in checkpoint._check_restored(manager, 4, nan)
  finally:
    manager.close()


def test_the_checksum_is_the_same_for_a_restored_state(trained):
  config = workdir_lib.load_config(trained)
  manager = checkpoint.make_manager(trained, config, read_only=True)
  try:
    state = checkpoint.restore(manager, system_for(config).abstract_state(), 4)
    saved = manager.metrics(4)
  finally:
    manager.close()
  assert tuple(int(saved[k]) for k in checkpoint.DIGEST_KEYS) == checkpoint.state_digest(state)


def test_a_second_run_in_a_workdir_is_refused_and_a_stale_lock_is_not(tmp_path):
  workdir = str(tmp_path)
  with workdir_lib.Lock(workdir):
    with pytest.raises(workdir_lib.WorkdirError, match=f"in use by .*pid {os.getpid()}"):
      train.train_and_evaluate(tiny_mlp_config(), workdir, show_progress=False)
  # The lock file stays behind (as after kill -9): it does not block.
  assert os.path.exists(os.path.join(workdir, workdir_lib.LOCK))
  with workdir_lib.Lock(workdir):
    pass


def test_a_failed_resume_leaves_config_json_alone(trained, tmp_path):
  workdir = _copy(trained, tmp_path)
  for step in ("2", "4"):  # every step unreadable
    shutil.rmtree(os.path.join(workdir, "checkpoints", step, "default"))
    os.makedirs(os.path.join(workdir, "checkpoints", step, "default"))
  before = _config_json(workdir)
  with pytest.raises(ValueError, match="could not restore checkpoint step 4"):
    train.train_and_evaluate(tiny_mlp_config(num_steps=8, checkpoint_every_steps=2,
                                             eval_every_steps=4), workdir, show_progress=False)
  assert _config_json(workdir) == before


def test_without_config_json_the_checkpoints_config_still_guards_the_run(trained, tmp_path):
  workdir = _copy(trained, tmp_path)
  os.remove(os.path.join(workdir, "config.json"))
  other = tiny_mlp_config(num_steps=8, checkpoint_every_steps=2, eval_every_steps=4,
                          **{"loss.name": "hinge", "optim.generator.lr": 1e-3})
  with pytest.raises(config_lib.ConfigError, match="loss.name: saved 'non_saturating'"):
    train.train_and_evaluate(other, workdir, show_progress=False)
  # And sampling still finds the run's config.
  assert workdir_lib.load_config(workdir).num_steps == 4


def test_num_steps_below_the_checkpoint_says_the_run_is_past_it(trained, tmp_path):
  workdir = _copy(trained, tmp_path)
  with pytest.raises(config_lib.ConfigError, match="already at step 4, past num_steps = 2"):
    train.train_and_evaluate(tiny_mlp_config(num_steps=2, checkpoint_every_steps=2,
                                             eval_every_steps=2), workdir, show_progress=False)
  assert _config_json(workdir)["num_steps"] == 4


# ----------------------------------------------------------------------------
# Files that are not what they should be
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("text,needle", [
    ("x = (\n", "syntax error at line 1"),
    ("def get_config():\n  raise RuntimeError('boom')\n", "raised RuntimeError: boom (line 2)"),
    ("X = 1\n", "defines no get_config()"),
    ("def get_config():\n  return {'a': 1}\n", "returned a dict, not an ml_collections"),
])
def test_broken_config_files_say_what_is_wrong(tmp_path, text, needle):
  path = tmp_path / "cfg.py"
  path.write_text(text)
  with pytest.raises(config_lib.ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
    config_lib.from_file(str(path))
  with pytest.raises(FileNotFoundError, match="not found"):
    config_lib.from_file(str(tmp_path / "missing.py"))


def test_garbage_config_json_names_the_file(tmp_path):
  (tmp_path / "config.json").write_text("{not json")
  with pytest.raises(config_lib.ConfigError, match=r"config.json is not a readable gaxla config"):
    workdir_lib.load_config(str(tmp_path))


def test_workdirs_that_are_files_or_under_files(tmp_path):
  a_file = tmp_path / "file"
  a_file.write_text("")
  with pytest.raises(workdir_lib.WorkdirError, match="is a file, not a folder"):
    workdir_lib.create(str(a_file))
  with pytest.raises(workdir_lib.WorkdirError, match="'.*file' is a file"):
    workdir_lib.create(str(a_file / "run"))


def test_garbage_inception_weights_name_the_path(tmp_path):
  from gaxla.evaluate import inception
  path = tmp_path / "weights.npz"
  path.write_bytes(b"garbage")
  with pytest.raises(ValueError, match=f"Inception weights at {path} are not a readable .npz"):
    inception.load_variables(str(path))


# ----------------------------------------------------------------------------
# Sampling arguments
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ring_system():
  system = system_for(tiny_mlp_config())
  return system, system.init(0).ema_generator_variables()


@pytest.mark.parametrize("kwargs,needle", [
    ({"truncation": -1.0}, "must be >= 0"),
    ({"sheet_truncations": [0.5, -1.0]}, "draw image grids"),
    ({"interpolate": "latent"}, "draw image grids"),
])
def test_sample_arguments_that_cannot_apply(ring_system, tmp_path, kwargs, needle):
  system, variables = ring_system
  out = str(tmp_path / "x.png")
  with pytest.raises(ValueError, match=needle):
    cli_sample.write_samples(system, variables, out, 4, **kwargs)


def test_upper_case_npy_is_written_where_it_says(ring_system, tmp_path):
  system, variables = ring_system
  out = str(tmp_path / "X.NPY")
  assert cli_sample.write_samples(system, variables, out, 4) == [out]
  assert np.load(out).shape == (4, 2) and os.listdir(tmp_path) == ["X.NPY"]


# ----------------------------------------------------------------------------
# Through the CLI
# ----------------------------------------------------------------------------
def test_cli_config_file_errors_are_one_line(tmp_path):
  path = tmp_path / "noget.py"
  path.write_text("X = 1\n")
  result = _gaxla("train", "--config", str(path), "--workdir", str(tmp_path / "w"))
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "defines no get_config()" in result.stderr and "unknown config key" not in result.stderr


def test_cli_file_size_limit_names_the_step(tmp_path):
  workdir = str(tmp_path / "run")
  result = _gaxla("train", "--config", "configs/mog_ring.py", "--workdir", workdir,
                  "--config.batch_size=16", "--config.eval.num_samples=100",
                  "--config.model.generator.hidden=(8,)", "--config.model.critic.hidden=(8,)",
                  "--config.num_steps=4", "--config.log_every_steps=2",
                  "--config.eval_every_steps=4", "--config.checkpoint_every_steps=2",
                  "--progress=lines", file_size_kib=8)
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr, result.stderr
  assert "gaxla: error: could not write checkpoint step 2" in result.stderr
  assert "File too large" in result.stderr and "MiB free" in result.stderr


def test_cli_unwritable_out_names_the_path(trained, tmp_path):
  a_file = tmp_path / "file"
  a_file.write_text("")
  result = _gaxla("sample", "--workdir", trained, "--out", str(a_file / "x.npy"),
                  "--truncation", "0.5")
  assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
  assert result.stderr == f"gaxla: error: Not a directory: '{a_file}'\n" or \
      str(a_file) in result.stderr, result.stderr
