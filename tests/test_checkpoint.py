"""Checkpoints: keep latest + best, exact resume, SIGTERM, SIGKILL, other meshes, errors."""

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import tiny_mlp_config

from gaxla import checkpoint, data, train
from gaxla import config as config_lib
from gaxla.system import system_for
from gaxla import workdir as workdir_lib
from gaxla.config import ConfigError
from gaxla.data.pipeline import Source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
# `gaxla train` on the ring with a tiny MLP; every step saved (asynchronously).
TINY_RING = [
    "--config", "configs/mog_ring.py", "--config.batch_size=16",
    "--config.eval.num_samples=100", "--config.eval.grid_size=2",
    "--config.model.generator.hidden=(8,)", "--config.model.critic.hidden=(8,)",
    "--progress=lines",
]


def _assert_trees_equal(a, b):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _disk_steps(workdir) -> list[int]:
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit())


def _temporary_dirs(workdir) -> list[str]:
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    return []
  return [n for n in os.listdir(folder) if "orbax-checkpoint-tmp" in n]


# Subprocesses compile like the test process (conftest), so results compare bit for bit.
SUBPROCESS_ENV = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")


def _gaxla(*args, env_extra=None, check=True):
  env = dict(SUBPROCESS_ENV, **(env_extra or {}))
  result = subprocess.run([sys.executable, "-m", "gaxla", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
  if check and result.returncode != 0:
    raise AssertionError(f"gaxla {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
  return result


def _start_training(workdir, *args, env=None):
  env = env or SUBPROCESS_ENV
  log = open(os.path.join(os.path.dirname(workdir), "train.log"), "a")  # noqa: SIM115
  proc = subprocess.Popen([sys.executable, "-m", "gaxla", "train", "--workdir", workdir,
                           *TINY_RING, *args], cwd=ROOT, env=env, stdout=log, stderr=log)
  log.close()
  return proc


def _wait_until(condition, proc, timeout=120.0):
  deadline = time.monotonic() + timeout
  while not condition():
    if proc.poll() is not None:
      raise AssertionError(f"training exited early with status {proc.returncode}")
    if time.monotonic() > deadline:
      proc.kill()
      raise AssertionError("timed out waiting for the training process")
    time.sleep(0.002)


# ----------------------------------------------------------------------------
# Keep policies
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("metric,mode,scores,kept,best", [
    # Latest two are 12 (the worst score) and 13 (no score): both survive.
    ("eval/high_quality", "max", {2: 0.5, 4: 0.9, 6: 0.7, 8: 0.1, 10: 0.2, 12: 0.05},
     [4, 6, 12, 13], 4),
    # 'min': inf and NaN rank worst, whatever the sort direction.
    ("eval/reverse_kl", "min", {2: 0.3, 4: float("inf"), 6: 0.1, 8: float("nan"), 10: 0.2,
                                12: 0.9}, [6, 10, 12, 13], 6),
])
def test_keeps_the_latest_and_the_best_steps(tmp_path, metric, mode, scores, kept, best):
  config = tiny_mlp_config(**{"checkpoint.keep_latest": 2, "checkpoint.keep_best": 2,
                              "checkpoint.best_metric": metric, "checkpoint.best_mode": mode})
  state = system_for(config).init(0)  # contents do not matter here
  manager = checkpoint.make_manager(str(tmp_path), config)
  for step in range(1, 14):  # evals at even steps; odd steps are interval saves
    metrics = {metric: scores[step], "eval/modes_covered": 3.0} if step in scores else None
    checkpoint.save(manager, step, state, metrics)
  manager.wait_until_finished()
  assert manager.all_steps() == kept
  assert checkpoint.best_step(manager) == best
  manager.close()
  assert _disk_steps(str(tmp_path)) == kept
  # A later process finds the same best step from the metrics on disk.
  reopened = checkpoint.make_manager(str(tmp_path), config, read_only=True)
  assert checkpoint.resolve_step(reopened, "best") == best
  assert checkpoint.resolve_step(reopened, "latest") == 13
  reopened.close()


def test_async_save_switch(tmp_path):
  config = tiny_mlp_config(**{"checkpoint.async_save": False})
  state = system_for(config).init(0)
  manager = checkpoint.make_manager(str(tmp_path), config)
  checkpoint.save(manager, 1, state)
  # Blocking: the step is complete on disk when save returns.
  assert _disk_steps(str(tmp_path)) == [1] and not _temporary_dirs(str(tmp_path))
  assert not manager.is_saving_in_progress()
  manager.close()


def test_best_metric_must_be_an_eval_metric_and_best_needs_one(tmp_path):
  config = tiny_mlp_config(**{"checkpoint.best_metric": "eval/fid"})
  state = system_for(config).init(0)
  manager = checkpoint.make_manager(str(tmp_path / "a"), config)
  with pytest.raises(ConfigError, match=r"'checkpoint.best_metric' is 'eval/fid'.*"
                                        r"\['eval/high_quality'\]"):
    checkpoint.save(manager, 1, state, {"eval/high_quality": 0.5})
  checkpoint.save(manager, 2, state)  # an interval save: no metrics needed
  manager.wait_until_finished()
  with pytest.raises(ValueError, match="has 'eval/fid' recorded yet"):
    checkpoint.resolve_step(manager, "best")
  manager.close()
  plain = tiny_mlp_config()
  manager = checkpoint.make_manager(str(tmp_path / "b"), plain)
  checkpoint.save(manager, 1, state, {"eval/high_quality": 0.5})
  manager.wait_until_finished()
  with pytest.raises(ValueError, match=r"checkpoint.best_metric = ''.*available: \[1\]"):
    checkpoint.resolve_step(manager, "best")
  with pytest.raises(ValueError, match="'latest', 'best' or a step number"):
    checkpoint.resolve_step(manager, "newest")
  manager.close()


# ----------------------------------------------------------------------------
# Exact resume and SIGTERM
# ----------------------------------------------------------------------------
class _RecordingSource(Source):
  """Wraps a data source: records every batch; sends SIGTERM to itself at one step."""

  def __init__(self, source, sigterm_at):
    self.source, self.sigterm_at, self.seen = source, sigterm_at, {}

  def batch(self, step):
    if step == self.sigterm_at:
      os.kill(os.getpid(), signal.SIGTERM)
    self.seen[step] = self.source.batch(step)
    return self.seen[step]


def test_sigterm_saves_and_the_resumed_run_is_bit_identical(tmp_path, monkeypatch):
  config = tiny_mlp_config(**{
      "num_steps": 100, "checkpoint_every_steps": 30, "eval_every_steps": 100,
      "log_every_steps": 100, "optim.generator.schedule": "linear",
      "optim.critic.schedule": "linear"})
  runs = []
  sigterm_at = None
  make_source = data.make_source

  def recording_source(*args, **kwargs):
    runs.append(_RecordingSource(make_source(*args, **kwargs), sigterm_at))
    return runs[-1]

  monkeypatch.setattr(data, "make_source", recording_source)

  def default_handler_reached(signum, frame):
    raise AssertionError("SIGTERM reached the test's handler, not the training loop's")

  previous = signal.signal(signal.SIGTERM, default_handler_reached)
  try:
    straight, _ = train.train_and_evaluate(config, str(tmp_path / "a"), show_progress=False)
    sigterm_at = 49  # the signal arrives while step 50 is prepared
    with pytest.raises(checkpoint.Preempted, match="at step 50; checkpoint 50 is saved"):
      train.train_and_evaluate(config, str(tmp_path / "b"), show_progress=False)
    assert signal.getsignal(signal.SIGTERM) is default_handler_reached  # handler put back
    assert _disk_steps(str(tmp_path / "b")) == [30, 50]
    assert not _temporary_dirs(str(tmp_path / "b"))
    sigterm_at = None
    resumed, _ = train.train_and_evaluate(config, str(tmp_path / "b"), show_progress=False)
  finally:
    signal.signal(signal.SIGTERM, previous)
  assert int(resumed.step) == 100
  _assert_trees_equal(straight, resumed)
  # The data position is the step: the resumed run saw exactly the straight run's batches.
  assert sorted(runs[2].seen) == list(range(50, 100))
  for step, batch in runs[2].seen.items():
    _assert_trees_equal(runs[0].seen[step], batch)


@pytest.mark.parametrize("signum,stopped_by", [
    (signal.SIGTERM, r"SIGTERM \(preemption\)"),  # a preemption
    (signal.SIGINT, "SIGINT"),  # Ctrl-C saves like SIGTERM
    (signal.SIGINT, None),  # Ctrl-C twice: stops at once
])
def test_sigterm_or_ctrl_c_to_gaxla_train_saves_and_exits_128_plus_signal(tmp_path, signum,
                                                                          stopped_by):
  workdir = str(tmp_path / "run")
  proc = _start_training(workdir, "--config.num_steps=100000", "--config.log_every_steps=100000",
                         "--config.eval_every_steps=100000", "--config.checkpoint_every_steps=20")
  _wait_until(lambda: os.path.isdir(os.path.join(workdir, "checkpoints", "20")), proc)
  proc.send_signal(signum)
  if stopped_by is None:
    time.sleep(0.05)
    proc.send_signal(signum)
  assert proc.wait(timeout=120) == 128 + signum
  assert checkpoint.PREEMPTED_EXIT_CODE == 143
  with open(tmp_path / "train.log") as f:
    log = f.read()
  # Twice: orbax's save threads printed "Event loop is closed" tracebacks at exit.
  assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
  config = workdir_lib.load_config(workdir)
  if stopped_by is None:
    assert "gaxla: interrupted (Ctrl-C)" in log
    manager = checkpoint.make_manager(workdir, config, read_only=True)
    assert int(checkpoint.restore(manager, system_for(config).abstract_state()).step) >= 20
    manager.close()
    return
  match = re.search(rf"gaxla: stopped by {stopped_by} at step (\d+); checkpoint \1 is "
                    r"saved in .*Run the same command again to resume", log)
  assert match, log
  step = int(match.group(1))
  assert step > 20 and _disk_steps(workdir)[-1] == step and not _temporary_dirs(workdir)
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  restored = checkpoint.restore(manager, system_for(config).abstract_state())
  manager.close()
  assert int(restored.step) == step


# ----------------------------------------------------------------------------
# SIGKILL during asynchronous saves
# ----------------------------------------------------------------------------
def test_sigkill_during_async_saves_resumes_from_the_last_complete_step(tmp_path):
  workdir = str(tmp_path / "run")
  num_steps = 60
  args = [f"--config.num_steps={num_steps}", f"--config.log_every_steps={num_steps}",
          f"--config.eval_every_steps={num_steps}", "--config.checkpoint_every_steps=1",
          "--config.checkpoint.keep_latest=2"]
  killed_mid_save = 0
  # A SIGKILL can also land while JAX writes a persistent compilation-cache
  # entry, leaving it truncated (JAX then warns and recompiles). The killed
  # processes get their own cache, so such an entry never reaches this
  # worker's (where the warning would fail the in-process run below).
  env = dict(SUBPROCESS_ENV,
             JAX_COMPILATION_CACHE_DIR=str(tmp_path / "killed-jax-cache"))
  # Kill as soon as a save is being written, or a while after saving started.
  for kill_at in ("temporary folder", 0.3, "temporary folder"):
    proc = _start_training(workdir, *args, env=env)
    if kill_at == "temporary folder":
      _wait_until(lambda: _temporary_dirs(workdir), proc)
    else:
      _wait_until(lambda: os.path.isdir(os.path.join(workdir, "checkpoints"))
                  and _disk_steps(workdir), proc)
      time.sleep(kill_at)
    assert proc.poll() is None, "training ended before it was killed; raise num_steps"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    killed_mid_save += bool(_temporary_dirs(workdir))
    # What the next process would find: the newest complete step, readable.
    config = workdir_lib.load_config(workdir)
    manager = checkpoint.make_manager(workdir, config, read_only=True)
    steps = manager.all_steps()
    if steps:
      restored = checkpoint.restore(manager, system_for(config).abstract_state())
      assert int(restored.step) == max(steps) == _disk_steps(workdir)[-1]
    manager.close()
  assert killed_mid_save >= 1, "no kill landed during a save"
  proc = _start_training(workdir, *args, env=env)
  assert proc.wait(timeout=300) == 0
  assert _disk_steps(workdir)[-1] == num_steps and not _temporary_dirs(workdir)
  # Interrupted three times, the result is still the uninterrupted run's.
  config = workdir_lib.load_config(workdir)
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  resumed = checkpoint.restore(manager, system_for(config).abstract_state())
  manager.close()
  config.checkpoint_every_steps = num_steps  # saving less often changes nothing else
  straight, _ = train.train_and_evaluate(config, str(tmp_path / "straight"), show_progress=False)
  _assert_trees_equal(straight, resumed)


# ----------------------------------------------------------------------------
# Restore onto another mesh
# ----------------------------------------------------------------------------
_EIGHT_DEVICES = textwrap.dedent("""
    import sys
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    sys.path.insert(0, {tests!r})
    from conftest import tiny_mlp_config
    from gaxla import checkpoint, train
    from gaxla.system import system_for
    from gaxla import workdir as workdir_lib

    assert jax.device_count() == 8
    config = tiny_mlp_config()
    trainer = system_for(config)
    mesh = jax.make_mesh((8,), ("data",))
    def sharding(x):  # split what divides by 8, replicate the rest
      return NamedSharding(mesh, P("data") if x.ndim and x.shape[0] % 8 == 0 else P())
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding(x)),
                          trainer.abstract_state())
    # 1 device -> 8: every leaf lands where the target says.
    manager = checkpoint.make_manager({one!r}, config, read_only=True)
    state = checkpoint.restore(manager, target, 7)
    manager.close()
    expected = np.load({expected!r})
    for i, (x, t) in enumerate(zip(jax.tree.leaves(state), jax.tree.leaves(target))):
      assert x.sharding == t.sharding and len(x.sharding.device_set) == 8, (x.sharding, t.sharding)
      np.testing.assert_array_equal(np.asarray(x), expected[str(i)])
    assert any(not x.sharding.is_fully_replicated for x in jax.tree.leaves(state))
    # 8 devices -> disk, for the single-device side of the test.
    manager = checkpoint.make_manager({eight!r}, config)
    checkpoint.save(manager, 7, state)
    manager.close()
    workdir_lib.write_config(config, {eight!r})
    print("eight devices ok")
""")


def test_restore_onto_a_different_number_of_devices(tmp_path):
  one, eight = str(tmp_path / "one"), str(tmp_path / "eight")
  config = tiny_mlp_config()
  trainer = system_for(config)
  state = trainer.init(0).replace(step=jnp.asarray(7, jnp.int32))
  os.makedirs(one)
  workdir_lib.write_config(config, one)
  manager = checkpoint.make_manager(one, config)
  checkpoint.save(manager, 7, state)
  manager.close()
  expected = str(tmp_path / "expected.npz")
  np.savez(expected, **{str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))})

  script = _EIGHT_DEVICES.format(tests=TESTS, one=one, eight=eight, expected=expected)
  env = dict(SUBPROCESS_ENV, XLA_FLAGS="--xla_force_host_platform_device_count=8")
  result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
  assert "eight devices ok" in result.stdout, result.stdout + result.stderr

  # 8 devices -> 1: onto an explicit single-device target, and with none given.
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                        trainer.abstract_state())
  manager = checkpoint.make_manager(eight, config, read_only=True)
  _assert_trees_equal(checkpoint.restore(manager, target, 7), state)
  _assert_trees_equal(checkpoint.restore(manager, trainer.abstract_state(), 7), state)
  manager.close()

  outputs = []
  for workdir, devices in ((one, {}), (eight, {}),
                           (eight, {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})):
    out = str(tmp_path / f"samples{len(outputs)}.npy")
    _gaxla("sample", "--workdir", workdir, "--num", "20", "--out", out, env_extra=devices)
    outputs.append(np.load(out))
  np.testing.assert_array_equal(outputs[0], outputs[1])
  np.testing.assert_array_equal(outputs[0], outputs[2])


