"""Workdir files: config.json, metrics.jsonl, collapse.json.

A run's workdir holds everything it produces (see README, "Workdir"). This
module owns the small JSON files in it; checkpoints/ belongs to
gaxla/checkpoint.py, samples/ and plots/ to the loop's evaluation and the
monitor.
"""

from __future__ import annotations

import json
import os

import ml_collections

from gaxla import config as config_lib
from gaxla import metrics as metric_names

CONFIG = "config.json"
METRICS = "metrics.jsonl"
COLLAPSE = "collapse.json"


def config_path(workdir: str) -> str:
  return os.path.join(workdir, CONFIG)


def checkpoint_config_path(workdir: str) -> str:
  """The copy of config.json kept with the checkpoints (what they were written with)."""
  return os.path.join(workdir, "checkpoints", CONFIG)


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes `workdir/config.json` and its copy next to the checkpoints.

  Each file is written to a temporary name and renamed, so a crash never
  leaves half a config.
  """
  text = config.to_json(indent=2, sort_keys=True)
  for path in (config_path(workdir), checkpoint_config_path(workdir)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.tmp-{os.getpid()}"
    with open(partial, "w") as f:
      f.write(text)
    os.replace(partial, path)


def saved_configs(workdir: str) -> list[tuple[str, ml_collections.ConfigDict]]:
  """(path, config) of the configs an earlier run stored in `workdir` (0, 1 or 2)."""
  return [(path, _read_config(path, workdir))
          for path in (config_path(workdir), checkpoint_config_path(workdir))
          if os.path.exists(path)]


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config stored in `workdir/config.json`, with defaults for keys it lacks.

  Falls back to the copy kept with the checkpoints when config.json is gone.

  Raises:
    FileNotFoundError: `workdir` has no config.json.
    ConfigError: it cannot be read or parsed (the message names the file).
  """
  path = config_path(workdir)
  if not os.path.exists(path) and os.path.exists(checkpoint_config_path(workdir)):
    path = checkpoint_config_path(workdir)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} not found: is '{workdir}' a gaxla workdir? Train first with "
        "`gaxla train --config ... --workdir DIR`.")
  return _read_config(path, workdir)


def _read_config(path: str, workdir: str) -> ml_collections.ConfigDict:
  try:
    with open(path) as f:
      return config_lib.from_json(f.read())
  except (ValueError, TypeError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
    raise config_lib.ConfigError(
        f"{path} is not a readable gaxla config ({type(e).__name__}: {e}). Restore it from "
        f"{checkpoint_config_path(workdir)} (the config the checkpoints were written with) "
        "or delete it and rerun `gaxla train` with the run's --config.") from None
  except OSError as e:
    raise config_lib.ConfigError(f"cannot read {path}: {e.strerror or e}") from None


def append_record(workdir: str, record: dict) -> None:
  """Appends one JSON line to `workdir/metrics.jsonl`."""
  path = os.path.join(workdir, METRICS)
  try:
    with open(path, "a") as f:
      f.write(json.dumps(record) + "\n")
  except OSError as e:
    raise WorkdirError(f"could not append step {record.get(metric_names.STEP)} to {path}: "
                       f"{e.strerror or e} ({free_space(workdir)}).") from None


def free_space(path: str) -> str:
  """'N MiB free on that disk', for messages about failed writes."""
  import shutil
  try:
    return f"{shutil.disk_usage(path).free / 2**20:,.1f} MiB free on that disk"
  except OSError:
    return "free space unknown"


def read_history(workdir: str, up_to_step: int) -> list[dict]:
  """The logged records of earlier runs in this workdir, up to the resumed step.

  Records after `up_to_step` (logged by a run that crashed before its next
  checkpoint) are dropped: the resumed run logs those steps again.
  """
  path = os.path.join(workdir, METRICS)
  history = []
  if up_to_step and os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash
          continue
        if record.get(metric_names.STEP, 0) <= up_to_step:
          history.append(record)
  return history


def write_collapse(workdir: str, report: dict) -> None:
  """Writes `workdir/collapse.json` (see `monitor.to_json`)."""
  with open(os.path.join(workdir, COLLAPSE), "w") as f:
    json.dump(report, f, indent=2)


# ----------------------------------------------------------------------------
# The folder itself: creation and the one-run-at-a-time lock
# ----------------------------------------------------------------------------
LOCK = "train.lock"


class WorkdirError(OSError):
  """The workdir cannot be used: not a folder, not writable, or in use by another run."""


def create(workdir: str) -> None:
  """Creates `workdir` (and its parents) for writing, with one readable error if it cannot."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f"workdir '{workdir}' is a file, not a folder: choose another --workdir.")
  try:
    os.makedirs(workdir, exist_ok=True)
  except (NotADirectoryError, FileExistsError):
    parent = os.path.dirname(os.path.abspath(workdir))
    while parent and not os.path.exists(parent):
      parent = os.path.dirname(parent)
    raise WorkdirError(f"cannot create workdir '{workdir}': '{parent}' is a file, not a "
                       "folder.") from None
  except OSError as e:
    raise WorkdirError(f"cannot create workdir '{workdir}': {e.strerror}.") from None
  probe = os.path.join(workdir, f".gaxla-write-test-{os.getpid()}")
  try:
    with open(probe, "w"):
      pass
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f"workdir '{workdir}' is not writable ({e.strerror}): choose another "
                       "--workdir or fix its permissions.") from None


class Lock:
  """An exclusive lock on a workdir, held while one `gaxla train` runs in it.

  `flock` on `workdir/train.lock`: the kernel drops it when the holder exits,
  however it exits (kill -9 included), so a stale lock file never blocks a
  resume. The file holds the holder's host and pid for the error message.
  """

  def __init__(self, workdir: str, enabled: bool = True):
    self.path = os.path.join(workdir, LOCK)
    self.workdir = workdir
    self.enabled = enabled
    self._file = None

  def __enter__(self) -> Lock:
    if not self.enabled:
      return self
    import fcntl
    import socket
    f = open(self.path, "a+")  # noqa: SIM115 (held open while the lock is held)
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      f.seek(0)
      holder = f.read().strip() or "another process"
      f.close()
      raise WorkdirError(
          f"workdir '{self.workdir}' is in use by another gaxla train ({holder}); two runs "
          "in one workdir would overwrite each other's checkpoints and logs. Wait for it "
          "to end (or stop it: it saves and exits on SIGTERM), or use another --workdir."
      ) from None
    f.seek(0)
    f.truncate()
    f.write(f"host {socket.gethostname()}, pid {os.getpid()}\n")
    f.flush()
    self._file = f
    return self

  def __exit__(self, *exc) -> None:
    if self._file is not None:
      import fcntl
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None
