"""Sampling from a trained generator: latents, truncation, standing statistics, grids.

This is library code (the train step draws its latents here); what `gaxla
sample` adds on top (flags, their checks and messages, which files it
writes) lives in gaxla/cli_sample.py. Outputs of `gaxla sample`:
  FILE.npy          raw generator outputs, float32: images NHWC in [-1, 1],
                    2-D points in data units
  FILE.labels.npy   (conditional models) int32 class of each sample
  FILE.png          an image grid (one row per requested class for conditional
                    models), or a scatter plot for 2-D points
  --sheet           FILE.png: one row per class, one column per truncation
  --interpolate     FILE.png: one row per pair of endpoints, `--num` frames
                    from one latent to another ('latent', class fixed) or from
                    one class to another ('class', latent fixed; BigGAN mixes
                    the shared class embeddings)

Standing statistics: a generator with BatchNorm normalizes at eval time with
running averages that were collected for the *raw* parameters during
training, not for the EMA parameters we sample from. `standing_statistics`
re-estimates them for the given parameters by running G in training mode on
many latent batches and averaging each BatchNorm layer's batch mean and
variance (BigGAN's "standing stats"). `gaxla sample` does this by default for
models whose BatchNorm layers report their moments (gaxla.nn.BatchNorm).
"""

from __future__ import annotations

import math
import os

import flax
import jax
import jax.numpy as jnp
import numpy as np

from gaxla.data.pixels import to_uint8
from gaxla.nn import BATCH_MOMENTS


def latent(key: jax.Array, shape: tuple, truncation: float = 0.0,
           categories: int = 0, continuous: int = 0) -> jax.Array:
  """Standard normal latents; with truncation t > 0, a true truncated normal.

  Values outside [-t, t] are not clipped or scaled: the draw comes from the
  normal distribution conditioned on |z| <= t (the BigGAN truncation trick).

  With `categories` C > 0, a uniform categorical code is appended as a one-hot
  vector, and with `continuous` K > 0, K codes uniform in [-1, 1] after it
  (InfoGAN's codes): the result is [..., shape[-1] + C + K]; truncation
  applies only to the normal part. `with_codes` fixes the codes.
  """
  # Without a code, `key` draws the normal part directly (as before codes existed).
  normal_key, code_key = jax.random.split(key) if categories or continuous else (key, None)
  if truncation and truncation > 0:
    z = jax.random.truncated_normal(normal_key, -truncation, truncation, shape, jnp.float32)
  else:
    z = jax.random.normal(normal_key, shape, jnp.float32)
  parts = [z]
  if categories:
    code = jax.random.randint(code_key, shape[:-1], 0, categories)
    parts.append(jax.nn.one_hot(code, categories, dtype=jnp.float32))
  if continuous:
    # Folded, not split: the categorical draw stays what it was before continuous codes.
    parts.append(jax.random.uniform(jax.random.fold_in(code_key, 1), shape[:-1] + (continuous,),
                                    jnp.float32, -1.0, 1.0))
  return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else z


def with_codes(system, z, category=None, continuous=None) -> np.ndarray:
  """Latents `z` [N, latent] with their InfoGAN codes fixed.

  Args:
    system: the GANSystem (code sizes and where they sit in z).
    z: latents, e.g. from `system.sample_latent`.
    category: None (keep), or an int or int array [N] in [0, model.latent_categories).
    continuous: None (keep), or values in (about) [-1, 1], [K] or [N, K] with
      K = model.latent_continuous; NaN entries keep the drawn value.

  Returns:
    float32 NumPy array [N, latent].
  """
  z = np.array(z, np.float32)
  start, categories = system.noise_dim, system.latent_categories
  if category is not None:
    if not categories:
      raise ValueError("category given, but the model has no categorical code "
                       "(model.latent_categories = 0)")
    category = np.broadcast_to(np.asarray(category), (len(z),))
    if category.min() < 0 or category.max() >= categories:
      raise ValueError(f"category must be in [0, {categories}), got {category.min()}.."
                       f"{category.max()}")
    z[:, start:start + categories] = np.eye(categories, dtype=np.float32)[category]
  if continuous is not None:
    k = system.latent_continuous
    values = np.asarray(continuous, np.float32)
    if not k or values.shape[-1] != k:
      raise ValueError(f"continuous must have {k} values per latent "
                       f"(model.latent_continuous), got shape {values.shape}")
    values = np.broadcast_to(values, (len(z), k))
    block = z[:, start + categories:start + categories + k]
    z[:, start + categories:start + categories + k] = np.where(np.isnan(values), block, values)
  return z


