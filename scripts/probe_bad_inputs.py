"""The bad-input probe: runs every bad input and fault a user can hit, as a user would.

Each case runs `python -m gaxla ...` in a subprocess on a tiny config (the ring
MLP or the digits quick start, a few steps), then classifies what the user got:

  clear error      non-zero exit, no traceback, a message naming what is wrong
  correct          the input is valid after all and did the right thing
  raw traceback    'Traceback (most recent call last)' in the output
  misleading       an error without a traceback that does not name what is wrong
  silently wrong   exit 0 (or the expected status) with a wrong or missing result
  data lost        a checkpoint or metrics that were good before are no longer

"What is wrong" is a phrase the message must contain (the case's `needle`,
e.g. the path of the bad file or the key with the typo), chosen from what a
user needs to fix it, not copied from today's message. After each case the
workdir is checked: the last good checkpoint still restores (in this process)
and metrics.jsonl still starts with what it held before.

  nice -n 19 python scripts/probe_bad_inputs.py --out docs/bad_inputs.md
  nice -n 19 python scripts/probe_bad_inputs.py --only sigterm,truncation  # a subset

Cases run two at a time; the two trained workdirs they start from are made
once. Needs root for the read-only / disk-full cases (tmpfs mounts, a run as
user nobody); without root those rows say 'skipped'.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACEBACK = "Traceback (most recent call last)"

# The ring MLP, shrunk: a step is a few ms, so a run's time is JAX start-up and compiles.
RING = ["--config", "configs/mog_ring.py", "--config.batch_size=16",
        "--config.eval.num_samples=100", "--config.model.generator.hidden=(8,)",
        "--config.model.critic.hidden=(8,)", "--config.steps_per_call=1",
        "--config.num_steps=4", "--config.log_every_steps=1", "--config.eval_every_steps=4",
        "--config.checkpoint_every_steps=2", "--progress=lines"]
# The quick start, shrunk (one conditional DCGAN of 8 base channels on 16x16 digits).
DIGITS = ["--config", "configs/quickstart.py", "--config.batch_size=16",
          "--config.model.generator.base_channels=8", "--config.model.critic.base_channels=8",
          "--config.num_steps=2", "--config.log_every_steps=1", "--config.eval_every_steps=100",
          "--config.checkpoint_every_steps=2", "--progress=lines"]
# A ring run that goes on until it is stopped (signals, a second trainer).
RING_LONG = RING + ["--config.num_steps=100000", "--config.eval_every_steps=100000",
                    "--config.checkpoint_every_steps=20", "--config.log_every_steps=10"]
VERDICTS = ("clear error", "correct", "raw traceback", "misleading", "silently wrong",
            "data lost", "skipped", "probe error", "not run")


@dataclasses.dataclass
class Result:
  command: str
  code: int | None
  stdout: str
  stderr: str


@dataclasses.dataclass
class Case:
  """One bad input. `run(ctx)` returns the Result to judge and, optionally, a problem.

  expect: 'error' (a clear error is right) or an exit status that is right (0, 130, ...).
  needle: a phrase (case-insensitive) the message must contain to count as clear.
  """
  group: str
  name: str
  run: Callable[[Ctx], tuple[Result, str]]
  expect: str | int = "error"
  needle: str = ""


@dataclasses.dataclass
class Row:
  index: int
  group: str
  name: str
  command: str
  code: int | None
  message: str
  verdict: str
  note: str
  seconds: float


class Ctx:
  """What a case may use: its own temporary folder and the prepared workdirs."""

  def __init__(self, tmp: str, fixtures: dict[str, str]):
    self.tmp = tmp
    self.fixtures = fixtures

  def path(self, *parts: str) -> str:
    return os.path.join(self.tmp, *parts)

  def copy(self, fixture: str, name: str = "run") -> str:
    """A private copy of a prepared workdir (its lock file dropped, as after a clean exit)."""
    target = self.path(name)
    shutil.copytree(self.fixtures[fixture], target)
    return target


# ----------------------------------------------------------------------------
# Running gaxla
# ----------------------------------------------------------------------------
def _env(extra: dict | None = None) -> dict:
  # Most cases compile the same tiny programs: the persistent cache (gaxla's
  # compile_cache_dir) keeps even sub-second compiles, so each is paid once.
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  env.pop("XLA_FLAGS", None)
  env.update(extra or {})
  return env


def _shown(args: list[str]) -> str:
  """The command as the table shows it: shared flag sets and temporary paths abbreviated."""
  text = " ".join(args)
  for name, flags in (("$RING_LONG", RING_LONG), ("$RING", RING), ("$DIGITS", DIGITS)):
    text = text.replace(" ".join(flags), name)
  return text


def _tidy(text: str, ctx: Ctx | None) -> str:
  if ctx is not None:
    text = text.replace(ctx.tmp, "$T")
    for name, path in ctx.fixtures.items():  # the prepared workdirs
      text = text.replace(path, f"${name.upper()}_RUN")
  return text.replace(ROOT + "/", "").replace(sys.executable, "python")


def gaxla(ctx: Ctx, *args: str, env: dict | None = None, prefix: list[str] | None = None,
          timeout: float = 600) -> Result:
  """Runs `gaxla ARGS` to the end."""
  command = [*(prefix or []), sys.executable, "-m", "gaxla", *args]
  try:
    done = subprocess.run(command, cwd=ROOT, env=_env(env), capture_output=True, text=True,
                          timeout=timeout)
    code, out, err = done.returncode, done.stdout, done.stderr
  except subprocess.TimeoutExpired as e:
    code, out = None, _text(e.stdout)
    err = _text(e.stderr) + f"\n(probe: timed out after {timeout} s)"
  return Result("gaxla " + _shown(list(args)), code, out, err)


def _text(data) -> str:
  return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def start(ctx: Ctx, *args: str, env: dict | None = None) -> subprocess.Popen:
  """Starts `gaxla ARGS`; its output goes to files (a full pipe would stall it)."""
  files = (tempfile.TemporaryFile("w+", dir=ctx.tmp), tempfile.TemporaryFile("w+", dir=ctx.tmp))
  process = subprocess.Popen([sys.executable, "-m", "gaxla", *args], cwd=ROOT, env=_env(env),
                             stdout=files[0], stderr=files[1], text=True)
  process.output_files = files
  return process


def wait_for(condition: Callable[[], bool], process: subprocess.Popen | None = None,
             timeout: float = 600) -> bool:
  """Polls `condition` until true; False if `process` ended first or time ran out."""
  end = time.monotonic() + timeout
  while time.monotonic() < end:
    if condition():
      return True
    if process is not None and process.poll() is not None:
      return condition()
    time.sleep(0.2)
  return False


def finish(process: subprocess.Popen, args: list[str], timeout: float = 600) -> Result:
  note = ""
  try:
    process.wait(timeout=timeout)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()
    note = f"\n(probe: killed after {timeout} s)"
  outputs = []
  for f in process.output_files:
    f.seek(0)
    outputs.append(f.read())
    f.close()
  return Result("gaxla " + _shown(args), process.returncode, outputs[0], outputs[1] + note)


def steps_saved(workdir: str) -> list[int]:
  """Complete checkpoint steps (orbax writes commit_success.txt last)."""
  folder = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(folder):
    return []
  return sorted(int(n) for n in os.listdir(folder)
                if n.isdigit() and os.path.exists(os.path.join(folder, n, "_CHECKPOINT_METADATA")))


def metrics_lines(workdir: str) -> int:
  try:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      return sum(1 for _ in f)
  except OSError:
    return 0


# ----------------------------------------------------------------------------
# Checking what is left
# ----------------------------------------------------------------------------
_RESTORE_LOCK = threading.Lock()


def restorable(workdir: str, at_least: int = 1) -> str:
  """'' if a step >= at_least restores and passes its checks (the newest that does).

  Newer steps may be broken where the case broke them on purpose.
  """
  from gaxla import checkpoint, workdir as workdir_lib
  from gaxla.system import system_for
  with _RESTORE_LOCK:
    try:
      # The config the checkpoints were written with (a case may break config.json).
      saved = workdir_lib.checkpoint_config_path(workdir)
      config = workdir_lib._read_config(saved, workdir) if os.path.exists(saved) else \
          workdir_lib.load_config(workdir)
      manager = checkpoint.make_manager(workdir, config, read_only=True)
    except Exception as e:  # noqa: BLE001 - any failure is the finding
      return f"checkpoints unreadable: {type(e).__name__}: {str(e)[:200]}"
    errors = []
    try:
      for step in sorted(manager.all_steps(), reverse=True):
        if step < at_least:
          break
        try:
          checkpoint.restore(manager, system_for(config).abstract_state(), step)
          return ""
        except Exception as e:  # noqa: BLE001
          errors.append(f"step {step}: {type(e).__name__}: {str(e)[:150]}")
    finally:
      manager.close()
  return f"no checkpoint at step >= {at_least} restores ({'; '.join(errors) or 'none left'})"


def metrics_kept(workdir: str, before: str) -> str:
  """'' if metrics.jsonl still starts with `before` and every line is JSON."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not before and not os.path.exists(path):
    return ""  # stopped before its first log step
  try:
    with open(path) as f:
      text = f.read()
  except OSError as e:
    return f"metrics.jsonl unreadable: {e}"
  if not text.startswith(before):
    return "metrics.jsonl lost or changed earlier records"
  for line in text.splitlines():
    try:
      json.loads(line)
    except ValueError:
      return f"metrics.jsonl holds a broken line: {line[:60]!r}"
  return ""


