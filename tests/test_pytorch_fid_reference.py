"""gaxla's FID Inception and weight converter against pytorch-fid itself.

pytorch-fid's code is installed (test-only extra `reference`, which `.ci/run`
installs with the CPU torch wheel); its weights cannot be downloaded here. So
pytorch-fid builds its own `fid_inception_v3` network, which we fill with
seeded He-scaled random weights and save with `torch.save` as a `.pth`. That
file goes through gaxla's converter (no torch involved), and both networks see
the same images: pytorch-fid's `InceptionV3` (its resize to 299, its input
scaling, pool3) and its network's `fc` for the logits, against gaxla's Flax
`InceptionV3`. A user with the real `pt_inception-2015-12-05-6726825d.pth`
gets the same mapping, so reference-compatible features.

Skipped, with the reason, where torch / pytorch-fid are not installed.
"""

import contextlib
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install -e '.[reference]')")

from gaxla.evaluate import inception  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_IMAGES = 2       # a 299px Inception forward costs ~0.4 s per image on 2 cores
TOLERANCE = 1e-4


@contextlib.contextmanager
def _without_torchvision_ops():
  """Imports torchvision although its C++ ops cannot load.

  The torchvision wheels on PyPI are built against CUDA torch; next to the
  CPU torch wheel their compiled ops (nms, roi_align, ...) fail to load and
  torchvision's import then fails registering fake kernels for them. The
  Inception network uses none of them (only torch's conv, batch norm, pools
  and `F.interpolate`), so their registrations are skipped while importing.
  """
  names = ("register_fake", "register_autograd")
  originals = {n: getattr(torch.library, n) for n in names}

  def tolerant(register):
    def call(op, *args, **kwargs):
      if (isinstance(op, str) and op.startswith("torchvision::")
          and not hasattr(torch.ops.torchvision, op.split("::")[1])):
        return None if args else (lambda fn: fn)
      return register(op, *args, **kwargs)
    return call

  for n in names:
    setattr(torch.library, n, tolerant(originals[n]))
  try:
    yield
  finally:
    for n in names:
      setattr(torch.library, n, originals[n])


def _pytorch_fid():
  with _without_torchvision_ops():
    pytest.importorskip("torchvision")
  return pytest.importorskip("pytorch_fid.inception", reason="pytorch-fid not installed")


def _random_fid_weights(fid_inception, seed=0) -> dict:
  """pytorch-fid's own FID network, its parameters and BN statistics drawn at random."""
  with pytest.MonkeyPatch.context() as patch:
    # fid_inception_v3() downloads and loads the real weights: skip both.
    patch.setattr(fid_inception, "load_state_dict_from_url", lambda *a, **k: None)
    patch.setattr(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None)
    network = fid_inception.fid_inception_v3()
  rng = np.random.default_rng(seed)
  state = {}
  for key, value in network.state_dict().items():
    shape = tuple(value.shape)
    if key.endswith("conv.weight"):
      fan_in = int(np.prod(shape[1:]))
      array = rng.normal(size=shape) * np.sqrt(2.0 / fan_in)
    elif key.endswith("bn.weight") or key.endswith("running_var"):
      array = rng.uniform(0.5, 1.5, shape)
    elif key.endswith("bn.bias") or key.endswith("running_mean"):
      array = rng.normal(0, 0.1, shape)
    elif key == "fc.weight":
      array = rng.normal(size=shape) / np.sqrt(shape[1])
    elif key == "fc.bias":
      array = rng.normal(0, 0.1, shape)
    else:  # num_batches_tracked
      state[key] = value
      continue
    state[key] = torch.from_numpy(array.astype(np.float32))
  return state


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
  """(pytorch-fid module, random .pth, that file converted by gaxla's script to .npz)."""
  fid_inception = _pytorch_fid()
  folder = tmp_path_factory.mktemp("fid_weights")
  pth, npz = str(folder / "random_fid_inception.pth"), str(folder / "converted.npz")
  torch.save(_random_fid_weights(fid_inception), pth)
  # gaxla's converter script: reads the .pth without torch.
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "convert_inception_weights.py"),
       "--pth", pth, "--out", npz], capture_output=True, text=True, timeout=300, check=False,
      env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert result.returncode == 0, result.stderr
  return fid_inception, pth, npz


