"""A small buffer of global device batches, put on the mesh one training call ahead.

`jax.device_put` returns before the copy ends, and a jitted step returns
before it has run: so the loop dispatches call c, then asks for call c+1's
batch (`ahead`), which reads (or takes from grain's workers) the host rows and
starts their transfer to the devices while call c runs. With `size = 2` at
most two batches live on the devices: the one in use and the next.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any


class DevicePrefetch:
  """Device batches keyed by (first step, steps per call), made by `put(step, num)`."""

  def __init__(self, put: Callable[[int, int], Any], size: int = 2):
    if size < 1:
      raise ValueError(f"DevicePrefetch size must be >= 1, got {size}")
    self._put = put
    self.size = size
    self._ready: collections.OrderedDict = collections.OrderedDict()

  def get(self, step: int, num: int):
    """The batch for the call of `num` steps from `step`: prefetched, or made now."""
    key = (step, num)
    if key in self._ready:
      return self._ready.pop(key)
    self._ready.clear()   # a different call than foreseen (e.g. after a resume): start over
    return self._put(step, num)

  def ahead(self, step: int, num: int) -> None:
    """Starts making the batch of the call of `num` steps from `step`, if there is room."""
    key = (step, num)
    if key not in self._ready and len(self._ready) < self.size - 1:
      self._ready[key] = self._put(step, num)
