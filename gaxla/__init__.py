"""gaxla: pure-function GAN training in JAX/Flax.

Where things live:
  config.py      config schema, defaults and validation (errors name the key)
  state.py       the GANState pytree (players, EMA generator, step, rng)
  losses.py      adversarial losses on logits, chosen by name
  penalties.py   gradient penalties (WGAN-GP, DRAGAN, R1/R2) and weight clipping
  nn/            layers: spectral-normed Dense/Conv, conditioning helpers
  models/        generator/critic families (mlp, dcgan) behind a name registry
  optim.py       the two optax chains (TTUR)
  parallel.py    device mesh, state/batch shardings, multi-host start-up
  data/          2-D mixtures, digits, Fashion-MNIST (tfds, offline) and batching
  evaluate/      evaluators by name: FID/KID/precision-recall/density-coverage
                 (Inception or domain-classifier features), IS, classifier
                 metrics, mode coverage; the FID Inception network
  train.py       init_state, train_step, train_and_evaluate
  checkpoint.py  orbax checkpoints: async saves, keep latest + best, SIGTERM, resume
  sample.py      sampling, truncation, image grids
  cli.py         `gaxla train | sample | eval`
"""

__version__ = "0.1.0"
