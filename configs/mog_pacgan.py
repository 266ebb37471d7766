"""PacGAN on PacGAN's 2-D mixtures: gaxla's ring/grid config with a packed critic.

  gaxla train --config configs/mog_pacgan.py:ring4 --workdir runs/ring_pac4
  gaxla train --config configs/mog_pacgan.py:grid2 --workdir runs/grid_pac2

The argument is the mixture ('ring' or 'grid') followed by the pack size m
(default ring4). The critic scores packs of m samples, all real or all fake,
concatenated into one 2m-dim input (Lin et al. 2018); everything else is
configs/mog_ring.py or configs/mog_grid.py. Our choice: the critic's batch
of packs equals the unpacked config's batch, so the real and fake batches
grow m-fold (the critic's logits per update stay the same). The paper's own networks (maxout critic, 4x400 BN generator) are not
reproduced: gaxla has no maxout layer; this isolates the effect of packing
on gaxla's tuned recipe.
"""

import os

from gaxla import config as config_lib


def get_config(arg: str | None = None):
  arg = arg or "ring4"
  mixture, size = arg.rstrip("0123456789"), arg[len(arg.rstrip("0123456789")):]
  if mixture not in ("ring", "grid") or not size:
    raise ValueError(f"argument must be ring<m> or grid<m> (e.g. ring4), got {arg!r}")
  here = os.path.dirname(os.path.abspath(__file__))
  config = config_lib.from_file(os.path.join(here, f"mog_{mixture}.py"))
  config.pack.size = int(size)
  config.batch_size *= config.pack.size
  return config
