"""SAGAN self-attention block (Zhang et al., 2019), as used by BigGAN.

theta, phi, g are bias-free 1x1 convolutions to C/8, C/8 and C/2 channels;
phi and g are 2x2 max-pooled (4x fewer keys, the BigGAN memory saving); the
attention output goes through a 1x1 convolution back to C channels and is
added to the input scaled by a learnable `gamma` that starts at 0, so a fresh
block is the identity.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla.nn.layers import Conv


class SelfAttention(nn.Module):
  """x [B, H, W, C] -> x + gamma * attention(x); H and W must be even."""

  spectral_norm: bool = True
  kernel_init: Any = nn.initializers.orthogonal()

  def _conv(self, features: int, name: str):
    return Conv(features, (1, 1), use_bias=False, spectral_norm=self.spectral_norm,
                kernel_init=self.kernel_init, name=name)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Args: x [B, H, W, C] (C divisible by 8); train: update spectral-norm state."""
    batch, height, width, channels = x.shape
    if channels % 8:
      raise ValueError(f"self-attention needs channels divisible by 8, got {channels}")
    pool = lambda t: nn.max_pool(t, (2, 2), strides=(2, 2))
    theta = self._conv(channels // 8, "theta")(x, train)
    phi = pool(self._conv(channels // 8, "phi")(x, train))
    g = pool(self._conv(channels // 2, "g")(x, train))
    theta = theta.reshape(batch, height * width, channels // 8)
    phi = phi.reshape(batch, -1, channels // 8)
    g = g.reshape(batch, -1, channels // 2)
    beta = jax.nn.softmax(jnp.einsum("bqc,bkc->bqk", theta, phi), axis=-1)
    attended = jnp.einsum("bqk,bkc->bqc", beta, g).reshape(batch, height, width, channels // 2)
    out = self._conv(channels, "o")(attended, train)
    gamma = self.param("gamma", nn.initializers.zeros, ())
    return x + gamma * out
