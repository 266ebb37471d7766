"""MLP generator and critic for low-dimensional data (the 2-D mixtures)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla.nn import Dense
from gaxla.nn.minibatch import MinibatchDiscrimination, minibatch_stddev
from gaxla.nn.virtual_batch_norm import VirtualBatchNorm, with_reference_batch


class MLPGenerator(nn.Module):
  """z [B, latent] (+ labels) -> points [B, *out_shape]."""

  out_shape: Sequence[int] = (2,)
  num_classes: int = 0        # > 0: class-conditional (label embedding concatenated to z)
  hidden: Sequence[int] = (256, 256, 256)
  spectral_norm: bool = False
  batch_norm: bool = False
  embed_dim: int = 16
  # > 0: virtual batch norm (gaxla/nn/virtual_batch_norm.py) after every hidden
  # layer, statistics from a fixed reference batch of this many latents.
  virtual_batch_norm: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool) -> jax.Array:
    if self.virtual_batch_norm and self.batch_norm:
      raise ValueError("MLP generator: batch_norm and virtual_batch_norm exclude each other; "
                       "set one of them")
    batch = z.shape[0]
    reference = self.virtual_batch_norm
    if reference:
      z, labels = with_reference_batch(z, labels, reference, self.num_classes)
    h = z
    if self.num_classes:
      h = jnp.concatenate([h, nn.Embed(self.num_classes, self.embed_dim)(labels)], -1)
    for width in self.hidden:
      # No bias before a BatchNorm (it would be removed, and its noisy gradient
      # amplified by Adam).
      h = Dense(width, spectral_norm=self.spectral_norm,
                use_bias=not (self.batch_norm or reference))(h, train)
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
      if reference:
        h = VirtualBatchNorm(reference)(h)
      h = nn.relu(h)
    size = 1
    for d in self.out_shape:
      size *= d
    out = Dense(size, spectral_norm=self.spectral_norm)(h, train)[-batch:]
    return out.reshape((batch,) + tuple(self.out_shape))


class MLPCritic(nn.Module):
  """points [B, ...] (+ labels) -> logits [B]. Projection conditioning."""

  num_classes: int = 0
  hidden: Sequence[int] = (256, 256, 256)
  spectral_norm: bool = False
  leaky_slope: float = 0.2
  # > 0: minibatch discrimination (Salimans et al. 2016) with this many kernels
  # of `minibatch_kernel_dim` dims before the output layer (gaxla/nn/minibatch.py).
  minibatch_discrimination: int = 0
  minibatch_kernel_dim: int = 16
  minibatch_stddev: int = 0   # > 0: ProGAN minibatch stddev feature, this group size

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool,
               return_features: bool = False):
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = Dense(width, spectral_norm=self.spectral_norm)(h, train)
      h = nn.leaky_relu(h, self.leaky_slope)
    # Last hidden layer, per example (before any minibatch layer), readable with
    # mutable=['intermediates'] (feature matching).
    self.sow("intermediates", "features", h)
    features = h
    if self.minibatch_stddev:
      h = minibatch_stddev(h, self.minibatch_stddev)
    if self.minibatch_discrimination:
      h = MinibatchDiscrimination(self.minibatch_discrimination, self.minibatch_kernel_dim)(h)
    logits = Dense(1, spectral_norm=self.spectral_norm)(h, train)[:, 0]
    if self.num_classes:
      embed = nn.Embed(self.num_classes, h.shape[-1])(labels)
      logits = logits + jnp.sum(embed * h, axis=-1)
    # return_features: also the sown features (the auxiliary heads of gaxla/heads.py).
    return (logits, features) if return_features else logits
