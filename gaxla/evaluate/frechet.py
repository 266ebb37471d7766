"""Fréchet distance between Gaussians, and the streaming statistics behind it.

FD(N(mu1, S1), N(mu2, S2)) = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).

Everything here is float64 NumPy on the host: features arrive in batches from
a jitted extractor, `RunningStats` folds them in with Chan et al.'s parallel
update (exact for any batching, and stable when the mean is large compared
with the spread), and the matrix square root is taken through symmetric
eigendecompositions: tr((S1 S2)^1/2) = sum sqrt(eig(S1^1/2 S2 S1^1/2)), since
S1 S2 is similar to the symmetric PSD matrix S1^1/2 S2 S1^1/2. That avoids
SciPy's `sqrtm` (Schur-based, slow for d = 2048, and it returns complex
noise for the nearly singular covariances of small samples).

Reference statistics of real data are cached as `.npz` files (see
`cached_reference`) so a training run computes them once.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np


class RunningStats:
  """Mean and covariance of feature vectors seen in batches (float64).

  Attributes:
    count: number of vectors so far.
    mean: [d] running mean.
  """

  def __init__(self, dim: int):
    self.count = 0
    self.mean = np.zeros((dim,), np.float64)
    self._m2 = np.zeros((dim, dim), np.float64)  # sum of centred outer products

  def update(self, batch: np.ndarray) -> None:
    """Adds a batch [n, d] of vectors."""
    batch = np.asarray(batch, np.float64)
    if batch.ndim != 2 or batch.shape[1] != self.mean.shape[0]:
      raise ValueError(f"expected [n, {self.mean.shape[0]}] features, got {batch.shape}")
    n = batch.shape[0]
    if n == 0:
      return
    batch_mean = batch.mean(axis=0)
    centred = batch - batch_mean
    batch_m2 = centred.T @ centred
    total = self.count + n
    delta = batch_mean - self.mean
    # Chan, Golub & LeVeque (1979): merge two (count, mean, M2) summaries.
    self._m2 += batch_m2 + np.outer(delta, delta) * (self.count * n / total)
    self.mean = self.mean + delta * (n / total)
    self.count = total

  def covariance(self) -> np.ndarray:
    """Unbiased covariance [d, d] (divides by count - 1, like np.cov)."""
    if self.count < 2:
      raise ValueError(f"covariance needs at least 2 vectors, got {self.count}")
    return self._m2 / (self.count - 1)

  def result(self) -> tuple[np.ndarray, np.ndarray]:
    """(mean [d], covariance [d, d])."""
    return self.mean.copy(), self.covariance()


def statistics(features: np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance of [n, d] features, computed in float64 batches."""
  features = np.asarray(features)
  stats = RunningStats(features.shape[1])
  for start in range(0, len(features), batch_size):
    stats.update(features[start:start + batch_size])
  return stats.result()


def _psd_eigvals(eigvals: np.ndarray) -> np.ndarray:
  """Eigenvalues of a PSD matrix with rounding noise set to exactly 0.

  Covariances of fewer samples than dimensions are singular; eigh returns
  their zero eigenvalues as +-1e-15-ish noise, and sqrt would blow that up to
  1e-7 per dimension (1e-5 over a null space of 100 dimensions).
  """
  tol = max(float(np.max(np.abs(eigvals), initial=0.0)), 1e-300) * len(eigvals) * np.finfo(
      np.float64).eps
  return np.where(eigvals > tol, eigvals, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric PSD matrix."""
  eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
  return (eigvecs * np.sqrt(_psd_eigvals(eigvals))) @ eigvecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
  """tr((sigma1 sigma2)^1/2) for symmetric PSD matrices, in float64."""
  root1 = _psd_sqrt(np.asarray(sigma1, np.float64))
  inner = root1 @ np.asarray(sigma2, np.float64) @ root1
  eigvals = np.linalg.eigvalsh((inner + inner.T) / 2)
  return float(np.sum(np.sqrt(_psd_eigvals(eigvals))))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

  Args:
    mu1, mu2: [d] means.
    sigma1, sigma2: [d, d] covariances.

  Returns:
    The squared Fréchet (2-Wasserstein) distance, a float >= 0 up to rounding.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
    raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, "
                     f"sigma {sigma1.shape} vs {sigma2.shape}")
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
               - 2.0 * trace_sqrt_product(sigma1, sigma2))


def cached_reference(path: str, compute: Callable[[], dict[str, np.ndarray]]
                     ) -> dict[str, np.ndarray]:
  """Loads reference statistics from `path` (.npz), computing and saving them once.

  Args:
    path: cache file; its name should say dataset, split and feature extractor.
    compute: returns a dict of arrays (e.g. 'mu', 'sigma', 'features') to cache.

  Returns:
    The dict of arrays.
  """
  if os.path.exists(path):
    with np.load(path) as cached:
      return {k: cached[k] for k in cached.files}
  arrays = compute()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  # Write then rename, so a killed run never leaves a truncated cache behind.
  tmp = f"{path}.tmp{os.getpid()}.npz"
  np.savez(tmp, **arrays)
  os.replace(tmp, path)
  return arrays
