"""The original WGAN recipe (Arjovsky et al. 2017) on PacGAN's ring.

  gaxla train --config configs/mog_wgan.py --workdir runs/ring_wgan

The paper's Algorithm 1 and defaults: Wasserstein critic loss, critic weights
clipped to [-0.01, 0.01] after every critic update, 5 critic updates per
generator update, RMSProp with lr 5e-5 on both sides (PyTorch's RMSprop,
alpha 0.99, as the authors' code), batch 64, no EMA. The networks are
configs/mog_ring.py's MLPs. Use 'grid' as the argument for the 25-mode grid.
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
  config.penalty.name = "none"
  config.penalty.weight = 0.0
  config.penalty.every = 1
  config.weight_clip = 0.01
  config.optim.n_critic = 5
  for side in (config.optim.generator, config.optim.critic):
    side.name = "rmsprop"
    side.lr = 5e-5
    side.rms_decay = 0.99
    side.momentum = 0.0
    side.schedule = "constant"
  config.ema.decay = 0.0
  config.batch_size = 64
  return config
