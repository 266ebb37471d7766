"""Batch normalization for GAN generators: plain BN and class-conditional BN.

`BatchNorm` is written out here (rather than `flax.linen.BatchNorm`) for one
reason: standing statistics. In training mode it `sow`s the batch mean and
variance it normalized with into the `batch_moments` collection, which costs
nothing unless a caller asks for that collection as mutable. The standing-
statistics pass (`gaxla.sample.standing_statistics`) does, averages the moments
over many latent batches and writes them into `batch_stats`.

Running statistics live in `batch_stats` (the same collection as the spectral-
norm state), so the train step, which applies G with `batch_stats` mutable,
updates them without knowing about them. Training mode normalizes with the
statistics of the array it sees; the step sees the global batch, so this is
cross-replica BatchNorm without any collective written here.

`ConditionalBatchNorm` is BigGAN's CBN: BN without its own affine transform,
followed by a per-example gain `1 + W_g c` and bias `W_b c`, where `c` is a
conditioning vector (shared class embedding, optionally concatenated with a
latent chunk) and W_g, W_b are bias-free, spectrally normalized linear maps
(BigGAN-PyTorch `ccbn` with `which_linear=SNLinear(bias=False)`). Given integer
labels instead of a vector it uses per-class gain/bias embeddings (SNGAN's
conditional BN, BigGAN-PyTorch without `G_shared`).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla.nn.layers import Dense

BATCH_MOMENTS = "batch_moments"
"""Collection where training-mode BatchNorm leaves the moments it used."""


def _keep_latest(_, new):
  return new


class BatchNorm(nn.Module):
  """BatchNorm over all axes but the last, with optional affine scale/bias.

  Variables: batch_stats/{mean, var} (running averages, updated in training
  mode when `batch_stats` is mutable); params/{scale, bias} when `use_affine`.
  """

  use_affine: bool = True
  momentum: float = 0.9     # PyTorch's momentum 0.1
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Normalizes `x` [..., C] with batch (train) or running (eval) statistics."""
    features = x.shape[-1]
    running_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
    running_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)
    if train:
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x, axes)
      # Biased variance, as PyTorch normalizes with (and as we average for standing stats).
      var = jnp.mean(jnp.square(x - mean), axes)
      self.sow(BATCH_MOMENTS, "mean", mean, init_fn=lambda: None, reduce_fn=_keep_latest)
      self.sow(BATCH_MOMENTS, "var", var, init_fn=lambda: None, reduce_fn=_keep_latest)
      if not self.is_initializing() and self.is_mutable_collection("batch_stats"):
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1 - self.momentum) * var
    else:
      mean, var = running_mean.value, running_var.value
    y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
    if self.use_affine:
      y = y * self.param("scale", nn.initializers.ones, (features,))
      y = y + self.param("bias", nn.initializers.zeros, (features,))
    return y


class ConditionalBatchNorm(nn.Module):
  """BN without affine, then per-example gain `1 + g(cond)` and bias `b(cond)`.

  `cond` is either a float vector [B, D] (gain and bias are bias-free linear
  maps, spectrally normalized when `spectral_norm`) or int labels [B] (gain and
  bias are per-class embeddings initialized to zero, so the layer starts as
  plain BN; needs `num_classes`).
  """

  spectral_norm: bool = True
  num_classes: int = 0
  momentum: float = 0.9
  epsilon: float = 1e-5
  kernel_init: Any = nn.initializers.orthogonal()

  @nn.compact
  def __call__(self, x: jax.Array, cond: jax.Array, train: bool) -> jax.Array:
    """Args: x [B, ..., C]; cond [B, D] float or [B] int; train: batch stats.

    Returns:
      Normalized, class-scaled and shifted x (same shape).
    """
    features = x.shape[-1]
    h = BatchNorm(use_affine=False, momentum=self.momentum, epsilon=self.epsilon,
                  name="bn")(x, train)
    if jnp.issubdtype(cond.dtype, jnp.integer):
      if not self.num_classes:
        raise ValueError("ConditionalBatchNorm got int labels but num_classes is 0")
      gain = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                      name="gain")(cond)
      bias = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                      name="bias")(cond)
    else:
      gain = Dense(features, spectral_norm=self.spectral_norm, use_bias=False,
                   kernel_init=self.kernel_init, name="gain")(cond, train)
      bias = Dense(features, spectral_norm=self.spectral_norm, use_bias=False,
                   kernel_init=self.kernel_init, name="bias")(cond, train)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return h * (1.0 + gain.reshape(shape)) + bias.reshape(shape)
