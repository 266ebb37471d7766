"""Image datasets streamed from prepared tfds datasets (CIFAR-10, ImageNet), TF-free.

`open_source` opens a split for random access with `tfds.data_source`
(ArrayRecord, no TensorFlow; tfds decodes the stored PNG/JPEG with Pillow);
training batches come from it through the grain pipeline
(gaxla/data/grain_pipeline.py), evaluation images through `read_examples`.

Preprocessing: centre crop to a square on the long edge, then a bilinear (area
for downscaling) resize to the configured side, uint8 -> [-1, 1]; the same as
BigGAN-PyTorch's CenterCropLongEdge + Resize.

The dataset must be prepared beforehand (tfds needs TensorFlow to *build*
cifar10 / imagenet2012, not to read them): see the error message of
`open_source` for the command.
"""

from __future__ import annotations

import numpy as np

from gaxla.data import pixels


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
  return {**batch, "x": pixels.to_model(batch["x"])}
