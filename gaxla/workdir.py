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


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes `workdir/config.json` (the config a run was trained with)."""
  with open(config_path(workdir), "w") as f:
    f.write(config.to_json(indent=2, sort_keys=True))


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config stored in `workdir/config.json`, with defaults for keys it lacks.

  Raises:
    FileNotFoundError: `workdir` has no config.json.
  """
  path = config_path(workdir)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} not found: is '{workdir}' a gaxla workdir? Train first with "
        "`gaxla train --config ... --workdir DIR`.")
  with open(path) as f:
    return config_lib.from_json(f.read())


def append_record(workdir: str, record: dict) -> None:
  """Appends one JSON line to `workdir/metrics.jsonl`."""
  with open(os.path.join(workdir, METRICS), "a") as f:
    f.write(json.dumps(record) + "\n")


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
