"""BigGAN (Brock et al., 2019) and BigGAN-deep generator and critic.

Generator: a linear layer maps the first latent chunk to a `bottom_width`^2
grid; residual up-blocks (BN-ReLU-up-conv3x3-BN-ReLU-conv3x3, 1x1 learnable
shortcut) double the side; a SAGAN self-attention block follows the block
whose output side is in `attention_resolutions`; output BN-ReLU-conv3x3-tanh.
Every BN inside a block is conditional (CBN): its gain and bias are bias-free
spectral-normed linear maps of the conditioning vector, which is the shared
class embedding (`shared_dim`) concatenated with that block's latent chunk
(hierarchical latents: z is split into one chunk for the linear layer and one
per block). Every weight is spectrally normalized and orthogonally initialized,
except the shared class embedding, which is orthogonal but not normalized
(BigGAN-PyTorch: SN on G's embedding "seems to randomly cripple G").

Critic: residual down-blocks (the first without pre-activation), attention,
ReLU, global sum pooling, then a projection head (Miyato & Koyama, 2018):
  logit = linear(h) + <embed(y), h>.

Channel plans follow BigGAN-PyTorch (`G_arch` / `D_arch`): widths are `ch`
times the multipliers below, chosen by image side unless given explicitly.
With ch=96 at 128x128, 1000 classes, z 120 = 6 x 20, shared dim 128 the
generator has exactly the 70,433,988 parameters BigGAN-PyTorch reports
(tests/test_biggan.py), the critic 87,982,370.

`deep=True` gives BigGAN-deep: bottleneck blocks (1x1 down to C/4, two 3x3,
1x1 up), two blocks per resolution (only the second changes the side or the
width), channel-dropping / concatenating shortcuts, no hierarchical split (the
whole z joins the class embedding in every CBN and in the first linear), and
a 3x3 input convolution in the critic. Its widths follow the same plans; at
128x128 with ch=128 and z 128 it has 50,244,484 (G) and 34,582,466 (D)
parameters against the paper's 50.4 M and 34.6 M: close, not verified block by
block against BigGAN-PyTorch's BigGANdeep.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla.nn import BatchNorm, ConditionalBatchNorm, Conv, Dense, SelfAttention, upsample_nearest
from gaxla.nn.minibatch import MinibatchDiscrimination, minibatch_stddev

# Generator width multipliers: block i maps G_PLANS[r][i] * ch -> G_PLANS[r][i + 1] * ch
# channels, doubling the side; the first linear layer outputs G_PLANS[r][0] * ch.
G_PLANS = {
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
    512: (16, 16, 8, 8, 4, 2, 1, 1),
}
# Critic: output width multiplier and whether the block halves the side.
D_PLANS = {
    32: ((4, 4, 4, 4), (True, True, False, False)),
    64: ((1, 2, 4, 8, 16), (True,) * 4 + (False,)),
    128: ((1, 2, 4, 8, 16, 16), (True,) * 5 + (False,)),
    256: ((1, 2, 4, 8, 8, 16, 16), (True,) * 6 + (False,)),
    512: ((1, 1, 2, 4, 8, 8, 16, 16), (True,) * 7 + (False,)),
}

INITS = {
    # BigGAN-PyTorch's G_init / D_init names.
    "ortho": nn.initializers.orthogonal(),
    "xavier": nn.initializers.xavier_uniform(),
    "N02": nn.initializers.normal(0.02),
}


def _init(name: str):
  if name not in INITS:
    raise ValueError(f"init must be one of {', '.join(sorted(INITS))}, got {name!r}")
  return INITS[name]


UPSAMPLE_CONV = {"auto": None, "fused": True, "direct": False}


def _fused(upsample_conv: str) -> bool | None:
  """`upsample_conv` option -> `Conv.fused_upsample` (None = on the CPU backend only)."""
  if upsample_conv not in UPSAMPLE_CONV:
    raise ValueError(f"upsample_conv must be one of {', '.join(UPSAMPLE_CONV)}, "
                     f"got {upsample_conv!r}")
  return UPSAMPLE_CONV[upsample_conv]


def _avg_pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class _Norm(nn.Module):
  """The generator's block norm: CBN on a vector or labels, or plain BN.

  cond None -> plain BN with affine (unconditional SNGAN).
  """

  spectral_norm: bool
  num_classes: int
  kernel_init: Any
  momentum: float
  epsilon: float

  @nn.compact
  def __call__(self, x, cond, train):
    if cond is None:
      return BatchNorm(use_affine=True, momentum=self.momentum, epsilon=self.epsilon,
                       name="bn")(x, train)
    return ConditionalBatchNorm(
        spectral_norm=self.spectral_norm, num_classes=self.num_classes,
        momentum=self.momentum, epsilon=self.epsilon, kernel_init=self.kernel_init,
        name="cbn")(x, cond, train)


class GBlock(nn.Module):
  """Residual generator block; BigGAN (`bottleneck=False`) or BigGAN-deep."""

  out_channels: int
  upsample: bool
  bottleneck: bool = False
  spectral_norm: bool = True
  num_classes: int = 0
  kernel_init: Any = nn.initializers.orthogonal()
  momentum: float = 0.9
  epsilon: float = 1e-5
  fused_upsample: bool | None = None   # see gaxla.nn.Conv

  def _norm(self, name):
    return _Norm(self.spectral_norm, self.num_classes, self.kernel_init, self.momentum,
                 self.epsilon, name=name)

  def _conv(self, features, size, name, upsample=False):
    # `upsample`: the conv reads the 2x nearest-upsampled input (computed at low
    # resolution where that is exact and faster; same parameters either way).
    return Conv(features, (size, size), spectral_norm=self.spectral_norm,
                kernel_init=self.kernel_init, upsample=upsample,
                fused_upsample=self.fused_upsample, name=name)

  @nn.compact
  def __call__(self, x: jax.Array, cond: jax.Array | None, train: bool) -> jax.Array:
    in_channels = x.shape[-1]
    if not self.bottleneck:
      h = nn.relu(self._norm("bn1")(x, cond, train))
      h = self._conv(self.out_channels, 3, "conv1", self.upsample)(h, train)
      h = nn.relu(self._norm("bn2")(h, cond, train))
      h = self._conv(self.out_channels, 3, "conv2")(h, train)
      if in_channels != self.out_channels or self.upsample:
        x = self._conv(self.out_channels, 1, "conv_sc", self.upsample)(x, train)
      return h + x
    hidden = in_channels // 4
    h = self._conv(hidden, 1, "conv1")(nn.relu(self._norm("bn1")(x, cond, train)), train)
    h = nn.relu(self._norm("bn2")(h, cond, train))
    h = self._conv(hidden, 3, "conv2", self.upsample)(h, train)
    h = self._conv(hidden, 3, "conv3")(nn.relu(self._norm("bn3")(h, cond, train)), train)
    h = self._conv(self.out_channels, 1, "conv4")(
        nn.relu(self._norm("bn4")(h, cond, train)), train)
    # BigGAN-deep's shortcut has no weights: it drops the extra channels.
    x = x[..., :self.out_channels]
    return h + (upsample_nearest(x) if self.upsample else x)


class BigGANGenerator(nn.Module):
  """z [B, latent] (+ labels) -> images [B, H, W, C] in [-1, 1].

  labels: int classes [B], or (with a shared embedding) float class weights
  [B, num_classes] that mix the class embeddings.
  """

  out_shape: Sequence[int] = (128, 128, 3)
  num_classes: int = 0
  ch: int = 96
  channel_multipliers: Sequence[int] = ()   # () = G_PLANS[side]
  attention_resolutions: Sequence[int] = (64,)
  hierarchical: bool = True   # split z: one chunk to the linear, one per block
  shared_dim: int = 128       # shared class embedding; 0 = per-class CBN embeddings
  deep: bool = False          # BigGAN-deep blocks
  spectral_norm: bool = True
  weight_init: str = "ortho"  # 'ortho', 'xavier' or 'N02'
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  # Upsample + 3x3 conv: 'fused' computes it at low resolution (exact, fewer
  # FLOPs), 'direct' upsamples first, 'auto' = fused on the CPU backend only.
  upsample_conv: str = "auto"

  def plan(self) -> tuple[int, ...]:
    """Width multipliers (linear output, then each block's output)."""
    side = self.out_shape[0]
    if self.channel_multipliers:
      return tuple(self.channel_multipliers)
    if side not in G_PLANS:
      raise ValueError(f"BigGAN generator has no channel plan for side {side}; valid: "
                       f"{sorted(G_PLANS)}, or set channel_multipliers")
    return G_PLANS[side]

  def num_latent_chunks(self) -> int:
    """How many pieces z is split into (1 when not hierarchical)."""
    return len(self.plan()) if self.hierarchical and not self.deep else 1

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, *, train: bool) -> jax.Array:
    side, _, channels = self.out_shape
    plan = self.plan()
    num_blocks = len(plan) - 1
    bottom = side // 2 ** num_blocks
    if bottom * 2 ** num_blocks != side or bottom < 1:
      raise ValueError(f"{num_blocks} up-blocks cannot reach side {side} from a whole bottom width")
    kernel_init = _init(self.weight_init)
    slots = self.num_latent_chunks()
    if z.shape[-1] % slots:
      raise ValueError(f"hierarchical BigGAN splits z into {slots} equal chunks; latent_dim "
                       f"{z.shape[-1]} is not divisible by {slots} (model.latent_dim)")
    chunks = jnp.split(z, slots, axis=-1)

    if self.num_classes and self.shared_dim:
      embed = nn.Embed(self.num_classes, self.shared_dim, embedding_init=kernel_init,
                       name="shared")
      if jnp.issubdtype(labels.dtype, jnp.floating):
        # Soft labels [B, num_classes]: a mixture of class embeddings (class
        # interpolation in gaxla.sample); one-hot rows give the same as ints.
        shared = labels @ embed.embedding
      else:
        shared = embed(labels)
    elif self.num_classes:
      if slots > 1 or self.deep:
        raise ValueError("hierarchical or deep BigGAN needs a shared embedding "
                         "(shared_dim > 0) to carry both class and latent into CBN")
      shared = None
    else:
      shared = None

    if self.deep:
      # BigGAN-deep: the whole z and the class embedding go everywhere.
      block_cond = [z if shared is None else jnp.concatenate([shared, z], -1)] * num_blocks
      linear_in = block_cond[0]
    else:
      linear_in = chunks[0]
      if slots > 1:
        block_cond = [c if shared is None else jnp.concatenate([shared, c], -1)
                      for c in chunks[1:]]
      elif shared is not None:
        block_cond = [shared] * num_blocks
      elif self.num_classes:
        block_cond = [labels] * num_blocks    # per-class CBN embeddings
      else:
        block_cond = [None] * num_blocks      # plain BN

    h = Dense(bottom * bottom * plan[0] * self.ch, spectral_norm=self.spectral_norm,
              kernel_init=kernel_init, name="linear")(linear_in, train)
    h = h.reshape(z.shape[0], bottom, bottom, plan[0] * self.ch)
    block_kwargs = {"spectral_norm": self.spectral_norm, "num_classes": self.num_classes,
                    "kernel_init": kernel_init, "momentum": self.bn_momentum,
                    "epsilon": self.bn_epsilon, "fused_upsample": _fused(self.upsample_conv)}
    for i in range(num_blocks):
      out = plan[i + 1] * self.ch
      if self.deep:
        h = GBlock(h.shape[-1], upsample=False, bottleneck=True, name=f"block{i}a",
                   **block_kwargs)(h, block_cond[i], train)
        h = GBlock(out, upsample=True, bottleneck=True, name=f"block{i}b",
                   **block_kwargs)(h, block_cond[i], train)
      else:
        h = GBlock(out, upsample=True, name=f"block{i}", **block_kwargs)(h, block_cond[i], train)
      if h.shape[1] in self.attention_resolutions:
        h = SelfAttention(self.spectral_norm, kernel_init, name=f"attention{i}")(h, train)
    h = BatchNorm(use_affine=True, momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                  name="output_bn")(h, train)
    h = Conv(channels, (3, 3), spectral_norm=self.spectral_norm, kernel_init=kernel_init,
             name="output_conv")(nn.relu(h), train)
    return jnp.tanh(h)


