"""The front end of `gaxla sample`: checks its flags and writes the files.

gaxla/sample.py is the library (latents, truncation, standing statistics,
sheets, interpolations, grids); this module turns the CLI's arguments into
calls of it, with errors that name the flag to fix (`--labels`, `--out`,
`--num`, `--sheet`, `--interpolate`, `--truncation`).
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np

from gaxla.sample import (generate, image_grid, interpolation, sample_sheet, save_png,
                          save_scatter_png, with_standing_statistics)


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


def write_samples(system, variables, out: str, num: int, seed: int = 0,
                  labels: str | None = None, truncation: float = 0.0,
                  modes: np.ndarray | None = None, sheet_truncations=None,
                  interpolate: str | None = None, standing_batches: int = 0,
                  standing_batch_size: int = 64) -> list[str]:
  """Generates `num` samples and writes them to `out` (.npy or .png).

  With class labels, .npy sample i gets class classes[i * len(classes) // num]
  (a contiguous block per class); a .png gets one full row per requested
  class (ceil(num / classes) columns). A conditional model without `labels`
  samples every class ('all').

  Args:
    sheet_truncations: a list of thresholds: write a sample sheet instead
      (rows = classes, columns = these truncations; .png only).
    interpolate: 'latent' or 'class': write an interpolation instead, one row
      per class, `num` frames per row (.png only).
    standing_batches: > 0: first re-estimate BatchNorm statistics for these
      params over this many batches of `standing_batch_size` latents.

  Returns:
    The paths written.
  """
  if num <= 0:
    raise ValueError(f"--num must be positive, got {num}")
  ext = os.path.splitext(out)[1].lower()
  if ext not in (".npy", ".png"):
    raise ValueError(f"--out must end in .npy or .png, got {out!r}")
  if (sheet_truncations or interpolate) and ext != ".png":
    raise ValueError("--sheet and --interpolate write pictures: --out must end in .png")
  if (sheet_truncations or interpolate) and len(system.example_shape) != 3:
    raise ValueError("--sheet and --interpolate draw image grids; this run generates 2-D "
                     "points: use --out FILE.png (a scatter plot) or FILE.npy")
  for t in [truncation, *(sheet_truncations or [])]:
    if not (t >= 0 and math.isfinite(t)):
      raise ValueError(f"truncation thresholds must be >= 0 (0 = off), got {t}")
  classes = parse_labels(labels, system.num_classes)
  if classes is None and system.num_classes:
    classes = list(range(system.num_classes))
  variables = with_standing_statistics(system, variables, standing_batches,
                                       standing_batch_size, seed)
  key = jax.random.key(seed)
  if sheet_truncations or interpolate:
    rows = classes or [0]
    if sheet_truncations:
      images = sample_sheet(system, variables, key, rows, sheet_truncations)
      ncols = len(sheet_truncations)
    else:
      if interpolate not in ("latent", "class"):
        raise ValueError(f"--interpolate must be 'latent' or 'class', got {interpolate!r}")
      if num < 2:
        raise ValueError(f"--interpolate needs --num >= 2 frames per row, got {num}")
      images = interpolation(system, variables, key, interpolate, rows, num, truncation)
      ncols = num
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_png(image_grid(images, ncols), out)
    return [out]
  label_array = None
  if classes is not None:
    if ext == ".png":
      # One full row per requested class.
      per_class = math.ceil(num / len(classes))
      label_array = np.repeat(np.asarray(classes, np.int32), per_class)
    else:
      label_array = np.asarray(classes, np.int32)[np.arange(num) * len(classes) // num]
  count = num if label_array is None else len(label_array)
  samples = generate(system, variables, key, count, label_array, truncation)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  written = [out]
  if ext == ".npy":
    # Through a file object: np.save(path) would append '.npy' to 'X.NPY'.
    with open(out, "wb") as f:
      np.save(f, samples)
    if label_array is not None:
      labels_path = out[: -len(".npy")] + ".labels.npy"
      with open(labels_path, "wb") as f:
        np.save(f, label_array)
      written.append(labels_path)
  elif samples.ndim == 2:
    save_scatter_png(samples, out, modes)
  else:
    ncols = count // len(classes) if classes else math.ceil(math.sqrt(num))
    save_png(image_grid(samples, ncols), out)
  return written
