"""Sampling from a trained generator: latents, truncation, grids, files.

Outputs of `gaxla sample`:
  FILE.npy          raw generator outputs, float32: images NHWC in [-1, 1],
                    2-D points in data units
  FILE.labels.npy   (conditional models) int32 class of each sample
  FILE.png          an image grid (one row per requested class for conditional
                    models), or a scatter plot for 2-D points
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np


def latent(key: jax.Array, shape: tuple, truncation: float = 0.0) -> jax.Array:
  """Standard normal latents; with truncation t > 0, a true truncated normal.

  Values outside [-t, t] are not clipped or scaled: the draw comes from the
  normal distribution conditioned on |z| <= t (the BigGAN truncation trick).
  """
  if truncation and truncation > 0:
    return jax.random.truncated_normal(key, -truncation, truncation, shape, jnp.float32)
  return jax.random.normal(key, shape, jnp.float32)


def generate(trainer, variables, key: jax.Array, num: int, labels=None,
             truncation: float = 0.0, batch_size: int = 500) -> np.ndarray:
  """Draws `num` samples in eval mode, in batches.

  Args:
    trainer: a `gaxla.train.GANTrainer` (for the module and latent size).
    variables: generator variables (e.g. `state.ema_generator_variables()`).
    key: PRNG key; the same key gives the same samples.
    num: number of samples.
    labels: int array [num] of classes (conditional models), else None.
    truncation: > 0 enables the truncation trick.
    batch_size: samples per generator call.

  Returns:
    float32 NumPy array [num, *example_shape].
  """
  z = np.asarray(trainer.sample_latent(key, num, truncation))
  labels = np.zeros((num,), np.int32) if labels is None else np.asarray(labels, np.int32)
  apply = jax.jit(trainer.generate)
  out = []
  for start in range(0, num, batch_size):
    stop = min(start + batch_size, num)
    zb, lb = z[start:stop], labels[start:stop]
    if stop - start < batch_size and num > batch_size:
      # Pad the last batch so the jitted function sees one shape.
      pad = batch_size - (stop - start)
      zb = np.concatenate([zb, np.zeros((pad,) + zb.shape[1:], zb.dtype)])
      lb = np.concatenate([lb, np.zeros((pad,), lb.dtype)])
    out.append(np.asarray(apply(variables, zb, lb))[: stop - start])
  return np.concatenate(out).astype(np.float32)


def image_grid(images: np.ndarray, ncols: int) -> np.ndarray:
  """Tiles [N, H, W, C] images in [-1, 1] into one uint8 picture (1-px gaps)."""
  images = np.asarray(images)
  n, h, w, c = images.shape
  nrows = math.ceil(n / ncols)
  grid = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1, c), 255, np.uint8)
  pixels = np.clip((images + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
  for i in range(n):
    r, col = divmod(i, ncols)
    grid[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + col * (w + 1): 1 + col * (w + 1) + w] = pixels[i]
  return grid


def sample_grid(trainer, variables, key: jax.Array, size: int,
                truncation: float = 0.0) -> np.ndarray:
  """A picture of samples: one row per class (conditional), else size x size."""
  if trainer.num_classes:
    labels = np.repeat(np.arange(trainer.num_classes), size)
    images = generate(trainer, variables, key, len(labels), labels, truncation)
    return image_grid(images, size)
  images = generate(trainer, variables, key, size * size, None, truncation)
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
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  image.save(path)


def parse_labels(spec: str | None, num_classes: int) -> list[int] | None:
  """'all' -> every class; 'i,j,..' -> those classes; None -> None.

  Raises:
    ValueError: labels for an unconditional model, or a class out of range.
  """
  if spec is None or spec == "":
    return None
  if not num_classes:
    raise ValueError("--labels was given but this model is not class-conditional.")
  if spec == "all":
    return list(range(num_classes))
  try:
    classes = [int(s) for s in spec.split(",") if s.strip()]
  except ValueError:
    raise ValueError(f"--labels must be 'all' or comma-separated integers, got {spec!r}") from None
  bad = [c for c in classes if not 0 <= c < num_classes]
  if bad or not classes:
    raise ValueError(f"--labels {spec!r}: classes must be in 0..{num_classes - 1}")
  return classes


def write_samples(trainer, variables, out: str, num: int, seed: int = 0,
                  labels: str | None = None, truncation: float = 0.0,
                  modes: np.ndarray | None = None) -> list[str]:
  """Generates `num` samples and writes them to `out` (.npy or .png).

  With class labels, .npy sample i gets class classes[i * len(classes) // num]
  (a contiguous block per class); a .png gets one full row per requested
  class (ceil(num / classes) columns). A conditional model without `labels`
  samples every class ('all').

  Returns:
    The paths written.
  """
  if num <= 0:
    raise ValueError(f"--num must be positive, got {num}")
  ext = os.path.splitext(out)[1].lower()
  if ext not in (".npy", ".png"):
    raise ValueError(f"--out must end in .npy or .png, got {out!r}")
  classes = parse_labels(labels, trainer.num_classes)
  if classes is None and trainer.num_classes:
    classes = list(range(trainer.num_classes))
  label_array = None
  if classes is not None:
    if ext == ".png":
      # One full row per requested class.
      per_class = math.ceil(num / len(classes))
      label_array = np.repeat(np.asarray(classes, np.int32), per_class)
    else:
      label_array = np.asarray(classes, np.int32)[np.arange(num) * len(classes) // num]
  count = num if label_array is None else len(label_array)
  samples = generate(trainer, variables, jax.random.key(seed), count, label_array, truncation)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  written = [out]
  if ext == ".npy":
    np.save(out, samples)
    if label_array is not None:
      labels_path = out[: -len(".npy")] + ".labels.npy"
      np.save(labels_path, label_array)
      written.append(labels_path)
  elif samples.ndim == 2:
    save_scatter_png(samples, out, modes)
  else:
    ncols = count // len(classes) if classes else math.ceil(math.sqrt(num))
    save_png(image_grid(samples, ncols), out)
  return written
