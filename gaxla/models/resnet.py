"""SNGAN ResNet generator and critic for 32x32 images (Miyato et al., 2018).

The CIFAR-10 architecture of the SNGAN paper (Table 4): G maps z (128) to a
4x4x256 grid, three residual up-blocks of 256 channels, BN-ReLU-conv3x3-tanh;
D has four residual blocks of 128 channels (the first two halve the side, the
first is not pre-activated), ReLU, global sum pooling and a linear head, with
spectral normalization on every critic layer. These are BigGAN's blocks with
the 32x32 plan, no attention, no hierarchical latents, Xavier init and no
spectral norm in G, so the family reuses `gaxla.models.biggan` with those
defaults. Class-conditional variants use per-class CBN gains/biases in G
(SNGAN's conditional BN) and the projection head in D.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaxla.models.biggan import BigGANCritic, BigGANGenerator


class SNGANGenerator(BigGANGenerator):
  """z [B, latent] (+ labels) -> 32x32 images; 256-channel residual blocks."""

  out_shape: Sequence[int] = (32, 32, 3)
  ch: int = 64                  # x4 (the 32x32 plan) = 256 channels
  attention_resolutions: Sequence[int] = ()
  hierarchical: bool = False
  shared_dim: int = 0           # per-class CBN embeddings when conditional
  spectral_norm: bool = False
  weight_init: str = "xavier"


class SNGANCritic(BigGANCritic):
  """32x32 images (+ labels) -> logits; 128-channel residual blocks, SN."""

  ch: int = 32                  # x4 (the 32x32 plan) = 128 channels
  attention_resolutions: Sequence[int] = ()
  weight_init: str = "xavier"
