"""ESRGAN (Wang et al., 2018): the RRDB generator, the VGG-style critic, feature networks.

RRDBGenerator(lr, labels, train) -> hr
    conv -> `num_blocks` residual-in-residual dense blocks -> conv, added to the
    first conv's output -> per factor 2: nearest upsampling + conv + LeakyReLU
    -> conv + LeakyReLU -> conv to the image channels. No BatchNorm anywhere;
    each dense block and each RRDB adds its residual scaled by
    `residual_scale` (0.2 in the paper). The scale factor is not a field: it
    is set once, by `config.sr.scale` (gaxla/superres.py passes it on), so it
    never disagrees with the data.
    The output is linear, as in ESRGAN (images in [-1, 1]; callers clip).
VGGCritic(x, labels, train) -> logits [B]
    VGG-style: conv pairs (3x3 stride 1, 4x4 stride 2) with LeakyReLU(0.2),
    doubling channels per level (capped at `max_channels`) down to 4x4 or less, then
    dense(100) -> dense(1). The paper's critic also has BatchNorm; this one has
    none, so the critic needs no state beyond its params.
VGG19Features(x) -> features
    torchvision's `vgg19().features` up to `layer` (default 'conv5_4', the
    ESRGAN layer), taken before its ReLU (or after, `pre_activation=False`);
    the input is mapped from [-1, 1] to ImageNet-normalized RGB (grey images
    are tiled to 3 channels). Params are named `conv{block}_{index}` and come
    from torchvision's `.pth` through `convert_torchvision_vgg19`.
ClassifierFeatures(x) -> features
    the second conv of gaxla's domain classifier (gaxla/evaluate/classifier.py)
    before its ReLU: the perceptual feature network where no VGG19 weights are
    given (it reads the classifier's own params).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_LEAK = 0.2


class DenseBlock(nn.Module):
  """Residual dense block: 5 convs, each seeing all earlier outputs; scaled residual."""

  features: int
  growth: int
  residual_scale: float = 0.2

  @nn.compact
  def __call__(self, x):
    inputs = [x]
    for i in range(4):
      y = nn.Conv(self.growth, (3, 3), name=f"conv{i + 1}")(jnp.concatenate(inputs, axis=-1))
      inputs.append(nn.leaky_relu(y, _LEAK))
    y = nn.Conv(self.features, (3, 3), name="conv5")(jnp.concatenate(inputs, axis=-1))
    return x + self.residual_scale * y


class RRDB(nn.Module):
  """Residual-in-residual dense block: three dense blocks inside a scaled residual."""

  features: int
  growth: int
  residual_scale: float = 0.2

  @nn.compact
  def __call__(self, x):
    y = x
    for i in range(3):
      y = DenseBlock(self.features, self.growth, self.residual_scale, name=f"rdb{i + 1}")(y)
    return x + self.residual_scale * (y - x)


class RRDBGenerator(nn.Module):
  """Low-resolution image [B, h, w, C] in [-1, 1] -> high-resolution [B, H, W, C]."""

  out_shape: tuple
  num_classes: int = 0       # unused: SR is conditioned on the image
  features: int = 64
  growth: int = 32
  num_blocks: int = 23
  residual_scale: float = 0.2
  # 0: out_shape's side / the input's side. gaxla.superres sets it from
  # sr.scale, so that inputs of any size upscale by that factor.
  scale: int = 0

  @nn.compact
  def __call__(self, lr, labels=None, train: bool = True):
    del labels, train  # no class conditioning, no BatchNorm
    scale = self.scale
    if not scale:
      if lr.ndim != 4 or self.out_shape[0] % lr.shape[1]:
        raise ValueError(f"RRDBGenerator: input {lr.shape} does not divide output "
                         f"{self.out_shape}")
      scale = self.out_shape[0] // lr.shape[1]
    if scale not in (1, 2, 4, 8):
      raise ValueError(f"RRDBGenerator: scale {scale} is not a power of 2 up to 8")
    first = nn.Conv(self.features, (3, 3), name="conv_first")(lr)
    trunk = first
    for i in range(self.num_blocks):
      trunk = RRDB(self.features, self.growth, self.residual_scale, name=f"rrdb{i}")(trunk)
    x = first + nn.Conv(self.features, (3, 3), name="conv_body")(trunk)
    for i in range(int(math.log2(scale))):
      b, h, w, c = x.shape
      x = jax.image.resize(x, (b, 2 * h, 2 * w, c), "nearest")
      x = nn.leaky_relu(nn.Conv(self.features, (3, 3), name=f"conv_up{i + 1}")(x), _LEAK)
    x = nn.leaky_relu(nn.Conv(self.features, (3, 3), name="conv_hr")(x), _LEAK)
    return nn.Conv(self.out_shape[-1], (3, 3), name="conv_last")(x)


class VGGCritic(nn.Module):
  """Images [B, H, W, C] -> logits [B] (VGG-style, relativistic average in ESRGAN)."""

  num_classes: int = 0       # unused
  base_channels: int = 64
  max_channels: int = 512

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del labels, train
    channels = self.base_channels
    x = nn.leaky_relu(nn.Conv(channels, (3, 3), name="conv0_0")(x), _LEAK)
    x = nn.leaky_relu(nn.Conv(channels, (4, 4), (2, 2), name="conv0_1")(x), _LEAK)
    level = 1
    while x.shape[1] > 4:
      channels = min(2 * channels, self.max_channels)
      x = nn.leaky_relu(nn.Conv(channels, (3, 3), name=f"conv{level}_0")(x), _LEAK)
      x = nn.leaky_relu(nn.Conv(channels, (4, 4), (2, 2), name=f"conv{level}_1")(x), _LEAK)
      level += 1
    x = x.reshape((x.shape[0], -1))
    x = nn.leaky_relu(nn.Dense(100, name="dense1")(x), _LEAK)
    return nn.Dense(1, name="dense2")(x)[:, 0]


# ------------------------------------------------------------------------------
# Feature networks for the perceptual loss
# ------------------------------------------------------------------------------
# torchvision's VGG19 ('E'): conv widths per block; a 2x2 max pool after each block.
VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512),
                (512, 512, 512, 512))
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def vgg19_layer_names() -> list[str]:
  """'conv1_1' .. 'conv5_4' in network order."""
  return [f"conv{b + 1}_{i + 1}" for b, widths in enumerate(VGG19_BLOCKS)
          for i in range(len(widths))]


class VGG19Features(nn.Module):
  """Images in [-1, 1] (1 or 3 channels) -> VGG19 activations at `layer`."""

  layer: str = "conv5_4"
  pre_activation: bool = True

  @nn.compact
  def __call__(self, x):
    if self.layer not in vgg19_layer_names():
      raise ValueError(f"unknown VGG19 layer {self.layer!r}; valid: "
                       f"{', '.join(vgg19_layer_names())}")
    if x.shape[-1] == 1:
      x = jnp.tile(x, (1, 1, 1, 3))
    x = ((x + 1.0) / 2.0 - _IMAGENET_MEAN) / _IMAGENET_STD
    for b, widths in enumerate(VGG19_BLOCKS):
      if b:
        x = nn.max_pool(x, (2, 2), (2, 2))
      for i, width in enumerate(widths):
        name = f"conv{b + 1}_{i + 1}"
        x = nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), name=name)(x)
        if name == self.layer and self.pre_activation:
          return x
        x = nn.relu(x)
        if name == self.layer:
          return x
    raise AssertionError("unreachable")


def convert_torchvision_vgg19(state_dict: dict) -> dict:
  """torchvision `vgg19().state_dict()` (NumPy arrays) -> VGG19Features params.

  The classifier head is dropped; conv weights go from torch's [out, in, kh, kw]
  to Flax's [kh, kw, in, out]. Only the 16 convs of `features` are read.
  """
  params = {}
  index = 0
  for b, widths in enumerate(VGG19_BLOCKS):
    if b:
      index += 1  # the max pool's slot in torchvision's Sequential
    for i, _ in enumerate(widths):
      prefix = f"features.{index}"
      missing = [k for k in (f"{prefix}.weight", f"{prefix}.bias") if k not in state_dict]
      if missing:
        raise KeyError(f"not a torchvision VGG19 state dict: no {missing[0]} "
                       "(expected keys features.N.weight/bias)")
      weight = np.asarray(state_dict[f"{prefix}.weight"], np.float32)
      params[f"conv{b + 1}_{i + 1}"] = {
          "kernel": jnp.asarray(weight.transpose(2, 3, 1, 0)),
          "bias": jnp.asarray(np.asarray(state_dict[f"{prefix}.bias"], np.float32)),
      }
      index += 2  # conv, ReLU
  return {"params": params}


def load_vgg19(path: str) -> dict:
  """VGG19Features variables from torchvision's VGG19 `.pth` (read without torch)."""
  import os

  from gaxla.evaluate import torch_pickle
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"VGG19 weights {path!r} not found: give torchvision's vgg19 .pth "
        "(e.g. vgg19-dcbb9e9d.pth) in sr.vgg19_weights, or set sr.perceptual = 'classifier'")
  state = torch_pickle.load(path)
  if isinstance(state, dict) and "state_dict" in state:
    state = state["state_dict"]
  return convert_torchvision_vgg19(state)


class ClassifierFeatures(nn.Module):
  """gaxla's domain classifier up to its second conv, before the ReLU."""

  width: int = 16

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(self.width, (3, 3), name="conv1")(x))
    x = nn.avg_pool(x, (2, 2), (2, 2))
    return nn.Conv(2 * self.width, (3, 3), name="conv2")(x)

