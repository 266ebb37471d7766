"""Orbax checkpoints of the GANState in `workdir/checkpoints/<step>/`.

What a checkpoint holds: the whole GANState (params, Flax collections, optax
states, EMA params, the step and the RNG key data). Batches are a pure
function of (seed, step), so the step is also the data position: a resumed run
is bit-identical to a straight one.

When a save happens (`make_manager` builds the policy once from the config):
  every `checkpoint_every_steps` steps, every `eval_every_steps` steps (with
  the eval metrics, so the best-by-metric policy has candidates), at the last
  step, and on preemption. Saves are asynchronous by default
  (`checkpoint.async_save`): `save` returns once the arrays are copied off the
  device and the files are written in a background thread.

What is kept: the newest `checkpoint.keep_latest` steps (the newest always
survives, even when it scores badly) plus the best `checkpoint.keep_best`
steps by `checkpoint.best_metric` (`best_mode` 'max' or 'min'). `best_step`
finds the best step from the metrics saved with each step (orbax's own
`best_step()` ignores preservation policies).

Preemption: `PreemptionWatch` turns SIGTERM (what a preempted TPU VM or a job
scheduler sends) into a flag; the loop then saves the current step, waits for
the write, and raises `Preempted` (the CLI exits with status 143). With several
processes, JAX's preemption sync point picks one step for all hosts.

Crash safety: orbax writes each step into a `<step>.orbax-checkpoint-tmp-*`
folder and renames it when complete, so a process killed mid-save leaves only
a temporary folder; the next run ignores it (and deletes it) and resumes from
the last complete step.

Restoring: `restore` puts every leaf where the abstract state's `sharding`
says (or on one device when it has none), so a checkpoint written on 8 devices
restores onto 1 and vice versa. An unreadable step raises one error naming the
step, the older complete steps and the fix; nothing is deleted.
"""

from __future__ import annotations

import errno
import gc
import logging as logging_std
import math
import os
import shutil
import signal
import sys
import threading
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp
from absl import logging
from orbax.checkpoint import checkpoint_managers as policies

from gaxla.config import (RESUME_FIXED, RESUME_MOVABLE, ConfigError, group_with_defaults,
                          resume_rule)

# Exit status of `gaxla train` after a preemption save: 128 + SIGTERM, what a
# process ended by SIGTERM reports, so schedulers that requeue preempted jobs
# still treat the run as preempted rather than finished.
PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM

# Items of a step: the GANState under orbax's default single-item name (so
# steps written before the data item existed still restore), and the input
# pipeline's iterator state as JSON (see gaxla/data/grain_pipeline.py).
STATE_ITEM, DATA_ITEM = "default", "data"

# Keys of the checksum stored with every step's metrics (see `state_digest`).
DIGEST_KEYS = ("checkpoint/digest_sum", "checkpoint/digest_weighted")


class Preempted(Exception):
  """Training stopped on SIGTERM or SIGINT after saving (and waiting for) a checkpoint.

  Attributes:
    step: the saved step.
    directory: the checkpoints folder.
    signum: the signal (the CLI exits with 128 + signum).
  """

  def __init__(self, step: int, directory: str, signum: int = signal.SIGTERM):
    self.step = step
    self.directory = directory
    self.signum = signum
    why = "SIGTERM (preemption)" if signum == signal.SIGTERM else signal.Signals(signum).name
    super().__init__(
        f"stopped by {why} at step {step}; checkpoint {step} is saved in "
        f"{directory}. Run the same command again to resume.")


class CheckpointWriteError(OSError):
  """A checkpoint step could not be written (disk full, file size limit, permissions)."""


