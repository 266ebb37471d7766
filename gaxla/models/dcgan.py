"""DCGAN generator and critic (Radford et al., 2016) for small images.

Resolutions whose side halves down to at most 7 work: 8, 16, 28 (7x7 base),
32 (4x4 base), 64. Class conditioning: a label embedding concatenated to z in
G; in D either a projection (Miyato & Koyama, 2018: logit += <embed(y), h>)
or concatenation of one-hot label planes to the input image.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla.nn import Conv, ConvTranspose, Dense
from gaxla.nn.minibatch import MinibatchDiscrimination, minibatch_stddev
from gaxla.nn.virtual_batch_norm import VirtualBatchNorm, with_reference_batch


def _num_halvings(side: int) -> int:
  """How many stride-2 stages take `side` down to a base of at most 7."""
  n, halved = 0, side
  while halved > 7:
    if halved % 2:
      # The config's value, not the odd intermediate, is what the user can change.
      raise ValueError(f"DCGAN needs an image side that halves down to <= 7 (e.g. 8, 16, 28, "
                       f"32, 64), got {side}" + (f" (halves to {halved}, which is odd)"
                                                if halved != side else "") +
                       ": set data.image_size to one of those.")
    halved //= 2
    n += 1
  return n


class DCGANGenerator(nn.Module):
  """z [B, latent] (+ labels) -> images [B, H, W, C] in [-1, 1] (tanh)."""

  out_shape: Sequence[int] = (32, 32, 3)
  num_classes: int = 0
  base_channels: int = 64     # channels of the last hidden stage; doubled per stage down
  embed_dim: int = 32
  spectral_norm: bool = False
  # 'transpose': 4x4 stride-2 transposed convolutions (the DCGAN paper).
  # 'nearest': nearest-neighbour 2x upsampling then a 3x3 convolution; same
  # receptive field, no checkerboard artifacts, and ~3x faster on XLA:CPU
  # (fwd+bwd of one 7->14 stage at batch 64: 183 ms vs 56 ms, 2-core CPU).
  upsample: str = "transpose"
  # > 0: virtual batch norm (Salimans et al. 2016) instead of BatchNorm, with
  # statistics from a fixed reference batch of this many latents
  # (gaxla/nn/virtual_batch_norm.py); G then has no batch statistics.
  virtual_batch_norm: int = 0

  def _norm(self, h: jax.Array, train: bool) -> jax.Array:
    if self.virtual_batch_norm:
      return VirtualBatchNorm(self.virtual_batch_norm)(h)
    return nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)

  def _up(self, h: jax.Array, features: int, train: bool, use_bias: bool) -> jax.Array:
    if self.upsample == "transpose":
      return ConvTranspose(features, (4, 4), (2, 2), spectral_norm=self.spectral_norm,
                           use_bias=use_bias)(h, train)
    if self.upsample == "nearest":
      # Computed at low resolution on CPU (gaxla.nn.Conv `upsample`); same parameters.
      return Conv(features, (3, 3), spectral_norm=self.spectral_norm, use_bias=use_bias,
                  upsample=True)(h, train)
    raise ValueError(f"generator upsample must be 'transpose' or 'nearest', got {self.upsample!r}")

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool) -> jax.Array:
    height, _, channels = self.out_shape
    stages = _num_halvings(height)
    base = height // (2 ** stages)
    batch = z.shape[0]
    if self.virtual_batch_norm:
      z, labels = with_reference_batch(z, labels, self.virtual_batch_norm, self.num_classes)
    h = z
    if self.num_classes:
      h = jnp.concatenate([h, nn.Embed(self.num_classes, self.embed_dim)(labels)], -1)
    width = self.base_channels * 2 ** max(stages - 1, 0)
    # No bias before a BatchNorm: BN removes it, so its gradient is pure
    # rounding noise that Adam would amplify into lr-sized random steps.
    h = Dense(base * base * width, spectral_norm=self.spectral_norm, use_bias=False)(h, train)
    h = h.reshape(z.shape[0], base, base, width)
    h = nn.relu(self._norm(h, train))
    for stage in range(stages - 1):
      width = self.base_channels * 2 ** (stages - 2 - stage)
      h = self._up(h, width, train, use_bias=False)
      h = nn.relu(self._norm(h, train))
    if stages:
      h = self._up(h, channels, train, use_bias=True)
    else:
      h = Conv(channels, (3, 3), spectral_norm=self.spectral_norm)(h, train)
    return jnp.tanh(h[-batch:])


class DCGANCritic(nn.Module):
  """images [B, H, W, C] (+ labels) -> logits [B]."""

  num_classes: int = 0
  base_channels: int = 64
  spectral_norm: bool = True
  conditioning: str = "projection"   # or 'concat'
  leaky_slope: float = 0.2
  # BatchNorm on every conv but the first, as in the DCGAN paper's D. The step
  # then runs real and fake batches through D separately (the paper's
  # separate real/fake batches), so BN never mixes their statistics.
  batch_norm: bool = False
  # > 0: minibatch discrimination (Salimans et al. 2016) with this many kernels
  # of `minibatch_kernel_dim` dims on the flattened features (gaxla/nn/minibatch.py).
  minibatch_discrimination: int = 0
  minibatch_kernel_dim: int = 16
  minibatch_stddev: int = 0   # > 0: ProGAN minibatch stddev channel before the head, group size

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool,
               return_features: bool = False):
    if self.conditioning not in ("projection", "concat"):
      raise ValueError(
          f"critic conditioning must be 'projection' or 'concat', got {self.conditioning!r}")
    h = x
    if self.num_classes and self.conditioning == "concat":
      planes = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)
      planes = jnp.broadcast_to(planes[:, None, None, :], x.shape[:3] + (self.num_classes,))
      h = jnp.concatenate([h, planes], -1)
    stages = max(_num_halvings(x.shape[1]), 1)
    for stage in range(stages):
      normed = self.batch_norm and stage > 0
      h = Conv(self.base_channels * 2 ** stage, (4, 4), (2, 2),
               spectral_norm=self.spectral_norm, use_bias=not normed)(h, train)
      if normed:
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
      h = nn.leaky_relu(h, self.leaky_slope)
    # Flattened last conv features, per example (before any minibatch layer), readable with
    # mutable=['intermediates'] (feature matching).
    features = h.reshape(h.shape[0], -1)
    self.sow("intermediates", "features", features)
    if self.minibatch_stddev:
      h = minibatch_stddev(h, self.minibatch_stddev)
    h = h.reshape(h.shape[0], -1)
    if self.minibatch_discrimination:
      h = MinibatchDiscrimination(self.minibatch_discrimination, self.minibatch_kernel_dim)(h)
    logits = Dense(1, spectral_norm=self.spectral_norm)(h, train)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      embed = nn.Embed(self.num_classes, h.shape[-1])(labels)
      logits = logits + jnp.sum(embed * h, axis=-1)
    # return_features: also the sown features (the auxiliary heads of gaxla/heads.py).
    return (logits, features) if return_features else logits
