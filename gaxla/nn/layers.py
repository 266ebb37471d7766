"""Layers with optional spectral normalization.

Spectral normalization uses Flax Linen's `nn.SpectralNorm`: the raw weight stays
the trainable parameter and the power-iteration vector `u` and the estimate
`sigma` live in the `batch_stats` collection, so they travel in the state pytree
and are only updated when `train=True` (the caller applies with
`mutable=['batch_stats']`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _maybe_sn(layer: nn.Module, x: jax.Array, spectral_norm: bool, train: bool):
  if spectral_norm:
    return nn.SpectralNorm(layer)(x, update_stats=train)
  return layer(x)


class Dense(nn.Module):
  """`nn.Dense`, spectrally normalized when `spectral_norm` is set."""

  features: int
  spectral_norm: bool = False
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    layer = nn.Dense(self.features, use_bias=self.use_bias, kernel_init=self.kernel_init)
    return _maybe_sn(layer, x, self.spectral_norm, train)


def upsample_nearest(x: jax.Array) -> jax.Array:
  """2x nearest-neighbour upsampling of NHWC images (F.interpolate(scale_factor=2))."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _phase_kernels(kernel: jax.Array, axis: int) -> tuple[jax.Array, jax.Array]:
  """A 3-tap kernel along `axis` -> the 2-tap kernels of the even and odd output phases.

  After 2x nearest upsampling, output row 2p reads low-res rows p-1, p, p
  (taps 0, 1, 2) and row 2p+1 reads p, p, p+1: so the even phase is a 2-tap
  kernel [w0, w1 + w2] at offsets (-1, 0) and the odd one [w0 + w1, w2] at (0, +1).
  """
  w0, w1, w2 = jnp.split(kernel, 3, axis)
  return jnp.concatenate([w0, w1 + w2], axis), jnp.concatenate([w0 + w1, w2], axis)


