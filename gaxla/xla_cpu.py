"""CPU-backend defaults: XLA:CPU flags that make GAN steps fast, and the compile cache.

Why: jaxlib 0.10 lowers CPU convolutions to YNNPACK fusions by default, and
their weight gradient is very slow (a 3x3 conv at 32x32, 256->256, batch 64:
weight gradient ~10 s, ~8 GFLOP/s). With
`--xla_cpu_experimental_ynn_fusion_type=-INDIVIDUAL_CONVOLUTION` convolutions
go through XLA's own emitter (~150 GFLOP/s on the same conv) while dots and
elementwise fusions keep YNNPACK. BENCHMARKS.md has the numbers.

`apply_defaults()` runs when `gaxla` is imported. It appends the flag to
`XLA_FLAGS` only when all of these hold, so it cannot hurt anything else:
  * `GAXLA_XLA_CPU_DEFAULTS` is not '0' (the switch to turn it off);
  * the user's `XLA_FLAGS` does not already set `xla_cpu_experimental_ynn_fusion_type`;
  * this jaxlib knows the flag (XLA aborts on unknown flags, so it is looked
    up in jaxlib's own library first; the answer is cached in
    ~/.cache/gaxla/xla_cpu_flags.json per jaxlib build, since the scan
    reads ~330 MB);
  * no JAX backend has started yet (XLA reads `XLA_FLAGS` once, when the first
    backend starts; import gaxla before running any JAX computation).
The flag only changes how XLA:CPU compiles; GPU and TPU programs are compiled
by their own backends and are unaffected. Results agree with the default
lowering to float tolerance (tests/test_xla_cpu.py).

`enable_compile_cache(directory)` turns on JAX's persistent compilation cache,
so the second `gaxla train` of a config loads its compiled step from disk
instead of compiling it again.
"""

from __future__ import annotations

import glob
import importlib.util
import mmap
import os
import sys

YNN_FLAG = "xla_cpu_experimental_ynn_fusion_type"
# YNNPACK keeps dots and elementwise/reduce fusions; convolutions go to XLA's emitter.
CPU_FLAGS = (f"--{YNN_FLAG}=-INDIVIDUAL_CONVOLUTION",)
SWITCH = "GAXLA_XLA_CPU_DEFAULTS"

_status = "not applied"


def _cache_file() -> str:
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "gaxla", "xla_cpu_flags.json")


def _jaxlib_libraries() -> list[str]:
  spec = importlib.util.find_spec("jaxlib")
  if spec is None or spec.origin is None:
    return []
  return sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "*.so")))


def _scan(paths: list[str], flag: str) -> bool:
  for path in paths:
    try:
      with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm.find(flag.encode()) >= 0:
          return True
    except (OSError, ValueError):  # empty or unreadable file
      continue
  return False


def _jaxlib_knows(flag: str) -> bool:
  """Whether jaxlib's shared libraries contain `flag` (i.e. XLA defines it).

  Scanning them reads ~330 MB, so the answer is cached on disk (see
  `_cache_file`), keyed by the flag and each library's path, size and mtime:
  a jaxlib upgrade changes the key and scans again. Without a usable cache
  folder it scans every time.
  """
  import json
  paths = _jaxlib_libraries()
  try:
    key = "|".join([flag] + [f"{p}:{os.stat(p).st_size}:{os.stat(p).st_mtime_ns}"
                             for p in paths])
  except OSError:
    return _scan(paths, flag)
  cache = _cache_file()
  try:
    with open(cache) as f:
      known = json.load(f)
    if isinstance(known, dict) and isinstance(known.get(key), bool):
      return known[key]
  except (OSError, ValueError):
    pass
  found = _scan(paths, flag)
  try:  # one entry: the jaxlib installed now
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    partial = f"{cache}.tmp-{os.getpid()}"
    with open(partial, "w") as f:
      json.dump({key: found}, f)
    os.replace(partial, cache)
  except OSError:
    pass
  return found


def _backend_started() -> bool:
  xla_bridge = sys.modules.get("jax._src.xla_bridge")
  return bool(getattr(xla_bridge, "_backends", None))


def apply_defaults() -> str:
  """Adds gaxla's XLA:CPU flags to XLA_FLAGS where safe; returns what happened.

  Idempotent. The returned status ('applied', or why not) is also kept in
  `status()` for `gaxla describe` and benchmarks to report.
  """
  global _status
  current = os.environ.get("XLA_FLAGS", "")
  if os.environ.get(SWITCH, "1") == "0":
    _status = f"off ({SWITCH}=0)"
  elif YNN_FLAG in current:
    _status = "applied" if all(f in current for f in CPU_FLAGS) else "user XLA_FLAGS set it"
  elif _backend_started():
    _status = "not applied: a JAX backend was already running (import gaxla first)"
  elif not _jaxlib_knows(YNN_FLAG):
    _status = "not applied: this jaxlib has no such flag"
  else:
    os.environ["XLA_FLAGS"] = " ".join([current, *CPU_FLAGS]).strip()
    _status = "applied"
  return _status


def status() -> str:
  """'applied', or why gaxla's XLA:CPU flags are not in effect."""
  return _status


def enable_compile_cache(directory: str) -> None:
  """Persistent compilation cache in `directory` ('' leaves JAX's setting alone).

  JAX's own `JAX_COMPILATION_CACHE_DIR` wins when set. Compilations under
  `jax_persistent_cache_min_compile_time_secs` (1 s) are not cached. A folder
  that cannot be written turns the cache off with a warning.
  """
  if not directory or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    return
  import jax
  if jax.config.jax_compilation_cache_dir:
    return
  directory = os.path.expanduser(directory)
  try:
    os.makedirs(directory, exist_ok=True)
    writable = os.access(directory, os.W_OK | os.X_OK)
  except OSError as e:
    writable, why = False, e.strerror or str(e)
  else:
    why = "Permission denied"
  if not writable:  # the cache only saves compile time: never a reason to stop a run
    from absl import logging
    logging.warning("compile cache off: cannot write %s (%s); set compile_cache_dir to a "
                    "writable folder, or to '' to silence this.", directory, why)
    return
  jax.config.update("jax_compilation_cache_dir", directory)
