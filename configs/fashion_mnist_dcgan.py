"""Class-conditional DCGAN on Fashion-MNIST (28x28), offline.

Data: the Debian package `dataset-fashion-mnist` (apt-get install
dataset-fashion-mnist) provides the IDX files; gaxla builds a tfds ArrayRecord
dataset from them on first use (see README "Data"). Set
--config.data.source_dir to use IDX files elsewhere.

  gaxla train --config configs/fashion_mnist_dcgan.py --workdir runs/fmnist_dcgan

Samples (one row per class) land in runs/fmnist_dcgan/samples/. Every
eval_every_steps the run is scored in the feature space of a small Fashion-MNIST
CNN classifier (trained once, ~1-2 min on 2 CPU cores, cached in ~/.cache/gaxla):
sample accuracy w.r.t. the requested class, Fréchet distance (overall and
intra-class), KID, precision/recall, density/coverage. Re-score a checkpoint with

  gaxla eval --workdir runs/fmnist_dcgan [--step N] [--metrics classifier,kid]
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
  config.eval.metrics = ("classifier", "kid", "precision_recall", "density_coverage")
  config.eval.feature_extractor = "classifier"  # FID Inception is too slow on a CPU
  config.eval.num_samples = 5000
  return config
