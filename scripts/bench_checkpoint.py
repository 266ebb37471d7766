"""Times checkpoint save and restore of a config's full training state; reports size on disk.

  python scripts/bench_checkpoint.py --config configs/fashion_mnist_dcgan.py --repeats 3

No training and no data: the state is initialized from the config, saved with
the same manager `gaxla train` uses (gaxla.checkpoint.make_manager), and
restored onto the abstract state. By default (--fill random) every float array
is refilled with random values first: a fresh state's Adam moments are zeros,
which compress to almost nothing, while a trained state's do not.
Reported (medians over --repeats):
  async_save_return_s   time until `save` returns with async saves (training
                        would continue from here)
  async_save_total_s    time until `wait_until_finished` (the write is done)
  sync_save_s           a blocking save (checkpoint.async_save = False)
  restore_s             restore of one step onto the abstract state
  disk_mb               size of one step folder on disk
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import jax
import numpy as np


def _folder_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, name))
             for root, _, files in os.walk(path) for name in files)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--dir", default="", help="where to write (default: a temporary folder)")
  parser.add_argument("--fill", choices=("random", "init"), default="random",
                      help="float arrays: random values (like a trained state) or as initialized")
  args = parser.parse_args()
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  from gaxla import checkpoint
  from gaxla.system import system_for
  from gaxla import config as config_lib

  config = config_lib.from_file(args.config)
  config.checkpoint.keep_latest = args.repeats + 1  # every timed step stays restorable
  config_lib.validate(config)
  trainer = system_for(config)
  state = jax.block_until_ready(jax.jit(trainer.init, static_argnums=0)(config.seed))
  if args.fill == "random":
    rng = np.random.default_rng(0)
    state = jax.tree.map(
        lambda x: jax.numpy.asarray(rng.standard_normal(x.shape), x.dtype)
        if jax.numpy.issubdtype(x.dtype, jax.numpy.floating) else x, state)
  abstract = trainer.abstract_state()
  state_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(state))
  num_params = sum(int(np.size(x)) for x in jax.tree.leaves((state.g.params, state.d.params)))

  times: dict[str, list[float]] = {
      "async_save_return_s": [], "async_save_total_s": [], "sync_save_s": [], "restore_s": []}
  disk = 0
  with tempfile.TemporaryDirectory(dir=args.dir or None) as root:
    for async_save in (True, False):
      config.checkpoint.async_save = async_save
      manager = checkpoint.make_manager(os.path.join(root, f"async_{async_save}"), config)
      # Step 0 is a warm-up: first-save set-up (directories, handler registration).
      for step in range(args.repeats + 1):
        start = time.perf_counter()
        checkpoint.save(manager, step, state)
        returned = time.perf_counter() - start
        manager.wait_until_finished()
        total = time.perf_counter() - start
        if step == 0:
          continue
        if async_save:
          times["async_save_return_s"].append(returned)
          times["async_save_total_s"].append(total)
        else:
          times["sync_save_s"].append(total)
      disk = _folder_bytes(os.path.join(str(manager.directory), str(args.repeats)))
      if not async_save:
        for step in range(1, args.repeats + 1):
          start = time.perf_counter()
          restored = checkpoint.restore(manager, abstract, step)
          jax.block_until_ready(restored)
          times["restore_s"].append(time.perf_counter() - start)
      manager.close()

  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  result = {
      "config": os.path.basename(args.config), "fill": args.fill, "params_g_plus_d": num_params,
      "state_mb": round(state_bytes / 2**20, 2), "disk_mb": round(disk / 2**20, 2),
      **{k: round(statistics.median(v), 3) for k, v in times.items()},
      "repeats": args.repeats, "backend": jax.default_backend(),
      "machine": f"{platform.machine()}, {os.cpu_count()} cores",
  }
  print(json.dumps(result))


if __name__ == "__main__":
  main()
