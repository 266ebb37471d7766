"""ProGAN: growth schedule, fade-in blending, equalized lr, minibatch stddev, exact resume."""

import math
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_mlp_config

from gaxla import checkpoint, data, train
from gaxla.config import ConfigError, validate
from gaxla.models import progan
from gaxla.nn.equalized import EqualizedConv, EqualizedDense, he_scale
from gaxla.nn.minibatch import minibatch_stddev
from gaxla.progressive import blend_reals
from gaxla.system import system_for
from gaxla.data.pipeline import Source


def tiny_progan_config(**overrides):
  """Digits (8x8, resized to 16 when asked), channels 8: grows 4 -> 8 (-> 16)."""
  base = {"data.name": "digits", "model.name": "progan", "model.latent_dim": 8,
          "loss.name": "wasserstein_drift", "penalty.name": "wgan_gp", "penalty.weight": 10.0,
          "batch_size": 8, "eval.grid_size": 2, "monitor.enabled": False}
  base.update(overrides)
  config = tiny_mlp_config(**base)
  stages = progan.num_stages_for(config.data.image_size or 8)
  config.model.generator = dict(channels=(8,) * stages, fade_images=32, stable_images=16)
  config.model.critic = dict(channels=(8,) * stages, mbstd_group_size=4)
  return config


# ----------------------------------------------------------------------------
# Schedule
# ----------------------------------------------------------------------------
def test_schedule_phases_and_alpha():
  # 16x16: stages 4, 8, 16; 32 images = 4 steps of 8 per fade, 16 = 2 steps per stable.
  schedule = progan.Schedule.from_kwargs(
      dict(fade_images=32, stable_images=16, start_resolution=4), 16, 8)
  assert schedule.phase_starts() == [(0, 0), (1, 2), (2, 6), (3, 8), (4, 12)]
  assert [schedule.phase_at(s) for s in range(14)] == [0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4]
  assert schedule.next_change(3) == 6 and schedule.next_change(12) is None
  # Alpha rises linearly from 0 over the fade's images and is 1 in stable phases.
  np.testing.assert_allclose([float(schedule.alpha(1, s)) for s in range(2, 6)],
                             [0.0, 0.25, 0.5, 0.75])
  assert float(schedule.alpha(2, 7)) == 1.0 and float(schedule.alpha(0, 0)) == 1.0
  # Under jit, from a traced step (as inside the train step).
  assert float(jax.jit(lambda s: schedule.alpha(3, s))(jnp.int32(10))) == 0.5
  # A later start resolution skips the low stages; images round up to whole steps.
  late = progan.Schedule.from_kwargs(
      dict(fade_images=20, stable_images=9, start_resolution=8), 16, 8)
  assert late.phase_starts() == [(2, 0), (3, 2), (4, 5)]


@pytest.mark.parametrize("key, value, message", [
    ("model.generator.start_resolution", 12, "must be one of \\[4, 8, 16\\]"),
    ("model.generator.fade_images", 0, "fade_images' must be a positive"),
    ("model.generator.channels", (8, 8), "channels' has 2 entries .* need 3"),
    ("model.critic.mbstd_group_size", 3, "must be a positive integer dividing batch_size"),
    ("model.generator.phase", 2, "chosen by the training loop"),
    ("num_steps", 12, "num_steps' = 12 ends before .* raise num_steps above 12"),
    ("model.generator.fade_imgs", 5, "Did you mean 'fade_images'"),
])
def test_bad_schedules_are_config_errors(key, value, message):
  config = tiny_progan_config(**{"data.image_size": 16, "num_steps": 20})
  node = config
  *parents, leaf = key.split(".")
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(ConfigError, match=message):
    validate(config)


# ----------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------
def test_equalized_layers_store_unit_normal_weights_and_scale_by_he_constant():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 5, 64)), jnp.float32)
  conv = EqualizedConv(128, 3)
  params = conv.init(jax.random.key(0), x)["params"]
  assert abs(float(jnp.std(params["kernel"])) - 1.0) < 0.02  # stored N(0, 1), unscaled
  ones = {"kernel": jnp.ones_like(params["kernel"]), "bias": jnp.zeros(128)}
  out = conv.apply({"params": ones}, x)
  # Centre pixel sees the full 3x3x64 window: sum of inputs times sqrt(2) / sqrt(576).
  expected = jnp.sum(x[:, 1:4, 1:4, :], axis=(1, 2, 3)) * math.sqrt(2) / math.sqrt(576)
  np.testing.assert_allclose(out[:, 2, 2, 0], expected, rtol=1e-5)
  assert he_scale(576) == pytest.approx(math.sqrt(2 / 576))
  dense = EqualizedDense(4, gain=1.0)
  v = jnp.arange(6.0)[None]
  out = dense.apply({"params": {"kernel": jnp.ones((6, 4)), "bias": jnp.zeros(4)}}, v)
  np.testing.assert_allclose(out, np.full((1, 4), 15.0 / math.sqrt(6)), rtol=1e-6)


def test_minibatch_stddev_groups_consecutive_examples():
  x = np.random.default_rng(1).normal(size=(8, 2, 2, 3)).astype(np.float32)
  out = np.asarray(minibatch_stddev(jnp.asarray(x), 4, consecutive=True))
  assert out.shape == (8, 2, 2, 4)
  np.testing.assert_array_equal(out[..., :3], x)
  for group in (slice(0, 4), slice(4, 8)):  # [real; fake] halves never share a group
    expected = np.sqrt(x[group].var(axis=0) + 1e-8).mean()
    np.testing.assert_allclose(out[group, ..., 3], expected, rtol=1e-5)
  with pytest.raises(ValueError, match="must divide the batch size 6"):
    minibatch_stddev(jnp.zeros((6, 2, 2, 1)), 4, consecutive=True)


