"""Class-conditional DCGAN on Fashion-MNIST (28x28), offline.

Data: the Debian package `dataset-fashion-mnist` (apt-get install
dataset-fashion-mnist) provides the IDX files; gaxla builds a tfds ArrayRecord
dataset from them on first use (see README "Data"). Set
--config.data.source_dir to use IDX files elsewhere.

  gaxla train --config configs/fashion_mnist_dcgan.py --workdir runs/fmnist_dcgan

Samples (one row per class) land in runs/fmnist_dcgan/samples/.
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "fashion_mnist"
  config.model.name = "dcgan"
  config.model.conditional = True
  config.model.latent_dim = 64
  config.model.generator = model_kwargs("dcgan", "generator", base_channels=32, embed_dim=32,
                                          upsample="nearest")
  config.model.critic = model_kwargs("dcgan", "critic", base_channels=32,
                                       spectral_norm=True, conditioning="projection")
  config.loss.name = "hinge"
  config.optim.generator.lr = 2e-4
  config.optim.critic.lr = 4e-4      # TTUR
  config.optim.generator.b1 = 0.0
  config.optim.critic.b1 = 0.0
  config.optim.generator.b2 = 0.9
  config.optim.critic.b2 = 0.9
  config.ema.decay = 0.999
  config.ema.start_step = 500
  config.num_steps = 5000
  config.batch_size = 64
  config.log_every_steps = 100
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 1000
  return config
