"""Class-conditional BigGAN on CIFAR-10 (32x32), BigGAN-PyTorch's CIFAR settings.

As BigGAN-PyTorch's `launch_cifar_ema.sh`: ch = 64 in both players (4 * ch =
256 channels), no attention, no shared embedding or hierarchical latents (per-
class CBN gains/biases, z 128 into the first linear), N(0, 0.02) init, no
orthogonal reg., hinge loss, G lr 2e-4 / D lr 2e-4, Adam b1 = 0, 4 critic steps
per G step, batch 50, EMA 0.9999 from step 1000, 500 epochs = 125k G steps
(each G step consumes 4 batches of 50).
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
  config.model.generator = model_kwargs(
      "biggan", "generator", ch=64, attention_resolutions=(), hierarchical=False, shared_dim=0,
      weight_init="N02")
  config.model.critic = model_kwargs("biggan", "critic", ch=64, attention_resolutions=(),
                                     weight_init="N02")
  config.loss.name = "hinge"
  config.optim.n_critic = 4
  for role in ("generator", "critic"):
    config.optim[role].lr = 2e-4
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.999
  config.ema.decay = 0.9999
  config.ema.start_step = 1000
  config.num_steps = 125_000
  config.batch_size = 50
  config.log_every_steps = 500
  config.eval_every_steps = 5000
  config.checkpoint_every_steps = 5000
  return config