# ----------------------------------------------------------------------------
# sample --step best|latest
# ----------------------------------------------------------------------------
def test_sample_step_best_and_latest(tmp_path):
  workdir = str(tmp_path)
  config = tiny_mlp_config(**{"checkpoint.keep_latest": 1,
                              "checkpoint.best_metric": "eval/high_quality"})
  trainer = system_for(config)
  workdir_lib.write_config(config, workdir)
  manager = checkpoint.make_manager(workdir, config)
  for step, seed, score in ((2, 0, 0.9), (4, 1, 0.1)):
    state = trainer.init(seed).replace(step=jnp.asarray(step, jnp.int32))
    checkpoint.save(manager, step, state, {"eval/high_quality": score})
  manager.close()
  best = _gaxla("sample", "--workdir", workdir, "--num", "5", "--out", str(tmp_path / "b.npy"),
                "--step", "best")
  assert "(step 2, EMA generator" in best.stdout
  latest = _gaxla("sample", "--workdir", workdir, "--num", "5", "--out", str(tmp_path / "l.npy"))
  assert "(step 4, EMA generator" in latest.stdout
  assert not np.array_equal(np.load(tmp_path / "b.npy"), np.load(tmp_path / "l.npy"))


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------
def test_incompatible_config_names_every_mismatching_key():
  saved = tiny_mlp_config()
  changed = tiny_mlp_config(**{"model.latent_dim": 8, "optim.critic.lr": 1e-3,
                               "model.critic.hidden": (16, 8)})
  with pytest.raises(ConfigError) as info:
    checkpoint.check_compatible(saved, changed, "runs/x")
  message = str(info.value)
  assert "workdir 'runs/x'" in message
  assert "model.latent_dim: saved 4, now 8" in message
  assert "optim.critic.lr: saved 0.0002, now 0.001" in message
  assert "model.critic.hidden" in message and "model.generator" not in message
  # Run length, intervals, data location and checkpoint policy may change.
  checkpoint.check_compatible(saved, tiny_mlp_config(**{
      "num_steps": 50, "eval_every_steps": 7, "checkpoint_every_steps": 5,
      "data.data_dir": "/elsewhere", "checkpoint.keep_latest": 9}), "runs/x")


