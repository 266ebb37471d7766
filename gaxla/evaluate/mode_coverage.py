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
  return {**mode_histogram(nearest[high_quality], len(modes)),
          "num_modes": float(len(modes)), "high_quality": float(high_quality.mean())}


def mode_histogram(mode_ids: np.ndarray, num_modes: int) -> dict[str, float]:
  """Modes hit and KL(p || uniform) of the histogram of `mode_ids` over `num_modes`.

  Returns {'modes_covered': modes with at least one sample, 'reverse_kl':
  sum_k p_k log(K p_k) in nats (inf without samples)}.
  """
  counts = np.bincount(np.asarray(mode_ids, np.int64), minlength=num_modes).astype(np.float64)
  total = counts.sum()
  if total == 0:
    reverse_kl = float("inf")
  else:
    p = counts / total
    nz = p > 0
    reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * num_modes)))
  return {"modes_covered": float(np.count_nonzero(counts)), "reverse_kl": reverse_kl}


def stacked_mode_coverage(channel_classes: np.ndarray, classes_per_channel: int = 10
                          ) -> dict[str, float]:
  """Stacked-MNIST protocol (VEEGAN, PacGAN): modes are per-channel class tuples.

  Args:
    channel_classes: [N, C] the class a classifier gives each channel of each sample.
    classes_per_channel: classes of the single-channel dataset (10).

  Returns:
    {'modes_covered' (of classes_per_channel ** C), 'reverse_kl'}.
  """
  channel_classes = np.asarray(channel_classes, np.int64)
  num_channels = channel_classes.shape[1]
  weights = classes_per_channel ** np.arange(num_channels - 1, -1, -1)
  return mode_histogram(channel_classes @ weights, classes_per_channel ** num_channels)
