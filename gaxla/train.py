"""The training loop: `train_and_evaluate(config, workdir)`.

Read top to bottom: config and devices -> the GAN system -> data -> state
(resumed from the workdir's latest checkpoint if any) -> loop. Each pass of the
loop runs up to `steps_per_call` steps in one call, then, where due: logs,
evaluates and draws samples, checkpoints, and asks the collapse monitor.

Everything else lives in its own module: the step in gaxla/system.py, the
workdir's JSON files in gaxla/workdir.py, evaluation during training in
gaxla/train_eval.py, metric names in gaxla/metrics.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import jax
import ml_collections
import numpy as np
from absl import logging

from gaxla import checkpoint, config as config_lib, data, monitor, parallel, plots, progress
from gaxla import xla_cpu
from gaxla import evaluate as evaluate_lib
from gaxla import metrics as metric_names
from gaxla import train_eval, workdir as workdir_lib
from gaxla.data.device_prefetch import DevicePrefetch
from gaxla.state import GANState
from gaxla.system import GANSystem, system_for


def device_batch(system: GANSystem, source, step: int, num: int) -> dict:
  """`source`'s batches of steps step .. step + num - 1 as global device arrays."""
  if num == 1:
    return system.put_batch(source.batch(step))
  return system.put_batches(data.stacked_batches(source, step, num))


def run_steps(system: GANSystem, state: GANState, source, step: int,
              num: int, batch: dict | None = None) -> tuple[GANState, dict]:
  """Steps step .. step + num - 1 on `source`'s batches, in one call.

  One step goes through `system.train_step`; more through `system.train_steps`
  on the stacked batches. `batch`: that call's `device_batch`, if already
  made (prefetched). Returns (state, the last step's metrics).
  """
  if batch is None:
    batch = device_batch(system, source, step, num)
  if num == 1:
    return system.train_step(state, batch)
  return system.train_steps(state, batch)


