"""Critic layers that look across the batch: minibatch discrimination and stddev.

Both give the critic a feature that depends on the other examples in the
batch, so a generator that puts all its samples in one place is easy to spot.
The step runs the critic on real and fake batches separately when one of
these is on (gaxla/system.py), so a batch is never a mix of the two.

MinibatchDiscrimination (Salimans et al. 2016): features f [N, A] times a
  learned tensor T [A, B, C] give M [N, B, C]; for each kernel b,
  c_b(i, j) = exp(-||M_i,b - M_j,b||_1) and o(x_i)_b = sum_{j != i} c_b(i, j).
  The layer returns [f, o] ([N, A + B]).
MinibatchStddev (Karras et al. 2018, ProGAN): split the batch into groups of
  `group_size`, take each feature's standard deviation over a group, average
  it over features (and positions) into one number per group, and append it
  as one extra channel to every member of the group.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class MinibatchDiscrimination(nn.Module):
  """[N, A] -> [N, A + num_kernels] (features of the whole batch appended)."""

  num_kernels: int
  kernel_dim: int = 16

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    features = features.reshape(features.shape[0], -1)
    tensor = self.param("T", nn.initializers.normal(0.05),
                        (features.shape[-1], self.num_kernels * self.kernel_dim), jnp.float32)
    m = (features @ tensor.astype(features.dtype)).reshape(
        features.shape[0], self.num_kernels, self.kernel_dim)
    l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)   # [N, N, B]
    # exp(-0) = 1 on the diagonal: subtract it so an example does not count itself.
    o = jnp.sum(jnp.exp(-l1), axis=1) - 1.0
    return jnp.concatenate([features, o], axis=-1)


def minibatch_stddev(x: jax.Array, group_size: int, consecutive: bool = False) -> jax.Array:
  """[N, ..., C] -> [N, ..., C + 1]: the group's mean feature stddev appended.

  Groups are strided as in ProGAN's code (example i belongs to group
  i mod (N / G)), or with `consecutive` runs of `group_size` examples, so a
  [real; fake] batch with halves divisible by the group size (ProGAN's
  critic here, gaxla/models/progan.py) never mixes the two in a group. A
  group smaller than `group_size` is used when the batch is (e.g. the batch
  of one at init).
  """
  n = x.shape[0]
  group = min(group_size, n)
  if group < 1 or n % group:
    raise ValueError(f"minibatch stddev: group size {group_size} must divide the batch size "
                     f"{n}; choose model.critic.minibatch_stddev (ProGAN: mbstd_group_size) "
                     "dividing the critic's batch")
  if consecutive:   # [N/G, G, ...]: group axis 1
    grouped, axis = x.reshape((n // group, group) + x.shape[1:]), 1
  else:             # [G, N/G, ...]: group axis 0
    grouped, axis = x.reshape((group, n // group) + x.shape[1:]), 0
  var = jnp.var(grouped.astype(jnp.float32), axis=axis)       # [N/G, ..., C]
  # sqrt has an infinite derivative at 0: the double `where` keeps a constant
  # group's stddev exactly 0 with a zero (not NaN) gradient.
  positive = var > 0
  std = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
  per_group = jnp.mean(std, axis=tuple(range(1, std.ndim)))    # [N/G]
  # Example i -> its group: runs of G (consecutive) or i mod N/G (strided).
  feature = jnp.repeat(per_group, group) if consecutive else jnp.tile(per_group, group)
  feature = jnp.broadcast_to(feature.reshape((n,) + (1,) * (x.ndim - 1)),
                             x.shape[:-1] + (1,)).astype(x.dtype)
  return jnp.concatenate([x, feature], axis=-1)
