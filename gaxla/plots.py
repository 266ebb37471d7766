"""Training curves as one PNG: losses, singular values, critic outputs, eval metrics.

`plot_history(history, path)` draws every logged series against the step, in
panels by kind, and marks a collapse (and the step whose checkpoint was kept)
when given. matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

import os

import numpy as np

from gaxla import metrics as names
from gaxla import monitor

_PANELS = (
    ("losses", lambda k: k in names.LOSSES),
    ("critic outputs (real / fake mean logit)", lambda k: k in names.CRITIC_OUTPUTS),
    ("top singular value (max over layers)", lambda k: k.startswith(names.SIGMA_PREFIX)),
    ("gradient norms", lambda k: k.endswith("grad_norm")),
    ("evaluation", names.is_eval),
)


def pyplot():
  """matplotlib.pyplot on the Agg backend (gaxla only writes files; no display needed)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def save_figure(fig, path: str, dpi: int) -> str:
  """Writes `fig` to `path` (creating its folder) and frees it; returns the path."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=dpi)
  pyplot().close(fig)
  return path


def plot_history(history: list[dict], path: str, title: str = "",
                 collapse_step: int | None = None, kept_step: int | None = None) -> str:
  """Writes the training-curve figure to `path` (PNG); returns the path.

  Args:
    history: logged records {'step': int, name: float, ...} in step order.
    path: output file.
    title: figure title (e.g. the workdir).
    collapse_step: draw a red line where the monitor stopped training.
    kept_step: draw a green line at the checkpoint kept as the result.
  """
  plt = pyplot()
  series = monitor.history_arrays(history)
  panels = [(name, sorted(k for k in series if keep(k))) for name, keep in _PANELS]
  panels = [(name, keys) for name, keys in panels if keys]
  if not panels:
    panels = [("metrics", sorted(series))]
  fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), sharex=True,
                           squeeze=False)
  for ax, (name, keys) in zip(axes[:, 0], panels):
    for key in keys:
      steps, values = series[key]
      finite = np.isfinite(values)
      ax.plot(steps[finite], values[finite], label=key, lw=1.2,
              marker="o" if names.is_eval(key) else None, ms=3)
    if name.startswith("top singular") or name == "gradient norms":
      ax.set_yscale("log")   # a stall (norms ~0.1x) and a blow-up (~1000x) both show
    if collapse_step is not None:
      ax.axvline(collapse_step, color="tab:red", ls="--", lw=1, label="collapse flagged")
    if kept_step is not None:
      ax.axvline(kept_step, color="tab:green", ls=":", lw=1.5, label="kept checkpoint")
    ax.set_title(name, fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
  axes[-1, 0].set_xlabel("generator step")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return save_figure(fig, path, dpi=90)
