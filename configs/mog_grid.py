"""PacGAN's grid: 25 Gaussians at {-4,-2,0,2,4}^2 (std 0.05), MLP GAN.

  gaxla train --config configs/mog_grid.py --workdir runs/grid

Evaluated every `eval_every_steps` by mode coverage (2,500 samples, 3-std rule).
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "grid"
  config.model.name = "mlp"
  # A 2-D latent: G only has to cut a plane into a 5x5 grid of blobs (wider
  # latents gave lower and less even HQ; BENCHMARKS.md).
  config.model.latent_dim = 2
  # The critic is the wider net here: 25 modes need a critic that resolves the
  # gaps between them. A wider or deeper G did not help (BENCHMARKS.md).
  config.model.generator = model_kwargs("mlp", "generator", hidden=(128,) * 4)
  config.model.critic = model_kwargs("mlp", "critic", hidden=(256, 256, 256))
  # Zero-centred gradient penalty on real data (R1, Mescheder et al. 2018)
  # keeps the critic from oscillating around the modes.
  config.loss.name = "non_saturating"
  config.penalty.name = "r1"
  config.penalty.weight = 0.03
  config.penalty.every = 8     # lazy R1 (weight x 8 every 8th update): buys steps
  for side in (config.optim.generator, config.optim.critic):
    side.lr = 1e-3
    side.b1 = 0.0
    side.b2 = 0.999
    side.schedule = "linear"   # decay to 0: the last steps sharpen the modes
  config.ema.decay = 0.999
  # Quality grows with the number of updates more than with the batch, so a
  # small batch and many cheap steps; the step count fits a 2-minute budget on
  # 2 CPU cores (results and timings: BENCHMARKS.md).
  config.num_steps = 52000
  config.batch_size = 64
  config.steps_per_call = 50   # see configs/mog_ring.py
  config.log_every_steps = 1000
  config.eval_every_steps = 52000
  config.checkpoint_every_steps = 52000
  return config
