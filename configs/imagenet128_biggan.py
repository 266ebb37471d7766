"""BigGAN on ImageNet 128x128: the paper's settings (Brock et al., 2019, Table 1 / App. C).

ch = 96, z 120 split into 6 chunks of 20, shared class embedding 128,
attention at 64x64 in G and D, spectral norm in both, orthogonal init,
orthogonal regularization 1e-4 on G, hinge loss, G lr 5e-5 / D lr 2e-4,
Adam (0, 0.999), eps 1e-6, 2 D steps per G step, batch 2048 (global; the
step's BatchNorm sees the whole batch = cross-replica BN), EMA 0.9999 from
step 20k. G: 70,433,988 parameters, D: 87,982,370; G forward 40.7 GFLOP
per image by XLA's count (42.2 by hand, padded taps included), D 20.6, a
train step ~0.99 PFLOP (`gaxla describe`).
Data: tfds `imagenet2012` prepared as ArrayRecord, centre-cropped to 128.

  gaxla train --config configs/imagenet128_biggan.py --workdir gs://BUCKET/runs/biggan128 --config.data.data_dir=gs://BUCKET/tfds
  gaxla describe --config configs/imagenet128_biggan.py
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "imagenet2012"
  config.data.image_size = 128
  config.model.name = "biggan"
  config.model.conditional = True
  config.model.latent_dim = 120
  config.model.generator = model_kwargs("biggan", "generator", ch=96, shared_dim=128,
                                        hierarchical=True, attention_resolutions=(64,))
  config.model.critic = model_kwargs("biggan", "critic", ch=96, attention_resolutions=(64,))
  config.loss.name = "hinge"
  config.optim.n_critic = 2
  for role, lr in (("generator", 5e-5), ("critic", 2e-4)):
    config.optim[role].lr = lr
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.999
    config.optim[role].eps = 1e-6
  config.regularizer.orthogonal_g = 1e-4
  config.ema.decay = 0.9999
  config.ema.start_step = 20_000
  config.num_steps = 150_000         # BigGAN-PyTorch: ~150k iterations
  config.batch_size = 2048
  config.log_every_steps = 100
  config.eval_every_steps = 2000
  config.checkpoint_every_steps = 1000
  config.eval.grid_size = 8
  return config
