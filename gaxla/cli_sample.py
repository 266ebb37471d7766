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

from gaxla.data import pixels
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


def write_upscaled(config, workdir: str, input_path: str | None, out: str, step: str = "latest"):
  """`gaxla sample --input` on a super-resolution workdir: upscales LR images.

  The input is a .npy of float32 (or float64) NHWC in [-1, 1] with the run's
  channels, or a folder of image files (`read_image_folder`);
  `out` gets the EMA generator's outputs clipped to [-1, 1]: float32 NHWC
  (.npy) or a grid of them (.png). Returns (paths written, the state used).
  """
  from gaxla import superres
  if config.model.name != "esrgan":
    raise ValueError(f"--input upscales images with a super-resolution run; {workdir!r} is a "
                     f"{config.model.name!r} run: drop --input to draw samples.")
  if not input_path:
    raise ValueError(f"{workdir!r} is a super-resolution run: give --input LR.npy (float32 NHWC "
                     "in [-1, 1]) to upscale.")
  ext = os.path.splitext(out)[1].lower()
  if ext not in (".npy", ".png"):
    raise ValueError(f"--out must end in .npy or .png, got {out!r}")
  channels = _channels(config)
  if os.path.isdir(input_path):
    images = read_image_folder(input_path, channels)
  elif not input_path.lower().endswith(".npy"):
    raise ValueError(f"--input must be a .npy file of images or a folder of image files, "
                     f"got {input_path!r}")
  else:
    try:
      images = np.load(input_path, allow_pickle=False)
    except FileNotFoundError:
      raise FileNotFoundError(f"--input {input_path!r} not found") from None
    except ValueError as e:
      raise ValueError(f"--input {input_path!r} is not a plain .npy array: {e}") from None
  if images.ndim != 4 or images.shape[-1] != channels or not np.issubdtype(images.dtype,
                                                                            np.floating):
    raise ValueError(f"--input must hold float images [N, H, W, {channels}] (NHWC, this run's "
                     f"channels), got {images.dtype} {images.shape}")
  if images.size and (not np.all(np.isfinite(images)) or images.min() < -1.0 - 1e-3
                      or images.max() > 1.0 + 1e-3):
    raise ValueError(f"--input values must be finite and in [-1, 1], got "
                     f"[{images.min():.3g}, {images.max():.3g}]: map uint8 pixels p to "
                     "p / 127.5 - 1")
  _, system, state = superres.restore_workdir(workdir, step)
  upscaled = superres.upscale(system, state.ema_generator_variables(),
                              np.clip(images, -1.0, 1.0), int(config.eval.batch_size))
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  if ext == ".npy":
    with open(out, "wb") as f:
      np.save(f, upscaled.astype(np.float32))
  else:
    save_png(image_grid(upscaled, math.ceil(math.sqrt(len(upscaled)))), out)
  return [out], state


def read_image_folder(folder: str, channels: int) -> np.ndarray:
  """The image files directly in `folder`, sorted by name -> float32 [N, H, W, channels] in [-1, 1].

  Pillow reads them (PNG, JPEG, ...) and converts them to grey (1 channel) or
  RGB (3); all must have the same size. Hidden files and subfolders are skipped.
  """
  from PIL import Image
  names = sorted(n for n in os.listdir(folder)
                 if not n.startswith(".") and os.path.isfile(os.path.join(folder, n)))
  if not names:
    raise ValueError(f"--input folder {folder!r} holds no image files")
  mode = {1: "L", 3: "RGB"}.get(channels)
  if mode is None:
    raise ValueError(f"--input as a folder needs a 1- or 3-channel run, this one has {channels}")
  arrays = []
  for name in names:
    path = os.path.join(folder, name)
    try:
      with Image.open(path) as image:
        array = np.asarray(image.convert(mode))
    except Exception as e:  # noqa: BLE001 -- name the file whatever Pillow raises
      raise ValueError(f"--input: cannot read {path!r} as an image ({e})") from None
    array = array.reshape(array.shape[:2] + (channels,))
    if arrays and array.shape != arrays[0].shape:
      raise ValueError(f"--input: {path!r} is {array.shape[1]}x{array.shape[0]} but "
                       f"{names[0]!r} is {arrays[0].shape[1]}x{arrays[0].shape[0]}: "
                       "all images in the folder must have one size")
    arrays.append(array)
  return pixels.to_model(np.stack(arrays))


def _channels(config) -> int:
  from gaxla import data
  return data.example_shape(config.data)[-1]
