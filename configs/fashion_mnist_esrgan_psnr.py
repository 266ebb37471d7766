"""ESRGAN x4 on Fashion-MNIST, stage 1: the PSNR-oriented RRDB (L1 only, no critic update).

28x28 images are downsampled to 7x7 (bicubic, antialiased, inside the step)
and upscaled back: no padding (28 = 4 x 7). The result initializes the GAN
stage (configs/fashion_mnist_esrgan.py, sr.init_from):

  gaxla train --config configs/fashion_mnist_esrgan_psnr.py --workdir runs/fmnist_sr_psnr
  gaxla train --config configs/fashion_mnist_esrgan.py --workdir runs/fmnist_esrgan \\
      --config.sr.init_from=runs/fmnist_sr_psnr
  gaxla interpolate --psnr runs/fmnist_sr_psnr --gan runs/fmnist_esrgan --alpha 0.8 \\
      --out runs/fmnist_esrgan_0.8
  gaxla sample --workdir runs/fmnist_esrgan_0.8 --input lr.npy --out sr.npy

Evaluation: PSNR and SSIM (Y channel, 4-px borders cropped) of the EMA
generator on the first eval.num_samples test images, logged as eval/sr/*.
A small RRDB (4 blocks of 32 features, growth 16; the paper: 23 blocks of 64,
growth 32) so that it trains on a 2-core CPU in minutes.
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "fashion_mnist"
  config.model.name = "esrgan"
  config.model.generator = model_kwargs("esrgan", "generator", features=32, growth=16,
                                        num_blocks=4)
  config.model.critic = model_kwargs("esrgan", "critic", base_channels=32, max_channels=256)
  config.loss.name = "relativistic_average"
  config.sr.scale = 4
  config.sr.stage = "psnr"
  config.sr.metrics = ("psnr", "ssim", "fd")
  # ESRGAN's pre-training: Adam(0.9, 0.99), lr 2e-4.
  for role in ("generator", "critic"):
    config.optim[role].lr = 2e-4
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
