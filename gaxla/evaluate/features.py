"""Feature extraction over a device mesh, real-data splits, and reference statistics.

A `FeatureExtractor` wraps a Flax `apply` returning a dict of per-example
arrays (e.g. Inception's pool3 features and logits). It runs jitted on fixed-
size batches; with more than one device the batch is split over a 1-D mesh's
'data' axis (`NamedSharding` + `jax.device_put`) and the weights are
replicated, so the numbers do not depend on the device count (up to float
rounding). Results come back to the host as NumPy.

Real images for reference statistics come from `load_split`, for every image
dataset: Fashion-MNIST's and CIFAR-10's own train/test splits, ImageNet's
train/validation (a seeded subset of at most MAX_REFERENCE, decoded on
demand from the prepared tfds ArrayRecord files), and for scikit-learn's
digits (no official split) a fixed seeded 80/20 partition.

Reference statistics are computed once and cached as .npz in the cache dir;
the file name ends in a hash of what they were computed from (the dataset,
its version and example count, the split, the image size, the feature
network and its weights, and the sampling rule), and the file stores that
description under 'source'. Changing any of those computes new statistics
instead of silently reusing stale ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gaxla.data import pixels
from gaxla.evaluate import frechet

DIGITS_TEST_FRACTION = 0.2
MAX_REFERENCE = 50_000          # FID convention: at most 50k real images
REFERENCE_SUBSET = 10_000       # real features kept for KID and k-NN metrics


def data_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh over this process's devices, axis 'data'.

  Single process: every device (as `jax.make_mesh((n,), ('data',))`). With
  several processes each one scores the same samples on its own devices:
  host-local NumPy batches can then be placed without cross-host transfers,
  and every process gets the same numbers. Auto axis types: plain jit works.
  """
  devices = jax.local_devices()
  if len(devices) == jax.device_count():
    return jax.make_mesh((len(devices),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))
  return jax.sharding.Mesh(np.array(devices), ("data",),
                           axis_types=(jax.sharding.AxisType.Auto,))


class FeatureExtractor:
  """Jitted, data-parallel `apply_fn(variables, images) -> {name: [B, ...]}`.

  Attributes:
    name: identifies the network and its weights (used in cache file names).
    batch_size: examples per call, rounded up to a multiple of the device count.
  """

  def __init__(self, name: str, apply_fn: Callable, variables, batch_size: int = 200):
    self.name = name
    self.mesh = data_mesh()
    n = self.mesh.devices.size
    self.batch_size = -(-int(batch_size) // n) * n
    self._batch_sharding = NamedSharding(self.mesh, P("data"))
    self.variables = jax.device_put(variables, NamedSharding(self.mesh, P()))
    self._apply = jax.jit(apply_fn, out_shardings=self._batch_sharding)

  def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
    """Features of images [N, H, W, C] (uint8 0..255 or float in [-1, 1])."""
    outputs: dict[str, list] = {}
    for start in range(0, len(images), self.batch_size):
      batch = np.asarray(images[start:start + self.batch_size])
      if batch.dtype == np.uint8:
        batch = pixels.to_model(batch)
      count = len(batch)
      if count < self.batch_size:
        # One shape for every call: pad, then drop the padding's features.
        pad = np.zeros((self.batch_size - count,) + batch.shape[1:], batch.dtype)
        batch = np.concatenate([batch, pad])
      out = self._apply(self.variables, jax.device_put(jnp.asarray(batch, jnp.float32),
                                                        self._batch_sharding))
      for key, value in jax.device_get(out).items():
        outputs.setdefault(key, []).append(np.asarray(value)[:count])
    return {key: np.concatenate(parts) for key, parts in outputs.items()}


def file_fingerprint(path: str) -> str:
  """Short content hash of a file, so caches follow the weights they came from."""
  digest = hashlib.sha1()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()[:10]


def load_split(data_config, split: str, limit: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
  """Real images (uint8 NHWC, resized per config) and labels of 'train' or 'test'.

  Args:
    limit: at most this many (see `gaxla.data.load_images`); None = all.
  """
  from gaxla import data
  if split not in ("train", "test"):
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")
  if data_config.name == "digits":
    images, labels = data.load_images(data_config, "train")
    order = np.random.default_rng(0).permutation(len(images))
    num_test = round(DIGITS_TEST_FRACTION * len(images))
    idx = np.sort(order[:num_test] if split == "test" else order[num_test:])
    return images[idx][:limit], labels[idx][:limit]
  return data.load_images(data_config, split, limit=limit)


def source_hash(description: dict) -> str:
  """Short hash of a JSON-able description (what a cache was computed from)."""
  text = json.dumps(description, sort_keys=True, default=str)
  return hashlib.sha1(text.encode()).hexdigest()[:10]


def image_tag(data_config) -> str:
  """'<dataset>_<size>px': what a cache of real-data features depends on."""
  from gaxla import data
  shape = data.example_shape(data_config)
  return f"{data_config.name}_{shape[0]}px"


def reference(extractor: FeatureExtractor, data_config, split: str, cache_dir: str,
              feature_key: str, per_class: bool = False) -> dict[str, np.ndarray]:
  """Statistics of real images in an extractor's feature space, cached as .npz.

  Args:
    extractor: the feature network.
    data_config: the config's `data` group.
    split: 'train' or 'test'.
    cache_dir: folder of cache files.
    feature_key: which output of the extractor to use (e.g. 'pool').
    per_class: also store per-class means and covariances.

  Returns:
    {'mu', 'sigma', 'count', 'features' (a seeded subset of up to
    REFERENCE_SUBSET vectors), 'labels' (theirs), 'source' (JSON: what they
    were computed from); with per_class, 'class_mu' [C, d],
    'class_sigma' [C, d, d], 'class_count' [C]}.
  """
  from gaxla import data
  suffix = "_perclass" if per_class else ""
  description = {**data.describe_source(data_config, split), "features": extractor.name,
                 "output": feature_key, "max_reference": MAX_REFERENCE,
                 "subset": REFERENCE_SUBSET, "per_class": per_class}
  path = os.path.join(cache_dir, f"ref_{image_tag(data_config)}_{split}_{extractor.name}_"
                      f"{feature_key}{suffix}_{source_hash(description)}.npz")

  def compute():
    images, labels = load_split(data_config, split, limit=MAX_REFERENCE)
    feats = extractor(images)[feature_key].astype(np.float64)
    mu, sigma = frechet.statistics(feats)
    # Random order, so any prefix of the subset is itself a uniform sample.
    keep = np.random.default_rng(0).permutation(len(feats))[:REFERENCE_SUBSET]
    out = {"mu": mu, "sigma": sigma, "count": np.array(len(feats)),
           "features": feats[keep].astype(np.float32), "labels": labels[keep],
           "source": np.array(json.dumps(description, sort_keys=True))}
    if per_class:
      classes = int(labels.max()) + 1
      stats = [frechet.statistics(feats[labels == c]) for c in range(classes)]
      out["class_mu"] = np.stack([s[0] for s in stats])
      out["class_sigma"] = np.stack([s[1] for s in stats])
      out["class_count"] = np.bincount(labels, minlength=classes)
    return out

  return frechet.cached_reference(path, compute)