def code_sweep(system, variables, key: jax.Array, code: int, values,
               categories=None) -> np.ndarray:
  """Images [rows * len(values), ...]: one row per category, one column per value.

  The InfoGAN picture of what a continuous code does: all images share one
  noise vector and the other continuous codes at 0; along a row, continuous
  code `code` takes `values`; each row fixes the categorical code to one of
  `categories` (default all; one row without a categorical code).
  """
  k = system.latent_continuous
  if not 0 <= code < k:
    raise ValueError(f"code must be in [0, {k}) (model.latent_continuous = {k}), got {code}")
  if categories is None:
    categories = list(range(system.latent_categories)) or [None]
  values = np.asarray(values, np.float32)
  z0 = np.asarray(system.sample_latent(key, 1))
  rows = []
  for category in categories:
    sweep = np.zeros((len(values), k), np.float32)
    sweep[:, code] = values
    rows.append(with_codes(system, np.repeat(z0, len(values), axis=0), category, sweep))
  z = np.concatenate(rows)
  return generate_from(system, variables, z, None)  # labels: zeros, as unconditional


def generate(system, variables, key: jax.Array, num: int, labels=None,
             truncation: float = 0.0, batch_size: int = 500) -> np.ndarray:
  """Draws `num` samples in eval mode, in batches.

  Args:
    system: a `gaxla.system.GANSystem` (for the module and latent size).
    variables: generator variables (e.g. `state.ema_generator_variables()`).
    key: PRNG key; the same key gives the same samples.
    num: number of samples.
    labels: int array [num] of classes (conditional models), else None.
    truncation: > 0 enables the truncation trick.
    batch_size: samples per generator call.

  Returns:
    float32 NumPy array [num, *example_shape].
  """
  z = np.asarray(system.sample_latent(key, num, truncation))
  labels = np.zeros((num,), np.int32) if labels is None else np.asarray(labels, np.int32)
  return generate_from(system, variables, z, labels, batch_size)


def generate_from(system, variables, z, labels, batch_size: int = 500) -> np.ndarray:
  """Runs G in eval mode on given latents [N, latent] and labels [N] (or [N, classes]).

  `labels` None: zeros (what unconditional generators ignore).

  Returns:
    float32 NumPy array [N, *example_shape].
  """
  z = np.asarray(z, np.float32)
  labels = np.zeros((len(z),), np.int32) if labels is None else np.asarray(labels)
  num = len(z)
  apply = jax.jit(system.generate)
  out = []
  for start in range(0, num, batch_size):
    stop = min(start + batch_size, num)
    zb, lb = z[start:stop], labels[start:stop]
    if stop - start < batch_size and num > batch_size:
      # Pad the last batch so the jitted function sees one shape.
      pad = batch_size - (stop - start)
      zb = np.concatenate([zb, np.zeros((pad,) + zb.shape[1:], zb.dtype)])
      lb = np.concatenate([lb, np.zeros((pad,) + lb.shape[1:], lb.dtype)])
    out.append(np.asarray(apply(variables, zb, lb))[: stop - start])
  return np.concatenate(out).astype(np.float32)


# ----------------------------------------------------------------------------
# Standing statistics
# ----------------------------------------------------------------------------
def standing_batch(system, key: jax.Array, index: int, batch_size: int):
  """Latents and labels of batch `index` of a standing-statistics pass.

  Untruncated latents and uniform classes, as BigGAN-PyTorch's
  `accumulate_standing_stats`.
  """
  z_key, label_key = jax.random.split(jax.random.fold_in(key, index))
  z = system.sample_latent(z_key, batch_size)
  labels = jax.random.randint(label_key, (batch_size,), 0, max(system.num_classes, 1))
  return z, labels


def has_standing_statistics(system, variables: dict) -> bool:
  """Whether G has BatchNorm layers that standing statistics re-estimate.

  True for gaxla's BatchNorm layers (BigGAN, SNGAN-ResNet); False for
  generators without them (MLP, DCGAN with `flax.linen.BatchNorm`), where
  `standing_statistics` returns the variables unchanged. Traces only.
  """
  z, labels = standing_batch(system, jax.random.key(0), 0, 2)
  _, updates = jax.eval_shape(
      lambda v: system.generator.apply(v, z, labels, train=True,
                                        mutable=["batch_stats", BATCH_MOMENTS]), variables)
  return bool(jax.tree.leaves(updates.get(BATCH_MOMENTS, {})))


