"""gaxla's VGG19 converter and feature network against torchvision's own VGG19.

torchvision (test-only extra `reference`, installed by `.ci/run` with the CPU
torch wheel) builds `vgg19(weights=None)` with its own random init; its
`state_dict()` is saved with `torch.save` as a `.pth`, read back by
`esrgan.load_vgg19` (gaxla's reader, no torch involved), and both networks see
the same images: torchvision's `features` cut after the conv (pre-activation)
or after its ReLU, against gaxla's `VGG19Features` (which also applies the
ImageNet normalization that torchvision's transforms do). A user with the real
`vgg19-dcbb9e9d.pth` gets the same mapping.

Skipped, with the reason, where torch / torchvision are not installed.
"""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install -e '.[reference]')")

from gaxla.models import esrgan  # noqa: E402
from test_pytorch_fid_reference import _without_torchvision_ops  # noqa: E402

# Index in torchvision's vgg19().features of each conv (ReLU at index + 1).
_TORCH_INDEX = {"conv1_1": 0, "conv2_2": 7, "conv4_1": 19, "conv5_4": 34}
TOLERANCE = 1e-4  # relative to the largest activation


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
  with _without_torchvision_ops():
    torchvision = pytest.importorskip("torchvision")
  torch.manual_seed(0)
  network = torchvision.models.vgg19(weights=None).eval()
  path = str(tmp_path_factory.mktemp("vgg19") / "random_vgg19.pth")
  torch.save(network.state_dict(), path)
  return network, esrgan.load_vgg19(path)


@pytest.mark.parametrize("layer", sorted(_TORCH_INDEX))
@pytest.mark.parametrize("pre_activation", [True, False])
def test_features_match_torchvision(vgg, layer, pre_activation):
  network, variables = vgg
  images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
  # torchvision's side: [0, 1] images, its ImageNet normalization, features up to the layer.
  mean = np.array([0.485, 0.456, 0.406], np.float32)
  std = np.array([0.229, 0.224, 0.225], np.float32)
  normalized = ((images + 1) / 2 - mean) / std
  stop = _TORCH_INDEX[layer] + (1 if pre_activation else 2)
  with torch.no_grad():
    reference = network.features[:stop](torch.from_numpy(normalized.transpose(0, 3, 1, 2)))
  reference = reference.numpy().transpose(0, 2, 3, 1)

  module = esrgan.VGG19Features(layer=layer, pre_activation=pre_activation)
  ours = np.asarray(jax.jit(module.apply)(variables, images))

  assert ours.shape == reference.shape
  scale = np.abs(reference).max()
  assert scale > 0
  if pre_activation:
    assert reference.min() < 0  # before the ReLU: negative values survive
  else:
    assert reference.min() >= 0
  np.testing.assert_allclose(ours / scale, reference / scale, rtol=0, atol=TOLERANCE)


def test_grey_images_are_repeated_to_three_channels(vgg):
  _, variables = vgg
  grey = np.random.default_rng(2).uniform(-1, 1, (1, 16, 16, 1)).astype(np.float32)
  module = esrgan.VGG19Features(layer="conv2_2")
  np.testing.assert_allclose(np.asarray(module.apply(variables, grey)),
                             np.asarray(module.apply(variables, np.repeat(grey, 3, axis=-1))),
                             rtol=1e-6, atol=1e-6)
