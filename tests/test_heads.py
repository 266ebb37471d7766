"""ACGAN and InfoGAN heads on the critic (gaxla/heads.py) and InfoGAN's codes."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla import data, heads
from gaxla import metrics as names
from gaxla import sample as sample_lib
from gaxla.config import ConfigError, validate
from gaxla.state import Player
from gaxla.system import system_for
from conftest import tiny_mlp_config


def _train(system, config, steps):
  """`steps` jitted steps on the config's data; returns (state, per-step metrics)."""
  source = data.make_source(config.data, config.batch_size, 1, config.seed)
  step = jax.jit(system.step)
  state, history = system.init(0), []
  for i in range(steps):
    state, metrics = step(state, source.batch(i))
    history.append({k: float(v) for k, v in metrics.items()})
  return state, history


def _head_accuracy(system, state, images, labels):
  _, aux = system._apply(system.critic, state.d.variables(), images, labels, False,
                         with_aux=True)
  return float(heads.accuracy(aux["acgan"], labels))


def _digits_mlp_config(**overrides):
  """A conditional MLP pair on 8x8 digits: compiles in a fraction of a DCGAN's time."""
  return tiny_mlp_config(**{"data.name": "digits", "model.conditional": True,
                            "eval.grid_size": 2, **overrides})


def test_acgan_loss_trains_the_class_head():
  config = _digits_mlp_config(**{
      "aux.acgan_weight": 1.0, "aux.critic_conditioning": False,
      "optim.critic.lr": 5e-3, "optim.generator.lr": 2e-3})
  config.model.critic = dict(hidden=(32, 32))
  system = system_for(validate(config))
  # The paper's D: no label input in the body, only the head sees classes.
  assert "Embed_0" not in system.init(0).d.params["body"]
  assert "Embed_0" in system_for(validate(_digits_mlp_config())).init(0).d.params
  images, labels = data.load_images(config.data, "train")
  images = jnp.asarray(images[:500], jnp.float32) / 127.5 - 1.0
  labels = jnp.asarray(labels[:500])
  before = _head_accuracy(system, system.init(0), images, labels)
  state, history = _train(system, config, 20)
  after = _head_accuracy(system, state, images, labels)
  assert after > before + 0.4, (before, after)   # measured: 0.06 -> 0.80
  # The step's own metric tells the same story.
  early = np.mean([m[names.ACGAN_REAL_ACCURACY] for m in history[:3]])
  late = np.mean([m[names.ACGAN_REAL_ACCURACY] for m in history[-3:]])
  assert late > early + 0.2, (early, late)


def test_acgan_weight_zero_is_the_plain_step():
  plain = system_for(validate(_digits_mlp_config()))
  headed = system_for(validate(_digits_mlp_config(**{"aux.acgan_weight": 1.0})))
  state = plain.init(0)
  head = headed.init(0).d.params["acgan"]
  d_params = {"body": state.d.params, "acgan": head}
  headed_state = state.replace(d=Player(
      d_params, {k: {"body": v} for k, v in state.d.collections.items()},
      headed.d_tx.init(d_params)))
  source = data.make_source(plain.config.data, 32, 1, 0)
  batches = [source.batch(i) for i in range(2)]

  def run(system, state):
    step = jax.jit(system.step)
    for batch in batches:
      state, metrics = step(state, batch)
    return state, metrics

  s_plain, m_plain = run(plain, state)
  with_weight, _ = run(headed, headed_state)
  headed.heads = dataclasses.replace(headed.heads, acgan_weight=0.0)
  s_zero, m_zero = run(headed, headed_state)
  for a, b in ((s_plain.g.params, s_zero.g.params), (s_plain.d.params, s_zero.d.params["body"])):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(m_plain[names.G_LOSS], m_zero[names.G_LOSS], rtol=1e-5)
  # With its weight on, the class loss moves both players.
  diffs = [float(jnp.max(jnp.abs(x - y))) for x, y in
           zip(jax.tree.leaves(s_plain.g.params), jax.tree.leaves(with_weight.g.params))]
  assert max(diffs) > 1e-4


def test_infogan_mutual_information_bound_rises():
  config = validate(tiny_mlp_config(**{
      "model.latent_categories": 4, "model.latent_continuous": 2,
      "aux.info_weight_categorical": 1.0, "aux.info_weight_continuous": 0.5,
      "optim.critic.lr": 2e-3, "optim.generator.lr": 2e-3}))
  system = system_for(config)
  assert system.latent_dim == 4 + 4 + 2
  _, history = _train(system, config, 60)
  bound = [m[names.INFO_MI_LOWER_BOUND] for m in history]
  early, late = np.mean(bound[:5]), np.mean(bound[-5:])
  assert late > early + 0.3, (early, late)
  # The categorical part of the bound can reach log 4 only if Q reads the code.
  assert np.mean([m[names.INFO_CATEGORICAL_ACCURACY] for m in history[-5:]]) > 0.5