class CheckpointManager(ocp.CheckpointManager):
  """orbax's manager plus the run's best-metric settings (for `best_step`).

  Attributes:
    best_metric: eval metric ranking the checkpoints ('' = none).
    best_mode: 'max' or 'min'.
  """

  def __init__(self, directory: str, options: ocp.CheckpointManagerOptions,
               best_metric: str, best_mode: str):
    super().__init__(directory, options=options, item_names=(STATE_ITEM, DATA_ITEM))
    self.best_metric = best_metric
    self.best_mode = best_mode
    self.saving_step: int | None = None   # the step `save` started last

  def wait_until_finished(self) -> None:
    """Waits for the pending save; a failed write raises CheckpointWriteError naming its step."""
    try:
      super().wait_until_finished()
    except Exception as e:  # noqa: BLE001 (orbax re-raises whatever the writer thread hit)
      error = _write_error(str(self.directory), self.saving_step, e)
    else:
      return
    _collect_aborted_tasks()  # outside the except: its traceback holds the tasks
    raise error

  def metrics(self, step: int):
    """The metrics saved with `step`; None when missing or unreadable.

    orbax reads every step's metrics while opening the manager; one garbled
    file must not stop a run from opening its workdir (`restore` then names
    the bad step).
    """
    try:
      return super().metrics(step)
    except (ValueError, OSError) as e:  # json.JSONDecodeError is a ValueError
      logging.warning("unreadable metrics for checkpoint step %d: %s", step, e)
      return None


