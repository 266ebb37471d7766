"""Sharding: 1 vs 8 devices, FSDP, multi-host, accumulation, bf16, clear errors.

Multi-device runs happen in subprocesses (the device count is fixed when JAX
starts) with `--xla_force_host_platform_device_count=8`: 8 simulated CPU
devices that share this machine's cores. They check correctness, not speed.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_dcgan_config, tiny_mlp_config
from gaxla import config as config_lib, data
from gaxla.system import system_for
from gaxla import workdir as workdir_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "multidevice_worker.py")


def _env(devices: int) -> dict:
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return env


def _run_worker(tmp_path, config, mesh_data, mesh_fsdp, steps=3):
  out = str(tmp_path / f"state_{mesh_data}x{mesh_fsdp}.npz")
  result = subprocess.run(
      [sys.executable, WORKER, out, config.to_json(), str(mesh_data), str(mesh_fsdp), str(steps)],
      env=_env(8), capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return np.load(out), json.loads(result.stdout.strip().splitlines()[-1])["leaves"]


def _assert_states_close(a, b, names, atol=1e-5):
  for i, name in enumerate(names):
    x, y = a[f"leaf{i}"], b[f"leaf{i}"]
    np.testing.assert_allclose(x.astype(np.float64), y.astype(np.float64), atol=atol,
                               rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def bn_sn_config():
  # Conditional DCGAN: BatchNorm in G, spectral norm in D, a projection critic.
  config = tiny_dcgan_config()
  config.batch_size = 16
  config.optim.n_critic = 2
  config.optim.generator.eps = config.optim.critic.eps = 1e-3  # see STABLE_ADAM
  return config


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory, bn_sn_config):
  return _run_worker(tmp_path_factory.mktemp("one"), bn_sn_config, 1, 1)


def test_eight_devices_match_one_device(tmp_path, bn_sn_config, one_device_run):
  one, names = one_device_run
  eight, _ = _run_worker(tmp_path, bn_sn_config, 8, 1)
  assert int(one["num_devices"]) == 1 and int(eight["num_devices"]) == 8
  # Params, optimizer state, BatchNorm statistics, spectral-norm u/sigma, EMA.
  assert any("batch_stats" in n and "mean" in n for n in names)
  assert any("sigma" in n for n in names)
  _assert_states_close(one, eight, names)


def test_fsdp_mesh_with_multi_step_calls_matches_one_device(tmp_path, bn_sn_config,
                                                            one_device_run):
  # Also runs the 3 steps in one call (steps_per_call: a scan over stacked
  # batches, split over the mesh on their batch axis) against one step a call.
  one, names = one_device_run
  config = bn_sn_config.copy_and_resolve_references()
  config.steps_per_call = 3
  fsdp, _ = _run_worker(tmp_path, config, 4, 2)
  assert int(fsdp["sharded_leaves"]) > 10  # params and Adam moments are really split
  _assert_states_close(one, fsdp, names)


def test_bad_batch_and_mesh_sizes_name_the_fix():
  script = """
import jax
from conftest import tiny_mlp_config
from gaxla import config as config_lib, train
from gaxla.system import system_for
from gaxla import workdir as workdir_lib
for overrides in ({"batch_size": 12}, {"mesh.data": 3},
                  {"batch_size": 32, "optim.grad_accum_steps": 8}):
  config = config_lib.validate(tiny_mlp_config(**overrides))
  try:
    system_for(config)
    print("no error for", overrides)
  except config_lib.ConfigError as e:
    print("ERROR", e)
