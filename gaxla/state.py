"""The GAN training state: one pytree holding everything a step changes.

GANState
  step          int32 scalar, generator updates done so far
  g, d          Player: params, other Flax collections (BatchNorm statistics,
                spectral-norm `u`/`sigma` in 'batch_stats'), optax state
  g_ema_params  exponential moving average of the generator params
  rng           uint32 key data; the step folds the step number into it
  history       None, or a dict of regularizer running state (gaxla/objectives.py):
                'g'/'d': {'mean', 'count'}, running means of past params for
                historical averaging; 'lecam': {'real', 'fake'}, moving
                averages of the critic's mean logits (LeCam's anchors)

Optax transformations and Flax modules are not pytrees; they live in the
`GANSystem` (see system.py) that builds and runs the step.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class Player:
  """One side of the game (generator or critic)."""

  params: Any
  collections: Any      # dict of non-'params' Flax collections, e.g. {'batch_stats': ...}
  opt_state: Any

  def variables(self, params=None) -> dict:
    """Flax variables for `apply`, optionally with substitute params."""
    return {"params": self.params if params is None else params, **self.collections}


@flax.struct.dataclass
class GANState:
  step: jax.Array
  g: Player
  d: Player
  g_ema_params: Any
  rng: jax.Array
  history: Any = None

  def ema_generator_variables(self) -> dict:
    """Generator variables with EMA params (BatchNorm stats from the raw G)."""
    return self.g.variables(self.g_ema_params)