def read(path: str) -> str:
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return ""


def intact(workdir: str, metrics_before: str, at_least: int = 1) -> str:
  return restorable(workdir, at_least) or metrics_kept(workdir, metrics_before)


# ----------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------
def simple(*args: str, env: dict | None = None) -> Callable[[Ctx], tuple[Result, str]]:
  """A case that is one command; '{tmp}', '{ring}', '{digits}' in args are filled in."""
  def run(ctx: Ctx):
    filled = [a.format(tmp=ctx.tmp, ring=ctx.fixtures["ring"], digits=ctx.fixtures["digits"])
              for a in args]
    return gaxla(ctx, *filled, env=env), ""
  return run


def with_file(name: str, text: str | bytes, *args: str) -> Callable[[Ctx], tuple[Result, str]]:
  """Writes `text` to $T/name first (a config file, weights ...)."""
  def run(ctx: Ctx):
    with open(ctx.path(name), "wb" if isinstance(text, bytes) else "w") as f:
      f.write(text)
    return simple(*args)(ctx)
  return run


def resume_case(change: Callable[[str], None], *args: str, expect_step: int = 4,
                config_json_kept: bool = True) -> Callable[[Ctx], tuple[Result, str]]:
  """A copy of the trained ring run, changed, then `gaxla train` on it again.

  The check: the step-`expect_step` checkpoint still restores, metrics.jsonl
  is intact and (unless the case is a valid resume) config.json is unchanged.
  """
  def run(ctx: Ctx):
    workdir = ctx.copy("ring")
    change(workdir)
    before_json = read(os.path.join(workdir, "config.json"))
    before = read(os.path.join(workdir, "metrics.jsonl"))
    result = gaxla(ctx, "train", *[a.format(w=workdir, tmp=ctx.tmp) for a in args])
    problem = intact(workdir, before, expect_step) if os.path.isdir(
        os.path.join(workdir, "checkpoints")) else ""
    if not problem and config_json_kept and result.code != 0 and before_json and \
        read(os.path.join(workdir, "config.json")) != before_json:
      problem = "a failed resume rewrote config.json"
    return result, problem
  return run


def _write(path: str, text: str) -> None:
  with open(path, "w") as f:
    f.write(text)


def _edit_config_json(workdir: str, edit: Callable[[dict], None]) -> None:
  for path in (os.path.join(workdir, "config.json"),
               os.path.join(workdir, "checkpoints", "config.json")):
    with open(path) as f:
      config = json.load(f)
    edit(config)
    _write(path, json.dumps(config))


def _array_files(step_dir: str) -> list[str]:
  """The data files of a step's arrays (ocdbt 'd/' blobs), largest first."""
  files = []
  for folder, _, names in os.walk(os.path.join(step_dir, "default")):
    if os.sep + "d" in folder:
      files += [os.path.join(folder, n) for n in names]
  return sorted(files, key=os.path.getsize, reverse=True)


