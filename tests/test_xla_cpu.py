"""gaxla's CPU defaults: the XLA:CPU flag and the fused upsample-conv change speed, not results."""

import os
import subprocess
import sys

import numpy as np

from gaxla import xla_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Three train steps of the tiny BigGAN (upsampling G, spectral norm, BatchNorm);
# saves every leaf of the final state.
_WORKER = """
import sys, jax, numpy as np
jax.config.update("jax_disable_most_optimizations", True)
import gaxla
from gaxla import config as config_lib
from gaxla.system import system_for
sys.path.insert(0, "tests")
from test_biggan import tiny_biggan_config
config = tiny_biggan_config()
# Adam's eps 1e-8 turns rounding noise in near-zero gradients (e.g. conv biases
# before BatchNorm) into lr-sized steps; 1e-3 keeps the comparison about the math.
config.optim.generator.eps = config.optim.critic.eps = 1e-3
config = config_lib.validate(config)
trainer = system_for(config)
state = trainer.init_state(0)
rng = np.random.default_rng(0)
for _ in range(3):
  batch = {"x": rng.uniform(-1, 1, (1, 4, 8, 8, 1)).astype(np.float32),
           "label": rng.integers(0, 10, (1, 4)).astype(np.int32)}
  state, _ = trainer.train_step(state, trainer.put_batch(batch))
leaves = jax.tree.leaves(jax.device_get(state.g.params)) + jax.tree.leaves(jax.device_get(
    state.d.params)) + jax.tree.leaves(jax.device_get(state.g.collections))
np.savez(sys.argv[1], *[np.asarray(x) for x in leaves])
print(gaxla.xla_cpu.status())
"""


