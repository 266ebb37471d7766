"""Times the jitted train step of a config: compile time, step time, images/s.

  python scripts/bench_step.py --config configs/fashion_mnist_dcgan.py --steps 50

Uses a fixed real batch from the config's dataset so that only the step is
timed (data loading is separate and cheap for the in-memory sources). With
`steps_per_call` > 1 (the config's, or --steps_per_call) it times
`train_steps` on that many stacked batches per call and reports the time per
step, so the Python dispatch saved by running several steps a call shows.
`--config.KEY=VALUE` overrides any other config key (e.g. a model width), with
the same syntax and checks as `gaxla train`.

Also reported:
  mfu               model FLOPs utilization: the train step's FLOPs (from XLA's
                    cost analysis, as `gaxla describe` counts them) per second,
                    over the peak of all devices (PEAK_TFLOPS below, by device
                    kind and compute dtype); null on devices not in the table.
  loader_images_per_s   real images/s the data source delivers alone
                        (`source.batch(step)`: read, decode, crop, resize).
  data_wait_ms      per step, how much longer a loop that fetches a fresh batch
                    every step takes than one that reuses a batch: the time the
                    step waits for data (0 when loading hides behind the step).
The last two need the config's dataset (not --synthetic).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np


# Dense peak TFLOP/s per chip (no structured sparsity), from the vendors' data
# sheets; SXM parts for the GPUs. 'float32' is what a float32 step's matmuls
# and convolutions run at under JAX's default precision: TF32 tensor cores on
# A100/H100/H200, one bf16 pass on TPUs (so equal to bf16 there).
PEAK_TFLOPS = {
    # kind          bfloat16  float32
    "H100":        (989.4,    494.7),
    "H200":        (989.4,    494.7),
    "A100":        (312.0,    156.0),
    "TPU v4":      (275.0,    275.0),
    "TPU v5e":     (197.0,    197.0),
    "TPU v5p":     (459.0,    459.0),
}


def peak_kind(device_kind: str) -> str | None:
  """PEAK_TFLOPS key for a JAX `device_kind` ('NVIDIA H100 80GB HBM3', 'TPU v5 lite', ...)."""
  kind = device_kind.lower()
  if "tpu" in kind:
    if "v5 lite" in kind or "v5e" in kind or "v5litepod" in kind:
      return "TPU v5e"
    if "v5p" in kind or "v5" in kind:
      return "TPU v5p"
    if "v4" in kind:
      return "TPU v4"
    return None
  for name in ("H200", "H100", "A100"):
    if name.lower() in kind:
      return name
  return None


def mfu(step_flops: float, step_seconds: float, device_kind: str, num_devices: int,
        compute_dtype: str) -> float | None:
  """Achieved step FLOP/s over the devices' peak; None for a device not in PEAK_TFLOPS."""
  kind = peak_kind(device_kind)
  if kind is None:
    return None
  peak = PEAK_TFLOPS[kind][0 if compute_dtype == "bfloat16" else 1] * 1e12 * num_devices
  return step_flops / step_seconds / peak


def _load_config(path: str, overrides: list[str]):
  """The config at `path` ('configs/NAME.py[:arg]') with `--config.KEY=VALUE` overrides.

  Parsed by ml_collections' config_flags, as `gaxla train` parses them: values
  take the type of the key they replace, and an unknown key is an error.
  """
  from absl import flags
  from ml_collections import config_flags
  argv = ["bench_step", f"--config={path}", *overrides]
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, flag_values=flag_values, sys_argv=argv)
  try:
    flag_values(argv)
  except (AttributeError, KeyError, ValueError, flags.Error) as e:
    raise SystemExit(f"bench_step: bad --config override in {overrides}: {e}") from None
  config = flag_values.config
  config.unlock()  # as `gaxla train` does
  return config


