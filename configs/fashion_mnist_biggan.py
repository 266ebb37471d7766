"""Class-conditional BigGAN on Fashion-MNIST, sized for a 2-core CPU.

Native 28x28 with a 28-pixel plan: a 7x7 base, two residual up-blocks
(7 -> 14 -> 28) and three down-blocks (28 -> 14 -> 7 -> 7) of 4 * ch = 32
channels, attention at 14x14 in both, hierarchical latents (z = 3 chunks of
20: the linear layer + one per block) with a 32-d shared class embedding in
every CBN, projection critic,
hinge loss, TTUR (G 1e-4, D 4e-4, Adam b1 = 0), 2 critic steps per G step,
orthogonal regularization 1e-4 on G, EMA of G from step 200. Data as for
configs/fashion_mnist_dcgan.py (Debian's dataset-fashion-mnist).

  gaxla train --config configs/fashion_mnist_biggan.py --workdir runs/fmnist_biggan
  gaxla sample --workdir runs/fmnist_biggan --out sheet.png --sheet 0,2,1,0.5 --labels all

Evaluated every 500 steps in the feature space of a classifier trained on
real Fashion-MNIST (gaxla/evaluate/classifier.py): accuracy of samples w.r.t.
their requested class, Frechet distance and intra-class FD vs the test split.

Measured on the 2-core CPU with nothing else running (2026-11-25): 2,000
steps in 22 min 40 s wall, everything included (compile ~1 min, ~1.6
steps/s, first-use training of the evaluation classifier ~70 s, four
evaluations of 5,000 samples); final EMA generator with standing statistics:
51.5% of samples classified as their requested class (the classifier gets
88.4% on real test images), Frechet distance 16.7 in its feature space
(real training images: 0.15). See BENCHMARKS.md.
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "fashion_mnist"
  config.model.name = "biggan"
  config.model.conditional = True
  config.model.latent_dim = 60            # 3 chunks of 20
  # Widths: 64 channels at 7x7, 32 at 14x14, 16 at 28x28 in G; 16 / 32 / 64 in D.
  config.model.generator = model_kwargs(
      "biggan", "generator", ch=4, channel_multipliers=(16, 8, 4), attention_resolutions=(),
      shared_dim=32)
  config.model.critic = model_kwargs(
      "biggan", "critic", ch=4, channel_multipliers=(4, 8, 16), downsample=(True, True, False),
      attention_resolutions=())
  config.loss.name = "hinge"
  config.optim.n_critic = 1
  for role, lr in (("generator", 2e-4), ("critic", 4e-4)):
    config.optim[role].lr = lr
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.999
    config.optim[role].schedule = "linear"   # to 0 at num_steps
  config.regularizer.orthogonal_g = 1e-4
  config.ema.decay = 0.999
  config.ema.start_step = 500
  config.num_steps = 7000
  config.batch_size = 64
  config.log_every_steps = 250
  config.checkpoint_every_steps = 1000
  config.eval.grid_size = 10
  config.eval_every_steps = 1750
  config.eval.metrics = ("classifier",)
  config.eval.feature_extractor = "classifier"
  config.eval.num_samples = 5000
  config.checkpoint.best_metric = "eval/classifier/fd"
  config.checkpoint.best_mode = "min"
  return config
