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
  config.model.generator = model_kwargs("mlp", "generator", hidden=(256, 256, 256, 256))
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
  # Batch 128 for 21k steps: as good as batch 256 for 20k (97.8% vs 97.4% HQ on
  # seed 0) in ~60% of the time (~4.8 ms a step on 2 cores).
  config.num_steps = 21000
  config.batch_size = 128
  config.log_every_steps = 1000
  config.eval_every_steps = 21000
  config.checkpoint_every_steps = 21000
  return config
