"""Stacked Fashion-MNIST: three independent Fashion-MNIST images as the three channels.

The mode-collapse benchmark of VEEGAN / PacGAN (there on MNIST digits): an
example stacks three training images drawn independently, so the data has
10 x 10 x 10 = 1,000 modes (the class triple), all equally likely. A
generator's coverage is counted by classifying each channel of its samples
(gaxla/evaluate/stacked.py).

Training batches (`StackedSource`) draw each channel from its own reshuffled
stream of the training split, so they are a pure function of (seed, step)
like every other source. Fixed stacked sets for evaluation (`load`) pair
images by seeded permutations of a split. Labels are the mode index
100 * c0 + 10 * c1 + c2 where a labelled set is returned, but the dataset is
unconditional for training (`num_classes` 0): batches carry zero labels.
"""

from __future__ import annotations

import numpy as np

from gaxla.data.pipeline import ArraySource, Source

CHANNELS = 3
NUM_MODES = 10 ** CHANNELS


def mode_index(classes: np.ndarray) -> np.ndarray:
  """[N, 3] per-channel classes -> [N] mode index 100 c0 + 10 c1 + c2."""
  classes = np.asarray(classes)
  return (classes[:, 0] * 100 + classes[:, 1] * 10 + classes[:, 2]).astype(np.int32)


def stack(images: np.ndarray, labels: np.ndarray, count: int,
          seed: int) -> tuple[np.ndarray, np.ndarray]:
  """`count` stacked examples from single-channel `images` [N, H, W, 1] (uint8).

  Channel k takes image perm_k[i mod N] for the k-th seeded permutation; the
  result is (uint8 [count, H, W, 3], int32 mode indices [count]).
  """
  if images.shape[-1] != 1:
    raise ValueError(f"stacking needs single-channel images, got shape {images.shape}")
  rng = np.random.default_rng([seed, 0x57AC])
  picks = np.stack([rng.permutation(len(images))[np.arange(count) % len(images)]
                    for _ in range(CHANNELS)], axis=1)
  stacked = np.concatenate([images[picks[:, k]] for k in range(CHANNELS)], axis=-1)
  return stacked, mode_index(labels[picks])


class StackedSource(Source):
  """Training batches: channel k is an `ArraySource` over the split with its own seed.

  The three streams are independent epoch-reshuffled passes over the same
  images, so every channel sees every image once per epoch and the class
  triple of an example is uniform over the 1,000 modes.
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, n_critic: int,
               seed: int, rows: slice | None = None):
    if images.shape[-1] != 1:
      raise ValueError(f"stacking needs single-channel images, got shape {images.shape}")
    self.channels = [ArraySource(images, labels, batch_size, n_critic,
                                 seed * CHANNELS + k, rows) for k in range(CHANNELS)]

  def batch(self, step: int) -> dict[str, np.ndarray]:
    parts = [source.batch(step) for source in self.channels]
    x = np.concatenate([p["x"] for p in parts], axis=-1)
    return {"x": x, "label": np.zeros(x.shape[:2], np.int32)}