def _run(out, **env):
  env = dict(os.environ, JAX_PLATFORMS="cpu", **env)
  env.pop("XLA_FLAGS", None)
  result = subprocess.run([sys.executable, "-c", _WORKER, out], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  return result.stdout.strip().splitlines()[-1]


def test_cpu_defaults_match_plain_xla_within_float_tolerance(tmp_path):
  fast, plain = str(tmp_path / "fast.npz"), str(tmp_path / "plain.npz")
  assert _run(fast) == "applied"
  assert _run(plain, GAXLA_XLA_CPU_DEFAULTS="0", GAXLA_FUSED_UPSAMPLE="0").startswith("off")
  with np.load(fast) as a, np.load(plain) as b:
    assert len(a.files) == len(b.files) > 10
    for name in a.files:
      np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_apply_defaults_respects_the_switch_and_the_users_flags(monkeypatch):
  monkeypatch.setattr(xla_cpu, "_status", xla_cpu.status())
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
  monkeypatch.setenv(xla_cpu.SWITCH, "0")
  assert xla_cpu.apply_defaults().startswith("off")
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
  monkeypatch.delenv(xla_cpu.SWITCH)
  monkeypatch.setenv("XLA_FLAGS", f"--{xla_cpu.YNN_FLAG}=INDIVIDUAL_DOT")
  assert xla_cpu.apply_defaults() == "user XLA_FLAGS set it"
  assert os.environ["XLA_FLAGS"] == f"--{xla_cpu.YNN_FLAG}=INDIVIDUAL_DOT"
  # In this process a backend already runs: too late for XLA_FLAGS, and said so.
  monkeypatch.setenv("XLA_FLAGS", "")
  import jax
  jax.devices()
  assert "already running" in xla_cpu.apply_defaults()
  assert os.environ["XLA_FLAGS"] == ""


def test_this_jaxlib_knows_the_flag():
  assert xla_cpu._jaxlib_knows(xla_cpu.YNN_FLAG)
  assert not xla_cpu._jaxlib_knows("xla_cpu_no_such_flag_for_sure")


def test_the_jaxlib_scan_is_cached_per_build(tmp_path, monkeypatch):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  scans = []
  real_scan = xla_cpu._scan
  monkeypatch.setattr(xla_cpu, "_scan", lambda paths, flag: scans.append(flag) or
                      real_scan(paths, flag))
  assert xla_cpu._jaxlib_knows(xla_cpu.YNN_FLAG) is True
  assert xla_cpu._jaxlib_knows(xla_cpu.YNN_FLAG) is True
  assert xla_cpu._jaxlib_knows("no_such_xla_flag_anywhere") is False
  assert scans == [xla_cpu.YNN_FLAG, "no_such_xla_flag_anywhere"]
  # Another build (size or mtime of a library differs) scans again.
  other = tmp_path / "other_jaxlib.so"
  other.write_bytes(b"a library without the flag")
  monkeypatch.setattr(xla_cpu, "_jaxlib_libraries", lambda: [str(other)])
  assert xla_cpu._jaxlib_knows(xla_cpu.YNN_FLAG) is False and len(scans) == 3


def test_an_unwritable_compile_cache_is_skipped_not_fatal(tmp_path, monkeypatch):
  import jax
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  a_file = tmp_path / "file"
  a_file.write_text("")
  before = jax.config.jax_compilation_cache_dir
  jax.config.update("jax_compilation_cache_dir", None)
  try:
    xla_cpu.enable_compile_cache(str(a_file / "cache"))  # NotADirectoryError before the fix
    assert jax.config.jax_compilation_cache_dir is None
    xla_cpu.enable_compile_cache(str(tmp_path / "cache"))
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache")
  finally:
    jax.config.update("jax_compilation_cache_dir", before)


def _malloc_env(monkeypatch, thp="madvise", glibc=(2, 36), plugins=()):
  monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
  monkeypatch.delenv(xla_cpu.SWITCH, raising=False)
  monkeypatch.delenv("JAX_PLATFORMS", raising=False)
  monkeypatch.setattr(sys, "platform", "linux")
  monkeypatch.setattr(xla_cpu, "_thp_mode", lambda: thp)
  monkeypatch.setattr(xla_cpu, "_glibc_version", lambda: glibc)
  find_spec = xla_cpu.importlib.util.find_spec
  monkeypatch.setattr(xla_cpu.importlib.util, "find_spec",
                      lambda name: object() if name in plugins else find_spec(name))


def test_hugepage_malloc_applies_only_where_it_helps_and_is_cpu_only(monkeypatch):
  _malloc_env(monkeypatch)
  assert xla_cpu.hugepage_malloc_status() == "restart needed"
  for thp in ("always", "never"):
    _malloc_env(monkeypatch, thp=thp)
    assert xla_cpu.hugepage_malloc_status().startswith("not needed")
  _malloc_env(monkeypatch, glibc=(2, 31))
  assert "glibc >= 2.35" in xla_cpu.hugepage_malloc_status()
  _malloc_env(monkeypatch, plugins=("jax_cuda12_plugin",))
  assert "jax_cuda12_plugin" in xla_cpu.hugepage_malloc_status()
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the user asked for the CPU backend
  assert xla_cpu.hugepage_malloc_status() == "restart needed"
  _malloc_env(monkeypatch)
  monkeypatch.setenv(xla_cpu.SWITCH, "0")
  assert xla_cpu.hugepage_malloc_status().startswith("off")
  _malloc_env(monkeypatch)
  monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
  assert xla_cpu.hugepage_malloc_status() == "user GLIBC_TUNABLES set it"
  monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2:" + xla_cpu.HUGEPAGE_TUNABLE)
  assert xla_cpu.hugepage_malloc_status() == "applied"
  # A backend already runs in this process: too late to restart, and it does not try.
  monkeypatch.delenv("GLIBC_TUNABLES")
  import jax
  jax.devices()
  xla_cpu.reexec_with_hugepage_malloc()  # returns instead of replacing the test process


def test_the_cli_restarts_itself_with_hugepage_malloc_once():
  """`gaxla describe` reports the status the re-exec'd process sees, and keeps its output."""
  env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
  env["JAX_PLATFORMS"] = "cpu"
  result = subprocess.run([sys.executable, "-m", "gaxla.cli", "describe", "--config",
                           "configs/quickstart.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stdout.count("gaxla describe configs/quickstart.py") == 1
  line = result.stdout.strip().splitlines()[-1]
  assert line.startswith("CPU defaults"), result.stdout
  expected = xla_cpu.hugepage_malloc_status()
  if expected == "restart needed":  # this machine qualifies: the child ran with it
    assert line.endswith("huge-page malloc applied"), line
  else:
    assert line.endswith(f"huge-page malloc {expected}"), line