class DBlock(nn.Module):
  """Residual critic block; BigGAN (`bottleneck=False`) or BigGAN-deep."""

  out_channels: int
  downsample: bool
  preactivation: bool = True
  wide: bool = True          # hidden width = out (True) or in (False) channels
  bottleneck: bool = False
  spectral_norm: bool = True
  kernel_init: Any = nn.initializers.orthogonal()

  def _conv(self, features, size, name):
    return Conv(features, (size, size), spectral_norm=self.spectral_norm,
                kernel_init=self.kernel_init, name=name)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    in_channels = x.shape[-1]
    if self.bottleneck:
      hidden = self.out_channels // 4
      h = self._conv(hidden, 1, "conv1")(nn.relu(x), train)
      h = self._conv(hidden, 3, "conv2")(nn.relu(h), train)
      h = self._conv(hidden, 3, "conv3")(nn.relu(h), train)
      h = self._conv(self.out_channels, 1, "conv4")(nn.relu(h), train)
      if self.downsample:
        h, x = _avg_pool(h), _avg_pool(x)
      if in_channels < self.out_channels:
        extra = self._conv(self.out_channels - in_channels, 1, "conv_sc")(x, train)
        x = jnp.concatenate([x, extra], -1)
      return h + x
    hidden = self.out_channels if self.wide else in_channels
    h = nn.relu(x) if self.preactivation else x
    h = self._conv(hidden, 3, "conv1")(h, train)
    h = self._conv(self.out_channels, 3, "conv2")(nn.relu(h), train)
    if self.downsample:
      h = _avg_pool(h)
    learnable = in_channels != self.out_channels or self.downsample
    # Pre-activated blocks convolve before pooling, the first block after
    # (same as BigGAN-PyTorch; cheaper where the input has 3 channels).
    if self.preactivation:
      if learnable:
        x = self._conv(self.out_channels, 1, "conv_sc")(x, train)
      if self.downsample:
        x = _avg_pool(x)
    else:
      if self.downsample:
        x = _avg_pool(x)
      if learnable:
        x = self._conv(self.out_channels, 1, "conv_sc")(x, train)
    return h + x


