"""Stacked Fashion-MNIST (1,000 modes): the mode-collapse benchmark, DCGAN family.

Three independent Fashion-MNIST images as the three channels of a 28x28x3
example (gaxla/data/stacked.py; Debian's dataset-fashion-mnist as for
configs/fashion_mnist_dcgan.py). Scored by `stacked_modes`
(gaxla/evaluate/evaluators.py) as in PacGAN's stacked-MNIST protocol: each
channel of 26,000 samples is classified by gaxla's Fashion-MNIST classifier;
the class triple is the sample's mode; modes covered (of 1,000) and the
reverse KL of the mode histogram against uniform, split exactly into class
imbalance (the channels' class marginals) + dependence (collapse onto a
subset of triples).

  gaxla train --config configs/stacked_fashion_mnist.py --workdir runs/stacked
  gaxla train --config configs/stacked_fashion_mnist.py:pac2 --workdir runs/stacked_pac2
  gaxla sample --workdir runs/stacked --num 1000 --out samples.npy   # float32 [N, 28, 28, 3]

The argument picks one remedy on top of the baseline (unconditional DCGAN,
SN critic, hinge, TTUR 1e-3 / 2e-3 decayed linearly to 0, EMA, 20,000
steps of batch 64): '' (baseline), 'pac2' / 'pac4'
(PacGAN packing), 'mbd' (minibatch discrimination), 'mbsd' (minibatch
stddev), 'fm' (feature matching added to the adversarial loss), 'noise'
(instance noise 0.1 annealed to 0 at half the run), 'diffaug' (DiffAugment
translation + cutout), 'unroll5' (5 lookahead critic steps), 'biggan' (not a
remedy: the unconditional BigGAN at the widths of
configs/fashion_mnist_biggan.py, batch 48, one G pass per step).

The baseline (this config), seeds 0-2, 26,000 samples: 1,000 modes each,
reverse KL 0.089 / 0.071 / 0.080 (class imbalance ~0.04 + dependence
~0.04); real stacked test images score 1,000 modes, KL 0.019. At an equal
wall-clock budget (the baseline's 5,000 steps, 3 seeds) no remedy row beat
the baseline (BENCHMARKS.md).
About 12 minutes of training on the 2-core CPU (27 steps/s, quiet).
"""

from gaxla.config import defaults, model_kwargs

ROWS = ("", "pac2", "pac4", "mbd", "mbsd", "fm", "noise", "diffaug", "unroll5", "biggan")


def get_config(arg: str | None = None):
  row = arg or ""
  if row not in ROWS:
    raise ValueError(f"unknown row {row!r}; valid: {', '.join(repr(r) for r in ROWS)}")
  config = defaults()
  config.data.name = "stacked_fashion_mnist"
  config.model.name = "dcgan"
  config.model.conditional = False
  config.model.latent_dim = 64
  config.model.generator = model_kwargs("dcgan", "generator", base_channels=32,
                                        upsample="nearest")
  config.model.critic = model_kwargs("dcgan", "critic", base_channels=32, spectral_norm=True)
  config.loss.name = "hinge"
  # TTUR at the rates of the Fashion-MNIST BigGAN and InfoGAN configs: G 1e-3,
  # D 2e-3, warmed up over 200 steps, then decayed linearly to 0 at num_steps.
  for role, lr in (("generator", 1e-3), ("critic", 2e-3)):
    config.optim[role].lr = lr
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.999
    config.optim[role].warmup_steps = 200
    config.optim[role].schedule = "linear"
  config.ema.decay = 0.999
  config.ema.start_step = 500
  config.num_steps = 20000
  config.batch_size = 64
  config.log_every_steps = 100
  config.eval_every_steps = 10000
  config.checkpoint_every_steps = 5000
  config.eval.metrics = ("stacked_modes",)
  # PacGAN's stacked-MNIST protocol scores 26,000 samples; with 10,000 the
  # reverse KL of a perfect generator is 0.05 (finite-sample floor), not 0.02.
  config.eval.num_samples = 26000
  config.checkpoint.best_metric = "eval/stacked_modes/reverse_kl"
  config.checkpoint.best_mode = "min"
  if row.startswith("pac"):
    config.pack.size = int(row[3:])
  elif row == "mbd":
    config.model.critic.minibatch_discrimination = 16
    config.model.critic.minibatch_kernel_dim = 8
  elif row == "mbsd":
    config.model.critic.minibatch_stddev = 4
  elif row == "fm":
    config.feature_matching.weight = 1.0
  elif row == "noise":
    config.instance_noise.std = 0.1
    # A reference: an overridden num_steps (--config.num_steps=N) moves it too.
    config.instance_noise.anneal_steps = config.get_ref("num_steps") // 2
  elif row == "diffaug":
    config.augment.policy = "translation,cutout"
    config.augment.diff_augment = True
  elif row == "unroll5":
    config.unroll.steps = 5
  elif row == "biggan":
    config.model.name = "biggan"
    config.model.latent_dim = 60
    config.model.generator = model_kwargs(
        "biggan", "generator", ch=4, channel_multipliers=(16, 8, 4), attention_resolutions=())
    config.model.critic = model_kwargs(
        "biggan", "critic", ch=4, channel_multipliers=(4, 8, 16), downsample=(True, True, False),
        attention_resolutions=())
    config.regularizer.orthogonal_g = 1e-4
    config.optim.reuse_fakes = True
    config.batch_size = 48
    config.eval.standing_batches = 256
  return config
