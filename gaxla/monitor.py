"""Collapse monitor: cheap training signals in, a pure decision out.

Large-batch GAN training can collapse late (BigGAN, Brock et al. 2019, Sec. 4:
the top singular values of G's layers explode, D's loss goes to zero, sample
quality falls). gaxla watches for it while training and stops with the
weights from before it.

Signals (logged with the other metrics, see `spectral_signals`):
  sigma/g_max, sigma/d_max   the largest top singular value over G's / D's
                             weight matrices (spectral norm's own estimate of
                             sigma(W) where a layer has it, else a few power
                             iterations)
  d_real_logit, d_fake_logit the critic's mean outputs; their difference is
                             the real/fake margin
  d_grad_norm, g_grad_norm   gradient norms
  eval/...                   the configured evaluation metric
and any non-finite value.

`decide(history, config)` is a pure function of the logged history: it says
*continue*, *stop* or *stop_keep_best* (or *check*: evaluate now, then decide
again), with the reason and the signals that triggered it. The training
loop does the I/O (see train.py, workdir.py): it writes `collapse.json` to
the workdir and stops; the best checkpoint by the
configured metric, saved before the collapse, is the run's generator
(`gaxla sample --step best`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gaxla import metrics as names

# Decision actions; WARN, STOP and STOP_KEEP_BEST are also the values of
# `monitor.action`. CHECK asks the loop for an evaluation now (a stall alarm
# with `monitor.check_with_eval`); the next `decide` confirms or clears it.
CONTINUE, WARN, STOP, STOP_KEEP_BEST = "continue", "warn", "stop", "stop_keep_best"
CHECK = "check"


@dataclasses.dataclass(frozen=True)
class Decision:
  action: str                        # CONTINUE, WARN, STOP or STOP_KEEP_BEST
  reason: str = ""
  step: int = 0
  triggers: dict = dataclasses.field(default_factory=dict)

  @property
  def stop(self) -> bool:
    """Training should stop (STOP or STOP_KEEP_BEST; not WARN)."""
    return self.action in (STOP, STOP_KEEP_BEST)

  @property
  def check(self) -> bool:
    """The loop should evaluate now, log it with `monitor/check`, and decide again."""
    return self.action == CHECK

  @property
  def warn(self) -> bool:
    """A collapse was detected, and `monitor.action = 'warn'`: log it and go on."""
    return self.action == WARN


# ----------------------------------------------------------------------------
# Signals
# ----------------------------------------------------------------------------
def _top_singular_value(matrix: jax.Array, iterations: int) -> jax.Array:
  """Power iteration from a fixed start (deterministic; a slight underestimate)."""
  v = jnp.ones((matrix.shape[1],), matrix.dtype) / math.sqrt(matrix.shape[1])
  for _ in range(iterations):
    u = matrix @ v
    u = u / (jnp.linalg.norm(u) + 1e-12)
    v = matrix.T @ u
    v = v / (jnp.linalg.norm(v) + 1e-12)
  return jnp.linalg.norm(matrix @ v)


def _layer_sigmas(params, collections, iterations: int) -> list[jax.Array]:
  """Top singular value of every weight matrix (kernels reshaped to [fan_in, out])."""
  stats = collections.get("batch_stats", {}) if isinstance(collections, dict) else {}
  # Spectral norm's running estimate of sigma(W), where layers have it.
  sigmas = [jnp.reshape(value, ()) for path, value in jax.tree_util.tree_leaves_with_path(stats)
            if jax.tree_util.keystr(path).endswith("sigma']")]
  if sigmas:
    return sigmas
  for path, kernel in jax.tree_util.tree_leaves_with_path(params):
    if kernel.ndim >= 2 and "kernel" in jax.tree_util.keystr(path):
      matrix = kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)
      sigmas.append(_top_singular_value(matrix, iterations))
  return sigmas


def spectral_signals(state, iterations: int = 8) -> dict[str, jax.Array]:
  """{'sigma/g_max', 'sigma/d_max'}: largest top singular value of G's and D's layers.

  Uses spectral norm's running estimate where a player has spectral-normed
  layers (free), else `iterations` power iterations per weight matrix.
  Jittable; cheap next to a train step.
  """
  out = {}
  for name, player in (("g", state.g), ("d", state.d)):
    sigmas = _layer_sigmas(player.params, player.collections, iterations)
    key = names.SIGMA_G_MAX if name == "g" else names.SIGMA_D_MAX
    out[key] = jnp.max(jnp.stack(sigmas)) if sigmas else jnp.zeros(())
  return out


# ----------------------------------------------------------------------------
# The decision
# ----------------------------------------------------------------------------
def _better(a: float, b: float, mode: str) -> bool:
  return a > b if mode == "max" else a < b


def _degraded(value: float, best: float, mode: str, tolerance: float) -> bool:
  """True if `value` is worse than `best` by more than `tolerance` (relative)."""
  margin = tolerance * max(abs(best), 1e-12)
  return value < best - margin if mode == "max" else value > best + margin


def best_so_far(history: list[dict], metric: str, mode: str) -> tuple[int, float] | None:
  """(step, value) of the best finite value of `metric` in the history."""
  best = None
  for record in history:
    value = record.get(metric)
    if value is None or not math.isfinite(value):
      continue
    if best is None or _better(value, best[1], mode):
      best = (int(record[names.STEP]), float(value))
  return best


def decide(history: list[dict[str, Any]], config, metric: str = "",
           mode: str = "max") -> Decision:
  """Continue, stop, or stop and keep the best checkpoint, from the logged history.

  Args:
    history: logged records in step order, each {'step': int, name: float}
      (training signals at log steps, 'eval/...' values at eval steps).
    config: `config.monitor`: enabled, tolerance, patience, sigma_growth,
      margin_limit, action (see gaxla.config.defaults).
    metric: the eval metric to watch ('' = none), e.g. 'eval/mode_coverage/high_quality'
      (the same one the checkpoint manager keeps the best of).
    mode: 'max' or 'min': which direction of `metric` is better.

  Returns:
    A Decision. Rules, checked in this order:
      non-finite     any non-finite value in the latest record.
      metric         the last `patience` values of `metric` are all worse than
                     the best seen before them by more than `tolerance`
                     (relative).
      sigma          sigma/g_max or sigma/d_max above `sigma_growth` times its
                     smallest value so far for `patience` consecutive logs.
      margin         d_real_logit - d_fake_logit above `margin_limit` for
                     `patience` consecutive logs (the critic separates real
                     from fake completely: G gets no useful gradient).
      explosion      d_grad_norm, g_grad_norm or |d_real_logit - d_fake_logit|
                     above `explosion` times its median over the run so far,
                     in one log (the critic blew up: the state is already
                     broken, so no patience). Checked right after non-finite.
      stall          d_grad_norm below `critic_stall` (or g_grad_norm below
                     `generator_stall`) times its median over the run so far
                     for `patience` consecutive logs (the critic went dead:
                     its outputs no longer tell real from fake, its loss sits
                     at chance, and G drifts without a signal). Healthy runs
                     have such spells too and recover, so with
                     `check_with_eval` and a `metric` the rule returns CHECK:
                     the loop evaluates now and logs the record with
                     `monitor/check`; the next call stops only if that value
                     is worse than the best before it by more than
                     `tolerance`, and a stall must last `patience` logs after
                     a check to raise the next alarm.
  """
  if not config.enabled or not history:
    return Decision(CONTINUE)
  action = config.action
  latest = history[-1]
  step = int(latest[names.STEP])
  # Training signals only: an eval metric may be legitimately infinite (e.g.
  # reverse KL with no mode covered); the metric rule judges those.
  # All of this step's records: at an eval step the log record is not the last.
  now = {k: v for r in history if int(r[names.STEP]) == step for k, v in r.items()}
  bad = {k: v for k, v in now.items()
         if k != names.STEP and not names.is_eval(k) and isinstance(v, (int, float))
         and not math.isfinite(v)}
  if bad:
    return Decision(action, f"non-finite values at step {step}: {sorted(bad)}", step, bad)
  if config.explosion > 0:
    exploded = _explosion(history, config.explosion)
    if exploded is not None:
      return Decision(action, exploded[0], step, exploded[1])

  patience = int(config.patience)
  if metric and latest.get(names.MONITOR_CHECK) and metric in latest:
    # The evaluation a stall alarm asked for: it confirms the alarm or clears it.
    # (A scheduled evaluation at this very step holds the same value: not "before".)
    evals = [r for r in history[:-1] if metric in r and int(r[names.STEP]) != step]
    before = best_so_far(evals, metric, mode)
    value = float(latest[metric])
    if before is not None and _degraded(value, before[1], mode, config.tolerance):
      return Decision(
          action,
          f"a stall alarm's evaluation confirms it: {metric} = {value:.4g}, worse than its "
          f"best {before[1]:.4g} (step {before[0]}) by more than {config.tolerance:.0%}",
          step, {metric: [value], "best_step": before[0], "best_value": before[1]})
    return Decision(CONTINUE, step=step)
  if metric:
    evals = [r for r in history if metric in r]
    if len(evals) > patience:
      before = best_so_far(evals[:-patience], metric, mode)
      recent = [float(r[metric]) for r in evals[-patience:]]
      if before is not None and all(
          _degraded(v, before[1], mode, config.tolerance) for v in recent):
        best_step, best_value = best_so_far(evals, metric, mode)
        return Decision(
            action,
            f"{metric} fell from its best {best_value:.4g} (step {best_step}) to "
            f"{recent[-1]:.4g}: worse by more than {config.tolerance:.0%} for the last "
            f"{patience} evaluations",
            step, {metric: recent, "best_step": best_step, "best_value": best_value})

  if config.sigma_growth > 0:
    for key in (names.SIGMA_G_MAX, names.SIGMA_D_MAX):
      values = [v for _, v in _logged(history, key)]
      if len(values) > patience:
        floor = min(values[:-patience])
        recent = values[-patience:]
        if floor > 0 and all(v > config.sigma_growth * floor for v in recent):
          return Decision(
              action,
              f"{key} grew to {recent[-1]:.4g}, more than {config.sigma_growth:g}x its "
              f"minimum {floor:.4g}, for {patience} logs", step, {key: recent, "floor": floor})

  if config.margin_limit > 0:
    margins = [m for _, m in _logged(history, MARGIN)]
    if len(margins) >= patience and all(m > config.margin_limit for m in margins[-patience:]):
      return Decision(
          action,
          f"critic margin (real - fake logit) above {config.margin_limit:g} for {patience} "
          f"logs (latest {margins[-1]:.4g})", step, {MARGIN: margins[-patience:]})
  checked = max((int(r[names.STEP]) for r in history if r.get(names.MONITOR_CHECK)), default=-1)
  for key, fraction, who in ((names.D_GRAD_NORM, config.critic_stall, "critic"),
                             (names.G_GRAD_NORM, config.generator_stall, "generator")):
    if fraction <= 0:
      continue
    logs = _logged(history, key)
    norms = [n for _, n in logs]
    if len(norms) <= patience or logs[-patience][0] <= checked:
      continue
    typical = float(np.median(norms))
    recent = norms[-patience:]
    if all(n < fraction * typical for n in recent):
      reason = (f"{who} stalled: {key} below {fraction:g}x its median {typical:.4g} for "
                f"{patience} logs (latest {recent[-1]:.4g})")
      triggers = {key: recent, "median": typical}
      if metric and config.check_with_eval:
        return Decision(CHECK, reason, step, triggers)
      return Decision(action, reason, step, triggers)
  return Decision(CONTINUE, step=step)


# The critic's real - fake logit margin: derived from two logged values.
MARGIN = "margin"


def _logged(history: list[dict], key: str) -> list[tuple[int, float]]:
  """(step, value) of a training signal at every log that has it (`MARGIN`: derived)."""
  if key == MARGIN:
    return [(int(r[names.STEP]), float(r[names.D_REAL_LOGIT]) - float(r[names.D_FAKE_LOGIT]))
            for r in history if names.D_REAL_LOGIT in r and names.D_FAKE_LOGIT in r]
  return [(int(r[names.STEP]), float(r[key])) for r in history if key in r]


def _explosion(history: list[dict], factor: float) -> tuple[str, dict] | None:
  """(reason, triggers) if the latest log's grad norm or |margin| jumped > factor x its median."""
  step = int(history[-1][names.STEP])
  for key in (names.D_GRAD_NORM, names.G_GRAD_NORM, MARGIN):
    logs = _logged(history, key)
    # Judged at the step it was logged (an eval record may follow it), once;
    # a median needs a few logs.
    if len(logs) < 4 or logs[-1][0] != step:
      continue
    values = [abs(v) for _, v in logs]
    typical = float(np.median(values))
    if typical > 0 and values[-1] > factor * typical:
      label = "critic margin |real - fake logit|" if key == MARGIN else key
      return (f"{label} exploded to {values[-1]:.4g}, more than {factor:g}x its median "
              f"{typical:.4g} over the run", {key: values[-1], "median": typical})
  return None


def to_json(decision: Decision, best: tuple[int, float] | None) -> dict:
  """What `collapse.json` holds."""
  return {
      "action": decision.action, "reason": decision.reason, "step": decision.step,
      "triggers": decision.triggers,
      "kept_step": None if best is None else best[0],
      "kept_metric": None if best is None else best[1],
  }


def history_arrays(history: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """name -> (steps, values) for plotting."""
  out: dict[str, tuple[list, list]] = {}
  for record in history:
    for key, value in record.items():
      if key in (names.STEP, names.TIME) or not isinstance(value, (int, float)):
        continue
      steps, values = out.setdefault(key, ([], []))
      steps.append(record[names.STEP])
      values.append(value)
  return {k: (np.asarray(s), np.asarray(v, np.float64)) for k, (s, v) in out.items()}
