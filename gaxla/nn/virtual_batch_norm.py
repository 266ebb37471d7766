"""Virtual batch normalization (Salimans et al. 2016, "Improved Techniques").

BatchNorm makes a generated sample depend on the other latents in its batch.
VBN normalizes each example with the statistics of a fixed reference batch of
latents (chosen once: drawn from a fixed key, the same in every call) together
with the example itself, so an output depends only on its own latent and the
reference batch, in training and sampling alike (VBN keeps no running
statistics).

A generator with VBN prepends the reference latents to its input
(`with_reference_batch`), runs the whole network on [reference; batch], and
returns the batch's rows. Each `VirtualBatchNorm` layer takes the first R rows
as the reference: the reference rows are normalized with the reference
statistics only; example x gets the statistics of the reference batch plus x
itself with weight 1 / (R + 1) (per channel, over the spatial positions of x
for images), as in the paper.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# The reference latents are drawn from this key: fixed, so "chosen once".
REFERENCE_SEED = 20160610


def reference_latents(size: int, latent_dim: int) -> jax.Array:
  """The fixed reference batch of latents, N(0, I) [size, latent_dim]."""
  return jax.random.normal(jax.random.key(REFERENCE_SEED), (size, latent_dim))


def with_reference_batch(z: jax.Array, labels: jax.Array | None, size: int,
                         num_classes: int) -> tuple[jax.Array, jax.Array | None]:
  """[reference; z] and matching labels (the reference cycles over the classes)."""
  ref = reference_latents(size, z.shape[-1]).astype(z.dtype)
  z = jnp.concatenate([ref, z], axis=0)
  if num_classes and labels is not None:
    ref_labels = (jnp.arange(size) % num_classes).astype(labels.dtype)
    labels = jnp.concatenate([ref_labels, labels], axis=0)
  return z, labels


class VirtualBatchNorm(nn.Module):
  """Normalizes rows R: with reference (rows :R) statistics plus their own."""

  reference_size: int
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    r = self.reference_size
    features = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (features,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
    x32 = x.astype(jnp.float32)
    ref, rest = x32[:r], x32[r:]
    all_axes = tuple(range(x.ndim - 1))
    ref_mean = jnp.mean(ref, axis=all_axes)
    ref_sq = jnp.mean(jnp.square(ref), axis=all_axes)
    # Each example's own per-channel moments (over its positions; itself for vectors).
    own_axes = tuple(range(1, x.ndim - 1))
    own_mean = jnp.mean(rest, axis=own_axes, keepdims=True) if own_axes else rest
    own_sq = jnp.mean(jnp.square(rest), axis=own_axes, keepdims=True) if own_axes else rest ** 2
    w = 1.0 / (r + 1.0)
    mean = w * own_mean + (1.0 - w) * ref_mean
    sq = w * own_sq + (1.0 - w) * ref_sq
    var = jnp.maximum(sq - jnp.square(mean), 0.0)
    ref_var = jnp.maximum(ref_sq - jnp.square(ref_mean), 0.0)
    ref_out = (ref - ref_mean) * jax.lax.rsqrt(ref_var + self.epsilon)
    rest_out = (rest - mean) * jax.lax.rsqrt(var + self.epsilon)
    out = jnp.concatenate([ref_out, rest_out], axis=0) * scale + bias
    return out.astype(x.dtype)
