"""scikit-learn's bundled `digits`: 1,797 8x8 grey images of 10 digits.

It ships inside the scikit-learn wheel, so the quick start trains on real
images with no download. Pixel values 0..16 are mapped to 0..255.
"""

from __future__ import annotations

import numpy as np


def load() -> tuple[np.ndarray, np.ndarray]:
  """Returns (images uint8 [1797, 8, 8, 1], labels int32 [1797])."""
  from sklearn.datasets import load_digits  # imported lazily: slow import
  digits = load_digits()
  images = np.round(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
  return images[..., None], digits.target.astype(np.int32)
