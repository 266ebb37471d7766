"""Layers with optional spectral normalization.

Spectral normalization uses Flax Linen's `nn.SpectralNorm`: the raw weight stays
the trainable parameter and the power-iteration vector `u` and the estimate
`sigma` live in the `batch_stats` collection, so they travel in the state pytree
and are only updated when `train=True` (the caller applies with
`mutable=['batch_stats']`).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

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


class Conv(nn.Module):
  """`nn.Conv` (NHWC), spectrally normalized when `spectral_norm` is set."""

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  spectral_norm: bool = False
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()   # nn.Conv's default

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    layer = nn.Conv(
        self.features, tuple(self.kernel_size), strides=tuple(self.strides),
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
