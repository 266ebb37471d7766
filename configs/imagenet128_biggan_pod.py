"""BigGAN ImageNet-128 on a TPU pod slice: configs/imagenet128_biggan.py, multi-host.

Same model and hyperparameters; the global batch of 2048 is split over the
mesh 'data' axis (BatchNorm still sees the global batch because the jitted
step does). Run the same command on every host of the slice, e.g. a v4-128:

  gcloud compute tpus tpu-vm ssh $TPU --worker=all --command="cd gaxla && gaxla train --config configs/imagenet128_biggan_pod.py --workdir gs://BUCKET/runs/biggan128_pod --config.data.data_dir=gs://BUCKET/tfds"

Data and workdir must be on storage every host can reach (GCS).
"""

import os

from gaxla.config import from_file


def get_config(arg: str | None = None):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet128_biggan.py")
  config = from_file(path, arg)
  # Fewer, larger evaluations and checkpoints: a pod step is fast.
  config.log_every_steps = 50
  config.checkpoint_every_steps = 2000
  return config
