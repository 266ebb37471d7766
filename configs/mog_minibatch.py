"""Minibatch discrimination on PacGAN's 2-D mixtures.

  gaxla train --config configs/mog_minibatch.py:ring --workdir runs/ring_mbd

configs/mog_ring.py (or mog_grid.py with the argument 'grid') with a critic
that has a minibatch-discrimination layer before its output (Salimans et al.
2016: 16 kernels of 8 dims, L1 distance, exp(-.) kernel). The step then runs
D on real and fake batches separately so a batch never mixes them.
"""

import os

from gaxla import config as config_lib


def get_config(arg: str | None = None):
  mixture = arg or "ring"
  if mixture not in ("ring", "grid"):
    raise ValueError(f"argument must be 'ring' or 'grid', got {arg!r}")
  here = os.path.dirname(os.path.abspath(__file__))
  config = config_lib.from_file(os.path.join(here, f"mog_{mixture}.py"))
  config.model.critic.minibatch_discrimination = 16
  config.model.critic.minibatch_kernel_dim = 8
  return config
