"""PacGAN's ring: 8 Gaussians on the unit circle (std 0.01), MLP GAN.

  gaxla train --config configs/mog_ring.py --workdir runs/ring

Evaluated every `eval_every_steps` by mode coverage (2,500 samples, 3-std rule).
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "ring"
  config.model.name = "mlp"
  config.model.latent_dim = 16
  # A deep, narrow G: depth makes the jumps between modes sharp, so fewer
  # samples land on the paths between them (8x128 beat 4x256 and 6x256 per
  # second of training; see BENCHMARKS.md).
  config.model.generator = model_kwargs("mlp", "generator", hidden=(128,) * 8)
  config.model.critic = model_kwargs("mlp", "critic", hidden=(128, 128, 128))
  # Zero-centred gradient penalty on real data (R1, Mescheder et al. 2018)
  # keeps the critic from oscillating around the modes.
  config.loss.name = "non_saturating"
  config.penalty.name = "r1"
  config.penalty.weight = 0.03
  for side in (config.optim.generator, config.optim.critic):
    side.lr = 1e-3
    side.b1 = 0.0
    side.b2 = 0.999
    side.schedule = "linear"   # decay to 0: the last steps sharpen the modes
  config.ema.decay = 0.999
  config.num_steps = 30000
  config.batch_size = 128
  # 50 steps per jitted call: the step is ~2.5 ms, so per-call Python dispatch
  # would otherwise cost ~40% more time.
  config.steps_per_call = 50
  config.log_every_steps = 1000
  config.eval_every_steps = 30000
  config.checkpoint_every_steps = 30000
  return config
