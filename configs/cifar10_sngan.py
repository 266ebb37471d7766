"""SNGAN-ResNet on CIFAR-10 (Miyato et al., 2018): unconditional, hinge, n_dis 5.

G: 256-channel residual blocks (4x4 -> 32x32), BN, no spectral norm; D: 128-
channel residual blocks, spectral norm everywhere; Adam lr 2e-4, b1 = 0,
b2 = 0.9, 5 critic steps per G step, batch 64, 50k G steps, linear lr decay.
Set --config.model.conditional=True for the projection cGAN variant.

  gaxla train --config configs/cifar10_sngan.py --workdir runs/cifar10_sngan --config.data.data_dir=DIR
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "cifar10"
  config.model.name = "sngan_resnet"
  config.model.conditional = False
  config.model.latent_dim = 128
  config.model.generator = model_kwargs("sngan_resnet", "generator")
  config.model.critic = model_kwargs("sngan_resnet", "critic")
  config.loss.name = "hinge"
  config.optim.n_critic = 5
  for role in ("generator", "critic"):
    config.optim[role].lr = 2e-4
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.9
    config.optim[role].schedule = "linear"
  config.ema.decay = 0.9999
  config.ema.start_step = 1000
  config.num_steps = 50_000
  config.batch_size = 64
  config.log_every_steps = 500
  config.eval_every_steps = 5000
  config.checkpoint_every_steps = 5000
  return config