def checkpoint_dir(workdir: str) -> str:
  """Where a workdir keeps its checkpoints."""
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def settings(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config's `checkpoint` group, with defaults for workdirs saved before it existed."""
  return group_with_defaults(config, "checkpoint")


def _ranking(best_metric: str, best_mode: str):
  """Orders metric dicts for orbax's BestN: larger = kept (`reverse` flips it for 'min').

  A step saved without the metric (an interval save between evals) or with a
  non-finite value (e.g. reverse KL with no high-quality sample) ranks worst.
  """
  worst = -math.inf if best_mode == "max" else math.inf

  def rank(metrics) -> float:
    value = (metrics or {}).get(best_metric)
    if value is None or not math.isfinite(float(value)):
      return worst
    return float(value)

  return rank


def make_manager(workdir: str, config: ml_collections.ConfigDict,
                 read_only: bool = False) -> CheckpointManager:
  """The CheckpointManager of a workdir, with save and keep policies from `config`.

  Args:
    workdir: the run folder; checkpoints live in `workdir/checkpoints`.
    config: the run's config (`checkpoint_every_steps`, `eval_every_steps`,
      `num_steps` and the `checkpoint` group).
    read_only: for sampling: creates nothing and leaves unfinished saves
      alone (never call `save` on it).

  Returns:
    The manager; `close()` it when done (it waits for pending saves).
  """
  group = settings(config)
  save_policy = policies.AnySavePolicy([
      policies.FixedIntervalPolicy(int(config.checkpoint_every_steps)),
      # Eval steps carry the metrics that rank checkpoints for best-k.
      policies.FixedIntervalPolicy(int(config.eval_every_steps)),
      policies.SpecificStepsPolicy({int(config.num_steps)}),
      policies.PreemptionCheckpointingPolicy(),
  ])
  keep: list = [policies.LatestN(int(group.keep_latest))]
  rank = _ranking(group.best_metric, group.best_mode)
  if group.best_metric and group.keep_best > 0:
    keep.append(policies.BestN(
        get_metric_fn=rank, reverse=group.best_mode == "min", n=int(group.keep_best),
        # Steps with no metrics file at all (e.g. an unreadable one) are
        # LatestN's business; keeping them here would keep them forever.
        # Interval saves carry empty metrics and rank worst (see _ranking).
        keep_checkpoints_without_metrics=False))
  options = ocp.CheckpointManagerOptions(
      save_decision_policy=save_policy,
      preservation_policy=policies.AnyPreservationPolicy(keep),
      # orbax writes a step's metrics to disk only when best_fn is set; they
      # are what `best_step` reads back. Keeping is decided by the policy above.
      best_fn=rank,
      best_mode=group.best_mode,
      enable_async_checkpointing=bool(group.async_save),
      # Leftovers of a save killed mid-write are never a valid step.
      cleanup_tmp_directories=not read_only,
      # Not orbax's own read_only, which logs a warning on every open; a
      # manager that never saves writes and deletes nothing.
      create=not read_only,
  )
  return CheckpointManager(checkpoint_dir(workdir), options, group.best_metric, group.best_mode)


def save(manager: CheckpointManager, step: int, state, metrics: dict | None = None,
         data_state: dict | None = None) -> None:
  """Starts saving `state` as `step`; with async saves, returns before the write ends.

  Args:
    manager: from `make_manager`.
    step: the step number (the state's own step).
    state: the GANState.
    metrics: the eval metrics at an eval step (None otherwise); stored with the
      step and used to rank checkpoints by `checkpoint.best_metric`.
    data_state: JSON-able input pipeline state at `step` (None: the data
      source has none; its position is the step), read back by `data_state`.

  Raises:
    ConfigError: at an eval step whose metrics lack the configured best metric.
  """
  if metrics is not None and manager.best_metric and manager.best_metric not in metrics:
    raise ConfigError(
        f"config: 'checkpoint.best_metric' is {manager.best_metric!r}, but evaluation at step "
        f"{step} produced only {sorted(metrics) or 'no metrics'}. Set it to one of those, "
        "or to '' to keep only the latest checkpoints.")
  # Always a dict: orbax warns on every save without metrics once best_fn is set.
  record = {k: float(v) for k, v in (metrics or {}).items()}
  # A checksum of the arrays, stored with the step (orbax writes the metrics
  # into the step's folder): `restore` refuses a step whose files changed.
  record.update(zip(DIGEST_KEYS, (float(v) for v in state_digest(state))))
  # The previous async save ends here (orbax would wait for it inside `save`):
  # a failed write then names its own step, not this one.
  manager.wait_until_finished()
  manager.saving_step = step
  # Before the writes start: a failed one's stray callbacks fire in the background.
  _ignore_callbacks_on_a_closed_loop()
  try:
    items = {STATE_ITEM: ocp.args.StandardSave(state)}
    if data_state is not None:
      items[DATA_ITEM] = ocp.args.JsonSave(data_state)
    manager.save(step, args=ocp.args.Composite(**items), metrics=record, force=True)
  except CheckpointWriteError:
    raise
  except Exception as e:  # noqa: BLE001
    error = _write_error(str(manager.directory), step, e)
  else:
    return
  _collect_aborted_tasks()  # outside the except: its traceback holds the tasks
  raise error


def _errno_of(error: BaseException) -> int | None:
  """The errno of `error` or of any exception it was raised from or during."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno:
      return error.errno
    text = str(error)
    for code, needle in ((errno.ENOSPC, "No space left"), (errno.EFBIG, "File too large"),
                         (errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only")):
      if needle in text:
        return code
    error = error.__cause__ or error.__context__
  return None


def _write_error(directory: str, step: int | None, error: BaseException) -> CheckpointWriteError:
  """One readable error for a failed checkpoint write: the step, the reason, the space left."""
  code = _errno_of(error)
  reason = os.strerror(code) if code else f"{type(error).__name__}: {str(error)[:200]}"
  try:
    free = f"{shutil.disk_usage(directory).free / 2**20:,.1f} MiB free on that disk"
  except OSError:
    free = "free space unknown"
  hint = {errno.ENOSPC: "Free some space", errno.EFBIG: "Raise the file size limit (ulimit -f)",
          errno.EACCES: "Make the folder writable",
          errno.EROFS: "Use a writable --workdir"}.get(code, "Fix the cause")
  which = f"checkpoint step {step}" if step is not None else "a checkpoint"
  error = CheckpointWriteError(
      f"could not write {which} to {directory}: {reason} ({free}). {hint} and run the same "
      "command again: training resumes from the last complete step (the incomplete one is "
      "ignored).")
  error.errno = code or errno.EIO
  return error


def _leaf_digest(x: jax.Array) -> jax.Array:
  """[sum, index-weighted sum] of a leaf's bits as uint32, wrapping: the same in any order."""
  bits = x.dtype.itemsize * 8
  words = jax.lax.bitcast_convert_type(x, jnp.dtype(f"uint{bits}")).reshape(-1)
  if bits > 32:
    words = jnp.concatenate([(words >> 32).astype(jnp.uint32), words.astype(jnp.uint32)])
  words = words.astype(jnp.uint32)
  weights = jnp.arange(words.shape[0], dtype=jnp.uint32) * jnp.uint32(2654435761) + jnp.uint32(1)
  return jnp.stack([jnp.sum(words, dtype=jnp.uint32),
                    jnp.sum(words * weights, dtype=jnp.uint32)])


@jax.jit
def _state_digest(state) -> jax.Array:
  leaves = jax.tree.leaves(state)
  digests = jnp.stack([_leaf_digest(x) for x in leaves])
  position = jnp.arange(len(leaves), dtype=jnp.uint32)[:, None] * jnp.uint32(40503) + 1
  return jnp.sum(digests * position, axis=0, dtype=jnp.uint32)


def state_digest(state) -> tuple[int, int]:
  """A checksum of every bit of the state: two uint32, the same on any device mesh.

  Integer sums wrap modulo 2**32, so the order in which devices reduce
  them does not matter.
  """
  return tuple(int(v) for v in jax.device_get(_state_digest(state)))


def _check_restored(manager: CheckpointManager, step: int, state) -> str:
  """'' if the restored `state` matches the digest saved with `step` and is finite.

  Steps saved before digests existed (or with an unreadable metrics file)
  get only the finiteness check.
  """
  for leaf in jax.tree.leaves(state):
    if jnp.issubdtype(leaf.dtype, jnp.floating) and not bool(jnp.all(jnp.isfinite(leaf))):
      return "it holds non-finite values (NaN or inf)"
  saved = manager.metrics(step) or {}
  if all(k in saved for k in DIGEST_KEYS):
    expected = tuple(int(saved[k]) for k in DIGEST_KEYS)
    if state_digest(state) != expected:
      return "its arrays do not match the checksum saved with them (the files changed)"
  return ""


def best_step(manager: CheckpointManager) -> int | None:
  """The kept step with the best `best_metric` (ties: the later step); None if none has it."""
  if not manager.best_metric:
    return None
  rank = _ranking(manager.best_metric, manager.best_mode)
  scored = []
  for step in manager.all_steps():
    metrics = manager.metrics(step)
    if metrics and manager.best_metric in metrics:
      score = rank(metrics)
      scored.append((score if manager.best_mode == "max" else -score, step))
  return max(scored)[1] if scored else None


def resolve_step(manager: CheckpointManager, which: str) -> int:
  """Turns 'latest', 'best' or a number into a step that exists.

  Raises:
    FileNotFoundError: no checkpoint at all, or none for that step.
    ValueError: `which` is not understood, or 'best' without a recorded best metric.
  """
  steps = sorted(manager.all_steps())
  if not steps:
    raise FileNotFoundError(
        f"no checkpoint in {manager.directory}: train first (gaxla train ... --workdir "
        f"{os.path.dirname(str(manager.directory))}).")
  if which == "latest":
    return steps[-1]
  if which == "best":
    if not manager.best_metric:
      raise ValueError(
          "--step best needs a best metric, but this run's config has "
          "checkpoint.best_metric = ''. Use --step latest or a step number "
          f"(available: {steps}), or train with --config.checkpoint.best_metric=NAME.")
    step = best_step(manager)
    if step is None:
      raise ValueError(
          f"no checkpoint in {manager.directory} has '{manager.best_metric}' recorded yet "
          f"(it is saved at eval steps); available steps: {steps}. Use --step latest.")
    return step
  try:
    step = int(which)
  except ValueError:
    raise ValueError(f"--step must be 'latest', 'best' or a step number, got {which!r}") from None
  if step not in steps:
    raise FileNotFoundError(
        f"no checkpoint for step {step} in {manager.directory}; available: {steps}")
  return step


def _restore_target(abstract_state):
  """ShapeDtypeStructs that keep each leaf's sharding; one device when it has none.

  Without a sharding orbax would use the one stored in the checkpoint, which
  fails when the device count differs ("Topology mismatch").
  """
  default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

  def leaf(x):
    sharding = getattr(x, "sharding", None) or default
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

  return jax.tree.map(leaf, abstract_state)


def _ignore_callbacks_on_a_closed_loop() -> None:
  """Drops the 'Event loop is closed' errors of reads or writes left running by a failure.

  orbax runs a restore (and a save's writes) on a fresh asyncio loop and closes
  it as soon as one read or write fails (e.g. the disk is full); tensorstore
  still completes the others, and each of their callbacks hits the closed loop
  and is reported as an unraisable RuntimeError with a traceback. They say
  nothing about the checkpoint, bury the one readable error, and arrive late
  enough to fail an unrelated later test under `-W error`. Installed once
  (wrapping whatever hook is current); every other unraisable exception still
  reaches that hook.
  """
  previous = sys.unraisablehook
  if getattr(previous, "gaxla_ignores_closed_loop", False):
    return

  def hook(unraisable):
    if (isinstance(unraisable.exc_value, RuntimeError)
        and str(unraisable.exc_value) == "Event loop is closed"):
      return
    if _is_orbax_coroutine_never_awaited(unraisable):
      return
    previous(unraisable)

  hook.gaxla_ignores_closed_loop = True
  sys.unraisablehook = hook


def _is_orbax_coroutine_never_awaited(unraisable) -> bool:
  """An orbax read coroutine an aborted restore dropped unawaited (an error under -W error)."""
  code = getattr(unraisable.object, "cr_code", None)
  return (isinstance(unraisable.exc_value, RuntimeWarning)
          and "was never awaited" in str(unraisable.exc_value)
          and code is not None and "orbax" in code.co_filename)


def _collect_aborted_tasks() -> None:
  """Collects the tasks of an aborted orbax read or write now, without asyncio's log lines.

  Each such task that failed too is otherwise logged ("Task exception was never
  retrieved", with a traceback) whenever the garbage collector finds it, often
  after gaxla's own one-line error; a read coroutine the abort never started
  warns "coroutine ... was never awaited" the same way. Call it once the
  failure's traceback is gone.
  """
  asyncio_log = logging_std.getLogger("asyncio")
  was_disabled, asyncio_log.disabled = asyncio_log.disabled, True
  try:
    with warnings.catch_warnings():
      warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited",
                              category=RuntimeWarning)
      gc.collect()
  finally:
    asyncio_log.disabled = was_disabled


