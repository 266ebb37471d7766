"""ProGAN on ImageNet 128x128, for accelerators: grows 4 -> 8 -> ... -> 128.

The paper's network (Karras et al., 2018, Table 2) up to 128: 512 feature maps
through 32x32, then 256 at 64 and 128 at 128; 800k real images per fade and
per stable phase; WGAN-GP (10) with the drift term; Adam(0.001, 0, 0.99); EMA
of G 0.999. Class-conditional (one-hot label joins z, projection critic), like
the paper's CIFAR-10 runs. The batch stays 64 at every resolution (gaxla has
no per-stage batch size; the paper lowered it at high resolutions for memory).
Reaches 128x128 stable after 8M images (step 125,000), then trains 2.4M more.

  gaxla train --config configs/imagenet128_progan.py --workdir gs://BUCKET/runs/progan128 --config.data.data_dir=gs://BUCKET/tfds
"""

from gaxla.config import defaults, model_kwargs

CHANNELS = (512, 512, 512, 512, 256, 128)  # 4, 8, 16, 32, 64, 128


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "imagenet2012"
  config.data.image_size = 128
  config.model.name = "progan"
  config.model.conditional = True
  config.model.latent_dim = 512
  config.model.generator = model_kwargs("progan", "generator", channels=CHANNELS,
                                        start_resolution=4, fade_images=800_000,
                                        stable_images=800_000)
  config.model.critic = model_kwargs("progan", "critic", channels=CHANNELS, mbstd_group_size=4)
  config.loss.name = "wasserstein_drift"
  config.penalty.name = "wgan_gp"
  config.penalty.weight = 10.0
  for role in ("generator", "critic"):
    config.optim[role].lr = 1e-3
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.99
  config.ema.decay = 0.999
  config.num_steps = 162_500          # 10.4M images of 64
  config.batch_size = 64
  config.log_every_steps = 100
  config.eval_every_steps = 12_500
  config.checkpoint_every_steps = 2_500
  config.eval.grid_size = 8
  return config
