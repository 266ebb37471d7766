"""Super-resolution (ESRGAN) wiring: SR metrics, the SR step's losses, the two-stage run,
network interpolation and `gaxla sample --input` on a tiny workdir."""

import copy
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla import config as config_lib
from gaxla import superres
from gaxla.evaluate import sr_metrics
from gaxla.models import esrgan

def tiny_sr_config(cache_dir, **overrides):
  """x2 SR of 16x16 digits: one RRDB of 8 features, a 4-channel critic, batch 8."""
  config = config_lib.defaults()
  config.data.name = "digits"
  config.data.image_size = 16
  config.model.name = "esrgan"
  config.model.generator = dict(features=8, growth=4, num_blocks=1)
  config.model.critic = dict(base_channels=4, max_channels=8)
  config.loss.name = "relativistic_average"
  config.sr.scale = 2
  config.sr.metrics = ("psnr", "ssim")
  config.batch_size = 8
  config.num_steps = 2
  config.log_every_steps = 1
  config.eval_every_steps = 2
  config.checkpoint_every_steps = 2
  config.eval.num_samples = 16
  config.eval.batch_size = 16
  config.eval.grid_size = 2
  config.eval.cache_dir = str(cache_dir)
  config.eval.classifier_steps = 5
  config.checkpoint.async_save = False
  config.monitor.enabled = False   # its spectral signals would compile one more program
  for key, value in overrides.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config_lib.validate(config)


# --- Metrics -------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_ssim_match_scikit_image(channels):
  metrics = pytest.importorskip("skimage.metrics")
  rng = np.random.default_rng(0)
  hr = rng.uniform(-1, 1, (2, 20, 20, channels)).astype(np.float32)
  sr = np.clip(hr + rng.normal(0, 0.2, hr.shape), -1, 1).astype(np.float32)
  border = 4
  y_sr, y_hr = sr_metrics.to_y(sr), sr_metrics.to_y(hr)
  if channels == 3:  # BT.601 luma of the 8-bit pixels, by hand
    px = np.round((hr[0, 5, 7] + 1) * 127.5)
    assert y_hr[0, 5, 7] == pytest.approx(16 + (65.481 * px[0] + 128.553 * px[1]
                                                 + 24.966 * px[2]) / 255)
  crop = (slice(border, -border),) * 2
  expected_psnr = [metrics.peak_signal_noise_ratio(y_hr[i][crop], y_sr[i][crop],
                                                   data_range=255) for i in range(2)]
  expected_ssim = [metrics.structural_similarity(
      y_hr[i][crop], y_sr[i][crop], gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False, data_range=255) for i in range(2)]
  np.testing.assert_allclose(sr_metrics.psnr_per_image(sr, hr, border), expected_psnr,
                             rtol=1e-10)
  np.testing.assert_allclose(sr_metrics.ssim_per_image(sr, hr, border), expected_ssim,
                             rtol=1e-10)
  assert sr_metrics.ssim(hr, hr, border) == pytest.approx(1.0)


def test_sr_config_errors_name_the_key(tmp_path):
  with pytest.raises(config_lib.ConfigError, match="'sr.scale' = 3 must divide|'sr.scale' must"):
    tiny_sr_config(tmp_path, **{"sr.scale": 3})
  with pytest.raises(config_lib.ConfigError, match="'pack.size' = 2 is not supported"):
    tiny_sr_config(tmp_path, **{"pack.size": 2})
  with pytest.raises(config_lib.ConfigError, match="'sr.metrics' names 'fid'"):
    tiny_sr_config(tmp_path, **{"sr.metrics": ("fid",)})
  with pytest.raises(config_lib.ConfigError, match="sr.vgg19_weights"):
    tiny_sr_config(tmp_path, **{"sr.perceptual": "vgg19"})


# --- The step ------------------------------------------------------------------------
def _hr_batch(n_critic=1, batch=8):
  x = jax.random.uniform(jax.random.key(3), (n_critic, batch, 16, 16, 1), minval=-1, maxval=1)
  return {"x": x, "label": jnp.zeros((n_critic, batch), jnp.int32)}


