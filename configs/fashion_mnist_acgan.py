"""ACGAN (Odena et al., 2017) on Fashion-MNIST (28x28), offline: a class head on the critic.

The DCGAN family of configs/fashion_mnist_dcgan.py, class-conditional G, and a
critic whose body takes no label (no projection term, as in the ACGAN paper):
only its auxiliary class head (gaxla/heads.py) sees classes. The head's
cross-entropy on real images and on fakes with their requested classes joins
the critic's loss, the one on fakes joins G's (weight aux.acgan_weight).

  gaxla train --config configs/fashion_mnist_acgan.py --workdir runs/fmnist_acgan

Logged beside the losses: aux/acgan_real_accuracy and aux/acgan_fake_accuracy
(the head on real images and on fakes). Every eval_every_steps the classifier
evaluator reports the accuracy of the samples w.r.t. their requested class,
scored by gaxla's own Fashion-MNIST classifier. To keep the projection term as
well: --config.aux.critic_conditioning=True.
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "fashion_mnist"
  config.model.name = "dcgan"
  config.model.conditional = True
  config.model.latent_dim = 64
  config.model.generator = model_kwargs("dcgan", "generator", base_channels=32, embed_dim=32,
                                          upsample="nearest")
  config.model.critic = model_kwargs("dcgan", "critic", base_channels=32, spectral_norm=True)
  config.aux.acgan_weight = 1.0
  config.aux.critic_conditioning = False   # the paper's D: labels only through the head
  config.loss.name = "hinge"
  config.optim.generator.lr = 2e-4
  config.optim.critic.lr = 4e-4      # TTUR
  config.optim.generator.b1 = 0.0
  config.optim.critic.b1 = 0.0
  config.optim.generator.b2 = 0.9
  config.optim.critic.b2 = 0.9
  config.ema.decay = 0.999
  config.ema.start_step = 500
  config.num_steps = 5000
  config.batch_size = 64
  config.log_every_steps = 100
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 1000
  config.eval.metrics = ("classifier", "kid")
  config.eval.feature_extractor = "classifier"  # FID Inception is too slow on a CPU
  config.eval.num_samples = 5000
  return config
