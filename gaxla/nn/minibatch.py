"""Minibatch standard deviation (Karras et al., 2018, ProGAN section 3).

The critic sees, as one extra feature map, how much the examples of a small
group differ from each other: a generator that collapses to a few outputs gives
itself away by a low spread. Self-contained, so any critic can call it.
"""

from __future__ import annotations

import jax.numpy as jnp


def minibatch_stddev(x: jnp.ndarray, group_size: int) -> jnp.ndarray:
  """Appends the group's mean feature standard deviation as one more channel.

  Groups are runs of `group_size` consecutive examples (not strided ones), so
  a batch built as [real; fake] with each half divisible by the group size
  never mixes real and fake examples in a group.

  Args:
    x: [B, H, W, C] activations.
    group_size: examples per group; must divide B (B itself when B is smaller).

  Returns:
    [B, H, W, C + 1]: x and, in every pixel of each example, the standard
    deviation over its group averaged over all features and pixels.
  """
  batch = x.shape[0]
  group = min(group_size, batch)
  if group < 1 or batch % group:
    raise ValueError(f"minibatch_stddev: group_size {group_size} must divide the batch "
                     f"size {batch}; choose a batch size that is a multiple of it.")
  grouped = x.reshape((batch // group, group) + x.shape[1:]).astype(jnp.float32)
  std = jnp.sqrt(jnp.var(grouped, axis=1) + 1e-8)          # [B/G, H, W, C]
  spread = jnp.mean(std, axis=(1, 2, 3))                    # [B/G]
  spread = jnp.repeat(spread, group)[:, None, None, None]   # one value per example
  feature = jnp.broadcast_to(spread, x.shape[:3] + (1,)).astype(x.dtype)
  return jnp.concatenate([x, feature], axis=-1)