def main() -> None:
  from gaxla import xla_cpu
  xla_cpu.reexec_with_hugepage_malloc()  # as the gaxla CLI does (gaxla/xla_cpu.py)
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--batch_size", type=int, default=0, help="override (0 = config's)")
  parser.add_argument("--mesh_data", type=int, default=0, help="override config.mesh.data")
  parser.add_argument("--mesh_fsdp", type=int, default=0, help="override config.mesh.fsdp")
  parser.add_argument("--steps_per_call", type=int, default=0,
                      help="override config.steps_per_call")
  parser.add_argument("--compute_dtype", default="", help="override config.compute_dtype")
  parser.add_argument("--data_steps", type=int, default=10,
                      help="steps timed with a fresh batch each (loader rate, data wait)")
  parser.add_argument("--synthetic", action="store_true",
                      help="random images of the config's shape instead of the dataset "
                           "(for datasets not prepared here, e.g. cifar10, imagenet2012)")
  # Anything else must be a config override, `--config.KEY=VALUE`, as for `gaxla train`.
  args, overrides = parser.parse_known_args()
  unknown = [a for a in overrides if not (a.startswith("--config.") and "=" in a)]
  if unknown:
    parser.error(f"unrecognized arguments: {' '.join(unknown)} "
                 "(config keys are overridden with --config.KEY=VALUE)")
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  from gaxla import config as config_lib, data
  from gaxla.system import system_for

  config = _load_config(args.config, overrides)
  if args.batch_size:
    config.batch_size = args.batch_size
  if args.mesh_data:
    config.mesh.data = args.mesh_data
  if args.mesh_fsdp:
    config.mesh.fsdp = args.mesh_fsdp
  if args.compute_dtype:
    config.compute_dtype = args.compute_dtype
  if args.steps_per_call:
    config.steps_per_call = args.steps_per_call
  config_lib.validate(config)
  # As `gaxla train` does: a second run of the same config loads the compiled
  # step from JAX's persistent cache (--config.compile_cache_dir='' to time a cold compile).
  xla_cpu.enable_compile_cache(config.compile_cache_dir)
  trainer = system_for(config)
  state = trainer.init_state(config.seed)
  if args.synthetic:
    rng = np.random.default_rng(0)
    shape = (config.optim.n_critic, config.batch_size) + trainer.example_shape
    classes = max(trainer.num_classes, 1)
    batch = trainer.put_batch({
        "x": rng.uniform(-1, 1, shape).astype(np.float32),
        "label": rng.integers(0, classes, shape[:2]).astype(np.int32)})
  else:
    source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed)
    batch = trainer.put_batch(source.batch(0))
  from gaxla import describe
  step_flops = describe.describe(config)["train_step"]["flops"]

  per_call = int(config.steps_per_call)
  step_fn = trainer.train_step
  if per_call > 1:  # the same batch k times: what is timed is the step, not the data
    step_fn = trainer.train_steps
    batch = trainer.put_batches(jax.tree.map(lambda x: np.stack([np.asarray(x)] * per_call),
                                             batch))
  start = time.perf_counter()
  compiled = step_fn.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  state, metrics = compiled(state, batch)  # warm-up
  jax.block_until_ready(metrics)
  calls = max(1, args.steps // per_call)
  start = time.perf_counter()
  for _ in range(calls):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  step_s = (time.perf_counter() - start) / (calls * per_call)
  loader_rate = data_wait_ms = None
  if not args.synthetic and args.data_steps > 0 and per_call == 1:
    start = time.perf_counter()
    for s in range(1, args.data_steps + 1):
      source.batch(s)
    loader_s = (time.perf_counter() - start) / args.data_steps
    loader_rate = round(config.batch_size * config.optim.n_critic / loader_s, 1)
    start = time.perf_counter()
    # Later steps, in order (a worker pipeline continues instead of restarting),
    # with the training loop's device prefetch: the next batch is read and put
    # on the devices while the step runs.
    from gaxla.data.device_prefetch import DevicePrefetch
    prefetch = DevicePrefetch(lambda s, n: trainer.put_batch(source.batch(s)), size=2)
    for s in range(args.data_steps + 1, 2 * args.data_steps + 1):
      state, metrics = compiled(state, prefetch.get(s, 1))
      if s < 2 * args.data_steps:
        prefetch.ahead(s + 1, 1)
    jax.block_until_ready(metrics)
    with_data_s = (time.perf_counter() - start) / args.data_steps
    data_wait_ms = round(1000 * max(0.0, with_data_s - step_s), 2)
    source.close()
  device = jax.devices()[0]
  utilization = mfu(step_flops, step_s, device.device_kind, jax.device_count(),
                    config.compute_dtype)
  # Images through the generator per step: n_critic critic batches + 1 generator
  # batch (with optim.reuse_fakes the generator batch is the last critic batch).
  images = config.batch_size * (config.optim.n_critic + (0 if config.optim.reuse_fakes else 1))
  result = {
      "config": os.path.basename(args.config), "batch_size": config.batch_size,
      "n_critic": config.optim.n_critic, "steps_per_call": per_call, "devices": jax.device_count(),
      "mesh": dict(trainer.mesh.shape), "compute_dtype": config.compute_dtype,
      "data": "synthetic" if args.synthetic else config.data.name,
      "backend": jax.default_backend(), "compile_s": round(compile_s, 2),
      "step_ms": round(1000 * step_s, 2),
      "real_images_per_s": round(config.batch_size * config.optim.n_critic / step_s, 1),
      "generated_images_per_s": round(images / step_s, 1),
      "machine": f"{platform.machine()}, {os.cpu_count()} cores",
      "xla_cpu_flags": xla_cpu.status(),
      "hugepage_malloc": xla_cpu.hugepage_malloc_status(),
      "compile_cache": jax.config.jax_compilation_cache_dir or "",
      "device_kind": device.device_kind, "step_tflops": round(step_flops / 1e12, 4),
      "mfu": None if utilization is None else round(utilization, 4),
      "loader_images_per_s": loader_rate, "data_wait_ms": data_wait_ms,
  }
  print(json.dumps(result))


if __name__ == "__main__":
  main()
