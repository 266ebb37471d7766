"""Synthetic 2-D Gaussian mixtures, exactly as in PacGAN (Lin et al., 2018).

ring: 8 Gaussians at angles 2*pi*k/8, k = 0..7, on the unit circle, std 0.01.
grid: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05.
Modes are equally likely.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Mixture:
  """An isotropic Gaussian mixture with equal weights."""

  modes: np.ndarray   # [K, 2]
  std: float

  def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
    """Draws `num` points (float32 [num, 2]) from the mixture."""
    which = rng.integers(0, len(self.modes), size=num)
    noise = rng.normal(0.0, self.std, size=(num, 2))
    return (self.modes[which] + noise).astype(np.float32)


def ring() -> Mixture:
  k = np.arange(8)  # 0..7: the first angle is not repeated
  angles = 2 * np.pi * k / 8
  return Mixture(np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01)


def grid() -> Mixture:
  axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
  xx, yy = np.meshgrid(axis, axis, indexing="ij")
  return Mixture(np.stack([xx.ravel(), yy.ravel()], axis=1), 0.05)


MIXTURES = {"ring": ring, "grid": grid}