def test_resume_message_states_the_rule_check_compatible_applies():
  """The error's wording comes from the same table as the check (RESUME_FIXED/MOVABLE)."""
  saved = tiny_mlp_config()
  for key in config_lib.RESUME_MOVABLE:  # each movable key may change on its own ...
    group_name, name = key.split(".")
    if name in saved[group_name]:
      value = saved[group_name][name]
      changed = 3 if isinstance(value, int) else "/moved"
      checkpoint.check_compatible(saved, tiny_mlp_config(**{key: changed}), "runs/x")
  for top in config_lib.RESUME_FIXED:  # ... and any key under a fixed name may not
    changed = saved.copy_and_resolve_references()
    if isinstance(saved[top], ml_collections.ConfigDict):
      changed[top]["_probe"] = 1
    else:
      changed[top] = saved[top] + 1
    with pytest.raises(ConfigError) as info:
      checkpoint.check_compatible(saved, changed, "runs/x")
    message = str(info.value)
    assert top in message.split("resume: ", 1)[1].split(":", 1)[0]
    rule = message.split("pass the same config: ", 1)[1]
    assert all(k in rule for k in config_lib.RESUME_FIXED + config_lib.RESUME_MOVABLE)
  assert config_lib.resume_rule() in message


def test_settings_fills_checkpoint_keys_a_saved_config_lacks():
  saved = config_lib.from_json('{"checkpoint": {"keep_latest": 7}}')
  del saved.checkpoint["async_save"]
  group = checkpoint.settings(saved)
  assert group.keep_latest == 7 and group.async_save == config_lib.defaults().checkpoint.async_save
  assert "async_save" not in saved.checkpoint  # a copy, the config is left as it was