def standing_statistics(system, variables: dict, key: jax.Array, num_batches: int,
                        batch_size: int) -> dict:
  """Re-estimates G's BatchNorm statistics for the given (e.g. EMA) params.

  Runs G in training mode on `num_batches` batches (see `standing_batch`) and
  replaces every gaxla BatchNorm layer's running mean and variance by the
  average over batches of the batch mean and (biased) variance it computed.
  Nothing else changes (spectral-norm state included). Layers that do not
  report moments (e.g. `flax.linen.BatchNorm`) keep their statistics.

  Args:
    system: a `gaxla.system.GANSystem`.
    variables: generator variables {'params', 'batch_stats', ...}.
    key: PRNG key for the latents.
    num_batches: batches to average (>= 1).
    batch_size: latents per batch (the training batch size is a good choice).

  Returns:
    A copy of `variables` with the re-estimated statistics.
  """
  if num_batches < 1:
    raise ValueError(f"standing statistics need num_batches >= 1, got {num_batches}")

  # Variables are an argument, not a closure: closed-over arrays would be
  # embedded in the program as constants (70M of them for ImageNet BigGAN).
  @jax.jit
  def moments(variables, index):
    z, labels = standing_batch(system, key, index, batch_size)
    _, updates = system.generator.apply(variables, z, labels, train=True,
                                         mutable=["batch_stats", BATCH_MOMENTS])
    return updates.get(BATCH_MOMENTS, {})

  total = None
  for index in range(num_batches):
    batch_moments = moments(variables, index)
    if not batch_moments:
      return variables     # no gaxla BatchNorm in this generator: nothing to re-estimate
    total = batch_moments if total is None else jax.tree.map(jnp.add, total, batch_moments)
  averaged = flax.traverse_util.flatten_dict(jax.tree.map(lambda t: t / num_batches, total))
  stats = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables["batch_stats"]))
  for path, value in averaged.items():
    if path not in stats:
      raise KeyError(f"BatchNorm moments at {'/'.join(path)} have no running statistic")
    stats[path] = value
  return {**variables, "batch_stats": flax.traverse_util.unflatten_dict(stats)}


def with_standing_statistics(system, variables: dict, num_batches: int, batch_size: int,
                             seed: int = 0) -> dict:
  """`variables` with standing statistics over `num_batches` (0: unchanged), keyed by `seed`."""
  if not num_batches:
    return variables
  return standing_statistics(system, variables, standing_key(seed), num_batches, batch_size)


def standing_batches(config, requested: int | None = None) -> int:
  """`requested`, else the run's `eval.standing_batches` (what its evaluations used)."""
  return int(config.eval.standing_batches if requested is None else requested)


def eval_variables(system, state, num_batches: int, batch_size: int, seed: int = 0) -> dict:
  """The generator that evaluations score: EMA params + standing statistics.

  Training-time evaluation and `gaxla eval` both use it, and `gaxla sample`
  re-estimates the same way (`with_standing_statistics`), so the best
  checkpoint and the collapse monitor see the numbers `gaxla eval` prints.
  `num_batches` 0 keeps the running statistics.
  """
  return with_standing_statistics(system, state.ema_generator_variables(), num_batches,
                                  batch_size, seed)


# ----------------------------------------------------------------------------
# Sheets and interpolations
# ----------------------------------------------------------------------------
def sample_sheet(system, variables, key: jax.Array, classes, truncations) -> np.ndarray:
  """Images [len(classes) * len(truncations), ...]: row = class, column = truncation.

  Each row uses one latent key for all its columns, so a row shows one sample
  drawn at increasing truncation thresholds (0 = no truncation).
  """
  classes = list(classes) if classes else [0]
  z = []
  for row in range(len(classes)):
    row_key = jax.random.fold_in(key, row)
    z.extend(np.asarray(system.sample_latent(row_key, 1, float(t)))[0] for t in truncations)
  labels = np.repeat(np.asarray(classes, np.int32), len(truncations))
  return generate_from(system, variables, np.stack(z), labels)


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
  # Spherical interpolation keeps the latent norm typical of a Gaussian draw
  # (a straight line passes through low-norm, atypical latents).
  a_n, b_n = a / np.linalg.norm(a), b / np.linalg.norm(b)
  omega = np.arccos(np.clip(np.dot(a_n, b_n), -1.0, 1.0))
  if omega < 1e-6:
    return (1 - t)[:, None] * a + t[:, None] * b
  return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / np.sin(omega)