def _truncate_arrays(workdir: str) -> None:
  path = _array_files(os.path.join(workdir, "checkpoints", "4"))[0]
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def _scribble_arrays(workdir: str) -> None:
  """Random bytes over the middle of every array file of step 4 (bit rot)."""
  import random
  rng = random.Random(0)
  for path in _array_files(os.path.join(workdir, "checkpoints", "4")):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
      f.seek(size // 3)
      f.write(bytes(rng.randrange(256) for _ in range(max(1, size // 3))))


def sample_on_changed(change: Callable[[str], None], *args: str, fixture: str = "ring"):
  """`gaxla sample` (or eval) on a changed copy of a trained run."""
  def run(ctx: Ctx):
    workdir = ctx.copy(fixture)
    change(workdir)
    return gaxla(ctx, *[a.format(w=workdir, tmp=ctx.tmp) for a in args]), ""
  return run


def out_check(path_template: str, *args: str, expect_file: str,
              fixture: str = "ring") -> Callable[[Ctx], tuple[Result, str]]:
  """`gaxla sample` whose result must be the file `expect_file` (exactly that name)."""
  def run(ctx: Ctx):
    out = path_template.format(tmp=ctx.tmp)
    result = gaxla(ctx, "sample", "--workdir", ctx.fixtures[fixture], "--out", out, *args)
    want = expect_file.format(tmp=ctx.tmp)
    problem = ""
    if result.code == 0:
      written = sorted(os.listdir(ctx.tmp))
      if not os.path.isfile(want):
        problem = f"reported success but wrote {written}, not {os.path.basename(want)}"
      elif os.path.basename(want) not in result.stdout:
        problem = "the message does not name the file written"
    return result, problem
  return run


def as_nobody(ctx: Ctx) -> list[str]:
  """A prefix that runs a command as user nobody (root ignores permissions)."""
  os.chmod(os.path.dirname(ctx.tmp), 0o755)
  os.chmod(ctx.tmp, 0o755)
  return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def home(ctx: Ctx) -> str:
  """A home folder user nobody may write (for caches)."""
  path = ctx.path("home")
  os.makedirs(path, exist_ok=True)
  os.chmod(path, 0o777)
  return path


def unwritable_cache(ctx: Ctx):
  """~/.cache cannot be written (a read-only home): caches are optional, training is not."""
  if os.geteuid() != 0:
    return Result("(needs root: setpriv)", None, "", "skipped"), "skipped"
  prefix = as_nobody(ctx)
  locked_home = ctx.path("locked_home")
  os.makedirs(locked_home)
  os.chmod(locked_home, 0o555)
  workdir = ctx.path("run")
  os.makedirs(workdir)
  os.chmod(workdir, 0o777)
  result = gaxla(ctx, "train", *RING, "--workdir", workdir, prefix=prefix,
                 env={"HOME": locked_home, "XDG_CACHE_HOME": ""})
  result.command = "(HOME not writable) " + result.command
  return result, "" if result.code else restorable(workdir, 4)


def _train_on_tmpfs(ctx: Ctx, name: str, options: str):
  """`gaxla train` with its workdir on a tmpfs mounted with `options` (needs root)."""
  workdir = ctx.path(name)
  os.makedirs(workdir)
  if os.geteuid() != 0:
    return Result("(needs root: tmpfs mount)", None, "", "skipped"), "skipped"
  subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", workdir], check=True)
  try:
    result = gaxla(ctx, "train", *RING, "--workdir", workdir)
  finally:
    subprocess.run(["umount", workdir], check=False)
  return result, ""


def read_only_workdir(ctx: Ctx):
  return _train_on_tmpfs(ctx, "ro", "ro,size=1m")


def unwritable_workdir(ctx: Ctx):
  if os.geteuid() != 0:
    return Result("(needs root: setpriv)", None, "", "skipped"), "skipped"
  prefix = as_nobody(ctx)
  workdir = ctx.path("locked")
  os.makedirs(workdir)
  os.chmod(workdir, 0o555)
  result = gaxla(ctx, "train", *RING, "--workdir", workdir, prefix=prefix,
                 env={"HOME": home(ctx)})
  result.command = "(as a user without write permission) " + result.command
  return result, ""


def unwritable_out(ctx: Ctx):
  if os.geteuid() != 0:
    return Result("(needs root: setpriv)", None, "", "skipped"), "skipped"
  prefix = as_nobody(ctx)
  workdir = ctx.copy("ring")
  subprocess.run(["chmod", "-R", "a+rX", workdir], check=True)
  folder = ctx.path("locked")
  os.makedirs(folder)
  os.chmod(folder, 0o555)
  result = gaxla(ctx, "sample", "--workdir", workdir, "--out", os.path.join(folder, "x.npy"),
                 prefix=prefix, env={"HOME": home(ctx)})
  result.command = "(as a user without write permission) " + result.command
  return result, ""


def disk_full(ctx: Ctx):
  """The workdir on a tiny tmpfs: config.json fits, a checkpoint does not."""
  return _train_on_tmpfs(ctx, "small_disk", "size=200k")


def file_size_limit(ctx: Ctx):
  workdir = ctx.path("run")
  result = gaxla(ctx, "train", *RING, "--workdir", workdir,
                 prefix=["bash", "-c", 'ulimit -f 16 && exec "$0" "$@"'])
  result.command = "(ulimit -f 16) " + result.command
  return result, ""


def signal_case(signum: int, during_save: bool = False, twice: bool = False):
  """Stops a long ring run with `signum`; the check: it resumes from a complete step.

  during_save: checkpoints every step, so a save is always in flight.
  """
  def run(ctx: Ctx):
    workdir = ctx.path("run")
    args = [*RING_LONG, "--workdir", workdir]
    if during_save:
      args.append("--config.checkpoint_every_steps=1")
    process = start(ctx, "train", *args)
    started = wait_for(lambda: len(steps_saved(workdir)) >= 2, process)
    if started:
      time.sleep(0.3)  # into the next steps and saves
      process.send_signal(signum)
      if twice:
        time.sleep(0.05)
        process.send_signal(signum)
    result = finish(process, ["train", *args])
    result.command = f"kill -{signal.Signals(signum).name[3:]} " + (
        "during a save " if during_save else "during training ") + f"of: {result.command}"
    if not started:
      return result, "training never reached its second checkpoint"
    problem = restorable(workdir, at_least=1) or metrics_kept(workdir, "")
    if problem:
      return result, "data lost: " + problem
    # Resume: a short run on the same workdir must pick up where it stopped.
    saved = steps_saved(workdir)[-1]
    resumed = gaxla(ctx, "train", *args[:-1] if during_save else args,
                    f"--config.num_steps={saved + 2}", timeout=600)
    if resumed.code != 0:
      return result, f"resume failed ({resumed.code}): {_message(resumed)}"
    if f"trained to step {saved + 2}" not in resumed.stdout:
      return result, f"resume did not reach step {saved + 2}: {resumed.stdout[-200:]}"
    return result, ""
  return run


def two_trainers(ctx: Ctx):
  workdir = ctx.path("run")
  args = [*RING_LONG, "--workdir", workdir]
  first = start(ctx, "train", *args)
  started = wait_for(lambda: metrics_lines(workdir) >= 2, first)
  second = gaxla(ctx, "train", *args)
  first.send_signal(signal.SIGTERM)
  first_result = finish(first, args)
  second.command = "a second " + second.command + " while the first runs"
  if not started:
    return second, "the first trainer never started"
  if first_result.code != 128 + signal.SIGTERM:
    return second, f"the first trainer was hurt: exit {first_result.code}: " + _message(
        first_result)
  return second, restorable(workdir) or metrics_kept(workdir, "")


def stale_lock(ctx: Ctx):
  """A trainer killed with -9 leaves train.lock; the next run must not be blocked."""
  workdir = ctx.path("run")
  args = [*RING_LONG, "--workdir", workdir]
  first = start(ctx, "train", *args)
  wait_for(lambda: len(steps_saved(workdir)) >= 1, first)
  first.kill()
  first.wait()
  result = gaxla(ctx, "train", *RING, "--config.num_steps=100000",
                 "--config.eval_every_steps=100000", "--config.checkpoint_every_steps=20",
                 f"--config.num_steps={steps_saved(workdir)[-1] + 2}", "--workdir", workdir)
  result.command = "(after kill -9 left train.lock) " + result.command
  return result, ""


def leftover_tmp(ctx: Ctx):
  """A save killed mid-write leaves a *.orbax-checkpoint-tmp folder; resume must ignore it."""
  workdir = ctx.copy("ring")
  shutil.copytree(os.path.join(workdir, "checkpoints", "4"),
                  os.path.join(workdir, "checkpoints", "6.orbax-checkpoint-tmp-1234"))
  os.remove(os.path.join(workdir, "checkpoints", "6.orbax-checkpoint-tmp-1234",
                         "_CHECKPOINT_METADATA"))
  before = read(os.path.join(workdir, "metrics.jsonl"))
  result = gaxla(ctx, "train", *RING, "--config.num_steps=6", "--workdir", workdir)
  problem = "" if result.code else intact(workdir, before, 6)
  return result, problem


def batch_across_devices(ctx: Ctx):
  return gaxla(ctx, "train", *RING, "--config.batch_size=12", "--workdir", ctx.path("run"),
               env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}), ""


def mesh_too_big(ctx: Ctx):
  return gaxla(ctx, "train", *RING, "--config.mesh.data=16", "--workdir", ctx.path("run"),
               env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}), ""


def delete_file(*parts: str) -> Callable[[str], None]:
  return lambda workdir: os.remove(os.path.join(workdir, *parts))


def nothing(workdir: str) -> None:
  del workdir


def _set(key: str, value) -> Callable[[str], None]:
  def edit(config: dict) -> None:
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return lambda workdir: _edit_config_json(workdir, edit)


def _all(*changes: Callable[[str], None]) -> Callable[[str], None]:
  def change(workdir: str) -> None:
    for c in changes:
      c(workdir)
  return change


def _no_checkpoints(workdir: str) -> None:
  for name in os.listdir(os.path.join(workdir, "checkpoints")):
    if name.isdigit():
      shutil.rmtree(os.path.join(workdir, "checkpoints", name))


def _garbage_inception(workdir: str) -> None:
  path = os.path.join(os.path.dirname(workdir), "inception.npz")
  _write(path, "not an npz")
  _set("eval.inception_weights", path)(workdir)


def cases() -> list[Case]:
  c = Case
  train = ("train", "--workdir", "{tmp}/run")
  return [
      # ---- config files -------------------------------------------------
      c("config file", "config file missing",
        simple("train", "--config", "{tmp}/nope.py", "--workdir", "{tmp}/run"),
        needle="nope.py"),
      c("config file", "config path is a folder",
        simple("train", "--config", "{tmp}", "--workdir", "{tmp}/run"), needle="$T"),
      c("config file", "syntax error in the config file",
        with_file("c.py", "def get_config(:\n", "train", "--config", "{tmp}/c.py",
                  "--workdir", "{tmp}/run"), needle="line 1"),
      c("config file", "exception while the config file is imported",
        with_file("c.py", "import nonexistent_module\n", "train", "--config", "{tmp}/c.py",
                  "--workdir", "{tmp}/run"), needle="nonexistent_module"),
      c("config file", "exception inside get_config()",
        with_file("c.py", "def get_config():\n  return 1 / 0\n", "train", "--config",
                  "{tmp}/c.py", "--workdir", "{tmp}/run"), needle="ZeroDivisionError"),
      c("config file", "no get_config() in the config file",
        with_file("c.py", "X = 1\n", "train", "--config", "{tmp}/c.py", "--workdir",
                  "{tmp}/run"), needle="get_config"),
      c("config file", "get_config() returns a dict",
        with_file("c.py", "def get_config():\n  return {'num_steps': 3}\n", "train",
                  "--config", "{tmp}/c.py", "--workdir", "{tmp}/run"), needle="dict"),
      c("config file", "get_config() returns None",
        with_file("c.py", "def get_config():\n  pass\n", "train", "--config", "{tmp}/c.py",
                  "--workdir", "{tmp}/run"), needle="None"),
      c("config file", "get_config() takes no argument but one is given (`C.py:arg`)",
        with_file("c.py", "from gaxla.config import defaults\ndef get_config():\n"
                  "  return defaults()\n", "train", "--config", "{tmp}/c.py:big",
                  "--workdir", "{tmp}/run"), needle="argument"),
      # ---- config keys and values ----------------------------------------
      c("config keys", "unknown config key", simple(*train[:1], *RING, "--config.batch_sise=3",
                                                      *train[1:]), needle="batch_sise"),
      c("config keys", "unknown nested key (model option)",
        simple(*train[:1], *RING, "--config.model.generator.widht=8", *train[1:]),
        needle="widht"),
      c("config keys", "value of the wrong type (`batch_size=abc`)",
        simple(*train[:1], *RING, "--config.batch_size=abc", *train[1:]), needle="batch_size"),
      c("config keys", "unknown loss name", simple(*train[:1], *RING, "--config.loss.name=hinje",
                                                     *train[1:]), needle="hinge"),
      c("config keys", "unknown model name", simple(*train[:1], *RING, "--config.model.name=gpt",
                                                      *train[1:]), needle="model.name"),
      c("config keys", "unknown dataset name",
        simple(*train[:1], *RING, "--config.data.name=cifar100", *train[1:]),
        needle="data.name"),
      c("config keys", "unknown optimizer name",
        simple(*train[:1], *RING, "--config.optim.generator.name=adamw2", *train[1:]),
        needle="optim.generator"),
      c("config keys", "unknown penalty name",
        simple(*train[:1], *RING, "--config.penalty.name=gp", *train[1:]), needle="penalty"),
      c("config keys", "unknown evaluator in eval.metrics",
        simple(*train[:1], *RING, "--config.eval.metrics=('fiddle',)", *train[1:]),
        needle="fiddle"),
      c("config keys", "`batch_size=0`",
        simple(*train[:1], *RING, "--config.batch_size=0", *train[1:]), needle="batch_size"),
      c("config keys", "`num_steps=-5`",
        simple(*train[:1], *RING, "--config.num_steps=-5", *train[1:]), needle="num_steps"),
      c("config keys", "negative learning rate",
        simple(*train[:1], *RING, "--config.optim.generator.lr=-0.001", *train[1:]),
        needle="lr"),
      c("config keys", "`ema.decay=1.5`",
        simple(*train[:1], *RING, "--config.ema.decay=1.5", *train[1:]), needle="ema.decay"),
      c("config keys", "`latent_dim=0`",
        simple(*train[:1], *RING, "--config.model.latent_dim=0", *train[1:]),
        needle="latent_dim"),
      c("config keys", "typo in `checkpoint.best_metric`",
        simple(*train[:1], *RING, "--config.checkpoint.best_metric=eval/mode_coverage/modez",
               *train[1:]), needle="best_metric"),
      c("config keys", "image size the model cannot make (`data.image_size=18` for a DCGAN)",
        simple(*train[:1], *DIGITS, "--config.data.image_size=18", *train[1:]),
        needle="image_size"),
      c("config keys", "batch not divisible across 8 devices (`batch_size=12`)",
        batch_across_devices, needle="batch_size"),
      c("config keys", "mesh larger than the devices (`mesh.data=16` on 8)", mesh_too_big,
        needle="mesh"),
      c("config keys", "dataset missing (`fashion_mnist`: no IDX files in source_dir, "
        "nothing prepared in data_dir)",
        simple(*train[:1], *DIGITS, "--config.data.name=fashion_mnist",
               "--config.data.data_dir={tmp}/no_data", "--config.data.source_dir={tmp}/no_files",
               *train[1:]), needle="$T/no_files"),
      c("config keys", "`folder` dataset without data_dir",
        simple(*train[:1], *DIGITS, "--config.data.name=folder", *train[1:]),
        needle="data_dir"),
      c("config keys", "garbage Inception .npz in eval.inception_weights",
        with_file("inception.npz", b"not an npz", *train[:1], *DIGITS,
                  "--config.eval.metrics=('fid',)", "--config.eval.inception_weights="
                  "{tmp}/inception.npz", *train[1:]), needle="$T/inception.npz"),
      c("config keys", "missing Inception weights",
        simple(*train[:1], *DIGITS, "--config.eval.metrics=('fid',)",
               "--config.eval.inception_weights={tmp}/none.npz", *train[1:]),
        needle="$T/none.npz"),
      # ---- command line --------------------------------------------------
      c("command line", "unknown command (`gaxla trian`)", simple("trian"), needle="train"),
      c("command line", "unknown flag (`--nmu`)",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--nmu=5"),
        needle="nmu"),
      c("command line", "stray positional argument",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "extra"),
        needle="extra"),
      c("command line", "`train` without --config", simple("train", "--workdir", "{tmp}/run"),
        needle="--config"),
      c("command line", "`train` without --workdir", simple("train", *RING), needle="--workdir"),
      c("command line", "unknown key for `describe`",
        simple("describe", *RING[:2], "--config.modle.name=mlp"), needle="modle"),
      # ---- workdirs ------------------------------------------------------
      c("workdir", "workdir is a file",
        with_file("afile", "", "train", *RING, "--workdir", "{tmp}/afile"), needle="afile"),
      c("workdir", "workdir under a file",
        with_file("afile", "", "train", *RING, "--workdir", "{tmp}/afile/run"), needle="afile"),
      c("workdir", "workdir on a read-only file system", read_only_workdir, needle="$T/ro"),
      c("workdir", "workdir without write permission", unwritable_workdir, needle="$T/locked"),
      c("workdir", "home folder not writable (no ~/.cache for the compile cache)",
        unwritable_cache, expect=0),
      c("workdir", "two trainers on one workdir", two_trainers, needle="in use"),
      c("workdir", "stale train.lock after kill -9", stale_lock, expect=0),
      c("workdir", "resume with another loss", resume_case(
          nothing, *RING, "--config.loss.name=hinge", "--workdir", "{w}"), needle="loss"),
      c("workdir", "resume with another loss and lr, config.json deleted", resume_case(
          delete_file("config.json"), *RING, "--config.loss.name=hinge",
          "--config.optim.generator.lr=0.01", "--workdir", "{w}"), needle="loss"),
      c("workdir", "resume with another model size", resume_case(
          nothing, *RING, "--config.model.generator.hidden=(16,)", "--workdir", "{w}"),
        needle="model.generator"),
      c("workdir", "`num_steps` below the checkpoint's step", resume_case(
          nothing, *RING, "--config.num_steps=2", "--workdir", "{w}"), needle="step 4"),
      c("workdir", "resume with more `num_steps` (valid)", resume_case(
          nothing, *RING, "--config.num_steps=6", "--workdir", "{w}", expect_step=6,
          config_json_kept=False), expect=0),
      c("workdir", "resume with another data.workers (a movable key, valid)", resume_case(
          nothing, *RING, "--config.data.workers=2", "--workdir", "{w}",
          config_json_kept=False), expect=0),
      c("workdir", "garbage config.json, then train", resume_case(
          lambda w: _write(os.path.join(w, "config.json"), "{garbage"), *RING,
          "--workdir", "{w}"), needle="config.json"),
      c("workdir", "garbage config.json, then sample", sample_on_changed(
          lambda w: _write(os.path.join(w, "config.json"), "{garbage"), "sample",
          "--workdir", "{w}", "--out", "{tmp}/x.npy"), needle="config.json"),
      c("workdir", "both config.json deleted, then sample", sample_on_changed(
          _all(delete_file("config.json"), delete_file("checkpoints", "config.json")),
          "sample", "--workdir", "{w}", "--out", "{tmp}/x.npy"), needle="config.json"),
      c("workdir", "sample from a workdir that does not exist",
        simple("sample", "--workdir", "{tmp}/nowhere", "--out", "{tmp}/x.npy"),
        needle="$T/nowhere"),
      # ---- checkpoints ---------------------------------------------------
      c("checkpoint", "latest step's array file truncated, then sample", sample_on_changed(
          _truncate_arrays, "sample", "--workdir", "{w}", "--out", "{tmp}/x.npy"),
        needle="step 4"),
      c("checkpoint", "latest step's array file truncated, then train", resume_case(
          _truncate_arrays, *RING, "--config.num_steps=6", "--workdir", "{w}", expect_step=2),
        needle="step 4"),
      c("checkpoint", "random bytes in the latest step's arrays, then sample",
        sample_on_changed(_scribble_arrays, "sample", "--workdir", "{w}", "--out",
                          "{tmp}/x.npy"), needle="step 4"),
      c("checkpoint", "random bytes in the latest step's arrays, then train", resume_case(
          _scribble_arrays, *RING, "--config.num_steps=6", "--workdir", "{w}", expect_step=2),
        needle="step 4"),
      c("checkpoint", "latest step's metadata deleted, then sample", sample_on_changed(
          delete_file("checkpoints", "4", "default", "_METADATA"), "sample", "--workdir",
          "{w}", "--out", "{tmp}/x.npy"), needle="step 4"),
      c("checkpoint", "no checkpoints left, then sample", sample_on_changed(
          _no_checkpoints, "sample", "--workdir", "{w}", "--out", "{tmp}/x.npy"),
        needle="no checkpoint"),
      c("checkpoint", "`--step 9` that does not exist",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--step", "9"),
        needle="available"),
      c("checkpoint", "`--step best` without a best metric",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--step", "best"),
        needle="best_metric"),
      c("checkpoint", "`--step abc`",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--step", "abc"),
        needle="--step"),
      c("checkpoint", "leftover *.orbax-checkpoint-tmp of a killed save (valid)", leftover_tmp,
        expect=0),
      # ---- faults during training ----------------------------------------
      c("faults", "SIGTERM during training", signal_case(signal.SIGTERM), expect=143),
      c("faults", "SIGINT (Ctrl-C) during training", signal_case(signal.SIGINT), expect=130),
      c("faults", "SIGKILL during training", signal_case(signal.SIGKILL), expect=-9),
      c("faults", "SIGTERM during a save", signal_case(signal.SIGTERM, during_save=True),
        expect=143),
      c("faults", "SIGINT during a save", signal_case(signal.SIGINT, during_save=True),
        expect=130),
      c("faults", "SIGKILL during a save", signal_case(signal.SIGKILL, during_save=True),
        expect=-9),
      c("faults", "Ctrl-C twice", signal_case(signal.SIGINT, twice=True), expect=130),
      c("faults", "`ulimit -f 16` (file size limit) during a save", file_size_limit,
        needle="step"),
      c("faults", "disk full (200 KB tmpfs) during a save", disk_full, needle="step"),
      # ---- sampling and evaluation ----------------------------------------
      c("sample/eval", "`--truncation -1`",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--truncation", "-1"),
        needle="truncation"),
      c("sample/eval", "`--truncation abc`",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--truncation", "abc"),
        needle="truncation"),
      c("sample/eval", "`--out X.NPY` (upper case, valid)",
        out_check("{tmp}/X.NPY", expect_file="{tmp}/X.NPY"), expect=0),
      c("sample/eval", "`--out x.jpg` (unsupported type)",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.jpg"), needle=".png"),
      c("sample/eval", "`--out x` (no extension)",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x"), needle=".npy"),
      c("sample/eval", "`--out` in a folder that does not exist (valid: created)",
        out_check("{tmp}/new/x.npy", expect_file="{tmp}/new/x.npy"), expect=0),
      c("sample/eval", "`--out` under a file",
        with_file("afile", "", "sample", "--workdir", "{ring}", "--out", "{tmp}/afile/x.npy"),
        needle="$T/afile"),
      c("sample/eval", "`--out` without write permission", unwritable_out, needle="$T/locked"),
      c("sample/eval", "`--sheet` on 2-D points",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.png", "--sheet", "0,1"),
        needle="2-D"),
      c("sample/eval", "`--interpolate` on 2-D points",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.png", "--interpolate",
               "latent"), needle="2-D"),
      c("sample/eval", "`--labels 3` on an unconditional run",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--labels", "3"),
        needle="labels"),
      c("sample/eval", "`--labels 12` on a 10-class run",
        simple("sample", "--workdir", "{digits}", "--out", "{tmp}/x.png", "--labels", "12"),
        needle="12"),
      c("sample/eval", "`--num 0`",
        simple("sample", "--workdir", "{ring}", "--out", "{tmp}/x.npy", "--num", "0"),
        needle="--num"),
      c("sample/eval", "`--standing_batches -1`",
        simple("sample", "--workdir", "{digits}", "--out", "{tmp}/x.png",
               "--standing_batches", "-1"), needle="standing_batches"),
      c("sample/eval", "`eval --metrics fiddle`",
        sample_on_changed(nothing, "eval", "--workdir", "{w}", "--metrics", "fiddle"),
        needle="fiddle"),
      c("sample/eval", "`eval --metrics fid` with garbage Inception weights in config.json",
        sample_on_changed(_garbage_inception, "eval", "--workdir", "{w}", "--metrics", "fid",
                          fixture="digits"), needle="inception.npz"),
      c("sample/eval", "`eval --truncation 0.5,1 --out plot.npy`",
        sample_on_changed(nothing, "eval", "--workdir", "{w}", "--truncation", "0.5,1",
                          "--out", "{tmp}/plot.npy"), needle=".png"),
      c("prepare", "`prepare --source` that does not exist",
        simple("prepare", "--source", "{tmp}/photos", "--out", "{tmp}/prepared",
               "--image_size", "16"), needle="$T/photos"),
      c("prepare", "`prepare --source` with no images",
        lambda ctx: (os.makedirs(ctx.path("empty")), simple(
            "prepare", "--source", "{tmp}/empty", "--out", "{tmp}/prepared", "--image_size",
            "16")(ctx))[1], needle="$T/empty"),
      c("prepare", "`prepare --test_fraction 1.5`",
        simple("prepare", "--source", "{tmp}", "--out", "{tmp}/prepared",
               "--test_fraction", "1.5"), needle="test_fraction"),
  ]


# ----------------------------------------------------------------------------
# Judging
# ----------------------------------------------------------------------------
def _message(result: Result) -> str:
  """The line a user reads: gaxla's own, else the exception of a traceback, else the last."""
  text = (result.stderr + "\n" + result.stdout).strip()
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  for line in lines:
    if line.startswith("gaxla: error:") or line.startswith("FATAL Flags parsing error"):
      return line
  if TRACEBACK in text:
    after = text.split(TRACEBACK)[-1].strip().splitlines()
    exceptions = [line for line in after if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line)]
    return (exceptions or after or [""])[-1].strip()
  for line in lines:
    if line.startswith("gaxla:"):
      return line
  return lines[-1] if lines else ""


def judge(case: Case, result: Result, problem: str, ctx: Ctx) -> tuple[str, str]:
  """(verdict, note) for what the user got."""
  text = _tidy(result.stderr + result.stdout, ctx)
  if problem == "skipped":
    return "skipped", "needs root"
  if problem.startswith("probe error"):
    return "probe error", problem
  if problem.startswith("data lost") or "restores" in problem or "unreadable" in problem or \
      "metrics.jsonl" in problem or "rewrote config.json" in problem:
    return "data lost", problem
  if TRACEBACK in text:
    return "raw traceback", problem
  if problem:
    return "silently wrong", problem
  if case.expect == "error":
    if result.code == 0:
      return "silently wrong", "exit 0 for a bad input"
    if result.code is None:
      return "misleading", "hung (timed out)"
    if case.needle and case.needle.lower() not in text.lower():
      return "misleading", f"does not mention {case.needle!r}"
    return "clear error", ""
  if result.code != case.expect:
    return "misleading", f"exit {result.code}, expected {case.expect}"
  return "correct", ""


def run_case(case: Case, fixtures: dict[str, str], root: str, index: int) -> Row:
  ctx = Ctx(tempfile.mkdtemp(prefix=f"case{index:02d}_", dir=root), fixtures)
  start_time = time.perf_counter()
  try:
    result, problem = case.run(ctx)
  except Exception as e:  # noqa: BLE001 - a probe bug must not stop the table
    result, problem = Result("(probe failed)", None, "", f"{type(e).__name__}: {e}"), \
        f"probe error: {type(e).__name__}: {e}"
  verdict, note = judge(case, result, problem, ctx)
  row = Row(index, case.group, case.name, _tidy(result.command, ctx), result.code,
            _tidy(_message(result), ctx), verdict, _tidy(note, ctx),
            time.perf_counter() - start_time)
  if verdict not in ("clear error", "correct", "skipped"):
    log = os.path.join(root, f"case{index:02d}.log")
    _write(log, f"{result.command}\nexit {result.code}\n--- stdout\n{result.stdout}\n"
           f"--- stderr\n{result.stderr}\n--- problem\n{problem}\n")
  print(f"[{index:2d}] {verdict:14s} {row.seconds:6.1f}s  {case.name}", flush=True)
  return row


def prepare(root: str) -> dict[str, str]:
  """The two trained workdirs cases copy: ring (steps 2, 4) and digits (step 2)."""
  fixtures = {"ring": os.path.join(root, "fixture_ring"),
              "digits": os.path.join(root, "fixture_digits")}
  ctx = Ctx(root, fixtures)
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    runs = [pool.submit(gaxla, ctx, "train", *RING, "--workdir", fixtures["ring"]),
            pool.submit(gaxla, ctx, "train", *DIGITS, "--workdir", fixtures["digits"])]
    for run in runs:
      result = run.result()
      if result.code != 0:
        sys.exit(f"probe: preparing a workdir failed: {result.command}\n{result.stderr}")
  assert steps_saved(fixtures["ring"]) == [2, 4], steps_saved(fixtures["ring"])
  return fixtures


def _code(text: str) -> str:
  """Inline code, also for text holding backticks."""
  if not text:
    return ""
  return f"`` {text} ``" if "`" in text else f"`{text}`"


def markdown(rows: list[Row], seconds: float, total: int | None = None) -> str:
  counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
  lines = [
      "# Bad inputs: what a user gets",
      "",
      "Written by `scripts/probe_bad_inputs.py` (do not edit by hand; rerun it). Each row is",
      "a bad input or a fault, run as `python -m gaxla ...` in a subprocess on a tiny",
      "config, with the exit status and the line the user reads. The verdict:",
      "",
      "- **clear error**: non-zero exit, no traceback, and the message names what is wrong",
      "  (the probe checks for a phrase a user needs, e.g. the path or the key);",
      "- **correct**: a valid input, or a fault handled as documented (exit 143 after",
      "  SIGTERM, 130 after Ctrl-C), and the run resumes from its last complete step;",
      "- **raw traceback**, **misleading** (an error that does not name the problem),",
      "  **silently wrong** (success with a wrong result) and **data lost** (a good",
      "  checkpoint or metrics no longer there) are bugs.",
      "",
      "After each case the probe checks the workdir: its latest checkpoint restores",
      "(checksums included) and `metrics.jsonl` still begins with what it held before.",
      "docs/errors.md explains the messages and names the tests that pin them.",
      "",
      "Abbreviations: `$T` is the case's temporary folder; `$RING_RUN` and `$DIGITS_RUN`",
      "are the two prepared workdirs (trained with `$RING` and `$DIGITS`); `$RING` is",
      f"`{' '.join(RING)}`, `$RING_LONG` is `$RING {' '.join(RING_LONG[len(RING):])}`, "
      f"`$DIGITS` is `{' '.join(DIGITS)}`. Exit -9 is death by SIGKILL.",
      "",
      "**" + ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) +
      f"** ({len(rows)} cases, {seconds / 60:.1f} min at nice 19 on the shared 2-core CPU)." +
      (f" **Incomplete: {len(rows)} of {total} cases run so far.**" if total else ""),
      "",
  ]
  group = None
  for row in rows:
    if row.group != group:
      group = row.group
      lines += ["", f"## {group}", "",
                "| # | input | command | exit | message | verdict |",
                "|---|---|---|---|---|---|"]
    verdict = row.verdict + (f" ({row.note})" if row.note else "")
    cells = [str(row.index), row.name, _code(row.command),
             "" if row.code is None else str(row.code), _code(row.message), verdict]
    lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
  return "\n".join(lines) + "\n"


def read_table(path: str) -> dict[str, Row]:
  """The rows of a table this script wrote, by case name (for --merge)."""
  rows, group = {}, ""
  with open(path) as f:
    for line in f:
      if line.startswith("## "):
        group = line[3:].strip()
      cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
      if len(cells) != 6 or not cells[0].isdigit():
        continue
      index, name, command, code, message, verdict = cells
      note = verdict[verdict.index("(") + 1:-1] if "(" in verdict else ""
      unquote = lambda t: t.strip("`").strip()  # noqa: E731
      # Older tables spelled out the prepared workdirs' paths.
      command = re.sub(r"/tmp/gaxla_probe_\w+/fixture_(\w+)",
                       lambda m: f"${m.group(1).upper()}_RUN", unquote(command))
      rows[name] = Row(int(index), group, name, command, int(code) if code else None,
                       unquote(message), verdict.split(" (")[0], note, 0.0)
  return rows


def merge(paths: list[str], out: str) -> None:
  """One table from several runs' tables: later files win; case order and numbers of today."""
  found: dict[str, Row] = {}
  source: dict[str, str] = {}
  for path in paths:
    table = read_table(path)
    found.update(table)
    source.update(dict.fromkeys(table, os.path.basename(path)))
  rows, by_source = [], {}
  for index, case in enumerate(cases(), 1):
    row = found.get(case.name)
    if row is None:
      row = Row(index, case.group, case.name, "", None, "", "not run", "", 0.0)
    rows.append(dataclasses.replace(row, index=index, group=case.group))
    by_source.setdefault(source.get(case.name, "no run"), []).append(str(index))
  text = markdown(rows, 0.0)
  origin = "; ".join(f"{name}: {', '.join(numbers)}" for name, numbers in by_source.items())
  text = re.sub(r" \(\d+ cases, 0\.0 min at nice 19 on the shared 2-core CPU\)\.",
                f" ({len(rows)} cases, merged from {len(paths)} runs, a later run winning "
                f"for a case run in both; rows by run: {origin}).", text)
  _write(out, text)
  print(f"probe: merged {len(paths)} tables into {out}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default=None, help="Markdown table to write (default "
                      "docs/bad_inputs.md; with --only, a file in the temporary folder).")
  parser.add_argument("--only", default="", help="comma-separated substrings of case names")
  parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
  parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
  parser.add_argument("--merge", nargs="+", default=None, metavar="TABLE.md",
                      help="run nothing: merge tables of earlier (partial) runs into --out, "
                      "the later file winning for a case run in both")
  args = parser.parse_args()
  if args.merge:
    merge(args.merge, os.path.join(ROOT, args.out or "docs/bad_inputs.md"))
    return
  selected = [c for c in cases()
              if not args.only or any(s in c.name for s in args.only.split(","))]
  root = tempfile.mkdtemp(prefix="gaxla_probe_")
  start_time = time.perf_counter()
  bad = []
  try:
    fixtures = prepare(root)
    print(f"probe: workdirs ready in {time.perf_counter() - start_time:.0f} s; "
          f"{len(selected)} cases", flush=True)
    out = os.path.join(ROOT, args.out or (os.path.join(root, "bad_inputs.md") if args.only
                                          else "docs/bad_inputs.md"))
    done: dict[int, Row] = {}
    lock = threading.Lock()

    def run_and_record(index: int, case: Case) -> Row:
      row = run_case(case, fixtures, root, index)
      with lock:  # the table so far, so a stopped probe still leaves its findings
        done[index] = row
        _write(out, markdown([done[i] for i in sorted(done)], time.perf_counter() - start_time,
                             total=len(selected)))
      return row

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
      rows = list(pool.map(lambda ic: run_and_record(*ic), enumerate(selected, 1)))
    seconds = time.perf_counter() - start_time
    _write(out, markdown(rows, seconds))
    print(f"probe: wrote {out}")
    bad = [r for r in rows if r.verdict not in ("clear error", "correct", "skipped")]
    print(f"probe: {len(rows)} cases, {len(bad)} not clear or correct, "
          f"{seconds / 60:.1f} min; logs of those in {root}")
  except BaseException:
    print(f"probe: stopped; its files are in {root}")
    raise
  if not args.keep and not bad:
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
  main()