def test_features_and_logits_match_pytorch_fid(weights, monkeypatch):
  fid_inception, pth, npz = weights

  # The reference: pytorch-fid's InceptionV3 (resize to 299, 2x - 1, pool3),
  # loading our .pth where it would load the downloaded one (strict: every key).
  monkeypatch.setattr(fid_inception, "load_state_dict_from_url",
                      lambda *a, **k: torch.load(pth, weights_only=True))
  reference = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
  reference.eval()
  fc = torch.load(pth, weights_only=True)

  # CIFAR-sized inputs: both sides resize 32 -> 299 bilinearly.
  images = np.random.default_rng(1).uniform(0, 1, (NUM_IMAGES, 32, 32, 3)).astype(np.float32)
  with torch.no_grad():
    pool_ref = reference(torch.from_numpy(images.transpose(0, 3, 1, 2)))[0]
    pool_ref = pool_ref.reshape(NUM_IMAGES, -1)
    logits_ref = torch.nn.functional.linear(pool_ref, fc["fc.weight"], fc["fc.bias"]).numpy()
    pool_ref = pool_ref.numpy()

  # gaxla: the converted weights in the Flax network, images in [-1, 1].
  out = jax.jit(inception.InceptionV3().apply)(inception.load_variables(npz), images * 2 - 1)

  assert pool_ref.shape == (NUM_IMAGES, 2048) and np.abs(pool_ref).max() > 0.1
  np.testing.assert_allclose(np.asarray(out["pool"]), pool_ref, rtol=0, atol=TOLERANCE)
  np.testing.assert_allclose(np.asarray(out["logits"]), logits_ref, rtol=0, atol=TOLERANCE)
  np.testing.assert_allclose(np.asarray(out["logits_unbiased"]),
                             logits_ref - fc["fc.bias"].numpy(), rtol=0, atol=TOLERANCE)
  print(f"max |diff|: pool {np.abs(np.asarray(out['pool']) - pool_ref).max():.2e}, "
        f"logits {np.abs(np.asarray(out['logits']) - logits_ref).max():.2e}")


def test_inception_score_path_matches_torch_fidelity(weights):
  """torch-fidelity's extractor (its own port, same .pth layout) and its IS formula.

  torch-fidelity resizes like TensorFlow 1 (not like pytorch-fid and gaxla), so
  this compares at 299x299, where neither side resizes: the network, pool3
  and the unbiased logits IS uses. Its input scaling, (x - 128) / 128, is
  applied to gaxla's input too.
  """
  _, pth, npz = weights
  extractor_module = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3",
                                         reason="torch-fidelity not installed")
  from torch_fidelity.metric_isc import isc_features_to_metric

  from gaxla.evaluate.inception_score import inception_score
  extractor = extractor_module.FeatureExtractorInceptionV3(
      "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=pth)
  images = np.random.default_rng(2).integers(0, 256, (NUM_IMAGES, 299, 299, 3), np.uint8)
  with torch.no_grad():
    pool_ref, logits_ref = (t.numpy() for t in extractor(
        torch.from_numpy(images.transpose(0, 3, 1, 2).copy())))
  out = jax.jit(inception.InceptionV3().apply)(inception.load_variables(npz),
                                               (images.astype(np.float32) - 128) / 128)
  np.testing.assert_allclose(np.asarray(out["pool"]), pool_ref, rtol=0, atol=TOLERANCE)
  np.testing.assert_allclose(np.asarray(out["logits_unbiased"]), logits_ref, rtol=0,
                             atol=TOLERANCE)
  # The score itself, on 100 logit rows (10 splits of 10), without shuffling.
  logits = np.random.default_rng(3).normal(0, 3, (100, 1008))
  reference = isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=False)
  mean, std = inception_score(logits=logits, splits=10)
  assert mean == pytest.approx(reference["inception_score_mean"], rel=1e-9)
  assert std == pytest.approx(reference["inception_score_std"], rel=1e-6)
