"""Decoding in grain worker processes, ahead of the step, without changing any batch.

`WorkerSource(source, workers)` wraps a source whose `batch(step)` is a pure
function of (seed, step) (e.g. `TfdsImageSource` over CIFAR-10, ImageNet or a
prepared folder: read, decode, crop, resize). It builds the grain pipeline

  MapDataset.range(step, ...) -> map(source.batch) -> to_iter_dataset()
      -> mp_prefetch(num_workers = workers)

so whole batches are read and decoded in `workers` processes, several steps
ahead, and handed back in step order. Because every batch is still
`source.batch(step)`, the batches are exactly those of the unwrapped source:
the same on any number of workers, the rows of several processes together
are the single-process batch (each process wraps its own `rows`), and a
resumed run (or any out-of-order request) restarts the pipeline at that step
and sees the same batches. The iterator position is the step number in the
checkpoint: nothing else needs saving.

`data.workers` sets the worker count (0 = decode in the training process,
as before). Worker processes are spawned: scripts that train need an
`if __name__ == "__main__":` guard.
"""

from __future__ import annotations

_HORIZON = 1 << 40  # steps the pipeline may run ahead to; it stops where training stops


class WorkerSource:
  """`batch(step)` of `source`, computed ahead by grain worker processes."""

  def __init__(self, source, workers: int, buffer_size: int = 2):
    if workers < 1:
      raise ValueError(f"WorkerSource needs workers >= 1, got {workers}")
    self.source = source
    self.workers = int(workers)
    self.buffer_size = int(buffer_size)
    self._iterator = None
    self._next_step = None

  def __getattr__(self, name):
    # batch_size, n_critic, rows, ... of the wrapped source.
    if name == "source":
      raise AttributeError(name)
    return getattr(self.source, name)

  def _start(self, step: int) -> None:
    import grain
    from absl import flags
    if not flags.FLAGS.is_parsed():  # grain reads its absl flags; outside `gaxla` use defaults
      flags.FLAGS.mark_as_parsed()
    self.close()
    # Workers send uint8 batches where the source has them (4x fewer bytes
    # through shared memory); they are scaled to float here, as `batch` does.
    fn = getattr(self.source, "uint8_batch", self.source.batch)
    dataset = grain.MapDataset.range(step, _HORIZON).map(fn).to_iter_dataset()
    options = grain.MultiprocessingOptions(num_workers=self.workers,
                                           per_worker_buffer_size=self.buffer_size)
    self._iterator = iter(dataset.mp_prefetch(options))
    self._next_step = step

  def batch(self, step: int):
    if self._iterator is None or step != self._next_step:
      self._start(step)
    out = next(self._iterator)
    self._next_step += 1
    if hasattr(self.source, "uint8_batch"):
      from gaxla.data.tfds_images import to_float
      out = to_float(out)
    return out

  def close(self) -> None:
    """Stops the worker processes (also when garbage-collected)."""
    iterator, self._iterator = self._iterator, None
    if iterator is not None and hasattr(iterator, "close"):
      iterator.close()