def restore(manager: CheckpointManager, abstract_state, step: int | None = None):
  """Restores `step` (default: the latest) onto `abstract_state`.

  Args:
    manager: from `make_manager`.
    abstract_state: the GANState's shapes and dtypes (e.g. `jax.eval_shape` of
      init), optionally with a `sharding` per leaf (e.g. over the current mesh):
      the restored arrays are placed there, whatever mesh wrote them.
    step: a saved step, or None for the latest.

  Returns:
    The restored state, or None when `step` is None and there is no checkpoint.

  Raises:
    FileNotFoundError: `step` is not saved.
    ValueError: the step cannot be read (corrupt, or a different model); the
      message names the step and the older steps to fall back to.
  """
  steps = sorted(manager.all_steps())
  if step is None:
    if not steps:
      return None
    step = steps[-1]
  elif step not in steps:
    where = (f"in {manager.directory}" if manager.directory.exists()
             else f"(no directory {manager.directory})")
    raise FileNotFoundError(
        f"no checkpoint for step {step} {where}; available: {steps or 'none'}")
  # Before the attempt: the stray callbacks can fire before an exception gets back here.
  _ignore_callbacks_on_a_closed_loop()
  try:
    state = manager.restore(step, args=ocp.args.Composite(**{
        STATE_ITEM: ocp.args.StandardRestore(_restore_target(abstract_state))}))[STATE_ITEM]
  except Exception as e:  # noqa: BLE001 (orbax raises many types; re-raised below as one)
    failure = f"{type(e).__name__}: {str(e)[:300]}"
  else:
    failure = _check_restored(manager, step, state)
    if not failure:
      return state
  # Not chained: orbax's traceback keeps the aborted read tasks alive.
  _collect_aborted_tasks()
  older = [s for s in steps if s < step]
  fallback = (f" Older complete steps: {older}; to resume from step {older[-1]}, delete or move "
              f"{os.path.join(str(manager.directory), str(step))} out of the checkpoints "
              f"folder (gaxla sample takes --step {older[-1]})." if older else "")
  raise ValueError(
      f"could not restore checkpoint step {step} from {manager.directory}: {failure}. The "
      f"step is corrupt or was written by a different model config.{fallback} Or start "
      "again in a new workdir.")