def test_missing_checkpoints_are_readable_errors(tmp_path):
  config = tiny_mlp_config()
  abstract = system_for(config).abstract_state()
  manager = checkpoint.make_manager(str(tmp_path / "nowhere"), config, read_only=True)
  assert not os.path.exists(tmp_path / "nowhere")  # reading creates nothing
  assert checkpoint.restore(manager, abstract) is None  # a fresh run
  with pytest.raises(FileNotFoundError, match=r"no checkpoint for step 3 \(no directory .*"
                                              r"nowhere/checkpoints\); available: none"):
    checkpoint.restore(manager, abstract, 3)
  with pytest.raises(FileNotFoundError, match="no checkpoint in .*: train first"):
    checkpoint.resolve_step(manager, "latest")
  manager.close()
  workdir_lib.write_config(config, str(tmp_path))  # a workdir whose training never saved
  result = _gaxla("sample", "--workdir", str(tmp_path), "--out", str(tmp_path / "x.npy"),
                  check=False)
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "gaxla: error: no checkpoint in" in result.stderr and "train first" in result.stderr


def test_corrupt_latest_step_names_the_fallback_and_keeps_older_steps(tmp_path):
  workdir = str(tmp_path / "run")
  config = tiny_mlp_config(num_steps=4, checkpoint_every_steps=2, eval_every_steps=4)
  straight, _ = train.train_and_evaluate(config, workdir, show_progress=False)
  # Truncate every array data file of step 4 (what a full disk or a bad copy leaves).
  truncated = 0
  for root, _, files in os.walk(os.path.join(workdir, "checkpoints", "4")):
    if os.path.basename(root) == "d":
      for name in files:
        path = os.path.join(root, name)
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)
        truncated += 1
  assert truncated
  with pytest.raises(ValueError) as info:
    train.train_and_evaluate(config, workdir, show_progress=False)
  message = str(info.value)
  assert "could not restore checkpoint step 4" in message
  assert "Older complete steps: [2]; to resume from step 2, delete or move" in message
  assert "--step 2" in message
  assert _disk_steps(workdir) == [2, 4]  # nothing was deleted
  # The CLI says the same in one line (no tracebacks from the aborted reads).
  result = _gaxla("sample", "--workdir", workdir, "--out", str(tmp_path / "x.npy"), check=False)
  assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
  assert result.stderr.startswith("gaxla: error: could not restore checkpoint step 4")
  assert result.stderr.count("\n") == 1
  # The documented fix: move the bad step away; the run resumes from step 2.
  shutil.move(os.path.join(workdir, "checkpoints", "4"), str(tmp_path / "4.corrupt"))
  resumed, _ = train.train_and_evaluate(config, workdir, show_progress=False)
  _assert_trees_equal(straight, resumed)