@pytest.fixture(scope="module")
def gan_system(tmp_path_factory):
  """One GAN-stage system and its initial state, shared by the step tests."""
  config = tiny_sr_config(tmp_path_factory.mktemp("cache"),
                          **{"sr.adversarial_weight": 0.5, "sr.l1_weight": 0.25})
  system = superres.SuperResSystem(config, (16, 16, 1), 10)
  return system, system.init_state(0)


def test_psnr_stage_minimizes_l1_and_leaves_the_critic(gan_system):
  system, state = gan_system
  # The same system in the PSNR stage (a shallow copy: the stage is read when tracing).
  system = copy.copy(system)
  system.stage = "psnr"
  batch = _hr_batch()
  new_state, metrics = jax.jit(system.step)(state, batch)
  hr = batch["x"][-1]
  lr = superres.downsample(hr, 2)
  np.testing.assert_allclose(
      lr, jnp.clip(jax.image.resize(hr, (8, 8, 8, 1), "bicubic", antialias=True), -1, 1))
  fake = system.generator.apply({"params": state.g.params}, lr)
  np.testing.assert_allclose(metrics["g_loss"], jnp.mean(jnp.abs(fake - hr)), rtol=1e-5)
  assert "d_loss" not in metrics
  jax.tree.map(np.testing.assert_array_equal, new_state.d.params, state.d.params)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_state.g.params, state.g.params)
  assert all(jax.tree.leaves(changed))


def test_gan_stage_loss_is_perceptual_plus_relativistic_plus_l1(gan_system):
  system, state = gan_system
  batch = _hr_batch()
  features = system.perceptual_variables()
  new_state, metrics = jax.jit(system.step_with_features)(state, batch, features)
  assert any(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                                          new_state.d.params, state.d.params)))
  # G's loss against the critic after this step's critic update, by hand.
  hr = batch["x"][-1]
  fake = system.generator.apply({"params": state.g.params}, superres.downsample(hr, 2))
  logits = system.critic.apply({"params": new_state.d.params}, jnp.concatenate([hr, fake]))
  real, fake_logits = logits[:8], logits[8:]
  ra = (jnp.mean(jax.nn.softplus(-(fake_logits - real.mean())))
        + jnp.mean(jax.nn.softplus(real - fake_logits.mean())))
  np.testing.assert_allclose(metrics[superres.ADVERSARIAL], ra, rtol=1e-5)
  # Pre-activation features of the classifier's second conv.
  pre = esrgan.ClassifierFeatures().apply(features, jnp.concatenate([hr, fake]))
  assert (pre < 0).any()   # before the ReLU
  percep = jnp.mean(jnp.abs(pre[8:] - pre[:8]))
  np.testing.assert_allclose(metrics[superres.PERCEPTUAL_LOSS], percep, rtol=1e-5)
  l1 = jnp.mean(jnp.abs(fake - hr))
  np.testing.assert_allclose(metrics[superres.L1], l1, rtol=1e-5)
  np.testing.assert_allclose(metrics["g_loss"], percep + 0.5 * ra + 0.25 * l1, rtol=1e-5)


# --- Two stages, interpolation, sampling ----------------------------------------------
@pytest.fixture(scope="module")
def two_stage_runs(tmp_path_factory):
  from gaxla import train
  root = tmp_path_factory.mktemp("sr")
  cache = root / "cache"
  psnr_dir, gan_dir = str(root / "psnr"), str(root / "gan")
  train.train_and_evaluate(tiny_sr_config(cache, **{"sr.stage": "psnr"}), psnr_dir,
                           show_progress=False)
  train.train_and_evaluate(tiny_sr_config(cache, **{"sr.init_from": psnr_dir}), gan_dir,
                           show_progress=False)
  return root, psnr_dir, gan_dir


@pytest.fixture(scope="module")
def restored(two_stage_runs):
  """(PSNR state, GAN config, GAN system, GAN state), restored once from the two workdirs."""
  _, psnr_dir, gan_dir = two_stage_runs
  return (superres.restore_workdir(psnr_dir)[2],) + superres.restore_workdir(gan_dir)