def restore_latest(manager: CheckpointManager, abstract_state):
  """`restore` of the latest step; None when the workdir has no checkpoint."""
  return restore(manager, abstract_state, None)


def data_state(manager: CheckpointManager, step: int) -> dict | None:
  """The input pipeline state saved with `step`; None when the step has none.

  Steps of sources without state, and steps written before gaxla saved one,
  have no data item: their data position is the step number itself.
  """
  if not os.path.isdir(os.path.join(str(manager.directory), str(step), DATA_ITEM)):
    return None
  return manager.restore(step, args=ocp.args.Composite(**{
      DATA_ITEM: ocp.args.JsonRestore()}))[DATA_ITEM]


class PreemptionWatch:
  """Notices SIGTERM and SIGINT (Ctrl-C) so that the loop can save the current step and stop.

  A single process installs handlers that only set a flag (a handler can run
  between any two bytecodes, so it must not save by itself). With several
  processes the signal reaches hosts at different steps; JAX's preemption
  service (started by `jax.distributed.initialize`, which owns SIGTERM there)
  chooses one step for all, read via orbax's `reached_preemption`.

  Attributes:
    signum: the signal received (None before any).
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, manager: CheckpointManager):
    self._manager = manager
    self.signum: int | None = None
    self._previous: dict = {}
    # Python runs signal handlers only in the main thread and only lets it
    # install them; elsewhere the signals keep their previous meaning.
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      for signum in self.SIGNALS:
        self._previous[signum] = signal.signal(signum, self._on_signal)

  @property
  def signal_received(self) -> bool:
    return self.signum is not None

  def _on_signal(self, signum, frame) -> None:
    del frame
    if self.signum == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop now, without waiting for the save
    self.signum = signum

  def reached(self, step: int) -> bool:
    """Whether to save `step` and stop (call once after every step, on every host)."""
    return self.signal_received or self._manager.reached_preemption(step)

  def close(self) -> None:
    """Puts the previous handlers back."""
    for signum, previous in self._previous.items():
      signal.signal(signum, signal.SIG_DFL if previous is None else previous)
    self._previous = {}


def check_compatible(saved, config, workdir: str) -> None:
  """Raises ConfigError if `config` cannot resume the run saved in `workdir`.

  Args:
    saved: the config in `workdir/config.json`.
    config: the config of the new run.
    workdir: named in the message.

  Raises:
    ConfigError: naming every key that differs against the rule in
      `gaxla.config.RESUME_FIXED` / `RESUME_MOVABLE`.
  """
  saved_dict, new_dict = saved.to_dict(), config.to_dict()
  mismatched = []

  def walk(a, b, prefix):
    for key in sorted(set(a) | set(b)):
      va, vb = a.get(key), b.get(key)
      if isinstance(va, dict) and isinstance(vb, dict):
        walk(va, vb, f"{prefix}{key}.")
      elif _normalize(va) != _normalize(vb) and f"{prefix}{key}" not in RESUME_MOVABLE:
        mismatched.append(f"{prefix}{key}: saved {va!r}, now {vb!r}")

  for key in RESUME_FIXED:
    va, vb = saved_dict.get(key), new_dict.get(key)
    if isinstance(va, dict) and isinstance(vb, dict):
      walk(va, vb, f"{key}.")
    elif _normalize(va) != _normalize(vb):
      mismatched.append(f"{key}: saved {va!r}, now {vb!r}")
  if mismatched:
    raise ConfigError(
        f"workdir '{workdir}' holds a run with a different config, so it cannot "
        f"resume: {'; '.join(mismatched)}. Use a new --workdir, or pass the same "
        f"config: {resume_rule()}.")


def _normalize(value):
  if isinstance(value, (list, tuple)):
    return tuple(_normalize(v) for v in value)
  return value
