"""Class-conditional BigGAN on CIFAR-10 (32x32), BigGAN-PyTorch's CIFAR settings.

ch = 64 in both players (4 * ch = 256 channels; BigGAN-PyTorch
`launch_cifar_ema.sh`), no attention, shared embedding 128 with hierarchical
latents (z 128 = 4 chunks of 32), hinge loss, G lr 2e-4 / D lr 2e-4, Adam
b1 = 0, 4 critic steps per G step, batch 50, EMA from step 1000, 500k G steps.
Needs the tfds `cifar10` dataset prepared as ArrayRecord (gaxla/data/tfds_images.py).

  gaxla train --config configs/cifar10_biggan.py --workdir runs/cifar10_biggan --config.data.data_dir=DIR
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "cifar10"
  config.model.name = "biggan"
  config.model.conditional = True
  config.model.latent_dim = 128
  config.model.generator = model_kwargs("biggan", "generator", ch=64, attention_resolutions=())
  config.model.critic = model_kwargs("biggan", "critic", ch=64, attention_resolutions=())
  config.loss.name = "hinge"
  config.optim.n_critic = 4
  for role in ("generator", "critic"):
    config.optim[role].lr = 2e-4
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.999
  config.ema.decay = 0.9999
  config.ema.start_step = 1000
  config.num_steps = 500_000
  config.batch_size = 50
  config.log_every_steps = 500
  config.eval_every_steps = 5000
  config.checkpoint_every_steps = 5000
  return config
