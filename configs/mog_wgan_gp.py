"""The WGAN-GP recipe (Gulrajani et al. 2017) on PacGAN's ring.

  gaxla train --config configs/mog_wgan_gp.py --workdir runs/ring_wgan_gp

The paper's Algorithm 1 defaults: Wasserstein loss, gradient penalty with
lambda = 10 on random interpolates of real and fake, 5 critic updates per
generator update, Adam lr 1e-4, beta1 0.5, beta2 0.9 on both sides, batch 64,
no EMA. The networks are configs/mog_ring.py's MLPs. Use 'grid' as the
argument for the 25-mode grid.
"""

import os

from gaxla import config as config_lib


def get_config(arg: str | None = None):
  mixture = arg or "ring"
  if mixture not in ("ring", "grid"):
    raise ValueError(f"argument must be 'ring' or 'grid', got {arg!r}")
  here = os.path.dirname(os.path.abspath(__file__))
  config = config_lib.from_file(os.path.join(here, f"mog_{mixture}.py"))
  config.loss.name = "wasserstein"
  config.penalty.name = "wgan_gp"
  config.penalty.weight = 10.0
  config.penalty.every = 1
  config.optim.n_critic = 5
  for side in (config.optim.generator, config.optim.critic):
    side.name = "adam"
    side.lr = 1e-4
    side.b1 = 0.5
    side.b2 = 0.9
    side.schedule = "constant"
  config.ema.decay = 0.0
  config.batch_size = 64
  return config
