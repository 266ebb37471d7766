"""What the critic sees: packing, instance noise and DiffAugment, in one place.

The step (gaxla/system.py) passes every batch it shows the critic (real and
fake, in the critic's update and in the generator's loss) through
`CriticInputs.transform`, so the three tricks compose and apply to real and
fake alike:

  augment (DiffAugment, Zhao et al. 2020): the same differentiable transform
      family (translation, cutout, color) on real and fake images, each
      example with its own random parameters; G's gradient flows through it.
      `config.augment.policy` names the families; `config.augment.diff_augment`
      applies them in the adversarial loss. Balanced consistency
      regularization (bCR, Zhao et al. 2021) penalizes the critic's change
      under the same augmentation: lambda_real * mean((D(x) - D(T(x)))^2) over
      real packs plus lambda_fake * the same over fake packs
      (`config.augment.bcr_real` / `bcr_fake`).
  instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian
      noise on the critic's inputs, std `config.instance_noise.std` annealed
      linearly to exactly 0 at generator step `config.instance_noise.anneal_steps`.
  packing (PacGAN, Lin et al. 2018): m consecutive examples of one kind (all
      real or all fake) concatenated along the last axis (image channels or
      point features); the critic scores packs, so it sees B / m logits.

Order: augment, then noise, then pack (the noise and augmentation are
per-example, as in the papers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

POLICIES = ("translation", "cutout", "color")


def pack(x: jax.Array, m: int) -> jax.Array:
  """[B, ..., C] -> [B / m, ..., m * C]: m consecutive examples per pack.

  Pack p holds examples p*m .. p*m + m - 1, their last axes side by side.
  """
  if m == 1:
    return x
  batch = x.shape[0]
  if batch % m:
    raise ValueError(f"packing needs a batch divisible by pack.size = {m}, got {batch}")
  grouped = x.reshape((batch // m, m) + x.shape[1:])
  grouped = jnp.moveaxis(grouped, 1, -2)   # [B/m, ..., m, C]
  return grouped.reshape(grouped.shape[:-2] + (m * x.shape[-1],))


def pack_labels(labels: jax.Array, m: int) -> jax.Array:
  """The label of each pack: its first example's (packs are one class by construction)."""
  return labels[::m]


def instance_noise_std(step: jax.Array, std: float, anneal_steps: int) -> jax.Array:
  """std * max(0, 1 - step / anneal_steps): exactly 0 from `anneal_steps` on."""
  return std * jnp.maximum(0.0, 1.0 - step / anneal_steps)


# ----------------------------------------------------------------------------
# DiffAugment: differentiable transforms of [B, H, W, C] images in [-1, 1]
# ----------------------------------------------------------------------------
def translate(x: jax.Array, shift: jax.Array) -> jax.Array:
  """Shifts each image by integer pixels `shift` [B, 2] (dy, dx), zero fill.

  Output pixel (i, j) is input pixel (i - dy, j - dx) where that exists, else
  0. Built as a gather with a validity mask, so it is differentiable in x.
  """
  _, height, width, _ = x.shape
  rows = jnp.arange(height)[None, :] - shift[:, 0:1]   # [B, H]
  cols = jnp.arange(width)[None, :] - shift[:, 1:2]    # [B, W]
  row_ok = (rows >= 0) & (rows < height)
  col_ok = (cols >= 0) & (cols < width)
  rows = jnp.clip(rows, 0, height - 1)
  cols = jnp.clip(cols, 0, width - 1)
  gathered = jax.vmap(lambda img, r, c: img[r][:, c])(x, rows, cols)
  mask = (row_ok[:, :, None] & col_ok[:, None, :])[..., None]
  return jnp.where(mask, gathered, 0.0)


def _translation(key, x, ratio: float = 0.125):
  # DiffAugment's default: shifts up to 1/8 of the side in each direction.
  _, height, width, _ = x.shape
  limits = jnp.array([int(height * ratio + 0.5), int(width * ratio + 0.5)])
  shift = jax.random.randint(key, (x.shape[0], 2), -limits, limits + 1)
  return translate(x, shift)


