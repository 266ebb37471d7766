"""Mode coverage for 2-D Gaussian mixtures (the PacGAN / VEEGAN protocol).

Each sample is assigned to its nearest mode. It is *high quality* if it lies
within `num_std` standard deviations (Euclidean distance) of that mode. A mode
is *covered* if at least one high-quality sample landed on it. The reverse KL
compares the histogram of high-quality samples over modes, p, with the uniform
distribution u over the K modes: KL(p || u) = sum_k p_k log(K p_k); 0 means
perfectly balanced, log K means everything in one mode.
"""

from __future__ import annotations

import numpy as np


def mode_coverage(samples: np.ndarray, modes: np.ndarray, std: float,
                  num_std: float = 3.0) -> dict[str, float]:
  """Scores samples from a generator against the mixture's modes.

  Args:
    samples: [N, 2] generated points in data units (PacGAN uses N = 2500).
    modes: [K, 2] mode centres.
    std: the mixture's per-coordinate standard deviation.
    num_std: high-quality radius in units of std (PacGAN: 3).

  Returns:
    dict with 'modes_covered' (count), 'num_modes', 'high_quality' (fraction in
    [0, 1]) and 'reverse_kl' (nats; inf if there is no high-quality sample).
  """
  samples = np.asarray(samples, np.float64)
  modes = np.asarray(modes, np.float64)
  if samples.ndim != 2 or samples.shape[1] != modes.shape[1]:
    raise ValueError(f"samples must be [N, {modes.shape[1]}], got {samples.shape}")
  dist = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)
  nearest = np.argmin(dist, axis=1)
  high_quality = dist[np.arange(len(samples)), nearest] <= num_std * std
  counts = np.bincount(nearest[high_quality], minlength=len(modes)).astype(np.float64)
  total = counts.sum()
  if total == 0:
    reverse_kl = float("inf")
  else:
    p = counts / total
    nz = p > 0
    reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * len(modes))))
  return {
      "modes_covered": float(np.count_nonzero(counts)),
      "num_modes": float(len(modes)),
      "high_quality": float(high_quality.mean()),
      "reverse_kl": reverse_kl,
  }
