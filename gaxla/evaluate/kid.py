"""Kernel Inception Distance (Bińkowski et al., 2018).

The unbiased estimator of the squared MMD with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets (the reference
implementation: 100 subsets of 1000 samples each). Unlike FID it is unbiased,
so its expectation is 0 when both samples come from the same distribution.
"""

from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3) -> np.ndarray:
  """k(x, y) = (x.y / d + 1)^degree for all pairs of rows: [n, m]."""
  return (x @ y.T / x.shape[1] + 1.0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 between samples x [m, d] and y [n, d] (cubic kernel)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, n = len(x), len(y)
  k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  # Diagonal terms k(x_i, x_i) are excluded: that is what makes it unbiased.
  xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(xx + yy - 2.0 * k_xy.mean())


def kernel_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """KID between real and generated features.

  Args:
    real: [n_real, d] features of real data.
    fake: [n_fake, d] features of generated data.
    num_subsets: number of random subsets (reference: 100).
    subset_size: samples per subset, drawn without replacement from each set
      (reference: 1000; capped at the smaller set size).
    seed: subset sampling seed.

  Returns:
    (mean, std) of the unbiased MMD^2 over subsets.
  """
  size = min(subset_size, len(real), len(fake))
  if size < 2:
    raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} and {len(fake)}")
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(num_subsets):
    x = real[rng.choice(len(real), size, replace=False)]
    y = fake[rng.choice(len(fake), size, replace=False)]
    values.append(mmd2_unbiased(x, y))
  return float(np.mean(values)), float(np.std(values))