def _cutout(key, x, ratio: float = 0.5):
  # One zeroed square of half the side per image, centred anywhere.
  _, height, width, _ = x.shape
  size_h, size_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
  centre = jax.random.uniform(key, (x.shape[0], 2)) * jnp.array([height, width])
  rows = jnp.arange(height)[None, :]
  cols = jnp.arange(width)[None, :]
  in_rows = jnp.abs(rows - centre[:, 0:1] + 0.5) < size_h / 2
  in_cols = jnp.abs(cols - centre[:, 1:2] + 0.5) < size_w / 2
  cut = (in_rows[:, :, None] & in_cols[:, None, :])[..., None]
  return jnp.where(cut, 0.0, x)


def _color(key, x):
  # DiffAugment's color: brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5].
  k1, k2, k3 = jax.random.split(key, 3)
  shape = (x.shape[0], 1, 1, 1)
  x = x + (jax.random.uniform(k1, shape) - 0.5)
  mean = jnp.mean(x, axis=-1, keepdims=True)
  x = (x - mean) * (jax.random.uniform(k2, shape) * 2.0) + mean
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * (jax.random.uniform(k3, shape) + 0.5) + mean


_TRANSFORMS = {"translation": _translation, "cutout": _cutout, "color": _color}


def parse_policy(policy: str) -> tuple[str, ...]:
  """'translation,cutout' -> ('translation', 'cutout'); raises on unknown names."""
  names = tuple(p.strip() for p in policy.split(",") if p.strip())
  unknown = [n for n in names if n not in _TRANSFORMS]
  if unknown:
    raise ValueError(f"unknown DiffAugment policy {', '.join(unknown)}; valid: "
                     f"{', '.join(POLICIES)} (comma-separated)")
  return names


def diff_augment(key: jax.Array, x: jax.Array, policy: tuple[str, ...]) -> jax.Array:
  """Applies the policy's transforms in order, each with fresh per-example randomness."""
  for name, k in zip(policy, jax.random.split(key, max(len(policy), 1))):
    x = _TRANSFORMS[name](k, x)
  return x


class CriticInputs:
  """The critic-input transforms of one config (see the module docstring)."""

  def __init__(self, config):
    self.pack_size = int(config.pack.size)
    self.noise_std = float(config.instance_noise.std)
    self.noise_anneal_steps = int(config.instance_noise.anneal_steps)
    self.policy = parse_policy(config.augment.policy)
    self.diff_augment = bool(config.augment.diff_augment)
    self.bcr_real = float(config.augment.bcr_real)
    self.bcr_fake = float(config.augment.bcr_fake)

  @property
  def uses_bcr(self) -> bool:
    return bool(self.policy) and (self.bcr_real > 0 or self.bcr_fake > 0)

  def packed_shape(self, example_shape: tuple) -> tuple:
    """Shape of one critic input (one pack)."""
    return tuple(example_shape[:-1]) + (example_shape[-1] * self.pack_size,)

  def augment(self, key: jax.Array, x: jax.Array) -> jax.Array:
    return diff_augment(key, x, self.policy)

  def transform(self, x: jax.Array, labels: jax.Array, key: jax.Array, step: jax.Array,
                augment: bool | None = None) -> tuple[jax.Array, jax.Array]:
    """Examples [B, ...] -> critic inputs [B / m, ...] and their labels.

    Args:
      x: real or fake examples (never mixed: a pack is all one kind).
      labels: their labels [B].
      key: randomness for the augmentation and the noise.
      step: the generator step (anneals the instance noise).
      augment: apply the DiffAugment policy (default: `augment.diff_augment`).
    """
    augment_key, noise_key = jax.random.split(key)
    if (self.diff_augment if augment is None else augment) and self.policy:
      x = self.augment(augment_key, x)
    if self.noise_std > 0:
      std = instance_noise_std(step, self.noise_std, self.noise_anneal_steps)
      x = x + std * jax.random.normal(noise_key, x.shape, x.dtype)
    return pack(x, self.pack_size), pack_labels(labels, self.pack_size)

  def pack_only(self, x: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    return pack(x, self.pack_size), pack_labels(labels, self.pack_size)
