"""The grain input pipeline for streamed image datasets (CIFAR-10, ImageNet, a prepared folder).

  data source (tfds ArrayRecord `data_source`, or the folder's ArrayRecord shards)
    -> .shuffle(seed).repeat()      global example order: seeded, reshuffled every epoch
    -> .map(crop/resize)            centre crop on the long edge, resize to data.image_size
    -> .random_map(flip)            optional horizontal flip (data.random_flip), seeded
    -> this process's rows          of every global batch (its grain `ShardOptions`)
    -> .batch(n_critic * rows)      one generator step's real batches
    -> .to_iter_dataset()
    -> .mp_prefetch(workers)        read + decode in `data.workers` processes, ahead

Everything up to the batch is a grain `MapDataset`: reading the data source
(tfds and the folder records decode the stored PNG/JPEG on access), cropping
and flipping run lazily in whichever process asks for the element, i.e. in the
worker processes when `data.workers > 0`.

Determinism. Global example position p (step s, critic update k, row r of the
global batch B: p = (s * n_critic + k) * B + r) is a pure function of (seed,
p); so is its flip (drawn from the position, before the process split). A
process with grain `ShardOptions(shard_index=i, shard_count=n)` reads rows
[i B/n, (i+1) B/n) of every global batch: the rows of all processes together
are exactly the one-process batch, whatever n (grain's own record sharding,
`IndexSampler(shard_options=...)`, gives each process a disjoint subset of the
records instead, so the data would depend on the process count). The default
is `ShardByJaxProcess()`; tests simulate other processes by passing
`ShardOptions` directly.

Checkpointing. `state()` is the grain iterator's `get_state()` (plus the step
the iterator was started at) for the next step to be produced; gaxla stores it
as JSON in the step's orbax checkpoint (gaxla/checkpoint.py, item 'data') and
`restore(state)` resumes the iterator with `set_state`, so a resumed run reads
exactly the batches an uninterrupted one would. Because batches are a pure
function of (seed, step), `batch(step)` for any other step simply restarts the
iterator there (also the fallback for a checkpoint without the item, or one
written with a different worker count, whose state layout differs).

Worker processes are spawned: scripts that train need an
`if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import grain
import numpy as np

from gaxla.data.pipeline import Source

_HORIZON = 1 << 40  # steps the pipeline may run ahead to; it stops where training stops
_STATES_KEPT = 8    # iterator states remembered for steps already handed out (device prefetch)


class _CropResize:
  """record -> (uint8 [size, size, C] image, int32 label). A class: workers unpickle it."""

  def __init__(self, size: int, image_key: str, label_key: str):
    self.size, self.image_key, self.label_key = size, image_key, label_key

  def __call__(self, record):
    from gaxla.data.tfds_images import center_crop_resize
    image = center_crop_resize(np.asarray(record[self.image_key]), self.size)
    return image, np.int32(record[self.label_key])


class _Flip:
  """Horizontal flip with probability 1/2, from the rng grain derives from (seed, position)."""

  def __call__(self, element, rng: np.random.Generator):
    image, label = element
    return (image[:, ::-1] if rng.random() < 0.5 else image), label


class _Stack:
  """A step's list of (image, label) -> {'x': uint8 [n_critic, rows, ...], 'label'}."""

  def __init__(self, n_critic: int, rows: int):
    self.n_critic, self.rows = n_critic, rows

  def __call__(self, batch):
    images, labels = batch
    return {"x": images.reshape((self.n_critic, self.rows) + images.shape[1:]),
            "label": labels.reshape(self.n_critic, self.rows)}


def _process_rows(batch_size: int, shard_options) -> slice:
  count, index = int(shard_options.shard_count), int(shard_options.shard_index)
  if batch_size % count:
    raise ValueError(f"batch_size {batch_size} does not split over {count} processes: "
                     "set batch_size to a multiple of the process count")
  per = batch_size // count
  return slice(index * per, (index + 1) * per)


class _ProcessRows(grain.MapDataset):
  """`parent`'s elements at this process's rows of every global batch of `batch_size`."""

  def __init__(self, parent, batch_size: int, rows: slice):
    super().__init__(parent)
    self._batch, self._start, self._per = batch_size, rows.start, rows.stop - rows.start

  def __len__(self):
    return _HORIZON

  def __str__(self):
    return f"ProcessRows(batch={self._batch}, rows={self._start}:{self._start + self._per})"

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    batch, row = divmod(index, self._per)
    return self._parent[batch * self._batch + self._start + row]


