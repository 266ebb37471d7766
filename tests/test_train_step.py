"""The jitted train step: it learns, it is pure and deterministic, and each
configurable piece (losses, penalties, n_critic, clipping, EMA) is wired in."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_dcgan_config, tiny_mlp_config
from gaxla import data, losses, penalties
from gaxla.system import system_for


def _run(config, steps=2):
  trainer = system_for(config)
  state = trainer.init(config.seed)
  source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed)
  metrics = None
  for step in range(steps):
    state, metrics = trainer.train_step(state, source.batch(step))
  return trainer, state, metrics


def _leaves_equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_step_changes_both_players_and_counts():
  config = tiny_mlp_config()
  trainer = system_for(config)
  state0 = trainer.init(0)
  _, state, metrics = _run(config, steps=1)
  assert int(state.step) == 1
  assert not _leaves_equal(state.g.params, state0.g.params)
  assert not _leaves_equal(state.d.params, state0.d.params)
  for key in ("d_loss", "g_loss", "d_real_logit", "d_fake_logit", "d_grad_norm", "g_grad_norm"):
    assert np.isfinite(float(metrics[key])), key


def test_step_is_bitwise_deterministic():
  config = tiny_dcgan_config()  # BatchNorm and spectral-norm state included
  _, a, ma = _run(config, steps=2)
  _, b, mb = _run(config, steps=2)
  assert _leaves_equal(a, b)
  assert _leaves_equal(ma, mb)
  _, c, _ = _run(tiny_dcgan_config(seed=1), steps=2)
  assert not _leaves_equal(a.g.params, c.g.params)


def test_collections_are_carried_in_the_state():
  config = tiny_dcgan_config()
  trainer = system_for(config)
  state0 = trainer.init(0)
  _, state, _ = _run(config, steps=1)
  # Generator BatchNorm statistics and critic spectral-norm vectors both update.
  assert "batch_stats" in state.g.collections and "batch_stats" in state.d.collections
  assert not _leaves_equal(state.g.collections, state0.g.collections)
  assert not _leaves_equal(state.d.collections, state0.d.collections)


@pytest.mark.parametrize("loss", sorted(losses.LOSSES))
def test_every_loss_trains(loss):
  _, state, metrics = _run(tiny_mlp_config(**{"loss.name": loss}), steps=1)
  assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))


@pytest.mark.parametrize("penalty", sorted(penalties.PENALTIES))
def test_every_penalty_trains_and_is_reported(penalty):
  config = tiny_mlp_config(**{"penalty.name": penalty, "penalty.weight": 1.0})
  _, _, metrics = _run(config, steps=1)
  assert float(metrics["penalty"]) > 0
  np.testing.assert_allclose(float(metrics["d_total_loss"]),
                             float(metrics["d_loss"]) + float(metrics["penalty"]), rtol=1e-5)


def test_n_critic_updates_use_separate_batches():
  config = tiny_mlp_config(**{"optim.n_critic": 3})
  trainer = system_for(config)
  source = data.make_source(config.data, config.batch_size, 3, 0)
  batch = source.batch(0)
  assert batch["x"].shape == (3, 32, 2)
  state, _ = trainer.train_step(trainer.init(0), batch)
  # Adam's step count in the critic's optimizer state records 3 updates.
  counts = [int(x) for x in jax.tree.leaves(state.d.opt_state) if np.ndim(x) == 0]
  assert 3 in counts
  counts_g = [int(x) for x in jax.tree.leaves(state.g.opt_state) if np.ndim(x) == 0]
  assert 1 in counts_g


def test_weight_clipping_bounds_every_critic_weight():
  config = tiny_mlp_config(**{"loss.name": "wasserstein", "weight_clip": 0.01,
                              "optim.critic.lr": 0.5, "optim.n_critic": 2})
  trainer = system_for(config)
  state0 = trainer.init(0)
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state0.d.params)) > 0.01
  _, state, _ = _run(config, steps=2)
  for p in jax.tree.leaves(state.d.params):
    assert float(jnp.max(jnp.abs(p))) <= 0.01
  # The generator is not clipped.
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state.g.params)) > 0.01


def test_ema_follows_params():
  config = tiny_mlp_config(**{"ema.decay": 0.5, "ema.start_step": 1})
  trainer = system_for(config)
  state = trainer.init(0)
  source = data.make_source(config.data, config.batch_size, 1, 0)
  state1, _ = trainer.train_step(state, source.batch(0))
  # Before start_step the EMA copies the params.
  assert _leaves_equal(state1.g_ema_params, state1.g.params)
  state2, _ = trainer.train_step(state1, source.batch(1))
  expected = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, state1.g_ema_params, state2.g.params)
  for a, b in zip(jax.tree.leaves(state2.g_ema_params), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_ttur_learning_rates_are_independent():
  # With a zero-ish generator lr, G barely moves while D moves.
  config = tiny_mlp_config(**{"optim.generator.lr": 1e-12, "optim.critic.lr": 1e-2})
  trainer = system_for(config)
  state0 = trainer.init(0)
  _, state, _ = _run(config, steps=1)
  g_change = max(float(jnp.max(jnp.abs(a - b))) for a, b in
                 zip(jax.tree.leaves(state.g.params), jax.tree.leaves(state0.g.params)))
  d_change = max(float(jnp.max(jnp.abs(a - b))) for a, b in
                 zip(jax.tree.leaves(state.d.params), jax.tree.leaves(state0.d.params)))
  assert g_change < 1e-9 < 1e-3 < d_change


def test_label_smoothing_changes_the_critic_loss():
  _, _, plain = _run(tiny_mlp_config(**{"loss.name": "minimax"}), steps=1)
  _, _, smooth = _run(tiny_mlp_config(**{"loss.name": "minimax", "loss.real_label": 0.9}), steps=1)
  assert float(plain["d_loss"]) != float(smooth["d_loss"])


def test_generator_learns_on_ring():
  # 1000 steps bring samples much closer to the ring's modes.
  config = tiny_mlp_config(**{"optim.generator.lr": 1e-3, "optim.critic.lr": 1e-3,
                              "batch_size": 128, "penalty.name": "r1", "penalty.weight": 0.1})
  config.model.generator = dict(hidden=(64, 64))
  config.model.critic = dict(hidden=(64, 64))
  trainer = system_for(config)
  state0 = trainer.init(0)
  _, state, _ = _run(config, steps=1000)
  key = jax.random.key(5)
  from gaxla.sample import generate
  before = generate(trainer, state0.g.variables(), key, 1000)
  after = generate(trainer, state.g.variables(), key, 1000)
  modes = data.mixtures.ring().modes
  err = lambda pts: float(np.mean(np.min(np.linalg.norm(pts[:, None] - modes[None], axis=-1), 1)))
  assert err(after) < 0.5 * err(before)


def test_top_k_generator_loss_keeps_the_best_rated_fakes():
  config = tiny_mlp_config(**{"loss.top_k": 0.5, "loss.top_k_anneal_steps": 100})
  trainer = system_for(config)
  np.testing.assert_allclose(float(trainer.top_k_fraction(jnp.array(0))), 1.0)
  np.testing.assert_allclose(float(trainer.top_k_fraction(jnp.array(50))), np.sqrt(0.5), rtol=1e-6)
  np.testing.assert_allclose(float(trainer.top_k_fraction(jnp.array(500))), 0.5, rtol=1e-6)
  logits = jnp.array([3.0, -2.0, 0.5, -1.0, 2.0, -4.0])
  loss = trainer._top_k_generator_loss(logits, jnp.array(1000))
  best = jnp.array([3.0, 2.0, 0.5])  # top half by critic score
  np.testing.assert_allclose(float(loss), float(trainer.loss.generator(best, best)), rtol=1e-6)
  full = trainer._top_k_generator_loss(logits, jnp.array(0))
  np.testing.assert_allclose(float(full), float(trainer.loss.generator(logits, logits)), rtol=1e-6)


def test_top_k_rejects_relativistic_losses():
  from gaxla.config import ConfigError, validate
  with pytest.raises(ConfigError, match="'loss.top_k'"):
    validate(tiny_mlp_config(**{"loss.top_k": 0.5, "loss.name": "relativistic_average"}))


def test_categorical_latent_code_reaches_the_generator():
  config = tiny_mlp_config(**{"model.latent_categories": 4})
  trainer, state, metrics = _run(config, steps=1)
  assert trainer.latent_dim == config.model.latent_dim + 4
  first = jax.tree.leaves(state.g.params["Dense_0"])
  assert any(leaf.shape == (config.model.latent_dim + 4, leaf.shape[-1]) for leaf in first)
  z = np.asarray(trainer.sample_latent(jax.random.key(0), 64))
  variables = {"params": state.g.params, **state.g.collections}
  # Same normal part, different category: a different point (the code is used).
  z_other = z.copy()
  z_other[:, config.model.latent_dim:] = np.roll(z[:, config.model.latent_dim:], 1, axis=1)
  a = trainer.generate(variables, jnp.asarray(z), jnp.zeros(64, jnp.int32))
  b = trainer.generate(variables, jnp.asarray(z_other), jnp.zeros(64, jnp.int32))
  assert np.all(np.abs(np.asarray(a) - np.asarray(b)).max(axis=1) > 0)
  assert np.isfinite(float(metrics["g_loss"]))


def test_lazy_penalty_skips_then_applies_the_scaled_penalty():
  def step_with(state, step, **overrides):
    config = tiny_mlp_config(**{"penalty.name": "r1", **overrides})
    trainer = system_for(config)
    batch = data.make_source(config.data, config.batch_size, 1, 0).batch(0)
    return trainer.train_step(state.replace(step=jnp.asarray(step, jnp.int32)), batch)

  state0 = system_for(tiny_mlp_config()).init(0)
  lazy = {"penalty.weight": 0.5, "penalty.every": 2}
  # Critic update 0 of a lazy run: no penalty at all.
  skipped, m_skipped = step_with(state0, 0, **lazy)
  plain, _ = step_with(state0, 0, **{"penalty.name": "none"})
  assert float(m_skipped["penalty"]) == 0.0
  assert _leaves_equal(skipped.d.params, plain.d.params)
  # Critic update 1: the penalty, with its weight times `every`.
  applied, m_applied = step_with(state0, 1, **lazy)
  doubled, m_doubled = step_with(state0, 1, **{"penalty.weight": 1.0})
  assert float(m_applied["penalty"]) > 0
  np.testing.assert_allclose(float(m_applied["d_total_loss"]), float(m_doubled["d_total_loss"]),
                             rtol=1e-6)
  for a, b in zip(jax.tree.leaves(applied.d.params), jax.tree.leaves(doubled.d.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert not _leaves_equal(applied.d.params, skipped.d.params)


def test_several_steps_in_one_call_equal_step_by_step():
  config = tiny_mlp_config(**{"optim.n_critic": 2, "penalty.name": "r1", "penalty.weight": 0.1})
  trainer, stepwise, last_metrics = _run(config, steps=5)
  source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed)
  batches = data.stacked_batches(source, 0, 5)
  assert batches["x"].shape == (5, 2, config.batch_size, 2)
  np.testing.assert_array_equal(batches["x"][3], source.batch(3)["x"])
  state, metrics = trainer.train_steps(trainer.init(config.seed), batches)
  assert int(state.step) == 5
  for a, b in zip(jax.tree.leaves(stepwise), jax.tree.leaves(state)):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=1e-6, atol=1e-7)
  for key, value in last_metrics.items():  # the last step's metrics
    np.testing.assert_allclose(metrics[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
