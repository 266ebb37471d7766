"""Generator/critic families by name.

Every generator is called as `G(z, labels, train=...) -> samples` and every
critic as `D(x, labels, train=...) -> logits [B]`; `labels` is ignored by
unconditional models. `num_classes` and `out_shape` are filled in from the
dataset; the remaining fields come from `config.model.generator/critic`.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn

from gaxla.models.biggan import (
  BigGANCritic,
  BigGANDeepCritic,
  BigGANDeepGenerator,
  BigGANGenerator,
)
from gaxla.models.dcgan import DCGANCritic, DCGANGenerator
from gaxla.models.esrgan import RRDBGenerator, VGGCritic
from gaxla.models.mlp import MLPCritic, MLPGenerator
from gaxla.models.progan import ProGANCritic, ProGANGenerator
from gaxla.models.resnet import SNGANCritic, SNGANGenerator


@dataclasses.dataclass(frozen=True)
class Family:
  generator: type
  critic: type


MODELS = {
    "mlp": Family(MLPGenerator, MLPCritic),
    "dcgan": Family(DCGANGenerator, DCGANCritic),
    "biggan": Family(BigGANGenerator, BigGANCritic),
    "biggan_deep": Family(BigGANDeepGenerator, BigGANDeepCritic),
    "sngan_resnet": Family(SNGANGenerator, SNGANCritic),
    "progan": Family(ProGANGenerator, ProGANCritic),  # trained by gaxla/progressive.py
    "esrgan": Family(RRDBGenerator, VGGCritic),  # image-conditioned: gaxla/superres.py
}


def get(name: str) -> Family:
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
  return MODELS[name]


def build(model_config, out_shape: tuple, num_classes: int) -> tuple[nn.Module, nn.Module]:
  """Instantiates (generator, critic) from `config.model` and the data spec.

  Args:
    model_config: the config's `model` group.
    out_shape: shape of one example (e.g. (2,) or (28, 28, 1)).
    num_classes: classes for conditioning; ignored unless model_config.conditional.

  Returns:
    (generator, critic) Flax modules.
  """
  family = get(model_config.name)
  classes = num_classes if model_config.conditional else 0
  g_kwargs = dict(model_config.generator)
  d_kwargs = dict(model_config.critic)
  # ConfigDicts turn tuples into lists; Flax fields must stay hashable.
  g_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in g_kwargs.items()}
  d_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d_kwargs.items()}
  generator = family.generator(out_shape=tuple(out_shape), num_classes=classes, **g_kwargs)
  critic = family.critic(num_classes=classes, **d_kwargs)
  return generator, critic
