"""Class-conditional BigGAN on Fashion-MNIST, sized for a 2-core CPU.

Native 28x28 with a 28-pixel plan: G maps the first latent chunk to a 7x7x64
grid, two residual up-blocks (7 -> 14 -> 28) narrow to 32 and 16 channels;
the critic's three residual blocks widen 16 -> 32 -> 64 (28 -> 14 -> 7 -> 7).
Hierarchical latents (z = 3 chunks of 20: the linear layer + one per block)
with a 32-d shared class embedding in every conditional BN, projection
critic, spectral norm in both players, no attention (it cost ~12% of the
step at this size), hinge loss, TTUR (G 1e-3, D 2e-3: 5x the usual GAN
rates, which this small model learns far faster with; warmed up over 200
steps, then decayed linearly to 0; Adam b1 = 0, b2 = 0.999), one critic step
per G step, orthogonal regularization 1e-4 on G, EMA of G (0.999 from step
500), 16,000 steps of batch 48 (at equal wall time, more and smaller
batches scored a lower FD than batch 64; 16,000 steps scored a lower mean
FD than 14,000 or a wider critic; BENCHMARKS.md). The generator
update reuses the critic update's generator pass (`optim.reuse_fakes`: one G
forward per step instead of two, 6-8% faster). Between evaluations the
monitor checks a dead critic with an evaluation at once (stall alarms) and
stops on a blow-up (`monitor.explosion`). Evaluations score the EMA
generator with standing statistics over 256 batches. Data as for
configs/fashion_mnist_dcgan.py (Debian's dataset-fashion-mnist).

  gaxla train --config configs/fashion_mnist_biggan.py --workdir runs/fmnist_biggan
  gaxla eval --workdir runs/fmnist_biggan
  gaxla sample --workdir runs/fmnist_biggan --out sheet.png --sheet 0,2,1,0.5 --labels all

Scored every 4,000 steps in the feature space of a classifier trained on real
Fashion-MNIST (gaxla/evaluate/classifier.py): accuracy of 5,000 samples (500
per class) w.r.t. their requested class, Frechet distance and intra-class FD
vs the test split; the best checkpoint by FD is kept. On the 2-core CPU
(quiet): 25 min 05 s for the whole `gaxla train` of seed 0 (classifier
training, compile and the four evaluations included; 10.7 steps/s).
`gaxla eval` (the classifier: 88.45% on real test images), seeds 0 / 1 / 2:
accuracy 89.7 / 89.5 / 90.6%, FD 0.405 / 0.455 / 0.430 (mean 0.430; real
training images 0.15), intra-class FD 2.42 / 2.44 / 2.63. The 5,000-sample
FD of one generator moves by +-10% with the evaluation key alone
(BENCHMARKS.md).
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
  for role, lr in (("generator", 1e-3), ("critic", 2e-3)):
    config.optim[role].lr = lr
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.999
    config.optim[role].warmup_steps = 200
    config.optim[role].schedule = "linear"   # to 0 at num_steps
  config.regularizer.orthogonal_g = 1e-4
  config.ema.decay = 0.999
  config.ema.start_step = 500
  config.optim.reuse_fakes = True
  config.num_steps = 16000
  config.batch_size = 48
  config.log_every_steps = 250
  config.checkpoint_every_steps = 1000
  config.eval.grid_size = 10
  config.eval_every_steps = 4000
  config.eval.metrics = ("classifier",)
  config.eval.feature_extractor = "classifier"
  config.eval.num_samples = 5000
  # Standing statistics over 256 x 48 latents (the default 16 batches are only
  # 768 here): the same checkpoints scored 5-12% lower FD (BENCHMARKS.md).
  config.eval.standing_batches = 256
  config.checkpoint.best_metric = "eval/classifier/fd"
  config.checkpoint.best_mode = "min"
  # The eval metric is scored every 4,000 steps. Between evaluations: a dead
  # critic (D's or G's gradient norm below 0.2x its median for 3 logs) calls
  # an evaluation at once, which stops the run only if FD is > 10% worse than
  # its best (healthy runs have such spells and recover); a blow-up (a grad
  # norm or the critic margin above 20x its median, in one log) stops at once.
  config.monitor.critic_stall = 0.2
  config.monitor.generator_stall = 0.2
  config.monitor.explosion = 20.0
  return config
