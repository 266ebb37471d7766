"""Runs a few train steps on a given mesh and saves the final state (test helper).

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python tests/multidevice_worker.py OUT.npz CONFIG_JSON MESH_DATA MESH_FSDP [STEPS]

Used by tests/test_parallel.py: the device count is fixed when JAX starts, so
multi-device runs happen in subprocesses. MESH_DATA = MESH_FSDP = 1 runs on
device 0 alone. With the config's `steps_per_call` > 1 the steps run that
many per call (`train.run_steps`). Writes every leaf of the final state
(flattened with its path) plus `sharded_leaves`, the number of leaves split
over 'fsdp'.
"""

import json
import sys

import jax
import numpy as np

jax.config.update("jax_disable_most_optimizations", True)

from gaxla import config as config_lib, data, parallel, train  # noqa: E402
from gaxla.system import GANSystem  # noqa: E402


def main(out, config_json, mesh_data, mesh_fsdp, steps="3"):
  # Shard every leaf that divides, however small, so the tiny test model
  # exercises the FSDP path.
  parallel.MIN_SHARD_SIZE = 0
  config = config_lib.validate(config_lib.from_json(config_json))
  mesh_data, mesh_fsdp = int(mesh_data), int(mesh_fsdp)
  devices = jax.devices()[:mesh_data * mesh_fsdp]
  config.mesh.data, config.mesh.fsdp = mesh_data, mesh_fsdp
  trainer = GANSystem(config, data.example_shape(config.data),
                      data.get_info(config.data.name).num_classes,
                      mesh=parallel.make_mesh(config.mesh, devices))
  state = trainer.init_state(config.seed)
  source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed)
  step, steps = 0, int(steps)
  while step < steps:
    num = min(int(config.steps_per_call), steps - step)
    state, _ = train.run_steps(trainer, state, source, step, num)
    step += num
  leaves = jax.tree_util.tree_leaves_with_path(state)
  arrays = {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}
  sharded = sum("fsdp" in str(leaf.sharding.spec) for _, leaf in leaves)
  np.savez(out, sharded_leaves=sharded, num_devices=len(state.step.sharding.device_set),
           **{f"leaf{i}": a for i, a in enumerate(arrays.values())})
  print(json.dumps({"leaves": list(arrays), "sharded": sharded}))


if __name__ == "__main__":
  main(*sys.argv[1:])
