"""The one pixel convention: uint8 [0, 255] on disk, float32 [-1, 1] in models.

Every dataset, evaluator and sample writer converts through these two
functions, so the mapping (and its rounding) is defined once.
"""

from __future__ import annotations

import numpy as np


def to_model(pixels) -> np.ndarray:
  """uint8 (or integer-valued) pixels in [0, 255] -> float32 in [-1, 1]."""
  return np.asarray(pixels).astype(np.float32) / 127.5 - 1.0


def to_uint8(images) -> np.ndarray:
  """Model outputs in [-1, 1] -> uint8 pixels (clipped, rounded to nearest)."""
  return np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
