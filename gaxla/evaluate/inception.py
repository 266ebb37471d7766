"""InceptionV3 as used by FID, in Flax Linen, with weights from a local file.

The network is the 2015-12-05 TensorFlow Inception graph that the reference
FID (and the original IS) use, in the layout pytorch-fid ported it to
(`FIDInceptionA/C/E_1/E_2`). It differs from torchvision's InceptionV3 in:
  - the 3x3 average pools inside Mixed_5b-d, 6b-e and 7b divide by the number
    of real (unpadded) pixels, as TensorFlow does (`count_include_pad=False`);
  - Mixed_7c's pool branch is a 3x3 *max* pool, not an average pool;
  - 1008 output classes; BatchNorm eps 1e-3 everywhere; no auxiliary head.
Inputs are NHWC images in [-1, 1] (grey images are repeated to 3 channels),
resized bilinearly (half-pixel centres, no antialiasing, like PyTorch's
`F.interpolate(..., align_corners=False)`) to 299x299. Outputs: 'pool' (the
2048-d pool3 features FID uses), 'logits' (1008 classes), and
'logits_unbiased' (pool3 @ W without the bias: what the original IS code
feeds its softmax).

Weights: no package here ships them and nothing is downloaded. Convert
pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` once with
`scripts/convert_inception_weights.py` into an `.npz` of Flax variables (keys
'params/Mixed_5b/branch1x1/conv/kernel', ..., 'batch_stats/.../bn/mean').
"""

from __future__ import annotations

import os
import zipfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gaxla.evaluate import torch_pickle

INPUT_SIZE = 299
MIN_INPUT_SIZE = 75  # smaller inputs shrink to nothing before Mixed_7a
FEATURE_DIM = 2048
NUM_CLASSES = 1008
CONVERTER = "scripts/convert_inception_weights.py"
PTH_NAME = "pt_inception-2015-12-05-6726825d.pth"


