"""A small domain classifier trained on the real dataset, for offline metrics.

Inception features mean little for 28x28 grey clothes (and cost ~6 GFLOP per
image on a CPU), so image GANs here are also scored in the feature space of a
CNN trained on the same dataset: conv(16) -> pool -> conv(32) -> pool ->
dense(128) ('features', the penultimate layer) -> dense(classes) ('logits').

`get_classifier` trains it with optax Adam on the train split on first use and
caches params plus test accuracy as `.npz` in the cache dir, keyed by dataset,
image size, number of steps and seed. Training is deterministic given those.
Large datasets (ImageNet) train on a seeded subset of at most MAX_TRAIN
images and are tested on at most MAX_TEST (`gaxla.data.load_images`).
"""

from __future__ import annotations

import os
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gaxla.data import pixels
from gaxla.evaluate import features as features_lib

FEATURE_DIM = 128
WIDTH = 16
ARCH = f"cnn{WIDTH}"  # in cache file names: a changed network never loads stale weights
MAX_TRAIN = 60_000   # all of Fashion-MNIST / CIFAR-10; a subset of ImageNet
MAX_TEST = 10_000


class DomainClassifier(nn.Module):
  """Images [N, H, W, C] in [-1, 1] -> {'features': [N, 128], 'logits': [N, classes]}."""

  num_classes: int
  width: int = WIDTH

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(self.width, (3, 3), name="conv1")(x))
    x = nn.avg_pool(x, (2, 2), (2, 2))
    x = nn.relu(nn.Conv(2 * self.width, (3, 3), name="conv2")(x))
    x = nn.avg_pool(x, (2, 2), (2, 2))
    x = x.reshape((x.shape[0], -1))
    feats = nn.relu(nn.Dense(FEATURE_DIM, name="dense")(x))
    return {"features": feats, "logits": nn.Dense(self.num_classes, name="out")(feats)}


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, steps: int,
                     batch_size: int = 128, learning_rate: float = 2e-3, seed: int = 0):
  """Trains `DomainClassifier` with Adam; returns its params.

  Args:
    images: uint8 [N, H, W, C] training images.
    labels: int [N] classes.
    num_classes: number of classes.
    steps: optimizer steps (Fashion-MNIST: ~940 = 2 epochs at batch 128).
    batch_size: examples per step, drawn by epoch-wise shuffling.
    learning_rate: Adam step size, decayed by a cosine to 0.
    seed: init and shuffling seed.
  """
  model = DomainClassifier(num_classes)
  x0 = jnp.zeros((1,) + images.shape[1:], jnp.float32)
  params = model.init(jax.random.key(seed), x0)["params"]
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    def loss_fn(p):
      logits = model.apply({"params": p}, x)["logits"]
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  order = rng.permutation(len(images))
  position = 0
  for _ in range(steps):
    if position + batch_size > len(order):
      order, position = rng.permutation(len(images)), 0
    idx = order[position:position + batch_size]
    position += batch_size
    x = pixels.to_model(images[idx])
    params, opt_state = step(params, opt_state, x, labels[idx].astype(np.int32))
  return params


def _flatten(tree, prefix=""):
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f"{prefix}{key}/"))
    else:
      out[f"{prefix}{key}"] = np.asarray(value)
  return out


def _unflatten(flat):
  tree: dict = {}
  for path, value in flat.items():
    node = tree
    *parents, leaf = path.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = jnp.asarray(value)
  return tree


def cache_path(data_config, cache_dir: str, steps: int, seed: int = 0) -> str:
  return os.path.join(cache_dir, f"classifier_{features_lib.image_tag(data_config)}_{ARCH}_"
                      f"{steps}steps_seed{seed}.npz")


def get_classifier(data_config, cache_dir: str, steps: int, batch_size: int = 200,
                   seed: int = 0) -> tuple[features_lib.FeatureExtractor, float]:
  """The trained classifier for a dataset as a feature extractor, and its test accuracy.

  Trains on the train split and caches on first use (see module docstring).

  Returns:
    (extractor with outputs 'features' and 'logits', test-split accuracy).
  """
  from gaxla import data
  path = cache_path(data_config, cache_dir, steps, seed)
  num_classes = data.get_info(data_config).num_classes
  if num_classes < 2:
    raise ValueError(f"the domain classifier needs a labelled dataset; "
                     f"'{data_config.name}' has no classes")
  model = DomainClassifier(num_classes)
  apply = lambda variables, x: model.apply(variables, x)
  if os.path.exists(path):
    with np.load(path) as cached:
      flat = {k[len("params/"):]: cached[k] for k in cached.files if k.startswith("params/")}
      accuracy = float(cached["test_accuracy"])
    params = _unflatten(flat)
  else:
    images, labels = features_lib.load_split(data_config, "train", limit=MAX_TRAIN)
    start = time.perf_counter()
    params = train_classifier(images, labels, num_classes, steps, seed=seed)
    train_seconds = time.perf_counter() - start
    test_images, test_labels = features_lib.load_split(data_config, "test", limit=MAX_TEST)
    scorer = features_lib.FeatureExtractor("tmp", apply, {"params": params}, batch_size)
    predicted = scorer(test_images)["logits"].argmax(axis=1)
    accuracy = float(np.mean(predicted == test_labels))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.npz"
    np.savez(tmp, test_accuracy=np.array(accuracy), train_seconds=np.array(train_seconds),
             **{f"params/{k}": v for k, v in _flatten(params).items()})
    os.replace(tmp, path)
  name = os.path.splitext(os.path.basename(path))[0]
  return features_lib.FeatureExtractor(name, apply, {"params": params}, batch_size), accuracy
