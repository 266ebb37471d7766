"""Orbax checkpoints of the GANState in `workdir/checkpoints`.

Saves every `checkpoint_every_steps` generator steps and at the end of a run;
keeps the latest few; restores onto the abstract state built from the config
(so a restore needs no data and no real init). A run whose workdir already
holds a checkpoint resumes from it.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp

from gaxla.config import ConfigError

# Keys that change the shape of the state or the meaning of a resumed run.
_STRUCTURAL_KEYS = ("data", "model", "loss", "penalty", "optim", "batch_size", "seed")
# Where the data lives may move between runs; what it is may not.
_MOVABLE_KEYS = {"data.data_dir", "data.source_dir"}


def make_manager(workdir: str, save_every: int, max_to_keep: int = 3) -> ocp.CheckpointManager:
  """The CheckpointManager for a workdir (created if needed)."""
  options = ocp.CheckpointManagerOptions(
      save_interval_steps=save_every, max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"), options=options)


def save(manager: ocp.CheckpointManager, step: int, state) -> None:
  manager.save(step, args=ocp.args.StandardSave(state), force=True)


def restore(manager: ocp.CheckpointManager, abstract_state, step: int | None = None):
  """Restores `step` (default: latest) onto `abstract_state`; None if there is none."""
  if step is None:
    step = manager.latest_step()
    if step is None:
      return None
  elif step not in manager.all_steps():
    raise FileNotFoundError(
        f"no checkpoint for step {step} in {manager.directory}; available: "
        f"{sorted(manager.all_steps()) or 'none'}")
  # Keep each leaf's sharding: the checkpoint lands on this process's mesh,
  # whatever mesh wrote it.
  target = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
      abstract_state)
  try:
    return manager.restore(step, args=ocp.args.StandardRestore(target))
  except Exception as e:  # orbax raises many types; one readable message here
    raise ValueError(
        f"could not restore checkpoint step {step} from {manager.directory}: "
        f"{type(e).__name__}: {e}. The checkpoint is corrupt or was written by "
        "a different model config; delete that step folder or use another workdir.") from e


def restore_latest(manager: ocp.CheckpointManager, abstract_state):
  return restore(manager, abstract_state, None)


def check_compatible(saved, config, workdir: str) -> None:
  """Raises ConfigError if `config` cannot resume the run saved in `workdir`."""
  saved_dict, new_dict = saved.to_dict(), config.to_dict()
  mismatched = []

  def walk(a, b, prefix):
    for key in sorted(set(a) | set(b)):
      va, vb = a.get(key), b.get(key)
      if isinstance(va, dict) and isinstance(vb, dict):
        walk(va, vb, f"{prefix}{key}.")
      elif _normalize(va) != _normalize(vb) and f"{prefix}{key}" not in _MOVABLE_KEYS:
        mismatched.append(f"{prefix}{key}: saved {va!r}, now {vb!r}")

  for key in _STRUCTURAL_KEYS:
    va, vb = saved_dict.get(key), new_dict.get(key)
    if isinstance(va, dict) and isinstance(vb, dict):
      walk(va, vb, f"{key}.")
    elif _normalize(va) != _normalize(vb):
      mismatched.append(f"{key}: saved {va!r}, now {vb!r}")
  if mismatched:
    raise ConfigError(
        f"workdir '{workdir}' holds a run with a different config, so it cannot "
        f"resume: {'; '.join(mismatched)}. Use a new --workdir, or pass the same "
        "config (only num_steps and the *_every_steps keys may change).")


def _normalize(value):
  if isinstance(value, (list, tuple)):
    return tuple(_normalize(v) for v in value)
  return value
