"""gaxla: pure-function GAN training in JAX/Flax.

From Python (a notebook), see gaxla/api.py:
  run = gaxla.fit("configs/quickstart.py", "runs/qs", num_steps=200)
  run = gaxla.load("runs/qs"); run.sample(16, labels=3); run.grid(); run.evaluate()

Where things live:
  config.py      config schema, defaults and validation (errors name the key)
  state.py       the GANState pytree (players, EMA generator, step, rng)
  losses.py      adversarial losses on logits, chosen by name
  penalties.py   gradient penalties (WGAN-GP, DRAGAN, R1/R2), weight clipping,
                 orthogonal regularization
  nn/            layers: spectral-normed Dense/Conv, (conditional) BatchNorm,
                 self-attention
  models/        generator/critic families (mlp, dcgan, biggan, biggan_deep,
                 sngan_resnet) behind a name registry
  optim.py       the two optax chains (TTUR)
  parallel.py    device mesh, state/batch shardings, multi-host start-up
  data/          2-D mixtures, digits, Fashion-MNIST (tfds, offline), CIFAR-10 /
                 ImageNet (prepared tfds), deterministic per-process batching
  evaluate/      evaluators by name: FID/KID/precision-recall/density-coverage
                 (Inception or domain-classifier features), IS, classifier
                 metrics, mode coverage; the FID Inception network
  system.py      the GAN system: models, losses, optimizers, state init, the
                 pure step (`GANSystem.step`) and its jitted forms
  train.py       the training loop: train_and_evaluate
  train_eval.py  evaluation during training (metrics and sample pictures)
  metrics.py     the names of every logged metric
  workdir.py     the workdir's files: config.json, metrics.jsonl, collapse.json
  monitor.py     collapse signals and the pure continue / stop / keep-best decision
  plots.py       training-curve PNGs
  progress.py    metrics.jsonl, TensorBoard events, progress bar
  describe.py    parameter counts and FLOPs from shapes (`gaxla describe`)
  checkpoint.py  orbax checkpoints: async saves, keep latest + best, SIGTERM, resume
  sample.py      sampling, truncation, standing statistics, grids, sheets,
                 interpolation
  cli.py         `gaxla train | sample | eval | describe`
  xla_cpu.py     XLA:CPU flags applied at import (fast convolutions), compile cache
  api.py         the notebook API: load, fit, Run (sample, generator, evaluate, train)
"""

from gaxla import xla_cpu as _xla_cpu

__version__ = "0.1.0"

# Before any JAX backend starts: XLA reads XLA_FLAGS once (see gaxla/xla_cpu.py).
_xla_cpu.apply_defaults()

_API = ("load", "fit", "Run")


def __getattr__(name: str):
  # Lazy: `import gaxla` stays cheap (no JAX) until the API is used.
  if name in _API:
    from gaxla import api
    return getattr(api, name)
  raise AttributeError(f"module 'gaxla' has no attribute {name!r}")
