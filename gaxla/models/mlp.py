"""MLP generator and critic for low-dimensional data (the 2-D mixtures)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla.nn import Dense


class MLPGenerator(nn.Module):
  """z [B, latent] (+ labels) -> points [B, *out_shape]."""

  out_shape: Sequence[int] = (2,)
  num_classes: int = 0        # > 0: class-conditional (label embedding concatenated to z)
  hidden: Sequence[int] = (256, 256, 256)
  spectral_norm: bool = False
  batch_norm: bool = False
  embed_dim: int = 16

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool) -> jax.Array:
    h = z
    if self.num_classes:
      h = jnp.concatenate([h, nn.Embed(self.num_classes, self.embed_dim)(labels)], -1)
    for width in self.hidden:
      # No bias before a BatchNorm (it would be removed, and its noisy gradient
      # amplified by Adam).
      h = Dense(width, spectral_norm=self.spectral_norm, use_bias=not self.batch_norm)(h, train)
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
      h = nn.relu(h)
    size = 1
    for d in self.out_shape:
      size *= d
    out = Dense(size, spectral_norm=self.spectral_norm)(h, train)
    return out.reshape((z.shape[0],) + tuple(self.out_shape))


class MLPCritic(nn.Module):
  """points [B, ...] (+ labels) -> logits [B]. Projection conditioning."""

  num_classes: int = 0
  hidden: Sequence[int] = (256, 256, 256)
  spectral_norm: bool = False
  leaky_slope: float = 0.2

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool) -> jax.Array:
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = Dense(width, spectral_norm=self.spectral_norm)(h, train)
      h = nn.leaky_relu(h, self.leaky_slope)
    # Last hidden layer, readable with mutable=['intermediates'] (feature matching).
    self.sow("intermediates", "features", h)
    logits = Dense(1, spectral_norm=self.spectral_norm)(h, train)[:, 0]
    if self.num_classes:
      embed = nn.Embed(self.num_classes, h.shape[-1])(labels)
      logits = logits + jnp.sum(embed * h, axis=-1)
    return logits