def _call_end(step: int, config: ml_collections.ConfigDict) -> int:
  """The step after which the training call starting at `step` ends.

  At most `steps_per_call` steps, and never past a log, eval or checkpoint
  step or the last step, so every one of those ends a call.
  """
  end = min(step + int(config.steps_per_call), int(config.num_steps))
  for every in (config.log_every_steps, config.eval_every_steps, config.checkpoint_every_steps):
    end = min(end, (step // int(every) + 1) * int(every))
  return end


def _to_host(metrics: dict, step: int, workdir: str) -> dict[str, float]:
  """The metrics as Python floats; raises on a non-finite value.

  Called before any save, so a diverged state never replaces a good checkpoint.
  """
  host = {k: float(v) for k, v in jax.device_get(metrics).items()}
  if not all(np.isfinite(v) for v in host.values()):
    raise FloatingPointError(
        f"non-finite metrics at step {step}: {host}. The last checkpoint in "
        f"{workdir}/checkpoints is from before this; lower the learning rates "
        "or add a penalty.")
  return host


def _report_collapse(decision: monitor.Decision, manager, workdir: str | None,
                     history: list[dict]) -> None:
  """Writes collapse.json and the annotated plot; logs what was kept."""
  best_step = checkpoint.best_step(manager) if decision.action == monitor.STOP_KEEP_BEST else None
  kept = None
  if best_step is not None:
    value = (manager.metrics(best_step) or {}).get(manager.best_metric)
    kept = (best_step, value)
  logging.warning("gaxla monitor stopped training at step %d: %s. Kept checkpoint: %s "
                  "(gaxla sample --step best).", decision.step, decision.reason,
                  "latest" if best_step is None else best_step)
  if workdir is None:
    return
  workdir_lib.write_collapse(workdir, monitor.to_json(decision, kept))
  plots.plot_history(history, os.path.join(workdir, "plots", "training.png"), title=workdir,
                     collapse_step=decision.step, kept_step=best_step)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       show_progress: bool | None = None) -> tuple[GANState, dict]:
  """Trains a GAN as configured, writing everything into `workdir`.

  Resumes from the latest checkpoint in `workdir/checkpoints` when present.
  Checkpoints are written every `checkpoint_every_steps` and `eval_every_steps`
  (with the eval metrics) and at the last step; see gaxla/checkpoint.py.

  Args:
    config: a config built from `gaxla.config.defaults()`.
    workdir: output folder (created): config.json, metrics.jsonl,
      samples/*.png, checkpoints/.
    show_progress: progress bar (True) or plain log lines (False); default:
      a bar when stderr is a terminal.

  Returns:
    (final state, last logged metrics).

  Raises:
    checkpoint.Preempted: on SIGTERM, after saving the current step and
      waiting for the write (rerun to resume).
  """
  # --- Config, devices and the workdir (one run at a time) -------------------------
  config_lib.validate(config)
  parallel.initialize(config.distributed)
  xla_cpu.enable_compile_cache(config.compile_cache_dir)
  evaluate_lib.check(config)  # e.g. missing Inception weights: fail now, not at the first eval
  evaluate_lib.check_best_metric(config)  # a typo here would lose every checkpoint
  workdir_lib.create(workdir)
  is_chief = jax.process_index() == 0
  with workdir_lib.Lock(workdir, enabled=is_chief):
    return _train(config, workdir, is_chief, show_progress)


def _train(config: ml_collections.ConfigDict, workdir: str, is_chief: bool,
           show_progress: bool | None) -> tuple[GANState, dict]:
  """`train_and_evaluate` once the config is valid and the workdir is ours."""
  system = system_for(config)
  # Against config.json and the copy kept with the checkpoints (config.json
  # may have been deleted or edited by hand).
  for _, saved in workdir_lib.saved_configs(workdir):
    checkpoint.check_compatible(saved, config, workdir)

  # --- Data ---------------------------------------------------------------------
  # Each process reads only its own rows of every global batch.
  source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed,
                            rows=parallel.process_rows(config.batch_size))

  # --- State (fresh, or resumed from the workdir) ---------------------------------
  manager = checkpoint.make_manager(workdir, config)
  try:
    state = checkpoint.restore_latest(manager, system.abstract_state())
  except BaseException:
    manager.close()
    raise
  if state is None:
    state = system.init_state(config.seed)
  start_step = int(state.step)
  if start_step:   # e.g. the grain iterator, where it stopped
    source.restore(checkpoint.data_state(manager, start_step), start_step)
  if start_step > config.num_steps:
    manager.close()
    raise config_lib.ConfigError(
        f"the run in '{workdir}' is already at step {start_step}, past num_steps = "
        f"{config.num_steps}: nothing to train. Pass --config.num_steps={start_step} or more "
        "to train on, or use gaxla sample / gaxla eval on it.")
  if is_chief:  # only now: a failed resume must leave the workdir's config as it was
    workdir_lib.write_config(config, workdir)
  eval_key = train_eval.eval_key(config)  # same noise for every eval and picture

  # --- Collapse monitor: history (restored on resume) and its cheap signals ---------
  history = workdir_lib.read_history(workdir, start_step)
  spectral_signals = jax.jit(monitor.spectral_signals)
  best_metric, best_mode = config.checkpoint.best_metric, config.checkpoint.best_mode
  warned = False

  # --- Loop -------------------------------------------------------------------------
  log = progress.ProgressLog(workdir if is_chief else None, config.num_steps,
                             start_step, show_progress)
  last: dict[str, float] = {}
  step_start, last_log_step = time.perf_counter(), start_step
  preemption = checkpoint.PreemptionWatch(manager)
  prefetch = DevicePrefetch(lambda s, n: device_batch(system, source, s, n), size=2)
  try:
    in_flight = None
    step = start_step
    while step < config.num_steps:
      # Train: up to `steps_per_call` steps in one call, ending at every log,
      # eval and checkpoint step, so those happen exactly where they would
      # step by step.
      done = _call_end(step, config)
      state, metrics = run_steps(system, state, source, step, done - step,
                                 prefetch.get(step, done - step))
      # At most two calls in flight: wait for the previous one. Unbounded async
      # dispatch can deadlock XLA:CPU's collectives when several simulated
      # devices share few cores (seen with 8 devices on 2 cores); the wait
      # costs nothing measurable on one device.
      if in_flight is not None:
        jax.block_until_ready(in_flight)
      in_flight = metrics

      # What is due at `done`.
      is_last = done == config.num_steps
      log_now = done % config.log_every_steps == 0 or is_last
      eval_now = done % config.eval_every_steps == 0 or is_last
      # Asked after every step, on every host (multi-host preemption agrees on a
      # step number); a stop inside a call saves at the call's end.
      stop_now = any([preemption.reached(s) for s in range(step + 1, done + 1)])
      step = done
      # The manager's policy: checkpoint interval, eval steps, last step, preemption.
      save_now = stop_now or manager.should_save(done)

      # Log.
      if config.monitor.enabled and log_now:  # only logged values reach the monitor
        metrics = dict(metrics, **spectral_signals(state))
      if log_now or save_now:
        host = _to_host(metrics, done, workdir)
      if log_now:
        now = time.perf_counter()
        host[metric_names.STEPS_PER_SEC] = (done - last_log_step) / max(now - step_start, 1e-9)
        step_start, last_log_step = now, done
        last = host
        log.write(done, host)
        history.append({metric_names.STEP: done, **host})

      # Evaluate and draw samples.
      results = None
      if eval_now:
        results = train_eval.evaluate(system, state, config, workdir if is_chief else None,
                                      eval_key)
        if results:
          last.update(results)
          log.write(done, results)
          history.append({metric_names.STEP: done, **results})

      # Collapse monitor: go on, check, warn, or stop. At every log step too:
      # the training-signal rules can fire between evaluations.
      decision = monitor.Decision(monitor.CONTINUE)
      if (eval_now or log_now) and config.monitor.enabled:
        decision = monitor.decide(history, config.monitor, best_metric, best_mode)
        if decision.check:
          # A stall alarm: score the generator now (checkpointed below, so it
          # can be the kept best) and let the evaluation confirm or clear it.
          if is_chief:
            logging.warning("gaxla monitor: %s; evaluating now", decision.reason)
          if results is None:
            results = train_eval.evaluate(system, state, config,
                                          workdir if is_chief else None, eval_key)
            save_now = True
          record = {**results, metric_names.MONITOR_CHECK: 1.0}
          last.update(results)
          log.write(done, record)
          history.append({metric_names.STEP: done, **record})
          decision = monitor.decide(history, config.monitor, best_metric, best_mode)

      # Checkpoint.
      if save_now:
        checkpoint.save(manager, done, state, metrics=results,
                        data_state=source.state(done))
      log.advance(done)

      if eval_now and config.monitor.enabled:
        if is_chief:
          plots.plot_history(history, os.path.join(workdir, "plots", "training.png"),
                             title=workdir)
      if decision.warn:
        if not warned and is_chief:
          logging.warning("gaxla monitor: %s (monitor.action = 'warn': training goes on)",
                          decision.reason)
        warned = True
      elif decision.stop:
        manager.wait_until_finished()
        _report_collapse(decision, manager, workdir if is_chief else None, history)
        last[metric_names.COLLAPSE_STEP] = float(done)
        break

      # Preemption (SIGTERM) or Ctrl-C (SIGINT): the step is saved; stop.
      if stop_now and not is_last:
        manager.wait_until_finished()
        raise checkpoint.Preempted(done, str(manager.directory),
                                   preemption.signum or signal.SIGTERM)

      # The next call's batch goes to the devices while this call still runs
      # (last in the loop: a batch read here belongs to the next call's stop
      # check, and the data state saved above is the one at `done`).
      if done < config.num_steps:
        prefetch.ahead(done, _call_end(done, config) - done)
  finally:
    preemption.close()
    source.close()   # grain worker processes
    log.close()
    _close(manager)
  return state, last


def _close(manager) -> None:
  """Waits for the last save (a failed write raises, naming its step), then closes."""
  try:
    manager.wait_until_finished()
  finally:
    with contextlib.suppress(Exception):  # a failed write was reported just above
      manager.close()
