"""ProGAN at 256x256 on your own images (e.g. CelebA-HQ or LSUN), for accelerators.

The paper's network (Karras et al., 2018, Table 2) up to 256: 512 feature maps
through 32x32, then 256, 128, 64; 800k real images per fade and per stable
phase; WGAN-GP (10) with the drift term; Adam(0.001, 0, 0.99); EMA 0.999;
unconditional, as the paper's CelebA-HQ / LSUN runs. The batch stays 64 at
every resolution (no per-stage batch size in gaxla). Reaches 256x256 stable
after 9.6M images (step 150,000), then trains 2.4M more.

  gaxla prepare --source ~/celeba_hq --out data/celeba_hq256 --image_size 256
  gaxla train --config configs/folder256_progan.py --workdir runs/progan256 --config.data.data_dir=data/celeba_hq256
"""

from gaxla.config import defaults, model_kwargs

CHANNELS = (512, 512, 512, 512, 256, 128, 64)  # 4, 8, ..., 256


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "folder"
  config.data.image_size = 256
  config.model.name = "progan"
  config.model.conditional = False
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
  config.num_steps = 187_500          # 12M images of 64
  config.batch_size = 64
  config.log_every_steps = 100
  config.eval_every_steps = 12_500
  config.checkpoint_every_steps = 2_500
  config.eval.grid_size = 8
  return config
