"""Deterministic batching: the batch for step `s` is a pure function of (seed, s).

That makes the iterator position the step number itself, so resuming a run
at step s reproduces exactly the batches a straight run would have seen, on
any number of devices.

Every source returns, for one generator step, a dict of NumPy arrays with a
leading axis of `n_critic` (one real batch per critic update):
  'x':     float32 [n_critic, batch, *example_shape], images in [-1, 1]
  'label': int32   [n_critic, batch] (zeros for unlabelled data)

With `rows` (a slice of the global batch), a source returns only those rows
of each update's batch: on a multi-host run each process reads just its own
rows (`gaxla.parallel.process_rows`), and the rows of all processes together
are exactly the single-process batch.
"""

from __future__ import annotations

import numpy as np

from gaxla.data import pixels
from gaxla.data.mixtures import Mixture


def stacked_batches(source, step: int, num: int) -> dict[str, np.ndarray]:
  """The batches of steps step .. step + num - 1, stacked on a new leading axis.

  What `GANSystem.train_steps` takes: 'x' is [num, n_critic, batch, ...].
  Each slice is exactly `source.batch(step + i)`.
  """
  batches = [source.batch(s) for s in range(step, step + num)]
  return {key: np.stack([b[key] for b in batches]) for key in batches[0]}


class Source:
  """What the training loop asks of every data source.

  `batch(step)` is required. Sources that keep iterator state (the grain
  pipeline, gaxla/data/grain_pipeline.py) override `state` / `restore`, and
  those that own worker processes override `close`; for the pure-function
  sources here they have nothing to do.
  """

  def batch(self, step: int) -> dict[str, np.ndarray]:
    raise NotImplementedError

  def state(self, step: int) -> dict | None:
    """JSON-able state from which `batch(step)` comes next; None: the step says it all."""
    return None

  def restore(self, state: dict | None, step: int) -> bool:
    """Resumes from `state()` saved at `step`; True when it was used."""
    return False

  def close(self) -> None:
    """Releases workers, if any."""


class MixtureSource(Source):
  """Fresh samples from a 2-D mixture for every step."""

  def __init__(self, mixture: Mixture, batch_size: int, n_critic: int, seed: int,
               rows: slice | None = None):
    self.mixture = mixture
    self.batch_size = batch_size
    self.n_critic = n_critic
    self.seed = seed
    self.rows = slice(0, batch_size) if rows is None else rows

  def batch(self, step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, step])
    points = self.mixture.sample(rng, self.n_critic * self.batch_size)
    points = points.reshape(self.n_critic, self.batch_size, 2)[:, self.rows]
    return {"x": points, "label": np.zeros(points.shape[:2], np.int32)}


class ArraySource(Source):
  """Batches from in-memory arrays, reshuffled every epoch.

  Example positions are numbered globally: position p is example
  perm_e[p mod N] of epoch e = p div N, where perm_e is a permutation drawn from
  (seed, e). A batch that crosses an epoch boundary takes the end of one epoch
  and the start of the next; no example is dropped.
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int,
               n_critic: int, seed: int, rows: slice | None = None):
    if images.dtype != np.uint8:
      raise ValueError(f"ArraySource expects uint8 images, got {images.dtype}")
    self.images = images
    self.labels = labels.astype(np.int32)
    self.batch_size = batch_size
    self.n_critic = n_critic
    self.seed = seed
    self.rows = slice(0, batch_size) if rows is None else rows
    self._perms: dict[int, np.ndarray] = {}

  def _perm(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      if len(self._perms) > 4:
        self._perms.clear()
      rng = np.random.default_rng([self.seed, epoch, 0x5EED])
      self._perms[epoch] = rng.permutation(len(self.images))
    return self._perms[epoch]

  def indices(self, step: int) -> np.ndarray:
    per_step = self.n_critic * self.batch_size
    positions = np.arange(step * per_step, (step + 1) * per_step, dtype=np.int64)
    n = len(self.images)
    epochs, offsets = positions // n, positions % n
    out = np.empty_like(positions)
    for epoch in np.unique(epochs):
      sel = epochs == epoch
      out[sel] = self._perm(int(epoch))[offsets[sel]]
    return out

  def batch(self, step: int) -> dict[str, np.ndarray]:
    idx = self.indices(step).reshape(self.n_critic, self.batch_size)[:, self.rows]
    images = pixels.to_model(self.images[idx])
    return {"x": images, "label": self.labels[idx]}