# ----------------------------------------------------------------------------
# Growing networks
# ----------------------------------------------------------------------------
def _progress(variables, phase, alpha):
  return {**variables, progan.PROGRESS: {"phase": jnp.int32(phase), "alpha": jnp.float32(alpha)}}


def test_fade_in_at_alpha_one_is_the_new_block_and_at_zero_the_old_path():
  config = tiny_progan_config(**{"data.image_size": 16, "num_steps": 20})
  system = system_for(validate(config))
  state = system.init_state(0)
  z = jax.random.normal(jax.random.key(1), (4, 8))
  labels = jnp.zeros((4,), jnp.int32)
  g_vars = state.g.variables()
  gen = lambda phase, alpha: system.generator.clone(phase=phase).apply(
      _progress(g_vars, phase, alpha), z, labels)
  # Phase 3 fades 16x16 in; phase 4 is 16x16 stable; phase 2 is 8x8 stable.
  np.testing.assert_array_equal(gen(3, 1.0), gen(4, 1.0))
  np.testing.assert_allclose(gen(3, 0.0), progan.upsample(gen(2, 1.0), 2), atol=1e-6)
  half = gen(3, 0.5)
  np.testing.assert_allclose(half, 0.5 * gen(4, 1.0) + 0.5 * progan.upsample(gen(2, 1.0), 2),
                             atol=1e-6)
  # The critic's faded input path the same way.
  d_vars = state.d.variables()
  x = jax.random.normal(jax.random.key(2), (4, 16, 16, 1))
  critic = lambda phase, alpha, x: system.critic.clone(phase=phase).apply(
      _progress(d_vars, phase, alpha), x, labels)
  np.testing.assert_array_equal(critic(3, 1.0, x), critic(4, 1.0, x))
  assert not np.allclose(critic(3, 0.0, x), critic(4, 1.0, x))
  # Sampling (phase -1) shows the stored phase, nearest-upsampled to the data size.
  np.testing.assert_allclose(system.generate(_progress(g_vars, 3, 0.5), z, labels), half,
                             atol=1e-6)
  np.testing.assert_allclose(system.generate(_progress(g_vars, 0, 1.0), z, labels),
                             progan.upsample(gen(0, 1.0), 4), atol=1e-6)


def test_reals_are_pooled_to_the_phase_and_blended_like_the_generator():
  x = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (1, 2, 28, 28, 1)), jnp.float32)
  padded = progan.pad_to(x[0], 32)
  assert float(padded[0, 0, 0, 0]) == -1.0 and padded.shape == (2, 32, 32, 1)
  stable16 = blend_reals(x, 4, 1.0, 32)[0]  # phase 4: 16x16 stable
  np.testing.assert_allclose(stable16, padded.reshape(2, 16, 2, 16, 2, 1).mean(axis=(2, 4)),
                             atol=1e-6)
  faded = blend_reals(x, 3, 0.25, 32)[0]    # phase 3: fading 16x16 in
  coarse = progan.upsample(progan.downsample(stable16, 2), 2)
  np.testing.assert_allclose(faded, 0.25 * stable16 + 0.75 * coarse, atol=1e-6)


def test_state_holds_every_resolution_and_a_phase_leaves_higher_ones_alone():
  config = tiny_progan_config(**{"num_steps": 8})
  system = system_for(validate(config))
  state = system.init_state(0)
  assert {"to_rgb_4", "to_rgb_8", "conv8_a"} <= set(state.g.params)
  assert {"from_rgb_4", "from_rgb_8", "conv8_a"} <= set(state.d.params)
  batch = {"x": jnp.zeros((1, 8, 8, 8, 1)), "label": jnp.zeros((1, 8), jnp.int32)}
  after, metrics = system.train_step(state, batch)  # step 0: phase 0 (4x4)
  assert float(metrics["progan/resolution"]) == 4.0
  np.testing.assert_array_equal(after.g.params["conv8_a"]["kernel"],
                                state.g.params["conv8_a"]["kernel"])
  assert not np.array_equal(after.g.params["to_rgb_4"]["kernel"],
                            state.g.params["to_rgb_4"]["kernel"])
  assert jax.tree.structure(after) == jax.tree.structure(state)


# ----------------------------------------------------------------------------
# Resume inside a fade, through the real checkpoint path
# ----------------------------------------------------------------------------
class _SigtermAt(Source):
  def __init__(self, source, at):
    self.source, self.at = source, at

  def batch(self, step):
    if step == self.at:
      os.kill(os.getpid(), signal.SIGTERM)
    return self.source.batch(step)


def test_run_killed_inside_a_fade_resumes_bit_identically(tmp_path, monkeypatch):
  # 4 -> 8: phase 0 steps 0-1, fade steps 2-5 (alpha 0, .25, .5, .75), stable 6-7.
  config = tiny_progan_config(**{"num_steps": 8, "checkpoint_every_steps": 8,
                                 "eval_every_steps": 8, "log_every_steps": 8})
  sigterm_at = [None]
  make_source = data.make_source
  monkeypatch.setattr(data, "make_source",
                      lambda *a, **k: _SigtermAt(make_source(*a, **k), sigterm_at[0]))
  straight, _ = train.train_and_evaluate(config, str(tmp_path / "a"), show_progress=False)
  sigterm_at[0] = 3  # arrives while step 4 is prepared: saved at 4, alpha = 0.5 next
  with pytest.raises(checkpoint.Preempted, match="at step 4"):
    train.train_and_evaluate(config, str(tmp_path / "b"), show_progress=False)
  sigterm_at[0] = None
  resumed, _ = train.train_and_evaluate(config, str(tmp_path / "b"), show_progress=False)
  assert int(resumed.step) == 8
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
