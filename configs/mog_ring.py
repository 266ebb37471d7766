"""PacGAN's ring: 8 Gaussians on the unit circle (std 0.01), MLP GAN.

  gaxla train --config configs/mog_ring.py --workdir runs/ring

Evaluated every `eval_every_steps` by mode coverage (2,500 samples, 3-std rule).
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "ring"
  config.model.name = "mlp"
  config.model.latent_dim = 16
  config.model.generator = model_kwargs("mlp", "generator", hidden=(256, 256, 256))
  config.model.critic = model_kwargs("mlp", "critic", hidden=(256, 256, 256))
  config.num_steps = 3000
  config.batch_size = 256
  config.log_every_steps = 500
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 3000
  return config