"""
  result = subprocess.run([sys.executable, "-c", script], env=_env(8), capture_output=True,
                          text=True, timeout=120, cwd=os.path.join(ROOT, "tests"))
  lines = [line for line in result.stdout.splitlines() if line]
  assert len(lines) == 3 and all(line.startswith("ERROR") for line in lines), result
  assert "'batch_size' = 12 does not divide across the 8 devices" in lines[0]
  assert "use a multiple of 8, e.g. 8 or 16" in lines[0]
  assert "mesh data=3" in lines[1] and "8 available device" in lines[1]
  assert "batch_size / optim.grad_accum_steps" in lines[2]


def test_process_rows_partition_the_global_batch():
  # What each of 4 hosts would read is exactly the single-host batch, in order.
  config = tiny_dcgan_config()
  full = data.make_source(config.data, 16, 2, seed=3).batch(5)
  parts = [data.make_source(config.data, 16, 2, seed=3, rows=slice(4 * i, 4 * i + 4)).batch(5)
           for i in range(4)]
  for key in ("x", "label"):
    np.testing.assert_array_equal(np.concatenate([p[key] for p in parts], axis=1), full[key])


def _steps(config, num_steps=2):
  trainer = system_for(config_lib.validate(config))
  state = trainer.init_state(config.seed)
  source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed)
  for step in range(num_steps):
    state, metrics = trainer.train_step(state, trainer.put_batch(source.batch(step)))
  return state, metrics


def test_gradient_accumulation_matches_the_full_batch():
  # No BatchNorm or spectral norm: the accumulated gradient is the full-batch one.
  base = dict(batch_size=32, **{"optim.n_critic": 2})
  full, _ = _steps(tiny_mlp_config(**base))
  accumulated, metrics = _steps(tiny_mlp_config(**base, **{"optim.grad_accum_steps": 4}))
  for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(accumulated)):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               atol=1e-5, rtol=0)
  assert np.isfinite(float(metrics["d_loss"]))


def test_gradient_accumulation_with_a_penalty_and_batchnorm_runs():
  config = tiny_dcgan_config(**{"optim.grad_accum_steps": 2, "penalty.name": "wgan_gp",
                                "penalty.weight": 10.0, "batch_size": 8})
  state, metrics = _steps(config)
  assert int(state.step) == 2
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert float(metrics["penalty"]) > 0


def test_bfloat16_compute_keeps_float32_state_and_tracks_float32():
  f32_state, f32_metrics = _steps(tiny_dcgan_config())
  bf16_state, bf16_metrics = _steps(tiny_dcgan_config(compute_dtype="bfloat16"))
  for a, b in zip(jax.tree.leaves(f32_state), jax.tree.leaves(bf16_state)):
    assert a.dtype == b.dtype  # master params, Adam moments, BN/SN stats stay float32
  g32 = jax.tree.leaves(f32_state.g.params)
  g16 = jax.tree.leaves(bf16_state.g.params)
  assert any(not np.array_equal(a, b) for a, b in zip(g32, g16))  # really computed in bf16
  for key in ("d_loss", "g_loss"):
    assert abs(float(f32_metrics[key]) - float(bf16_metrics[key])) < 0.05


def test_bfloat16_forward_runs_in_bfloat16():
  config = config_lib.validate(tiny_dcgan_config(compute_dtype="bfloat16"))
  trainer = system_for(config)
  state = trainer.init_state(0)
  z = jnp.zeros((2, config.model.latent_dim))
  labels = jnp.zeros((2,), jnp.int32)
  jaxpr = jax.make_jaxpr(
      lambda p: trainer._generate_train(p, state.g.collections, z, labels))(state.g.params)
  assert "bf16" in str(jaxpr)
  out, collections = trainer._generate_train(state.g.params, state.g.collections, z, labels)
  assert out.dtype == jnp.float32
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(collections))


# ----------------------------------------------------------------------------
# Multi-host, for real: 2 processes on localhost through jax.distributed
# ----------------------------------------------------------------------------
def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _train_cli(workdir, *extra, env=None):
  return subprocess.Popen(
      [sys.executable, "-m", "gaxla", "train", "--config", "configs/quickstart.py",
       "--workdir", workdir, "--progress", "lines", *extra],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# Adam's eps = 1e-3 (instead of 1e-8): a gradient that is zero in exact
# arithmetic is rounding noise that depends on the reduction order (1 vs 2
# processes), and Adam with a tiny eps turns any noise into a full lr-sized
# step of random sign. A larger eps keeps such steps far below the tolerance
# while real gradients still move the params.
STABLE_ADAM = ("--config.optim.generator.eps=1e-3", "--config.optim.critic.eps=1e-3")
TWO_HOST_OVERRIDES = STABLE_ADAM + ("--config.num_steps=4", "--config.batch_size=8",
                      "--config.log_every_steps=2", "--config.eval_every_steps=4",
                      "--config.checkpoint_every_steps=4", "--config.eval.grid_size=2",
                      "--config.model.generator.base_channels=8",
                      "--config.model.critic.base_channels=8")


def test_two_processes_match_one_process(tmp_path):
  port = _free_port()
  multi = str(tmp_path / "two_hosts")
  procs = [
      _train_cli(multi, *TWO_HOST_OVERRIDES, "--config.distributed.enabled=true",
                 f"--config.distributed.coordinator_address=localhost:{port}",
                 "--config.distributed.num_processes=2",
                 f"--config.distributed.process_id={pid}", env=_env(1))
      for pid in range(2)]
  outputs = [p.communicate(timeout=420) for p in procs]
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  single = str(tmp_path / "one_host")
  p = _train_cli(single, *TWO_HOST_OVERRIDES, env=_env(1))
  _, err = p.communicate(timeout=300)
  assert p.returncode == 0, err[-3000:]
  # Only process 0 wrote logs and pictures; both runs saved step 4.
  assert os.path.exists(os.path.join(multi, "metrics.jsonl"))
  from gaxla import checkpoint
  config = config_lib.validate(workdir_lib.load_config(single))
  trainer = system_for(config)
  states = []
  for workdir in (single, multi):
    manager = checkpoint.make_manager(workdir, config, read_only=True)
    states.append(checkpoint.restore(manager, trainer.abstract_state()))
    manager.close()
  assert int(states[0].step) == int(states[1].step) == 4
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(states[0]),
                          jax.tree.leaves(states[1])):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               atol=1e-5, rtol=0, err_msg=jax.tree_util.keystr(path))


def test_many_steps_on_eight_simulated_devices_do_not_deadlock(tmp_path):
  # Unbounded async dispatch made XLA:CPU's collectives deadlock within ~300
  # steps of this tiny model with 8 devices on 2 cores; the loop now keeps at
  # most two steps in flight.
  script = f"""
from conftest import tiny_mlp_config
from gaxla import train
from gaxla.system import system_for
from gaxla import workdir as workdir_lib
config = tiny_mlp_config(batch_size=64, num_steps=400, log_every_steps=400,
                         eval_every_steps=400, checkpoint_every_steps=400)
_, metrics = train.train_and_evaluate(config, {str(tmp_path)!r}, show_progress=False)
print("DONE", metrics["eval/mode_coverage/modes_covered"])
"""
  result = subprocess.run([sys.executable, "-c", script], env=_env(8), capture_output=True,
                          text=True, timeout=240, cwd=os.path.join(ROOT, "tests"))
  assert result.returncode == 0 and "DONE" in result.stdout, result.stderr[-2000:]
