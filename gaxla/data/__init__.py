"""Datasets by name and the deterministic batch sources that feed training.

| name           | kind   | what                                         | download |
|----------------|--------|----------------------------------------------|----------|
| ring, grid     | points | PacGAN 2-D Gaussian mixtures                 | none     |
| digits         | images | scikit-learn's bundled 8x8 digits, 10 classes | none     |
| fashion_mnist  | images | 28x28 Fashion-MNIST via tfds (offline build)  | none if Debian's dataset-fashion-mnist is installed |
| stacked_fashion_mnist | images | 28x28x3: three independent Fashion-MNIST images as channels (1,000 modes; unconditional) | as fashion_mnist |
| cifar10        | images | 32x32 CIFAR-10, tfds `cifar10`, streamed       | prepare with `tfds build` (needs TF once) |
| imagenet2012   | images | ImageNet ILSVRC2012, tfds, streamed, centre-cropped to data.image_size (default 128) | manual tars + `tfds build` |
| folder         | images | your own images (class subfolders -> labels, flat -> unconditional), streamed | `gaxla prepare` into data.data_dir |

Small image sets are held in RAM as uint8 and batched by `ArraySource`
(deterministic in (seed, step)); CIFAR-10 and ImageNet (prepared tfds
ArrayRecord datasets, gaxla/data/tfds_images.py) and a prepared image folder
(gaxla/data/folder.py) stream through the grain pipeline
(gaxla/data/grain_pipeline.py), also deterministic in (seed, step); see
README "Data".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gaxla.data import mixtures
from gaxla.data.pipeline import ArraySource, MixtureSource, stacked_batches  # noqa: F401


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  name: str
  kind: str            # 'points' or 'images'
  num_classes: int     # 0 for unlabelled data
  native_shape: tuple  # one example, before resizing


DATASETS = {
    "ring": DatasetInfo("ring", "points", 0, (2,)),
    "grid": DatasetInfo("grid", "points", 0, (2,)),
    "digits": DatasetInfo("digits", "images", 10, (8, 8, 1)),
    "fashion_mnist": DatasetInfo("fashion_mnist", "images", 10, (28, 28, 1)),
    # Unconditional: its 1,000 class triples are counted, not conditioned on.
    "stacked_fashion_mnist": DatasetInfo("stacked_fashion_mnist", "images", 0, (28, 28, 3)),
    "cifar10": DatasetInfo("cifar10", "images", 10, (32, 32, 3)),
    # Native sizes vary; examples are centre-cropped and resized to 128 unless
    # data.image_size says otherwise.
    "imagenet2012": DatasetInfo("imagenet2012", "images", 1000, (128, 128, 3)),
    # Classes and size come from the prepared folder (`get_info(data_config)`).
    "folder": DatasetInfo("folder", "images", 0, (0, 0, 3)),
}
_STREAMED = ("cifar10", "imagenet2012")   # read by index from tfds, not loaded into RAM
GRAIN_DATASETS = _STREAMED + ("folder",)   # fed by the grain pipeline (grain_pipeline.py)
# The labelled held-out split behind our 'test' (ImageNet's own 'test' has no labels).
_SPLIT_NAMES = {"imagenet2012": {"test": "validation"}}
# Stacked sets for evaluation pair images by seeded permutations, one seed per split.
SPLITS_SEED = {"train": 0, "test": 1}


def get_info(dataset) -> DatasetInfo:
  """The dataset's `DatasetInfo`, from its name or (needed for 'folder') the `data` config.

  For 'folder' with a `data` config, classes and image size are read from the
  prepared folder's dataset_info.json (FileNotFoundError, naming `gaxla
  prepare`, when it is not prepared).
  """
  name = dataset if isinstance(dataset, str) else dataset.name
  if name not in DATASETS:
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
  if name == "folder" and not isinstance(dataset, str):
    from gaxla.data import folder
    meta = folder.read_info(dataset.data_dir)
    size = meta["image_size"]
    return DatasetInfo("folder", "images", meta["num_classes"], (size, size, meta["channels"]))
  return DATASETS[name]


def example_shape(data_config) -> tuple:
  """Shape of one training example after preprocessing."""
  info = get_info(data_config)
  if info.kind == "images" and data_config.image_size:
    return (data_config.image_size, data_config.image_size, info.native_shape[-1])
  return tuple(info.native_shape)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize of uint8 NHWC images to size x size."""
  from PIL import Image
  if images.shape[1:3] == (size, size):
    return images
  out = np.empty((len(images), size, size, images.shape[-1]), np.uint8)
  for i, image in enumerate(images):
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    resized = np.asarray(pil.resize((size, size), Image.BILINEAR))
    out[i] = resized.reshape(size, size, -1)
  return out


def split_name(name: str, split: str) -> str:
  """The dataset's own name for our 'train' / 'test' split."""
  return _SPLIT_NAMES.get(name, {}).get(split, split)


def subset_indices(count: int, limit: int | None) -> np.ndarray:
  """Indices of at most `limit` of `count` examples: all, or a seeded uniform subset.

  The subset is sorted (sequential reads) and fixed (seed 0), so the same
  images back every reference statistic computed from it.
  """
  if not limit or count <= limit:
    return np.arange(count)
  return np.sort(np.random.default_rng(0).choice(count, limit, replace=False))


def load_images(data_config, split: str = "train",
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Loads an image split as (uint8 NHWC, int32 labels), resized per config.

  Every image dataset has real images here: the in-memory ones (digits,
  Fashion-MNIST) load whole; the streamed ones (CIFAR-10, ImageNet from
  prepared tfds ArrayRecord datasets) read and decode only the examples asked
  for, with the training pipeline's centre crop and resize.

  Args:
    data_config: the config's `data` group.
    split: 'train' or 'test' (ImageNet: its labelled 'validation' split).
    limit: at most this many examples (None: all). In-memory datasets keep the
      first `limit`; streamed ones a seeded uniform subset (`subset_indices`),
      since their files may be ordered by class.

  Raises:
    FileNotFoundError: a streamed dataset is not prepared (the message says how).
  """
  name = data_config.name
  if name in _STREAMED or name == "folder":
    from gaxla.data import tfds_images
    source = _open(data_config, split)
    return tfds_images.read_examples(source, subset_indices(len(source), limit),
                                     example_shape(data_config)[0])
  if name == "digits":
    from gaxla.data import digits
    images, labels = digits.load()
  elif name in ("fashion_mnist", "stacked_fashion_mnist"):
    from gaxla.data import fashion_mnist
    images, labels = fashion_mnist.load(
        split, data_dir=data_config.data_dir or None,
        source_dir=data_config.source_dir or None)
    if name == "stacked_fashion_mnist":
      # A fixed stacked set as large as the split (labels: the mode index).
      from gaxla.data import stacked
      images, labels = stacked.stack(images, labels, len(images), seed=SPLITS_SEED[split])
  else:
    raise ValueError(f"dataset {name!r} has no images")
  if limit:
    images, labels = images[:limit], labels[:limit]
  if data_config.image_size:
    images = resize_images(images, data_config.image_size)
  return images, labels


def _open(data_config, split: str):
  """Random-access source of a streamed dataset's split (tfds, or a prepared folder)."""
  if data_config.name == "folder":
    from gaxla.data import folder
    return folder.FolderRecords(data_config.data_dir, split)
  from gaxla.data import tfds_images
  name = data_config.name
  return tfds_images.open_source(name, split_name(name, split), data_config.data_dir or None)


def describe_source(data_config, split: str) -> dict:
  """What a split's real images come from: the key reference statistics are cached under.

  Cheap (opens a streamed dataset's index, decodes nothing). Changing the
  dataset, its version or example count, the split or the image size changes
  the description, and with it the cache key.

  Raises:
    FileNotFoundError: a streamed dataset's split is not prepared.
  """
  name = data_config.name
  out = {"dataset": name, "split": split_name(name, split),
         "image_shape": list(example_shape(data_config))}
  if name == "folder":
    source = _open(data_config, split)
    out.update({"folder": source.info["source_hash"], "examples": len(source)})
  elif name in _STREAMED:
    from gaxla.data import tfds_images
    out.update(tfds_images.describe(_open(data_config, split)))
  elif name in ("fashion_mnist", "stacked_fashion_mnist"):
    from gaxla.data import fashion_mnist
    out["version"] = str(fashion_mnist.GaxlaFashionMnist.VERSION)
  return out


def make_source(data_config, batch_size: int, n_critic: int, seed: int,
                rows: slice | None = None, shard_options=None):
  """Builds the training batch source for a config's `data` group.

  Args:
    data_config: the config's `data` group.
    batch_size: global batch per update.
    n_critic: critic updates per generator step (leading batch axis).
    seed: the run seed; batches are a pure function of (seed, step).
    rows: only these rows of each global batch (this process's share on a
      multi-host run); default all for in-memory data, and for streamed data
      the rows of this process (grain `ShardByJaxProcess`).
    shard_options: for streamed data, a grain `ShardOptions` naming the
      process whose rows to read (instead of `rows`).

  Returns:
    An object with `batch(step) -> {'x', 'label'}`; for streamed datasets a
    `GrainPipeline` (gaxla/data/grain_pipeline.py), whose iterator state
    checkpoints with the run.
  """
  info = get_info(data_config)
  if info.kind == "points":
    return MixtureSource(mixtures.MIXTURES[info.name](), batch_size, n_critic, seed, rows)
  if info.name in GRAIN_DATASETS:
    from gaxla.data.grain_pipeline import GrainPipeline
    return GrainPipeline(_open(data_config, "train"), example_shape(data_config)[0], batch_size,
                         n_critic, seed, rows=rows, shard_options=shard_options,
                         workers=data_config.get("workers", 0),
                         random_flip=data_config.get("random_flip", False))
  if info.name == "stacked_fashion_mnist":
    from gaxla.data import stacked
    single = data_config.copy_and_resolve_references()
    single.name = "fashion_mnist"
    images, labels = load_images(single, "train")
    return stacked.StackedSource(images, labels, batch_size, n_critic, seed, rows)
  images, labels = load_images(data_config, "train")
  return ArraySource(images, labels, batch_size, n_critic, seed, rows)
