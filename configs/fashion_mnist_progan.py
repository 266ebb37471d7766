"""ProGAN on Fashion-MNIST: grows 4x4 -> 8 -> 16 -> 32 (28x28 padded to 32), CPU-sized.

Progressive growing (gaxla/models/progan.py, gaxla/progressive.py): each new
resolution fades in over `fade_images` real images, then trains stable for
`stable_images`; equalized learning rate, pixel norm in G, minibatch stddev in
D, WGAN-GP (weight 10) with the drift term (loss 'wasserstein_drift'),
Adam(0.001, b1 = 0, b2 = 0.99), one critic update per generator update, as the
paper. 5,000 steps of batch 64; the whole `gaxla train` takes ~27 minutes on
2 CPU cores with cold caches, and scores FD 2.39, accuracy 82.1%, intra-class
FD 9.31 in the Fashion-MNIST classifier's feature space (BENCHMARKS.md "ProGAN"):

  gaxla train --config configs/fashion_mnist_progan.py --workdir runs/fmnist_progan

Samples and evals use the EMA generator; a checkpoint taken mid-run samples the
stage it was at, nearest-upsampled to 28x28. Class-conditional (one-hot label
joins z; projection critic), like configs/fashion_mnist_dcgan.py, so the two
share the classifier-space metrics (overall and intra-class FD).
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "fashion_mnist"
  config.model.name = "progan"
  config.model.conditional = True
  config.model.latent_dim = 64
  # 24k images (375 steps of 64) per fade and per stable phase; 32x32 fades in
  # over steps 1875-2250, then trains stable to step 5000.
  config.model.generator = model_kwargs("progan", "generator", channels=(64, 64, 32, 16),
                                        start_resolution=4, fade_images=24_000,
                                        stable_images=24_000)
  config.model.critic = model_kwargs("progan", "critic", channels=(64, 64, 32, 16),
                                     mbstd_group_size=4)
  config.loss.name = "wasserstein_drift"
  config.penalty.name = "wgan_gp"
  config.penalty.weight = 10.0
  for role in ("generator", "critic"):
    config.optim[role].lr = 1e-3
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.99
  config.ema.decay = 0.995  # a ~200-step horizon: shorter than one 375-step phase
  config.ema.start_step = 0
  config.num_steps = 5000
  config.batch_size = 64
  config.log_every_steps = 100
  config.eval_every_steps = 750
  config.checkpoint_every_steps = 375
  config.checkpoint.keep_latest = 14  # every phase's end: docs/progan_stages.png samples them
  config.eval.metrics = ("classifier",)
  config.eval.feature_extractor = "classifier"
  config.eval.num_samples = 5000
  return config