class BigGANCritic(nn.Module):
  """images [B, H, W, C] (+ labels [B]) -> logits [B]; projection conditioning."""

  num_classes: int = 0
  ch: int = 96
  channel_multipliers: Sequence[int] = ()  # () = D_PLANS[side]
  downsample: Sequence[bool] = ()          # per block; () = D_PLANS[side]
  attention_resolutions: Sequence[int] = (64,)
  wide: bool = True
  deep: bool = False
  spectral_norm: bool = True
  weight_init: str = "ortho"  # 'ortho', 'xavier' or 'N02'
  # > 0: minibatch discrimination (Salimans et al. 2016) with this many kernels
  # of `minibatch_kernel_dim` dims on the pooled features (gaxla/nn/minibatch.py).
  minibatch_discrimination: int = 0
  minibatch_kernel_dim: int = 16
  minibatch_stddev: int = 0   # > 0: ProGAN minibatch stddev channel after the last block

  def plan(self, side: int) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """(width multipliers, downsample flags), one per block."""
    if self.channel_multipliers:
      down = tuple(self.downsample) or (True,) * len(self.channel_multipliers)
      if len(down) != len(self.channel_multipliers):
        raise ValueError("critic downsample needs one flag per channel multiplier")
      return tuple(self.channel_multipliers), down
    if side not in D_PLANS:
      raise ValueError(f"BigGAN critic has no channel plan for side {side}; valid: "
                       f"{sorted(D_PLANS)}, or set channel_multipliers")
    return D_PLANS[side]

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool,
               return_features: bool = False):
    multipliers, down = self.plan(x.shape[1])
    kernel_init = _init(self.weight_init)
    h = x
    if self.deep:
      h = Conv(multipliers[0] * self.ch, (3, 3), spectral_norm=self.spectral_norm,
               kernel_init=kernel_init, name="input_conv")(h, train)
    for i, (mult, halve) in enumerate(zip(multipliers, down)):
      kwargs = {"spectral_norm": self.spectral_norm, "kernel_init": kernel_init}
      if self.deep:
        h = DBlock(mult * self.ch, halve, bottleneck=True, name=f"block{i}a", **kwargs)(h, train)
        h = DBlock(mult * self.ch, False, bottleneck=True, name=f"block{i}b", **kwargs)(h, train)
      else:
        h = DBlock(mult * self.ch, halve, preactivation=i > 0, wide=self.wide,
                   name=f"block{i}", **kwargs)(h, train)
      if h.shape[1] in self.attention_resolutions:
        h = SelfAttention(self.spectral_norm, kernel_init, name=f"attention{i}")(h, train)
    if self.minibatch_stddev:
      h = minibatch_stddev(h, self.minibatch_stddev)
    # Sum (not mean) pooling, as BigGAN and SNGAN: the head's scale tracks the side.
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    # Pooled features, readable with mutable=['intermediates'] (tests, probes).
    self.sow("intermediates", "features", h)
    features = h
    if self.minibatch_discrimination:
      h = MinibatchDiscrimination(self.minibatch_discrimination, self.minibatch_kernel_dim,
                                  name="minibatch_discrimination")(h)
    logits = Dense(1, spectral_norm=self.spectral_norm, kernel_init=kernel_init,
                   name="linear")(h, train)[:, 0]
    if self.num_classes:
      embed = nn.Embed(self.num_classes, h.shape[-1], embedding_init=kernel_init, name="embed")
      if self.spectral_norm:
        class_vectors = nn.SpectralNorm(embed, name="embed_sn")(labels, update_stats=train)
      else:
        class_vectors = embed(labels)
      logits = logits + jnp.sum(class_vectors * h, axis=-1)
    # return_features: also the sown features (the auxiliary heads of gaxla/heads.py).
    return (logits, features) if return_features else logits


class BigGANDeepGenerator(BigGANGenerator):
  """BigGAN-deep generator: `BigGANGenerator` with `deep=True`."""

  deep: bool = True
  hierarchical: bool = False


class BigGANDeepCritic(BigGANCritic):
  """BigGAN-deep critic: `BigGANCritic` with `deep=True`."""

  deep: bool = True
