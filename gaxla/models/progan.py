"""ProGAN (Karras et al., 2018): a generator and critic that grow 4x4 -> N x N.

Both networks hold every resolution's layers from the start (a fixed parameter
tree, so checkpoints, shardings and resume stay simple); which of them run is
the *phase*, a static module field:

  phase 0            stable at 4x4
  phase 2k - 1       fading in resolution 4 * 2^k: the output (G) or input
                     path (D) is lerp(old path, new block, alpha)
  phase 2k           stable at 4 * 2^k (alpha = 1)

`phase = -1` (the default, what `gaxla sample` / eval use) reads the phase and
alpha of the last training step from the 'progress' variable collection,
which the training step writes (gaxla/progressive.py); the generator then
returns that phase's image, nearest-upsampled to the final resolution and
cropped to `out_shape`. So a mid-run checkpoint samples the current stage,
upsampled; a finished run samples the final resolution.

Image sides that are not powers of two (Fashion-MNIST's 28) are padded with -1
(black) to the next power of two, the ProGAN paper's 32x32 for MNIST-like data;
the generator crops its final output back.

The schedule (images per fade and per stable phase, start resolution) is set
through the generator's kwargs and turned into steps by `Schedule`.
Layers: equalized learning rate everywhere (gaxla/nn/equalized.py), pixelwise
feature normalization in G, minibatch standard deviation in D
(gaxla/nn/minibatch.py), leaky ReLU 0.2, nearest upsampling, average pooling.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla.nn.equalized import EqualizedConv, EqualizedDense, pixel_norm
from gaxla.nn.minibatch import minibatch_stddev

PROGRESS = "progress"  # collection: {'phase': int32, 'alpha': float32} of the last step


# ----------------------------------------------------------------------------
# Resolutions and the schedule
# ----------------------------------------------------------------------------
def padded_side(side: int) -> int:
  """The power of two >= `side` the networks work at (28 -> 32)."""
  return 1 << max(2, math.ceil(math.log2(side)))


def num_stages_for(side: int) -> int:
  """Resolutions 4, 8, ..., padded_side(side)."""
  return int(math.log2(padded_side(side))) - 1


def stage_of(phase: int) -> tuple[int, bool]:
  """(stage index, fading) of a phase; stage k has resolution 4 * 2^k."""
  return (phase + 1) // 2, phase % 2 == 1


def pad_to(x: jnp.ndarray, side: int, value: float = -1.0) -> jnp.ndarray:
  """Centres NHWC images in side x side, filling with `value` (black)."""
  h, w = x.shape[1], x.shape[2]
  if (h, w) == (side, side):
    return x
  top, left = (side - h) // 2, (side - w) // 2
  return jnp.pad(x, ((0, 0), (top, side - h - top), (left, side - w - left), (0, 0)),
                 constant_values=value)


def crop_to(x: jnp.ndarray, shape: tuple) -> jnp.ndarray:
  """The centre `shape[:2]` of NHWC images (inverse of `pad_to`)."""
  h, w = shape[0], shape[1]
  top, left = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
  return x[:, top:top + h, left:left + w, :]


def downsample(x: jnp.ndarray, factor: int) -> jnp.ndarray:
  """Average pooling by `factor` (how reals reach a stage's resolution)."""
  if factor == 1:
    return x
  b, h, w, c = x.shape
  return x.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def upsample(x: jnp.ndarray, factor: int) -> jnp.ndarray:
  """Nearest-neighbour upsampling by `factor`."""
  if factor == 1:
    return x
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def lerp(old: jnp.ndarray, new: jnp.ndarray, alpha) -> jnp.ndarray:
  """The fade-in blend: `old` at alpha = 0, exactly `new` at alpha = 1."""
  return alpha * new + (1.0 - alpha) * old


@dataclasses.dataclass(frozen=True)
class Schedule:
  """When each phase runs, in generator steps.

  From `start_stage`: a stable phase of `stable_images`, then for each higher
  resolution a fade of `fade_images` and a stable phase of `stable_images`;
  the final stable phase lasts to the end of the run. Images count real
  images per generator step (`batch_size`); a phase of n images lasts
  ceil(n / batch_size) steps.
  """

  num_stages: int
  start_stage: int
  fade_steps: int
  stable_steps: int

  @classmethod
  def from_kwargs(cls, generator_kwargs, side: int, batch_size: int) -> Schedule:
    start = int(generator_kwargs.get("start_resolution", 4))
    return cls(num_stages=num_stages_for(side),
               start_stage=int(math.log2(start)) - 2,
               fade_steps=-(-int(generator_kwargs.get("fade_images", 1)) // batch_size),
               stable_steps=-(-int(generator_kwargs.get("stable_images", 1)) // batch_size))

  @property
  def final_phase(self) -> int:
    return 2 * (self.num_stages - 1)

  def phase_starts(self) -> list[tuple[int, int]]:
    """[(phase, first step)] in order, from the start phase to the final one."""
    starts, step = [(2 * self.start_stage, 0)], self.stable_steps
    for stage in range(self.start_stage + 1, self.num_stages):
      starts.append((2 * stage - 1, step))
      starts.append((2 * stage, step + self.fade_steps))
      step += self.fade_steps + self.stable_steps
    return starts

  def phase_at(self, step: int) -> int:
    """The phase that trains generator step `step` (a Python int)."""
    phase = self.phase_starts()[0][0]
    for p, first in self.phase_starts():
      if step >= first:
        phase = p
    return phase

  def next_change(self, step: int) -> int | None:
    """The first step after `step` that starts a new phase (None: none left)."""
    for _, first in self.phase_starts():
      if first > step:
        return first
    return None

  def alpha(self, phase: int, step) -> jnp.ndarray:
    """Fade-in weight at `step` (may be traced): 0 -> 1 linearly over a fade, else 1."""
    if not stage_of(phase)[1]:
      return jnp.ones((), jnp.float32)
    first = dict(self.phase_starts())[phase]
    progress = (jnp.asarray(step, jnp.float32) - first) / self.fade_steps
    return jnp.clip(progress, 0.0, 1.0)


def _progress_variables(module: nn.Module):
  phase = module.variable(PROGRESS, "phase", lambda: jnp.zeros((), jnp.int32))
  alpha = module.variable(PROGRESS, "alpha", lambda: jnp.ones((), jnp.float32))
  return phase.value, alpha.value


def _lrelu(x):
  return nn.leaky_relu(x, 0.2)


# ----------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------
class ProGANGenerator(nn.Module):
  """G(z, labels) -> images; see the module docstring for `phase`.

  Attributes:
    out_shape: (H, W, C) of the data (H = W; padded to a power of two inside).
    num_classes: > 0: the one-hot label joins z (the paper's conditional setup).
    channels: feature maps at 4x4, 8x8, ..., one per resolution up to the
      padded side (its length must match: 4 entries for 32x32).
    start_resolution, fade_images, stable_images: the growing schedule (read
      by the training step through `Schedule`, not by the module).
    phase: static training phase; -1 = the last trained phase (sampling).
  """

  out_shape: tuple
  num_classes: int = 0
  channels: tuple = (128, 128, 64, 32)
  start_resolution: int = 4
  fade_images: int = 60_000
  stable_images: int = 60_000
  phase: int = -1

  def _block(self, stage: int, h):
    width, res = self.channels[stage], 4 * 2 ** stage
    if stage == 0:
      # Dense to 4x4 (gain sqrt(2)/4, as the paper's official code), then a 3x3 conv.
      h = EqualizedDense(16 * width, gain=math.sqrt(2) / 4, name="dense_4")(pixel_norm(h))
      h = pixel_norm(_lrelu(h.reshape(h.shape[0], 4, 4, width)))
    else:
      h = upsample(h, 2)
      h = pixel_norm(_lrelu(EqualizedConv(width, name=f"conv{res}_a")(h)))
    return pixel_norm(_lrelu(EqualizedConv(width, name=f"conv{res}_b")(h)))

  def _to_rgb(self, stage: int, h):
    return EqualizedConv(self.out_shape[-1], 1, gain=1.0, name=f"to_rgb_{4 * 2 ** stage}")(h)

  @nn.compact
  def __call__(self, z, labels, train: bool = False):
    del train  # no BatchNorm or dropout
    side = padded_side(self.out_shape[0])
    stages = num_stages_for(self.out_shape[0])
    if len(self.channels) != stages:
      raise ValueError(f"progan generator: channels has {len(self.channels)} entries but "
                       f"{self.out_shape[0]}x{self.out_shape[0]} images (padded to {side}) "
                       f"need {stages}, one per resolution 4..{side}.")
    if self.num_classes:
      z = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)], -1)
    stored_phase, stored_alpha = _progress_variables(self)
    if self.phase >= 0:
      stage, fading = stage_of(self.phase)
      h, previous = z, None
      for k in range(stage + 1):
        previous, h = h, self._block(k, h)
      rgb = self._to_rgb(stage, h)
      if fading:
        rgb = lerp(upsample(self._to_rgb(stage - 1, previous), 2), rgb,
                   stored_alpha.astype(rgb.dtype))
      return rgb  # at the stage's resolution, on the padded grid
    # Sampling: every stage's picture at the final side; pick the stored phase's.
    h, pictures = z, []
    for k in range(stages):
      h = self._block(k, h)
      pictures.append(upsample(self._to_rgb(k, h), side // (4 * 2 ** k)))
    candidates = []
    for phase in range(2 * stages - 1):
      stage, fading = stage_of(phase)
      picture = pictures[stage]
      if fading:
        picture = lerp(pictures[stage - 1], picture, stored_alpha.astype(picture.dtype))
      candidates.append(picture)
    chosen = jnp.take(jnp.stack(candidates), jnp.clip(stored_phase, 0, len(candidates) - 1),
                      axis=0)
    return crop_to(chosen, self.out_shape)


# ----------------------------------------------------------------------------
# Critic
# ----------------------------------------------------------------------------
class ProGANCritic(nn.Module):
  """D(x, labels) -> logits [B]; x at the phase's resolution (see `phase`).

  Attributes:
    num_classes: > 0: a projection term <embed(label), features> is added.
    channels: feature maps at 4x4, 8x8, ... (same length as the generator's).
    mbstd_group_size: group of the minibatch-stddev layer (must divide the batch).
    phase: static training phase; -1 = the final resolution (used at init).
  """

  num_classes: int = 0
  channels: tuple = (128, 128, 64, 32)
  mbstd_group_size: int = 4
  phase: int = -1

  def _from_rgb(self, stage: int, x):
    return _lrelu(EqualizedConv(self.channels[stage], 1, name=f"from_rgb_{4 * 2 ** stage}")(x))

  def _block(self, stage: int, h):
    res = 4 * 2 ** stage
    h = _lrelu(EqualizedConv(self.channels[stage], name=f"conv{res}_a")(h))
    h = _lrelu(EqualizedConv(self.channels[stage - 1], name=f"conv{res}_b")(h))
    return downsample(h, 2)

  @nn.compact
  def __call__(self, x, labels, train: bool = False):
    del train
    _, alpha = _progress_variables(self)
    if self.phase >= 0:
      stage, fading = stage_of(self.phase)
    else:  # the final resolution: data-shaped input, padded like the reals
      x = pad_to(x, padded_side(x.shape[1]))
      stage, fading = len(self.channels) - 1, False
    expected = 4 * 2 ** stage
    if x.shape[1] != expected or len(self.channels) <= stage:
      raise ValueError(f"progan critic: phase {self.phase} expects {expected}x{expected} "
                       f"inputs with {stage + 1}+ channel entries; got {x.shape[1:3]} and "
                       f"channels {self.channels}.")
    h = self._from_rgb(stage, x)
    if stage > 0:
      h = self._block(stage, h)
      if fading:
        h = lerp(self._from_rgb(stage - 1, downsample(x, 2)), h, alpha.astype(h.dtype))
      for k in range(stage - 1, 0, -1):
        h = self._block(k, h)
    if self.is_initializing() and self.phase < 0:
      # Every resolution's input layer exists from step 0 (a fixed parameter tree).
      for k in range(len(self.channels) - 1):
        self._from_rgb(k, downsample(x, 2 ** (len(self.channels) - 1 - k)))
    h = minibatch_stddev(h, self.mbstd_group_size, consecutive=True)
    h = _lrelu(EqualizedConv(self.channels[0], name="conv4")(h))
    features = _lrelu(EqualizedDense(self.channels[0], name="dense4")(h.reshape(h.shape[0], -1)))
    logits = EqualizedDense(1, gain=1.0, name="logit")(features)[:, 0]
    if self.num_classes:
      embed = nn.Embed(self.num_classes, self.channels[0], name="class_embedding",
                       embedding_init=nn.initializers.normal(1.0))(labels)
      logits = logits + jnp.sum(embed * features, axis=-1) / math.sqrt(self.channels[0])
    return logits