def test_info_terms_closed_form():
  info = heads.AuxHeads(acgan_weight=0.0, info_weight_categorical=1.0,
                        info_weight_continuous=0.5, num_classes=0, noise_dim=1,
                        categories=3, continuous=2, learned_std=True)
  z = jnp.array([[0.3, 0, 1, 0, 0.5, -0.5], [0.1, 1, 0, 0, -1.0, 0.25]])
  q = jnp.array([[0.0, 2.0, 0.0, 0.4, -0.5, 0.0, 0.5],
                 [1.0, 0.0, 0.0, -0.5, 0.0, -1.0, 0.0]])
  terms = info._info_terms(q, z)
  logp = jax.nn.log_softmax(q[:, :3])
  ce = -(logp[0, 1] + logp[1, 0]) / 2
  mean, log_std, c = q[:, 3:5], q[:, 5:7], z[:, 4:6]
  nll = np.mean(np.sum(0.5 * ((c - mean) / np.exp(log_std)) ** 2 + log_std
                       + 0.5 * np.log(2 * np.pi), axis=1))
  np.testing.assert_allclose(terms[names.INFO_CATEGORICAL_LOSS], ce, rtol=1e-6)
  np.testing.assert_allclose(terms[names.INFO_CONTINUOUS_LOSS], nll, rtol=1e-6)
  np.testing.assert_allclose(terms[names.INFO_MI_LOWER_BOUND],
                             math.log(3) - ce + 2 * math.log(2) - nll, rtol=1e-5, atol=1e-6)
  assert terms[names.INFO_CATEGORICAL_ACCURACY] == 1.0
  np.testing.assert_allclose(info.generator_loss({"q": q}, None, z), ce + 0.5 * nll, rtol=1e-6)


def test_heads_compose_with_separate_critic_passes_and_feature_matching():
  # Minibatch stddev makes the critic see real and fake in separate passes.
  config = _digits_mlp_config(**{
      "aux.acgan_weight": 0.5, "model.latent_categories": 3, "model.latent_continuous": 1,
      "aux.info_weight_categorical": 1.0, "aux.info_weight_continuous": 0.1,
      "aux.info_learned_std": True, "aux.head_hidden": 8, "feature_matching.weight": 1.0})
  config.model.critic = dict(hidden=(16, 16), minibatch_stddev=4)
  system = system_for(validate(config))
  assert system.separate_critic_passes
  assert system.init(0).d.params["q"]["kernel"].shape == (8, 3 + 2)
  _, history = _train(system, config, 2)
  for key in (names.ACGAN_FAKE_ACCURACY, names.INFO_MI_LOWER_BOUND, names.G_LOSS):
    assert np.isfinite(history[-1][key])


@pytest.mark.parametrize("overrides, key", [
    ({"aux.info_weight_categorical": 1.0}, "aux.info_weight_categorical"),
    ({"aux.info_weight_continuous": 0.1}, "aux.info_weight_continuous"),
    ({"aux.acgan_weight": -1.0}, "aux.acgan_weight"),
    ({"model.latent_continuous": 2, "aux.info_weight_continuous": -0.1},
     "aux.info_weight_continuous"),
    ({"aux.acgan_weight": 1.0}, "aux.acgan_weight"),          # unconditional ring
    ({"model.latent_categories": 3, "aux.info_weight_categorical": 1.0, "pack.size": 2},
     "pack.size"),
    ({"aux.info_learned_std": True}, "aux.info_learned_std"),
    ({"aux.critic_conditioning": False}, "aux.critic_conditioning"),
    ({"model.latent_continuous": -1}, "model.latent_continuous"),
])
def test_bad_head_settings_name_the_key(overrides, key):
  with pytest.raises(ConfigError, match=f"'{key}'"):
    validate(tiny_mlp_config(**overrides))


def test_codes_in_latents_can_be_drawn_and_fixed():
  system = system_for(validate(tiny_mlp_config(**{
      "model.latent_categories": 3, "model.latent_continuous": 2})))
  key = jax.random.key(0)
  z = np.asarray(system.sample_latent(key, 500))
  assert z.shape == (500, 4 + 3 + 2)
  one_hot, continuous = z[:, 4:7], z[:, 7:]
  np.testing.assert_array_equal(one_hot.sum(1), 1.0)
  assert set(np.argmax(one_hot, 1)) == {0, 1, 2}
  assert continuous.min() >= -1 and continuous.max() <= 1 and continuous.std() > 0.4
  # Continuous codes leave the normal part and the categorical draw as they were.
  np.testing.assert_array_equal(z[:, :7], sample_lib.latent(key, (500, 4), 0.0, 3))
  fixed = sample_lib.with_codes(system, z, category=2, continuous=[0.5, np.nan])
  np.testing.assert_array_equal(np.argmax(fixed[:, 4:7], 1), 2)
  np.testing.assert_array_equal(fixed[:, 7], 0.5)
  np.testing.assert_array_equal(fixed[:, 8], z[:, 8])
  np.testing.assert_array_equal(fixed[:, :4], z[:, :4])
  with pytest.raises(ValueError, match="category must be in"):
    sample_lib.with_codes(system, z, category=3)
  variables = system.init(0).ema_generator_variables()
  # Unconditional: no labels needed (api.Run.generator passes None).
  assert sample_lib.generate_from(system, variables, fixed[:4], None).shape == (4, 2)
  sweep = sample_lib.code_sweep(system, variables, key, 1, np.linspace(-1, 1, 5))
  assert sweep.shape == (3 * 5, 2)
  # Along a row only code 1 moves, so the outputs do; rows differ by category.
  assert np.abs(sweep[4] - sweep[0]).max() > 0 and np.abs(sweep[5] - sweep[0]).max() > 0