class BasicConv(nn.Module):
  """Conv (no bias) -> BatchNorm (running statistics, eps 1e-3) -> ReLU."""

  features: int
  kernel: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel, strides=self.strides,
                padding=((ph, ph), (pw, pw)), use_bias=False, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def _avg_pool_same(x):
  # TensorFlow's SAME average pool: padded pixels do not count.
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), strides=2, name="branch3x3")(x)
    bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
    bp = nn.max_pool(x, (3, 3), (2, 2))
    return jnp.concatenate([b3, bd, bp], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv(c, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv(c, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv(c, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv(c, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv(320, (3, 3), strides=2, name="branch3x3_2")(b3)
    b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
    bp = nn.max_pool(x, (3, 3), (2, 2))
    return jnp.concatenate([b3, b7, bp], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b (pool='avg', FIDInceptionE_1) and Mixed_7c (pool='max', FIDInceptionE_2)."""

  pool: str = "avg"

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([
        BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
        BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
    bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([
        BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
        BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
    if self.pool == "max":
      # The 2015 graph max-pools here (likely a bug there; FID depends on it).
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_same(x)
    bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """FID Inception: images [N, H, W, 1 or 3] in [-1, 1] -> pool3 features and logits.

  Attributes:
    resize: side the input is resized to (299 for FID; 0 keeps the input size,
      which must then be at least 75).
  """

  resize: int = INPUT_SIZE

  @nn.compact
  def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
    x = jnp.asarray(images, jnp.float32)
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    if x.shape[-1] != 3:
      raise ValueError(f"InceptionV3 takes 1 or 3 channels, got shape {x.shape}")
    if self.resize and x.shape[1:3] != (self.resize, self.resize):
      x = jax.image.resize(x, (x.shape[0], self.resize, self.resize, 3), "bilinear",
                           antialias=False)
    if min(x.shape[1:3]) < MIN_INPUT_SIZE:
      raise ValueError(f"InceptionV3 needs inputs of at least {MIN_INPUT_SIZE}px, got {x.shape}")
    x = BasicConv(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
    x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = nn.max_pool(x, (3, 3), (2, 2))
    x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = nn.max_pool(x, (3, 3), (2, 2))
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE("avg", name="Mixed_7b")(x)
    x = InceptionE("max", name="Mixed_7c")(x)
    pool = jnp.mean(x, axis=(1, 2))
    fc = nn.Dense(NUM_CLASSES, name="fc")
    logits = fc(pool)
    return {"pool": pool, "logits": logits,
            "logits_unbiased": logits - fc.variables["params"]["bias"]}


# ----------------------------------------------------------------------------
# Weights: PyTorch state dict -> Flax variables -> .npz
# ----------------------------------------------------------------------------
def abstract_variables(resize: int = INPUT_SIZE) -> dict:
  """Shapes of the variables {'params', 'batch_stats'} (no compute)."""
  size = resize or MIN_INPUT_SIZE
  return jax.eval_shape(InceptionV3(resize=resize).init, jax.random.key(0),
                        jnp.zeros((1, size, size, 3), jnp.float32))


def _flatten(tree, prefix=""):
  out = {}
  for key, value in tree.items():
    path = f"{prefix}{key}"
    if isinstance(value, dict):
      out.update(_flatten(value, path + "/"))
    else:
      out[path] = value
  return out


def _unflatten(flat: dict) -> dict:
  tree: dict = {}
  for path, value in flat.items():
    node = tree
    *parents, leaf = path.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return tree


def from_torch_state_dict(state_dict: dict) -> dict[str, np.ndarray]:
  """Maps pytorch-fid's InceptionV3 state dict to flat Flax variable paths.

  Conv weights [O, I, kh, kw] become kernels [kh, kw, I, O]; the fc weight
  [1008, 2048] becomes a Dense kernel [2048, 1008]; BatchNorm weight/bias
  become scale/bias (params) and running_mean/var mean/var (batch_stats).
  `num_batches_tracked` and torchvision's AuxLogits head are dropped.

  Returns:
    {'params/Conv2d_1a_3x3/conv/kernel': array, ...} (float32).

  Raises:
    ValueError: a key this network does not have, or one it needs is missing.
  """
  out: dict[str, np.ndarray] = {}
  for key, value in state_dict.items():
    value = np.asarray(value)
    parts = key.split(".")
    if parts[-1] == "num_batches_tracked" or parts[0] == "AuxLogits":
      continue
    module, leaf = "/".join(parts[:-1]), parts[-1]
    if parts[0] == "fc" and len(parts) == 2:
      out[f"params/fc/{'kernel' if leaf == 'weight' else leaf}"] = (
          value.T if leaf == "weight" else value)
    elif parts[-2] == "conv" and leaf == "weight":
      out[f"params/{module}/kernel"] = value.transpose(2, 3, 1, 0)
    elif parts[-2] == "bn" and leaf in ("weight", "bias"):
      out[f"params/{module}/{'scale' if leaf == 'weight' else 'bias'}"] = value
    elif parts[-2] == "bn" and leaf in ("running_mean", "running_var"):
      out[f"batch_stats/{module}/{leaf[len('running_'):]}"] = value
    else:
      raise ValueError(f"unexpected key {key!r} in the Inception state dict")
  out = {k: v.astype(np.float32) for k, v in out.items()}
  check_variables(out)
  return out


def check_variables(flat: dict[str, np.ndarray]) -> None:
  """Raises ValueError unless `flat` has exactly this network's variables and shapes."""
  expected = {k: v.shape for k, v in _flatten(abstract_variables()).items()}
  missing = sorted(set(expected) - set(flat))
  unexpected = sorted(set(flat) - set(expected))
  wrong = [f"{k}: {np.shape(flat[k])} != {expected[k]}" for k in sorted(set(expected) & set(flat))
           if tuple(np.shape(flat[k])) != tuple(expected[k])]
  if missing or unexpected or wrong:
    raise ValueError(
        "Inception weights do not match the network: "
        f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
        f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
        f"wrong shapes {wrong[:5]}")


def save_variables(flat: dict[str, np.ndarray], path: str) -> None:
  """Writes flat variables (from `from_torch_state_dict`) to an .npz file."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  np.savez(path, **flat)


def convert_pth(pth_path: str, npz_path: str) -> int:
  """Converts pytorch-fid's .pth weights to our .npz; returns the number of arrays."""
  flat = from_torch_state_dict(torch_pickle.load(pth_path))
  save_variables(flat, npz_path)
  return len(flat)


def load_variables(path: str) -> dict:
  """Loads {'params', 'batch_stats'} for `InceptionV3` from a converted .npz.

  Raises:
    FileNotFoundError: the file is missing; the message names the converter.
    ValueError: the file does not hold this network's variables.
  """
  if not path or not os.path.exists(path):
    raise FileNotFoundError(
        f"Inception weights not found at {path or '(no path set)'}. gaxla never downloads "
        f"them: get pytorch-fid's {PTH_NAME} (its GitHub release 'fid_weights') and convert "
        f"it once with `python {CONVERTER} --pth {PTH_NAME} --out {path or 'FILE.npz'}` "
        "(set eval.inception_weights to the .npz if it lives elsewhere).")
  redo = f"Convert them again with `python {CONVERTER} --pth {PTH_NAME} --out {path}`."
  try:
    loaded = np.load(path, allow_pickle=False)
    if not hasattr(loaded, "files"):  # a single .npy array, not an archive
      raise ValueError("a single array, not an .npz archive of the network's variables")
    with loaded as data:
      flat = {k: data[k] for k in data.files}
  except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(
        f"Inception weights at {path} are not a readable .npz ({type(e).__name__}: "
        f"{str(e)[:120]}). {redo}") from None
  try:
    check_variables(flat)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  return jax.tree.map(jnp.asarray, _unflatten(flat))
