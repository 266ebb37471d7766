"""ESRGAN x4 on Fashion-MNIST, stage 2: the GAN stage (28x28 from 7x7, no padding).

L_G = L_percep + 5e-3 L_Ra + 1e-2 L1 (ESRGAN's weights), relativistic average
critic. The perceptual loss uses the Fashion-MNIST domain classifier's second
conv before its ReLU (no VGG19 weights here; with a converted torchvision
file: --config.sr.perceptual=vgg19 --config.sr.vgg19_weights=PATH). G starts
from the PSNR stage's EMA generator (sr.init_from):

  gaxla train --config configs/fashion_mnist_esrgan_psnr.py --workdir runs/fmnist_sr_psnr
  gaxla train --config configs/fashion_mnist_esrgan.py --workdir runs/fmnist_esrgan \\
      --config.sr.init_from=runs/fmnist_sr_psnr

See configs/fashion_mnist_esrgan_psnr.py for interpolation and sampling.
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "fashion_mnist"
  config.model.name = "esrgan"
  # The same generator as the PSNR stage (sr.init_from checks that it is).
  config.model.generator = model_kwargs("esrgan", "generator", features=32, growth=16,
                                        num_blocks=4)
  config.model.critic = model_kwargs("esrgan", "critic", base_channels=32, max_channels=256)
  config.loss.name = "relativistic_average"
  config.sr.scale = 4
  config.sr.stage = "gan"
  config.sr.perceptual = "classifier"
  config.sr.perceptual_weight = 1.0
  config.sr.adversarial_weight = 5e-3
  config.sr.l1_weight = 1e-2
  config.sr.init_from = "runs/fmnist_sr_psnr"
  config.sr.metrics = ("psnr", "ssim", "fd")
  # ESRGAN's GAN stage: Adam(0.9, 0.99), lr 1e-4 for both players.
  for role in ("generator", "critic"):
    config.optim[role].lr = 1e-4
    config.optim[role].b1 = 0.9
    config.optim[role].b2 = 0.99
  config.ema.decay = 0.0          # ESRGAN keeps no EMA of G (and 0.999 needs thousands of steps)
  # The monitor's spectral signals (power iterations over every conv kernel)
  # took 7.5 minutes to compile for this RRDB on a loaded 2-core CPU.
  config.monitor.enabled = False
  config.num_steps = 2000
  config.batch_size = 32
  config.log_every_steps = 100
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 1000
  config.eval.num_samples = 1000
  config.eval.grid_size = 8
  return config
