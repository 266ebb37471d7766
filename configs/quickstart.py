"""Quick start: a class-conditional DCGAN on scikit-learn's bundled digits.

No download: the 1,797 8x8 digit images ship inside scikit-learn. Images are
upsampled to 16x16. About a minute on a 2-core laptop CPU.

  gaxla train --config configs/quickstart.py --workdir runs/quickstart

Samples (one row per digit) land in runs/quickstart/samples/.
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "digits"
  config.data.image_size = 16
  config.model.name = "dcgan"
  config.model.conditional = True
  config.model.latent_dim = 32
  config.model.generator = model_kwargs("dcgan", "generator", base_channels=32, embed_dim=16,
                                          upsample="nearest")
  config.model.critic = model_kwargs("dcgan", "critic", base_channels=32,
                                       spectral_norm=True, conditioning="projection")
  config.loss.name = "hinge"
  config.optim.generator.lr = 2e-4
  config.optim.critic.lr = 4e-4
  config.optim.generator.b1 = 0.0
  config.optim.critic.b1 = 0.0
  config.optim.generator.b2 = 0.9
  config.optim.critic.b2 = 0.9
  config.ema.decay = 0.99
  config.num_steps = 2000
  config.batch_size = 64
  config.log_every_steps = 200
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 1000
  return config