def test_two_stage_training_logs_sr_metrics(two_stage_runs):
  _, psnr_dir, gan_dir = two_stage_runs
  for workdir in (psnr_dir, gan_dir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      records = [json.loads(line) for line in f]
    evals = [r for r in records if "eval/sr/psnr" in r]
    assert evals and evals[-1]["step"] == 2
    assert 0 < evals[-1]["eval/sr/ssim"] <= 1 and np.isfinite(evals[-1]["eval/sr/psnr"])
    assert os.path.exists(os.path.join(workdir, "samples", "step_0000002.png"))
  with open(os.path.join(gan_dir, "metrics.jsonl")) as f:
    assert "sr/perceptual" in f.readline()


def test_gan_stage_starts_from_the_psnr_generator(two_stage_runs, restored):
  root, psnr_dir, _ = two_stage_runs
  psnr_state = restored[0]
  config = tiny_sr_config(root / "cache", **{"sr.init_from": psnr_dir})
  params = superres.pretrained_generator(config)   # what init_state puts in G and its EMA
  jax.tree.map(np.testing.assert_array_equal, params, psnr_state.g_ema_params)
  with pytest.raises(ValueError, match="model.generator"):
    other = tiny_sr_config(root / "cache", **{"sr.init_from": psnr_dir,
                                              "model.generator.features": 4})
    superres.pretrained_generator(other)


def test_interpolation_at_0_and_1_reproduces_the_networks(two_stage_runs, restored):
  root, psnr_dir, gan_dir = two_stage_runs
  psnr, _, _, gan = restored
  for alpha, expected in ((0.0, psnr), (1.0, gan)):
    pairs = ((psnr.g_ema_params, gan.g_ema_params, expected.g_ema_params),
             (psnr.g.params, gan.g.params, expected.g.params))
    for psnr_params, gan_params, expected_params in pairs:
      jax.tree.map(np.testing.assert_array_equal,
                   superres.interpolate_params(psnr_params, gan_params, alpha), expected_params)
  half = superres.interpolate_params(psnr.g_ema_params, gan.g_ema_params, 0.5)
  np.testing.assert_allclose(jax.tree.leaves(half)[0],
                             0.5 * (jax.tree.leaves(psnr.g_ema_params)[0]
                                    + jax.tree.leaves(gan.g_ema_params)[0]), rtol=1e-6)
  os.makedirs(root / "taken")
  (root / "taken" / "x").write_text("")
  with pytest.raises(ValueError, match="not empty"):
    superres.interpolate_workdirs(psnr_dir, gan_dir, 0.5, str(root / "taken"))
  with pytest.raises(ValueError, match="--alpha must be in"):
    superres.interpolate_workdirs(psnr_dir, gan_dir, 1.5, str(root / "new"))


def test_sample_input_upscales_and_checks_its_input(two_stage_runs, restored, tmp_path):
  from gaxla.cli_sample import write_upscaled
  _, _, gan_dir = two_stage_runs
  _, config, system, state = restored
  lr = np.random.default_rng(0).uniform(-1, 1, (3, 5, 6, 1)).astype(np.float32)
  np.save(tmp_path / "lr.npy", lr)
  write_upscaled(config, gan_dir, str(tmp_path / "lr.npy"), str(tmp_path / "sr.npy"))
  sr = np.load(tmp_path / "sr.npy")
  assert sr.dtype == np.float32 and sr.shape == (3, 10, 12, 1)
  expected = np.clip(system.generator.apply(state.ema_generator_variables(), lr), -1, 1)
  np.testing.assert_allclose(sr, expected, atol=1e-5)
  np.save(tmp_path / "rgb.npy", np.zeros((1, 4, 4, 3), np.float32))
  np.save(tmp_path / "u8.npy", np.zeros((1, 4, 4, 1), np.uint8))
  np.save(tmp_path / "big.npy", np.full((1, 4, 4, 1), 255.0, np.float32))
  for name, needle in (("rgb.npy", r"\[N, H, W, 1\]"), ("u8.npy", "float images"),
                       ("big.npy", "p / 127.5 - 1")):
    with pytest.raises(ValueError, match=needle):
      write_upscaled(config, gan_dir, str(tmp_path / name), str(tmp_path / "x.npy"))
  with pytest.raises(ValueError, match="--out must end in .npy or .png"):
    write_upscaled(config, gan_dir, str(tmp_path / "lr.npy"), str(tmp_path / "x.txt"))


def test_sample_input_reads_a_folder_of_images(two_stage_runs, restored, tmp_path):
  from PIL import Image

  from gaxla.cli_sample import write_upscaled
  _, _, gan_dir = two_stage_runs
  _, config, system, state = restored
  pixels = np.random.default_rng(1).integers(0, 256, (2, 5, 6), dtype=np.uint8)
  folder = tmp_path / "lr_images"
  folder.mkdir()
  Image.fromarray(pixels[0]).save(folder / "b.png")
  Image.fromarray(np.stack([pixels[1]] * 3, -1)).save(folder / "a.png")  # RGB -> grey
  (folder / ".hidden").write_text("skipped")
  write_upscaled(config, gan_dir, str(folder), str(tmp_path / "sr.npy"))
  sr = np.load(tmp_path / "sr.npy")
  # Sorted by name: a.png first; uint8 p -> p / 127.5 - 1, as the .npy path expects.
  lr = pixels[::-1, :, :, None].astype(np.float32) / 127.5 - 1.0
  expected = np.clip(system.generator.apply(state.ema_generator_variables(), lr), -1, 1)
  assert sr.shape == (2, 10, 12, 1)
  np.testing.assert_allclose(sr, expected, atol=1e-5)
  Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "c.png")
  with pytest.raises(ValueError, match="one size"):
    write_upscaled(config, gan_dir, str(folder), str(tmp_path / "x.npy"))
  (folder / "c.png").unlink()
  (folder / "d.png").write_text("not an image")
  with pytest.raises(ValueError, match="cannot read .*d.png"):
    write_upscaled(config, gan_dir, str(folder), str(tmp_path / "x.npy"))
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(ValueError, match="holds no image files"):
    write_upscaled(config, gan_dir, str(empty), str(tmp_path / "x.npy"))


