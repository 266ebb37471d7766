"""Metric names: the protocol between the step, the loop, the monitor and the plots.

Every name a training run logs (to metrics.jsonl, TensorBoard and the
progress output) is defined here once. The step (gaxla/system.py) produces the
training metrics, `monitor.spectral_signals` the singular values, the loop the
throughput, and the evaluators `eval/<evaluator>/<metric>` values.
"""

from __future__ import annotations

from typing import Final

# Record keys that are not metrics (metrics.jsonl).
STEP: Final = "step"
TIME: Final = "time"

# The step's metrics (means over the step's critic updates for the d_* ones).
D_LOSS: Final = "d_loss"                 # critic adversarial loss
D_TOTAL_LOSS: Final = "d_total_loss"     # critic loss with penalty and regularizers
PENALTY: Final = "penalty"               # gradient penalty value (0 when none)
D_REAL_LOGIT: Final = "d_real_logit"     # mean critic output on real data
D_FAKE_LOGIT: Final = "d_fake_logit"     # mean critic output on fakes
D_GRAD_NORM: Final = "d_grad_norm"
G_LOSS: Final = "g_loss"
BCR: Final = "bcr"                       # consistency-regularization term (with augment.bcr_*)
LECAM: Final = "lecam"                   # LeCam term, unweighted (with regularizer.lecam)
G_GRAD_NORM: Final = "g_grad_norm"
STEP_METRICS: Final = (D_LOSS, PENALTY, D_TOTAL_LOSS, D_REAL_LOGIT, D_FAKE_LOGIT, D_GRAD_NORM,
                       G_LOSS, G_GRAD_NORM)
# Auxiliary critic heads (gaxla/heads.py), logged when their config.aux weight is on.
ACGAN_REAL_LOSS: Final = "aux/acgan_real_loss"          # class cross-entropy on real
ACGAN_FAKE_LOSS: Final = "aux/acgan_fake_loss"          # ... on fakes, requested classes
ACGAN_REAL_ACCURACY: Final = "aux/acgan_real_accuracy"  # head accuracy on real labels
ACGAN_FAKE_ACCURACY: Final = "aux/acgan_fake_accuracy"
INFO_CATEGORICAL_LOSS: Final = "aux/info_categorical_loss"  # -log Q(c | G(z, c))
INFO_CATEGORICAL_ACCURACY: Final = "aux/info_categorical_accuracy"
INFO_CONTINUOUS_LOSS: Final = "aux/info_continuous_loss"    # Gaussian NLL, summed over codes
INFO_MI_LOWER_BOUND: Final = "aux/info_mi_lower_bound"      # H(c) - the losses above (nats)
LOSSES: Final = (D_LOSS, G_LOSS, PENALTY, D_TOTAL_LOSS)
CRITIC_OUTPUTS: Final = (D_REAL_LOGIT, D_FAKE_LOGIT)

# Collapse signals (monitor.spectral_signals), logged at log steps when the
# monitor is enabled.
SIGMA_PREFIX: Final = "sigma/"
SIGMA_G_MAX: Final = SIGMA_PREFIX + "g_max"
SIGMA_D_MAX: Final = SIGMA_PREFIX + "d_max"

# The loop's own.
STEPS_PER_SEC: Final = "steps_per_sec"
COLLAPSE_STEP: Final = "collapse_step"   # in the loop's returned metrics only
# 1.0 on an evaluation the monitor asked for out of schedule (a stall alarm's check).
MONITOR_CHECK: Final = "monitor/check"

# Evaluation: 'eval/<evaluator>/<metric>', e.g. 'eval/fid/fid'.
EVAL_PREFIX: Final = "eval/"


def eval_name(evaluator_metric: str) -> str:
  """'fid/fid' -> 'eval/fid/fid' (the logged name of an evaluator's metric)."""
  return EVAL_PREFIX + evaluator_metric


def is_eval(name: str) -> bool:
  return name.startswith(EVAL_PREFIX)


def short_name(name: str) -> str:
  """The last path component ('eval/fid/fid' -> 'fid'), for compact displays."""
  return name.split("/")[-1]


# Shown in the progress bar, when logged.
PROGRESS_BAR: Final = (D_LOSS, G_LOSS, eval_name("mode_coverage/modes_covered"),
                       eval_name("mode_coverage/high_quality"), eval_name("fid/fid"),
                       eval_name("classifier/fd"))
