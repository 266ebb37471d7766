"""Devices: the mesh, the shardings of the state and the batch, multi-host start-up.

The same config and the same `train_step` run on one CPU, on a box of GPUs and
on a TPU pod. `jax.jit` partitions the step over a 2-D device mesh:

  'data'  batch axis; the state is replicated across it.
  'fsdp'  a second batch axis that also shards parameters and optimizer
          state (FSDP / ZeRO-3 style), for models that outgrow one device.

The global batch is split over both axes (data * fsdp devices); each leaf of
the state is split along its largest dimension that divides by the 'fsdp'
size (and is big enough to be worth it), otherwise replicated. Because the
step sees *global* arrays, BatchNorm statistics, relativistic-average means
and every other batch reduction are over the global batch (cross-replica
BatchNorm for free): XLA inserts the all-reduces.

Multi-host: `initialize(config.distributed)` calls
`jax.distributed.initialize()` (no arguments needed on TPU pods, SLURM or
Open MPI; explicit coordinator/process ids for anything else, e.g. several
processes on one machine). Each process then builds only its own rows of
the global batch and `global_batch` assembles the global array with
`jax.make_array_from_process_local_data`.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gaxla.config import ConfigError

DATA, FSDP = "data", "fsdp"
BATCH_AXES = (DATA, FSDP)
# Leaves smaller than this stay replicated even on an 'fsdp' mesh: sharding a
# bias vector saves nothing and costs a collective.
MIN_SHARD_SIZE = 2 ** 14


# ----------------------------------------------------------------------------
# Multi-host start-up
# ----------------------------------------------------------------------------
def initialize(distributed_config) -> None:
  """Starts JAX's distributed runtime if the config (or GAXLA_DISTRIBUTED=1) asks.

  With `coordinator_address` empty, JAX detects the cluster itself (TPU pod
  metadata, SLURM, Open MPI). Idempotent: a second call does nothing.
  """
  enabled = bool(distributed_config.enabled) or os.environ.get("GAXLA_DISTRIBUTED") == "1"
  if not enabled or jax.distributed.is_initialized():
    return
  kwargs: dict[str, Any] = {}
  if distributed_config.coordinator_address:
    kwargs["coordinator_address"] = distributed_config.coordinator_address
  if distributed_config.num_processes > 0:
    kwargs["num_processes"] = int(distributed_config.num_processes)
  if distributed_config.process_id >= 0:
    kwargs["process_id"] = int(distributed_config.process_id)
  if jax.config.jax_platforms in (None, "", "cpu") and kwargs.get("coordinator_address"):
    # CPU processes need a collectives implementation to talk to each other.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(**kwargs)


# ----------------------------------------------------------------------------
# Mesh
# ----------------------------------------------------------------------------
def make_mesh(mesh_config, devices=None) -> jax.sharding.Mesh:
  """The ('data', 'fsdp') mesh from `config.mesh`.

  Args:
    mesh_config: `config.mesh` with `data` and `fsdp` sizes; -1 means "all
      the devices the other axis leaves".
    devices: devices to use (default: all of `jax.devices()`).
  """
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices)
  data, fsdp = int(mesh_config.data), int(mesh_config.fsdp)
  if data == -1 and fsdp == -1:
    raise ConfigError("config: 'mesh.data' and 'mesh.fsdp' cannot both be -1; set one.")
  if data == -1:
    data = n // fsdp if fsdp > 0 and n % fsdp == 0 else 0
  if fsdp == -1:
    fsdp = n // data if data > 0 and n % data == 0 else 0
  if data <= 0 or fsdp <= 0 or data * fsdp != n:
    raise ConfigError(
        f"config: mesh data={mesh_config.data} x fsdp={mesh_config.fsdp} does not use "
        f"the {n} available device(s); set 'mesh.data' and 'mesh.fsdp' so their "
        f"product is {n} (or -1 for 'the rest').")
  auto = (jax.sharding.AxisType.Auto,) * 2
  return jax.make_mesh((data, fsdp), BATCH_AXES, axis_types=auto, devices=devices)


def single_device_mesh(device=None) -> jax.sharding.Mesh:
  """A 1x1 mesh on one device (sampling in a notebook, tests)."""
  device = jax.devices()[0] if device is None else device
  auto = (jax.sharding.AxisType.Auto,) * 2
  return jax.make_mesh((1, 1), BATCH_AXES, axis_types=auto, devices=[device])


def num_batch_shards(mesh: jax.sharding.Mesh) -> int:
  return mesh.shape[DATA] * mesh.shape[FSDP]


def check_batch_size(batch_size: int, mesh: jax.sharding.Mesh, key: str = "batch_size") -> None:
  shards = num_batch_shards(mesh)
  if batch_size % shards:
    lower = batch_size - batch_size % shards
    raise ConfigError(
        f"config: '{key}' = {batch_size} does not divide across the {shards} devices "
        f"of the mesh (data={mesh.shape[DATA]} x fsdp={mesh.shape[FSDP]}); use a "
        f"multiple of {shards}, e.g. {lower or shards} or {lower + shards}.")
  if batch_size % jax.process_count():
    raise ConfigError(
        f"config: '{key}' = {batch_size} does not divide across "
        f"{jax.process_count()} processes.")


# ----------------------------------------------------------------------------
# Shardings
# ----------------------------------------------------------------------------
def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: jax.sharding.Mesh, batch_axis: int = 1) -> NamedSharding:
  """Splits axis `batch_axis` of an array over every device of the mesh."""
  spec = [None] * batch_axis + [BATCH_AXES]
  return NamedSharding(mesh, P(*spec))


def leaf_spec(shape: tuple, fsdp_size: int) -> P:
  """FSDP partition of one leaf: its largest dimension that divides by the axis."""
  if fsdp_size <= 1 or math.prod(shape) < MIN_SHARD_SIZE:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % fsdp_size == 0:
      spec = [None] * len(shape)
      spec[dim] = FSDP
      return P(*spec)
  return P()


def state_shardings(abstract_state, mesh: jax.sharding.Mesh):
  """NamedShardings for every leaf of a state (replicated, or FSDP-split)."""
  fsdp_size = mesh.shape[FSDP]
  return jax.tree.map(lambda x: NamedSharding(mesh, leaf_spec(x.shape, fsdp_size)),
                      abstract_state)


def with_shardings(abstract_tree, shardings):
  """ShapeDtypeStructs carrying shardings (restore targets, jit inputs)."""
  return jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), abstract_tree, shardings)


# ----------------------------------------------------------------------------
# Host-local -> global batches
# ----------------------------------------------------------------------------
def process_rows(global_batch_size: int) -> slice:
  """This process's rows of a global batch (processes own equal, contiguous blocks)."""
  per_process = global_batch_size // jax.process_count()
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def global_batch(local_batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh,
                 global_batch_size: int, batch_axis: int = 1) -> dict[str, jax.Array]:
  """Assembles this process's rows into global arrays sharded over the mesh.

  Args:
    local_batch: {'x': [n_critic, local_B, ...], 'label': [n_critic, local_B]}
      (local_B = global_B / process_count; on one process, the whole batch).
    mesh: the training mesh.
    global_batch_size: B.
    batch_axis: the axis of B (2 for batches stacked on a leading step axis:
      [k, n_critic, local_B, ...]).
  """
  sharding = batch_sharding(mesh, batch_axis)
  out = {}
  for key, value in local_batch.items():
    global_shape = value.shape[:batch_axis] + (global_batch_size,) + value.shape[batch_axis + 1:]
    if jax.process_count() == 1:
      out[key] = jax.device_put(value, sharding)
    else:
      out[key] = jax.make_array_from_process_local_data(sharding, value, global_shape)
  return out