def interpolation(system, variables, key: jax.Array, mode: str, classes, num_frames: int,
                  truncation: float = 0.0) -> np.ndarray:
  """Images [rows * num_frames, ...] walking between two endpoints per row.

  Args:
    mode: 'latent' (two random latents, the row's class fixed; slerp) or
      'class' (one latent; class weights go linearly from the row's class to
      the next one in `classes`, needs a model that takes soft labels, e.g.
      BigGAN with a shared embedding).
    classes: the row classes ([0] for unconditional models with 'latent').
    num_frames: images per row, endpoints included (>= 2).
  """
  if num_frames < 2:
    raise ValueError(f"interpolation needs num_frames >= 2, got {num_frames}")
  t = np.linspace(0.0, 1.0, num_frames)
  z_rows, label_rows = [], []
  if mode == "latent":
    for row, cls in enumerate(classes):
      ends = np.asarray(system.sample_latent(jax.random.fold_in(key, row), 2, truncation))
      z_rows.append(_slerp(ends[0], ends[1], t))
      label_rows.append(np.full((num_frames,), cls, np.int32))
    labels = np.concatenate(label_rows)
  elif mode == "class":
    if not system.num_classes or len(classes) < 2:
      raise ValueError("class interpolation needs a conditional model and at least 2 classes")
    for row, cls in enumerate(classes):
      z = np.asarray(system.sample_latent(jax.random.fold_in(key, row), 1, truncation))
      z_rows.append(np.repeat(z, num_frames, axis=0))
      start = np.eye(system.num_classes, dtype=np.float32)[cls]
      end = np.eye(system.num_classes, dtype=np.float32)[classes[(row + 1) % len(classes)]]
      label_rows.append((1 - t)[:, None] * start + t[:, None] * end)
    labels = np.concatenate(label_rows).astype(np.float32)
  else:
    raise ValueError(f"interpolation mode must be 'latent' or 'class', got {mode!r}")
  try:
    return generate_from(system, variables, np.concatenate(z_rows), labels)
  except (TypeError, ValueError) as e:
    if mode == "class":
      raise ValueError(f"this model cannot mix classes (soft labels): {e}") from None
    raise


def image_grid(images: np.ndarray, ncols: int) -> np.ndarray:
  """Tiles [N, H, W, C] images in [-1, 1] into one uint8 picture (1-px gaps)."""
  images = np.asarray(images)
  n, h, w, c = images.shape
  nrows = math.ceil(n / ncols)
  grid = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1, c), 255, np.uint8)
  pixels = to_uint8(images)
  for i in range(n):
    r, col = divmod(i, ncols)
    grid[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + col * (w + 1): 1 + col * (w + 1) + w] = pixels[i]
  return grid


def sample_grid(system, variables, key: jax.Array, size: int,
                truncation: float = 0.0) -> np.ndarray:
  """A picture of samples: one row per class (conditional), else size x size."""
  if system.num_classes:
    labels = np.repeat(np.arange(system.num_classes), size)
    images = generate(system, variables, key, len(labels), labels, truncation)
    return image_grid(images, size)
  images = generate(system, variables, key, size * size, None, truncation)
  return image_grid(images, size)


def save_png(picture: np.ndarray, path: str, upscale: int = 0) -> None:
  """Writes a uint8 HWC (C = 1 or 3) array as PNG, creating the folder.

  Small pictures are upscaled (nearest) so they are visible in a viewer.
  """
  from PIL import Image
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if picture.shape[-1] == 1:
    picture = picture[..., 0]
  image = Image.fromarray(picture)
  if not upscale:
    upscale = max(1, -(-512 // max(image.size)))  # ceil: at least ~512 px wide
  if upscale > 1:
    image = image.resize((image.size[0] * upscale, image.size[1] * upscale), Image.NEAREST)
  image.save(path)


def save_scatter_png(points: np.ndarray, path: str, modes: np.ndarray | None = None,
                     size: int = 512) -> None:
  """A scatter plot of 2-D points (black) over mode centres (red), as PNG."""
  image = scatter_image(points, modes, size)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  image.save(path)


def scatter_image(points: np.ndarray, modes: np.ndarray | None = None, size: int = 512):
  """A scatter plot of 2-D points (black) over mode centres (red), as a PIL image."""
  from PIL import Image, ImageDraw
  points = np.asarray(points, np.float64)
  ref = points if modes is None else np.concatenate([points, modes])
  ref = ref[np.isfinite(ref).all(axis=1)]
  if modes is not None:
    lo, hi = modes.min() - 1.0, modes.max() + 1.0
  else:
    lo, hi = (np.percentile(ref, 1) - 0.5, np.percentile(ref, 99) + 0.5) if len(ref) else (-1, 1)
  image = Image.new("RGB", (size, size), "white")
  draw = ImageDraw.Draw(image)

  def to_px(p):
    return ((p[0] - lo) / (hi - lo) * (size - 1), (1 - (p[1] - lo) / (hi - lo)) * (size - 1))

  if modes is not None:
    for m in modes:
      x, y = to_px(m)
      draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=(220, 0, 0), width=2)
  for p in points:
    if np.isfinite(p).all():
      x, y = to_px(p)
      draw.point((x, y), fill=(0, 0, 0))
  return image


def standing_key(seed: int) -> jax.Array:
  """The latent key of `write_samples`' standing-statistics pass for `seed`."""
  return jax.random.fold_in(jax.random.key(seed), 0x57A4D)
