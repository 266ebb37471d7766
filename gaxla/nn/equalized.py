"""Equalized-learning-rate layers (Karras et al., 2018, ProGAN section 4.1).

Weights are stored as N(0, 1) draws and multiplied by He's constant
gain / sqrt(fan_in) at every call, not at init. Adam's update size does not
depend on a weight's scale, so storing unit-scale weights gives every layer the
same effective learning rate.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

SQRT2 = math.sqrt(2.0)


def he_scale(fan_in: int, gain: float = SQRT2) -> float:
  """He's constant: the run-time weight multiplier gain / sqrt(fan_in)."""
  return gain / math.sqrt(fan_in)


class EqualizedDense(nn.Module):
  """Dense layer, weights N(0, 1) scaled by `he_scale(fan_in, gain)` at run time."""

  features: int
  gain: float = SQRT2

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param("kernel", nn.initializers.normal(1.0), (fan_in, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    scale = he_scale(fan_in, self.gain)
    return x @ (kernel * scale).astype(x.dtype) + bias.astype(x.dtype)


class EqualizedConv(nn.Module):
  """Square 'SAME' convolution (NHWC), weights N(0, 1) scaled at run time."""

  features: int
  kernel_size: int = 3
  gain: float = SQRT2

  @nn.compact
  def __call__(self, x):
    k, fan_in = self.kernel_size, self.kernel_size * self.kernel_size * x.shape[-1]
    kernel = self.param("kernel", nn.initializers.normal(1.0),
                        (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    scale = he_scale(fan_in, self.gain)
    y = jax.lax.conv_general_dilated(
        x, (kernel * scale).astype(x.dtype), (1, 1), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias.astype(x.dtype)


def pixel_norm(x: jnp.ndarray, eps: float = 1e-8) -> jnp.ndarray:
  """Pixelwise feature normalization: each pixel's feature vector to unit RMS."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)
