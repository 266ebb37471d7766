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

`reexec_with_hugepage_malloc()` (called first thing by the `gaxla` CLI and
the benchmark scripts) restarts the process once with
`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`. Why: XLA:CPU's buffers come from
glibc malloc in 4 KiB pages that are returned to the kernel and faulted in
again every step (~20,000 page faults per Fashion-MNIST BigGAN step, a fifth of
its CPU time in the kernel). With the tunable, malloc asks for transparent huge
pages (2 MiB), and the faults drop ~15x. glibc reads the tunable only at
process start, hence the re-exec (before any JAX computation; ~50 ms). It happens
only when all of these hold (`hugepage_malloc_status()` says which did not):
Linux with glibc >= 2.35; the kernel's transparent huge pages in `madvise`
mode (with `always` malloc gets them anyway; with `never` the tunable cannot
help); `GLIBC_TUNABLES` does not already set `glibc.malloc.hugetlb`;
`GAXLA_XLA_CPU_DEFAULTS` is not '0'; and no GPU/TPU JAX plugin is installed
unless `JAX_PLATFORMS=cpu` (a CPU-only choice must not touch accelerator hosts).
From a notebook, start Jupyter with that environment variable instead.
Memory allocation does not change any arithmetic.

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


HUGEPAGE_TUNABLE = "glibc.malloc.hugetlb=1"
_THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled"
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                        "jax_rocm7_plugin", "libtpu")


def _glibc_version() -> tuple[int, int] | None:
  try:
    name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    major, minor = version.split(".")[:2]
    return (int(major), int(minor)) if name == "glibc" else None
  except (AttributeError, ValueError, OSError):
    return None


def _thp_mode() -> str:
  try:
    with open(_THP_MODE) as f:
      text = f.read()
  except OSError:
    return "unknown"
  return text[text.index("[") + 1:text.index("]")] if "[" in text else "unknown"


def hugepage_malloc_status() -> str:
  """'applied', or why this process does not run with huge-page malloc (see above)."""
  tunables = os.environ.get("GLIBC_TUNABLES", "")
  if "glibc.malloc.hugetlb" in tunables:
    return "applied" if HUGEPAGE_TUNABLE in tunables.split(":") else "user GLIBC_TUNABLES set it"
  if os.environ.get(SWITCH, "1") == "0":
    return f"off ({SWITCH}=0)"
  if not sys.platform.startswith("linux") or (_glibc_version() or (0, 0)) < (2, 35):
    return "not applied: needs Linux with glibc >= 2.35"
  mode = _thp_mode()
  if mode != "madvise":
    return f"not needed: transparent huge pages are '{mode}'"
  if os.environ.get("JAX_PLATFORMS", "").strip().lower() != "cpu":
    plugins = [p for p in _ACCELERATOR_PLUGINS if importlib.util.find_spec(p) is not None]
    if plugins:
      return f"not applied: accelerator plugin {plugins[0]} installed (set JAX_PLATFORMS=cpu)"
  return "restart needed"


def reexec_with_hugepage_malloc() -> None:
  """Restarts this process with huge-page malloc when `hugepage_malloc_status()` allows.

  Call it first thing in a program's entry point, before any JAX computation:
  `os.execve` replaces the process (same interpreter, arguments and pid), so
  anything done before it is done twice. Returns when nothing needs doing.
  """
  if hugepage_malloc_status() != "restart needed" or _backend_started():
    return
  argv = list(getattr(sys, "orig_argv", []))
  if not argv:
    return
  tunables = os.environ.get("GLIBC_TUNABLES", "")
  env = dict(os.environ, GLIBC_TUNABLES=":".join(filter(None, [tunables, HUGEPAGE_TUNABLE])))
  sys.stdout.flush()
  sys.stderr.flush()
  try:
    os.execve(sys.executable, [sys.executable, *argv[1:]], env)
  except OSError:  # e.g. a sandbox without exec: run on, just slower
    return


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