class GrainPipeline(Source):
  """Training batches of a random-access image source through grain (see the module doc).

  `batch(step)` returns {'x': float32 [n_critic, rows, size, size, C] in
  [-1, 1], 'label': int32 [n_critic, rows]}, the same interface as the other
  sources in gaxla/data/pipeline.py.
  """

  def __init__(self, records, size: int, batch_size: int, n_critic: int, seed: int,
               rows: slice | None = None, shard_options=None, workers: int = 0,
               random_flip: bool = False, buffer_size: int = 2,
               image_key: str = "image", label_key: str = "label"):
    """Builds the pipeline; worker processes start at the first `batch`.

    Args:
      records: random-access source (`len`, `[i] -> {'image', 'label'}`).
      size: side of the square training images.
      batch_size: the global batch per critic update.
      n_critic: critic updates per generator step.
      seed: the run seed (its low 32 bits seed grain's shuffle and flips).
      rows: this process's rows of each global batch; default from `shard_options`.
      shard_options: grain `ShardOptions` naming this process; default
        `ShardByJaxProcess()`.
      workers: decoding processes (0: in this process).
      random_flip: flip each image horizontally with probability 1/2.
      buffer_size: batches each worker keeps ready.
    """
    if workers < 0:
      raise ValueError(f"workers must be >= 0, got {workers}")
    if rows is None:
      rows = _process_rows(batch_size, shard_options or grain.sharding.ShardByJaxProcess())
    self.records, self.size = records, size
    self.batch_size, self.n_critic, self.seed = batch_size, n_critic, seed
    self.rows, self.workers, self.random_flip = rows, int(workers), bool(random_flip)
    self.buffer_size = int(buffer_size)
    seed32 = int(seed) % (1 << 32)
    ds = grain.MapDataset.source(records).shuffle(seed=seed32).repeat()
    ds = ds.map(_CropResize(size, image_key, label_key))
    if self.random_flip:
      # Before the process split: the flip belongs to the global position.
      ds = ds.random_map(_Flip(), seed=(seed32 + 0x5EED) % (1 << 32))
    local = rows.stop - rows.start
    ds = _ProcessRows(ds, batch_size, rows)
    self._steps = ds.batch(n_critic * local, drop_remainder=True).map(_Stack(n_critic, local))
    self._iterator = None
    self._start_step = 0    # the step the current iterator began at
    self._next_step = None  # the step its next element belongs to
    self._states: dict[int, dict] = {}

  def _begin(self, step: int, iterator_state: dict | None = None) -> None:
    from absl import flags
    if not flags.FLAGS.is_parsed():  # grain reads its absl flags; outside `gaxla` use defaults
      flags.FLAGS.mark_as_parsed()
    self.close()
    dataset = self._steps[step:].to_iter_dataset()
    if self.workers:
      dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(
          num_workers=self.workers, per_worker_buffer_size=self.buffer_size))
    self._iterator = iter(dataset)
    self._start_step = step
    self._next_step = step
    self._states = {}
    if iterator_state is not None:
      self._iterator.set_state(iterator_state)

  def uint8_batch(self, step: int) -> dict[str, np.ndarray]:
    """`batch(step)` before scaling to [-1, 1]."""
    if self._iterator is None or step != self._next_step:
      self._begin(step)
    if len(self._states) >= _STATES_KEPT:
      self._states.pop(min(self._states))
    self._states[step] = self._iterator.get_state()
    out = next(self._iterator)
    self._next_step += 1
    return out

  def batch(self, step: int) -> dict[str, np.ndarray]:
    from gaxla.data.tfds_images import to_float
    return to_float(self.uint8_batch(step))

  def state(self, step: int) -> dict:
    """JSON-able pipeline state from which `batch(step)` comes next (what a checkpoint keeps).

    `step` is the next one to train; it may lie a few steps behind the
    iterator when batches were fetched ahead (device prefetch).
    """
    if self._iterator is not None and step == self._next_step:
      iterator_state = self._iterator.get_state()
    elif step in self._states:
      iterator_state = self._states[step]
    else:   # never read this far: the position alone says where to start
      return {"step": step, "start_step": step, "workers": self.workers, "iterator": None}
    return {"step": step, "start_step": self._start_step, "workers": self.workers,
            "iterator": iterator_state}

  def restore(self, state: dict | None, step: int) -> bool:
    """Resumes the grain iterator from `state()` saved at `step`; True when it was used.

    A state for another step, or from a different worker count (grain's state
    layout differs), is not used: `batch(step)` then restarts at the step,
    which gives the same batches.
    """
    if (not state or state.get("step") != step or state.get("workers") != self.workers
        or state.get("iterator") is None):
      return False
    self._begin(int(state["start_step"]), state["iterator"])
    self._next_step = step
    return True

  def close(self) -> None:
    """Stops the worker processes (also when garbage-collected)."""
    iterator, self._iterator = self._iterator, None
    if iterator is not None and hasattr(iterator, "close"):
      iterator.close()