def nearest_upsample_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`conv3x3(upsample_nearest(x), kernel)` ('SAME' padding), computed at low resolution.

  Each of the four output phases (row and column parity) is a 2x2 convolution
  of the low-resolution input with summed taps of the 3x3 kernel, so the work
  is 16 instead of 36 multiply-adds per input pixel and channel pair, and the
  upsampled input is never built. Equal to the direct form up to float
  rounding (tests/test_layers.py); BENCHMARKS.md has the speed-up on XLA:CPU.

  Args:
    x: [B, H, W, C_in] images.
    kernel: [3, 3, C_in, C_out] (HWIO), as `nn.Conv` stores it.

  Returns:
    [B, 2H, 2W, C_out].
  """
  batch, height, width, _ = x.shape
  outs = []
  for row, row_kernel in enumerate(_phase_kernels(kernel, 0)):
    for col, phase_kernel in enumerate(_phase_kernels(row_kernel, 1)):
      padding = ((1, 0) if row == 0 else (0, 1), (1, 0) if col == 0 else (0, 1))
      outs.append(jax.lax.conv_general_dilated(
          x, phase_kernel.astype(x.dtype), (1, 1), padding,
          dimension_numbers=("NHWC", "HWIO", "NHWC")))
  channels = outs[0].shape[-1]
  y = jnp.stack(outs).reshape(2, 2, batch, height, width, channels)
  return y.transpose(2, 3, 0, 4, 1, 5).reshape(batch, 2 * height, 2 * width, channels)


class _NearestUpsampleConv(nn.Module):
  """A 3x3 'SAME' conv of the 2x nearest-upsampled input, with `nn.Conv`'s parameters.

  Same parameter names, shapes and initializers as `nn.Conv(features, (3, 3))`,
  so the two are interchangeable in a checkpoint and under `nn.SpectralNorm`.
  """

  features: int
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (3, 3, x.shape[-1], self.features))
    y = nearest_upsample_conv3x3(x, kernel)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(y.dtype)
    return y


_FORCED_UPSAMPLE_FORM: list[bool] = []


@contextlib.contextmanager
def upsample_form(fused: bool):
  """Within this block, `fused_upsample=None` layers trace in the given form.

  `gaxla describe` counts model FLOPs in the direct form (the conventional
  count, and what accelerators run), whatever the backend.
  """
  _FORCED_UPSAMPLE_FORM.append(bool(fused))
  try:
    yield
  finally:
    _FORCED_UPSAMPLE_FORM.pop()


def fused_upsample_default() -> bool:
  """Whether upsample-then-conv layers use the low-resolution form by default.

  On the CPU backend only (measured faster there; not measured on GPU/TPU);
  `GAXLA_FUSED_UPSAMPLE=0` or `=1` overrides. Models also take
  `fused_upsample=True/False` to decide per run.
  """
  if _FORCED_UPSAMPLE_FORM:
    return _FORCED_UPSAMPLE_FORM[-1]
  env = os.environ.get("GAXLA_FUSED_UPSAMPLE", "")
  if env in ("0", "1"):
    return env == "1"
  return jax.default_backend() == "cpu"


class Conv(nn.Module):
  """`nn.Conv` (NHWC), spectrally normalized when `spectral_norm` is set.

  `upsample=True` convolves the 2x nearest-upsampled input (BigGAN's and
  DCGAN-nearest's "upsample, then conv"). A 3x3 'SAME' stride-1 conv is then
  computed without building the upsampled input when `fused_upsample` is
  True (None: `fused_upsample_default()`), and a 1x1 conv is then applied
  before upsampling (the two commute). Unfused, both run on the upsampled
  input, as BigGAN-PyTorch does. Parameters are the same in every form.
  """

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  spectral_norm: bool = False
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()   # nn.Conv's default
  upsample: bool = False
  fused_upsample: bool | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    kernel_size, strides = tuple(self.kernel_size), tuple(self.strides)
    if self.upsample and strides == (1, 1) and self.padding == "SAME":
      fused = fused_upsample_default() if self.fused_upsample is None else self.fused_upsample
      if kernel_size == (1, 1) and fused:
        layer = nn.Conv(self.features, kernel_size, use_bias=self.use_bias,
                        kernel_init=self.kernel_init)
        return upsample_nearest(_maybe_sn(layer, x, self.spectral_norm, train))
      if kernel_size == (3, 3) and fused:
        # Named as nn.Conv would be, so the parameters match the unfused form.
        layer = _NearestUpsampleConv(self.features, self.use_bias, self.kernel_init,
                                     name="Conv_0")
        return _maybe_sn(layer, x, self.spectral_norm, train)
    if self.upsample:
      x = upsample_nearest(x)
    layer = nn.Conv(
        self.features, kernel_size, strides=strides,
        padding=self.padding, use_bias=self.use_bias, kernel_init=self.kernel_init)
    return _maybe_sn(layer, x, self.spectral_norm, train)


class ConvTranspose(nn.Module):
  """`nn.ConvTranspose` (NHWC), spectrally normalized when `spectral_norm` is set."""

  features: int
  kernel_size: Sequence[int] = (4, 4)
  strides: Sequence[int] = (2, 2)
  padding: Any = "SAME"
  spectral_norm: bool = False
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    layer = nn.ConvTranspose(
        self.features, tuple(self.kernel_size), strides=tuple(self.strides),
        padding=self.padding, use_bias=self.use_bias)
    return _maybe_sn(layer, x, self.spectral_norm, train)


def spectral_sigmas(batch_stats) -> dict[str, jax.Array]:
  """Returns {layer path: sigma} for every spectral-normed weight in a collection.

  `sigma` is the power-iteration estimate of the largest singular value of the
  raw weight; the monitor and tests read it.
  """
  flat = jax.tree_util.tree_flatten_with_path(batch_stats)[0]
  sigmas = {}
  for path, value in flat:
    keys = [getattr(k, "key", str(k)) for k in path]
    if keys and keys[-1].endswith("/sigma"):
      sigmas["/".join(keys)] = jnp.asarray(value)
  return sigmas
