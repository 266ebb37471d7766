"""k-NN manifold metrics: precision/recall and density/coverage.

Each real (or generated) feature vector x gets a ball of radius
NND_k(x) = distance to its k-th nearest neighbour within its own set (itself
excluded); the union of balls estimates the support of the distribution.

  precision  fraction of fakes inside the real manifold     (Kynkäänniemi et al., 2019; k = 3)
  recall     fraction of reals inside the fake manifold
  density    (1 / kM) sum_j #{real balls containing fake j}  (Naeem et al., 2020; k = 5)
  coverage   fraction of real balls holding at least one fake

Distances are computed in row blocks so memory stays O(block * n).
"""

from __future__ import annotations

import numpy as np

_BLOCK = 1024


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Squared Euclidean distances [len(a), len(b)] (clipped at 0 against rounding)."""
  d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.maximum(d, 0.0)


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
  """Squared distance of each row to its k-th nearest other row: [n]."""
  features = np.asarray(features, np.float64)
  if len(features) <= k:
    raise ValueError(f"k-NN radii with k={k} need more than {k} samples, got {len(features)}")
  radii = np.empty(len(features))
  for start in range(0, len(features), _BLOCK):
    d = _sq_distances(features[start:start + _BLOCK], features)
    # Column 0 of the sorted row is the point itself (distance 0).
    radii[start:start + _BLOCK] = np.partition(d, k, axis=1)[:, k]
  return radii


def _ball_counts(points: np.ndarray, centres: np.ndarray, radii: np.ndarray):
  """For each point, how many balls (centre, radius) hold it; and per ball, whether any point."""
  counts = np.zeros(len(points), np.int64)
  hit = np.zeros(len(centres), bool)
  for start in range(0, len(points), _BLOCK):
    inside = _sq_distances(points[start:start + _BLOCK], centres) <= radii[None, :]
    counts[start:start + _BLOCK] = inside.sum(1)
    hit |= inside.any(0)
  return counts, hit


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float]:
  """Improved precision and recall (Kynkäänniemi et al., 2019).

  Args:
    real: [n, d] real features.
    fake: [m, d] generated features.
    k: neighbourhood size for the manifold radii (reference: 3).

  Returns:
    {'precision', 'recall'} in [0, 1].
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  fake_in_real, _ = _ball_counts(fake, real, knn_radii(real, k))
  real_in_fake, _ = _ball_counts(real, fake, knn_radii(fake, k))
  return {"precision": float(np.mean(fake_in_real > 0)),
          "recall": float(np.mean(real_in_fake > 0))}


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
  """Density and coverage (Naeem et al., 2020).

  Args:
    real: [n, d] real features.
    fake: [m, d] generated features.
    k: neighbourhood size (reference: 5).

  Returns:
    {'density' (>= 0, about 1 when the distributions match), 'coverage' in [0, 1]}.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  counts, hit = _ball_counts(fake, real, knn_radii(real, k))
  return {"density": float(counts.sum() / (k * len(fake))),
          "coverage": float(hit.mean())}
