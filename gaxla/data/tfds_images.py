"""Image datasets streamed from prepared tfds datasets (CIFAR-10, ImageNet), TF-free.

`TfdsImageSource` reads examples by index from `tfds.data_source` (ArrayRecord,
random access, no TensorFlow; tfds decodes the stored PNG/JPEG with Pillow).
Batches are a pure function of (seed, step), exactly as for `ArraySource`:
the same epoch permutations, only the examples are read on demand instead of
being held in RAM (ImageNet does not fit).

Preprocessing: centre crop to a square on the long edge, then a bilinear (area
for downscaling) resize to the configured side, uint8 -> [-1, 1]; the same as
BigGAN-PyTorch's CenterCropLongEdge + Resize.

The dataset must be prepared beforehand (tfds needs TensorFlow to *build*
cifar10 / imagenet2012, not to read them): see the error message of
`open_source` for the command.
"""

from __future__ import annotations

import numpy as np

from gaxla.data.pipeline import ArraySource


def _prepare_hint(name: str, data_dir: str | None) -> str:
  where = data_dir or "$TFDS_DATA_DIR or ~/tensorflow_datasets"
  manual = (" ImageNet needs the ILSVRC2012 tar files in <data_dir>/downloads/manual first."
            if name == "imagenet2012" else "")
  return (f"tfds dataset '{name}' is not prepared in {where}. Prepare it once on a machine "
          f"with TensorFlow: `pip install tensorflow-cpu tensorflow-datasets && tfds build {name} "
          f"--data_dir DIR --file_format=array_record`, then set --config.data.data_dir=DIR."
          f"{manual}")


def open_source(name: str, split: str, data_dir: str | None):
  """Opens a prepared tfds dataset for random access.

  Raises:
    FileNotFoundError: the dataset is not prepared (the message says how).
  """
  import tensorflow_datasets as tfds
  try:
    # download=False: never try to build here (it needs TF and, for ImageNet, manual files).
    return tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
  except (tfds.core.DatasetNotFoundError, FileNotFoundError, AssertionError,
          NotImplementedError) as e:   # the last: not prepared, or prepared as TFRecord
    raise FileNotFoundError(_prepare_hint(name, data_dir)) from e


def center_crop_resize(image: np.ndarray, size: int) -> np.ndarray:
  """uint8 [H, W, C] -> uint8 [size, size, C]: centre square crop, then resize."""
  from PIL import Image
  height, width = image.shape[:2]
  side = min(height, width)
  top, left = (height - side) // 2, (width - side) // 2
  image = image[top:top + side, left:left + side]
  if side == size:
    return image
  pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  method = Image.BOX if side > size else Image.BILINEAR   # box = area average when shrinking
  return np.asarray(pil.resize((size, size), method)).reshape(size, size, -1)


def read_examples(source, indices, size: int, image_key: str = "image",
                  label_key: str = "label") -> tuple[np.ndarray, np.ndarray]:
  """Examples `indices` of a random-access source as (uint8 [N, size, size, C], int32 [N]).

  Decoded and centre-cropped/resized exactly as training batches are.
  """
  indices = np.asarray(indices, np.int64)
  images, labels = None, np.zeros(len(indices), np.int32)
  for i, index in enumerate(indices):
    record = source[int(index)]
    image = center_crop_resize(np.asarray(record[image_key]), size)
    if images is None:
      images = np.empty((len(indices),) + image.shape, np.uint8)
    images[i] = image
    labels[i] = int(record.get(label_key, 0)) if hasattr(record, "get") else 0
  if images is None:
    raise ValueError("no examples to read")
  return images, labels


def describe(source) -> dict:
  """Identity of an opened tfds source: dataset name/config/version and example count."""
  info = getattr(source, "dataset_info", None)
  return {"tfds": str(getattr(info, "full_name", "")), "examples": len(source)}


def to_float(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """A `uint8_batch` as training takes it: 'x' float32 in [-1, 1]."""
  return {**batch, "x": batch["x"].astype(np.float32) / 127.5 - 1.0}


class TfdsImageSource(ArraySource):
  """`ArraySource` batching over a tfds random-access source.

  `ArraySource.indices` only needs `len(self.images)`, so the data source
  stands in for the in-memory array; `batch` reads and decodes the examples.
  """

  def __init__(self, source, size: int, batch_size: int, n_critic: int, seed: int,
               rows: slice | None = None, image_key: str = "image", label_key: str = "label"):
    self.images = source
    self.rows = slice(0, batch_size) if rows is None else rows
    self.size = size
    self.batch_size = batch_size
    self.n_critic = n_critic
    self.seed = seed
    self.image_key, self.label_key = image_key, label_key
    self._perms: dict[int, np.ndarray] = {}

  def batch(self, step: int) -> dict[str, np.ndarray]:
    return to_float(self.uint8_batch(step))

  def uint8_batch(self, step: int) -> dict[str, np.ndarray]:
    """`batch(step)` before scaling: 'x' uint8 (a quarter of the bytes to move between
    processes)."""
    # Only this process's rows are read and decoded.
    idx = self.indices(step).reshape(self.n_critic, self.batch_size)[:, self.rows]
    records = [self.images[int(i)] for i in idx.reshape(-1)]
    images = np.stack([center_crop_resize(np.asarray(r[self.image_key]), self.size)
                       for r in records])
    labels = np.asarray([r[self.label_key] for r in records], np.int32)
    shape = idx.shape + images.shape[1:]
    return {
        "x": images.reshape(shape),
        "label": labels.reshape(idx.shape),
    }
