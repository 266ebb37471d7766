"""Metrics against the truncation threshold: BigGAN's FID/IS-vs-truncation curves.

`sweep` scores the same generator at several truncation thresholds (z drawn
from a normal truncated to [-t, t], resampled; 0 = untruncated), each with the
same evaluators, sample count and key; `plot` draws every metric against t as
one PNG (one panel per metric). Works in any feature space the evaluators use
(Inception, the domain classifier) and for any evaluator.
"""

from __future__ import annotations


import jax

from gaxla.evaluate import evaluators as evaluators_lib


def parse(text: str) -> list[float]:
  """'0.25,0.5,1' -> [0.25, 0.5, 1.0]; raises ValueError naming the bad value."""
  values = []
  for part in str(text).split(","):
    part = part.strip()
    if not part:
      continue
    try:
      value = float(part)
    except ValueError:
      raise ValueError(f"--truncation must be comma-separated numbers >= 0, got {part!r}") from None
    if not value >= 0:
      raise ValueError(f"--truncation values must be >= 0 (0 = untruncated), got {part!r}")
    values.append(value)
  if not values:
    raise ValueError(f"--truncation needs at least one value, got {text!r}")
  return values


def generate_fn(trainer, variables, truncation: float):
  """`(key, labels) -> samples` from `variables` with latents truncated at `truncation`."""
  generate = jax.jit(lambda v, key, labels: trainer.generate(
      v, trainer.sample_latent(key, labels.shape[0], truncation), labels))
  return lambda key, labels: generate(variables, key, labels)


def sweep(evaluators: list[evaluators_lib.Evaluator], trainer, variables,
          truncations: list[float], num_samples: int, key) -> list[dict[str, float]]:
  """Scores the generator at each truncation.

  Args:
    evaluators: from `gaxla.evaluate.build`.
    trainer: has `generate(variables, z, labels)` and
      `sample_latent(key, n, truncation)` (a `GANSystem`).
    variables: generator variables (e.g. the EMA generator's).
    truncations: thresholds; 0 = untruncated.
    num_samples: samples per threshold.
    key: the same key for every threshold, so only the truncation differs.

  Returns:
    One {'truncation': t, 'NAME/metric': value, ...} per threshold, in order.
  """
  from gaxla import evaluate
  records = []
  for t in truncations:
    scores = evaluate.run(evaluators, generate_fn(trainer, variables, float(t)), num_samples, key)
    records.append({"truncation": float(t), **scores})
  return records


def plot(records: list[dict[str, float]], path: str, title: str = "") -> str:
  """Draws each metric against truncation (one panel per metric) into a PNG; returns path."""
  from gaxla.plots import pyplot, save_figure
  plt = pyplot()
  metrics = [k for k in records[0] if k != "truncation"]
  if not metrics:
    raise ValueError("no metrics to plot")
  columns = min(3, len(metrics))
  rows = -(-len(metrics) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
  ordered = sorted(records, key=lambda r: r["truncation"])
  xs = [r["truncation"] for r in ordered]
  for ax, metric in zip(axes.flat, metrics):
    ax.plot(xs, [r[metric] for r in ordered], marker="o")
    ax.set_title(metric, fontsize=9)
    ax.set_xlabel("truncation (0 = none)")
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(metrics):]:
    ax.axis("off")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return save_figure(fig, path, dpi=100)
