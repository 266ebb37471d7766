"""Run output: metrics.jsonl, TensorBoard events, and a progress bar or log lines.

Interactive runs (stderr is a terminal) get a tqdm bar with ETA and the latest
losses; otherwise every logged step prints `[step] name = value` lines, which
read well in CI logs and job schedulers. Every logged value also goes to
TensorBoard event files in `workdir/tensorboard/` (tensorboardX: no
TensorFlow needed). Only process 0 writes anything.
"""

from __future__ import annotations

import os
import sys
import time

from gaxla import metrics as names
from gaxla import workdir as workdir_lib


class ProgressLog:
  """Writes metrics to `workdir/metrics.jsonl` and reports progress."""

  def __init__(self, workdir: str | None, num_steps: int, start_step: int,
               show_progress: bool | None = None):
    self.enabled = workdir is not None
    self.workdir = workdir
    if show_progress is None:
      show_progress = sys.stderr.isatty()
    self.bar = None
    self.start = time.time()
    if self.enabled and show_progress:
      from tqdm import tqdm
      self.bar = tqdm(total=num_steps, initial=start_step, unit="step", dynamic_ncols=True)
    self._shown = start_step
    self.tensorboard = None
    self._guards: list[_Guarded] = []
    if self.enabled:
      from tensorboardX import SummaryWriter
      self.tensorboard = SummaryWriter(os.path.join(workdir, "tensorboard"), flush_secs=30)
      for writer in getattr(self.tensorboard, "all_writers", {}).values():
        worker = getattr(writer.event_writer, "_worker", None)
        if worker is not None:
          guard = _Guarded(worker._record_writer)  # noqa: SLF001
          worker._record_writer = guard  # noqa: SLF001
          self._guards.append(guard)

  def write(self, step: int, metrics: dict[str, float]) -> None:
    if not self.enabled:
      return
    workdir_lib.append_record(
        self.workdir, {names.STEP: step, names.TIME: round(time.time() - self.start, 3), **metrics})
    for key, value in metrics.items():
      self.tensorboard.add_scalar(key, value, step)
    if self.bar is not None:
      keys = [k for k in names.PROGRESS_BAR if k in metrics]
      self.bar.set_postfix({names.short_name(k): f"{metrics[k]:.3g}" for k in keys},
                           refresh=False)
    else:
      for key, value in metrics.items():
        print(f"[{step}] {key} = {value:.6g}", flush=True)

  def advance(self, step: int) -> None:
    if self.bar is not None:
      self.bar.update(step - self._shown)
      self._shown = step

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
    if self.tensorboard is not None:
      error = None
      try:
        self.tensorboard.close()
      except OSError as e:  # e.g. a full disk: metrics.jsonl holds the same values
        error = e
        for writer in getattr(self.tensorboard, "all_writers", {}).values():
          _abandon(writer.event_writer)
      # A write the writer thread dropped earlier (then the close itself may succeed).
      error = error or next((g.error for g in self._guards if g.error is not None), None)
      if error is not None:
        from absl import logging
        logging.warning("TensorBoard events in %s/tensorboard were not all written: %s",
                        self.workdir, error.strerror or error)
      self.tensorboard = None


class _Guarded:
  """The events file as tensorboardX's writer thread sees it: a failed write or
  flush (a full disk) drops the rest instead of killing the thread with a
  traceback and is kept in `error`; ProgressLog.close() then warns once
  (metrics.jsonl holds the same values)."""

  def __init__(self, events):
    self.events = events
    self.error: OSError | None = None

  def write_event(self, event) -> None:
    if self.error is None:
      try:
        self.events.write_event(event)
      except OSError as e:
        self.error = e

  def flush(self) -> None:
    if self.error is None:
      try:
        self.events.flush()
      except OSError as e:
        self.error = e

  def close(self) -> None:
    self.events.close()


class _Discard:
  """A record writer that writes nothing (stands in for one on a full disk)."""

  def write_event(self, event) -> None:
    del event

  def flush(self) -> None:
    pass

  def close(self) -> None:
    pass


def _abandon(event_writer) -> None:
  """Stops a tensorboardX EventFileWriter whose close() failed, without more writes.

  Its close() raised in the final flush, before stopping its writer thread: that
  thread would block on a queue that interpreter exit closes under it (a thread
  traceback), and tensorboardX would retry the flush at exit (another).
  """
  worker = getattr(event_writer, "_worker", None)
  if worker is not None and worker.is_alive():
    worker._record_writer = _Discard()  # noqa: SLF001
    worker.stop()  # queues its shutdown signal and joins it
  events = getattr(event_writer, "_ev_writer", None)
  file = getattr(getattr(events, "_py_recordio_writer", None), "_writer", None)
  if file is not None:
    try:
      file.close()  # what it still buffers is lost either way; the handle is freed
    except OSError:
      pass
  event_writer._ev_writer = _Discard()  # noqa: SLF001
  event_writer._closed = True  # noqa: SLF001
