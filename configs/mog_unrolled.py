"""Unrolled GAN on the ring (Metz et al. 2017, the 2-D mixture recipe).

  gaxla train --config configs/mog_unrolled.py --workdir runs/unrolled
  gaxla train --config configs/mog_unrolled.py:grid --workdir runs/unrolled_grid

The paper's set-up: G with two hidden ReLU layers of 128 and a 256-d latent,
D with one hidden layer of 128, Adam (beta1 0.5) at 1e-3 for G and 1e-4 for
D, batch 512, and G's loss taken through k = 10 lookahead critic updates
(`unroll.steps`; the paper also shows k = 5). gaxla's MLP critic uses leaky
ReLUs, and the ring is PacGAN's (8 modes on the unit circle, std 0.01) rather
than the paper's radius-2 ring. Pass `--config.unroll.steps=0` for the same
GAN without unrolling. The argument picks the mixture: 'ring' (default) or
'grid' (PacGAN's 25 Gaussians, std 0.05; the same recipe, as in VEEGAN's
and PacGAN's grid comparisons).
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  mixture = arg or "ring"
  if mixture not in ("ring", "grid"):
    raise ValueError(f"argument must be 'ring' or 'grid', got {arg!r}")
  config = defaults()
  config.data.name = mixture
  config.model.name = "mlp"
  config.model.latent_dim = 256
  config.model.generator = model_kwargs("mlp", "generator", hidden=(128, 128))
  config.model.critic = model_kwargs("mlp", "critic", hidden=(128,))
  config.loss.name = "non_saturating"
  config.unroll.steps = 10
  config.optim.generator.lr = 1e-3
  config.optim.critic.lr = 1e-4
  for side in (config.optim.generator, config.optim.critic):
    side.b1 = 0.5
    side.b2 = 0.999
  config.batch_size = 512
  config.num_steps = 25000
  config.steps_per_call = 50
  config.log_every_steps = 1000
  config.eval_every_steps = 5000
  config.checkpoint_every_steps = 5000
  return config