def test_cli_interpolate_then_sample_input(two_stage_runs, restored, tmp_path, capsys):
  """`gaxla interpolate`, then `gaxla sample --input` on the workdir it wrote."""
  root, psnr_dir, gan_dir = two_stage_runs
  psnr, _, _, gan = restored
  out_dir = str(tmp_path / "interp")
  np.save(tmp_path / "lr.npy", np.zeros((2, 4, 4, 1), np.float32))
  commands = [["gaxla", "interpolate", "--psnr", psnr_dir, "--gan", gan_dir, "--alpha", "0.8",
               "--out", out_dir],
              ["gaxla", "sample", "--workdir", out_dir, "--input", str(tmp_path / "lr.npy"),
               "--out", str(tmp_path / "sr.npy")]]
  # In this process (the CLI's contract as a subprocess is tests/test_cli.py's):
  # no second interpreter start-up and JAX import.
  from gaxla import cli
  for argv in commands:
    with pytest.raises(SystemExit) as exit_info:
      cli.main(argv)
    assert not exit_info.value.code, (argv, exit_info.value.code)
  printed = capsys.readouterr().out
  assert "alpha 0.8" in printed and "wrote" in printed
  sr = np.load(tmp_path / "sr.npy")
  assert sr.dtype == np.float32 and sr.shape == (2, 8, 8, 1)
  assert sr.min() >= -1 and sr.max() <= 1
  with open(os.path.join(out_dir, "interpolation.json")) as f:
    assert json.load(f)["alpha"] == 0.8
  # The written generator is exactly the interpolation of the two.
  mixed = superres.restore_workdir(out_dir)[2]
  jax.tree.map(np.testing.assert_array_equal, mixed.g_ema_params,
               superres.interpolate_params(psnr.g_ema_params, gan.g_ema_params, 0.8))
