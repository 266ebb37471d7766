"""Your own images: a DCGAN on a folder prepared by `gaxla prepare`, at 64x64.

  gaxla prepare --source ~/my_images --out data/my_images --image_size 64
  gaxla train --config configs/folder.py --workdir runs/mine --config.data.data_dir=data/my_images
  gaxla sample --workdir runs/mine --num 64 --out mine.png

`configs/folder.py:conditional` trains a class-conditional model (the folder
needs class subfolders). Metrics are off by default: FID needs the converted
Inception weights (README, Evaluation); for a labelled folder add
`--config.eval.metrics=classifier,fid --config.eval.feature_extractor=classifier`.
"""

from gaxla.config import defaults, model_kwargs


def get_config(arg: str | None = None):
  config = defaults()
  config.data.name = "folder"
  config.data.image_size = 64     # resized on reading if the folder was prepared at another size
  config.model.name = "dcgan"
  config.model.conditional = arg == "conditional"
  config.model.latent_dim = 128
  config.model.generator = model_kwargs("dcgan", "generator", base_channels=64, embed_dim=32,
                                        upsample="nearest")
  config.model.critic = model_kwargs("dcgan", "critic", base_channels=64, spectral_norm=True,
                                     conditioning="projection")
  config.loss.name = "hinge"
  config.optim.generator.lr = 2e-4
  config.optim.critic.lr = 4e-4
  for role in ("generator", "critic"):
    config.optim[role].b1 = 0.0
    config.optim[role].b2 = 0.9
  config.ema.decay = 0.999
  config.num_steps = 20000
  config.batch_size = 64
  config.log_every_steps = 200
  config.eval_every_steps = 2000
  config.checkpoint_every_steps = 2000
  return config
