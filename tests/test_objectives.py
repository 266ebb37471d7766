"""Unrolled GAN, feature matching, historical averaging, LeCam (gaxla/objectives.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from gaxla import objectives
from gaxla.config import validate
from gaxla.system import system_for
from conftest import tiny_mlp_config


def _batch(system, seed=1):
  x = jax.random.normal(jax.random.key(seed), (1, 32) + system.example_shape)
  return {"x": x, "label": jnp.zeros((1, 32), jnp.int32)}


def test_unrolled_critic_leaves_the_real_critic_update_alone():
  plain = system_for(validate(tiny_mlp_config()))
  unrolled = system_for(validate(tiny_mlp_config(**{"unroll.steps": 2})))
  state = plain.init(0)
  batch = _batch(plain)
  s_plain, _ = jax.jit(plain.step)(state, batch)
  s_unrolled, _ = jax.jit(unrolled.step)(state, batch)
  # D takes its normal update either way; G's update differs (it saw the lookahead).
  for a, b in zip(jax.tree.leaves(s_plain.d.params), jax.tree.leaves(s_unrolled.d.params)):
    np.testing.assert_array_equal(a, b)
  diffs = [float(jnp.max(jnp.abs(a - b)))
           for a, b in zip(jax.tree.leaves(s_plain.g.params), jax.tree.leaves(s_unrolled.g.params))]
  assert max(diffs) > 0
  # k = 0 lookahead is the critic itself.
  same = objectives.unrolled_critic_variables(plain, state.d, state.g.params, {}, None, None,
                                              None, 0)
  assert same["params"] is state.d.params


def test_unrolled_generator_gradient_matches_finite_differences():
  # A large critic lr, so that the lookahead moves the critic far enough for the
  # gradient through it to matter; three plain steps first, so that Adam's
  # second moments are not ~g^2 (its first update, ~sign(g), is too curved for
  # finite differences).
  config = tiny_mlp_config(**{"unroll.steps": 2, "optim.critic.lr": 0.05})
  system = system_for(validate(config))
  state = system.init(0)
  plain_step = jax.jit(system_for(validate(tiny_mlp_config())).step)
  for i in range(3):
    state, _ = plain_step(state, _batch(system, seed=10 + i))
  real = jax.random.normal(jax.random.key(3), (32, 2))
  labels = jnp.zeros((32,), jnp.int32)
  z = system.sample_latent(jax.random.key(4), 32)
  key = jax.random.key(5)
  loss_fn = system.generator_objective(state.d, state.step)
  loss = jax.jit(lambda p: loss_fn(p, {}, (z, real, labels, jax.random.key(7), key))[0])
  grads = jax.grad(loss)(state.g.params)
  leaves, tree = jax.tree.flatten(state.g.params)
  keys = jax.random.split(jax.random.key(6), len(leaves))
  direction = jax.tree.unflatten(
      tree, [jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves)])
  dot = lambda a, b: sum(jnp.sum(x * y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  direction = jax.tree.map(lambda v: v / jnp.sqrt(dot(direction, direction)), direction)
  analytic = float(dot(grads, direction))
  # Small steps: the leaky ReLUs' kinks are crossed by few units.
  eps = 1e-3
  shifted = lambda s: jax.tree.map(lambda p, v: p + s * eps * v, state.g.params, direction)
  numeric = float((loss(shifted(1.0)) - loss(shifted(-1.0))) / (2 * eps))
  np.testing.assert_allclose(analytic, numeric, rtol=1e-2)
  # The gradient through the k updates matters: holding the unrolled critic
  # fixed (no gradient through the lookahead) gives another derivative.
  critic = objectives.unrolled_critic_variables(system, state.d, state.g.params, {}, real,
                                                labels, key, 2)

  def fixed_critic_loss(p):
    fake, _ = system._generate_train(p, {}, z, labels)
    return system.loss.generator(None, system._critic_eval(critic, fake, labels))

  fixed = float(dot(jax.grad(fixed_critic_loss)(state.g.params), direction))
  assert abs(fixed - analytic) > 0.2 * abs(analytic)


def test_feature_matching_closed_form():
  real = jnp.array([[1.0, 2.0], [3.0, 4.0]])
  fake = jnp.array([[0.0, 0.0], [2.0, 2.0]])
  # means (2, 3) and (1, 1): (1^2 + 2^2) = 5
  np.testing.assert_allclose(objectives.feature_matching_loss(real, fake), 5.0)
  assert float(objectives.feature_matching_loss(real, real)) == 0.0


def test_feature_matching_alone_is_the_generator_loss():
  config = tiny_mlp_config(**{"feature_matching.weight": 2.0,
                              "feature_matching.adversarial": False})
  system = system_for(validate(config))
  state = system.init(0)
  real = jax.random.normal(jax.random.key(3), (32, 2))
  labels = jnp.zeros((32,), jnp.int32)
  z = system.sample_latent(jax.random.key(4), 32)
  loss, _ = system.generator_objective(state.d, state.step)(
      state.g.params, {}, (z, real, labels, jax.random.key(7), jax.random.key(5)))
  fake = system.generate(state.g.variables(), z, labels)
  feats = lambda x: objectives.critic_features(system, state.d.variables(), x, labels)
  expected = 2.0 * jnp.sum(jnp.square(jnp.mean(feats(real), 0) - jnp.mean(feats(fake), 0)))
  np.testing.assert_allclose(float(loss), float(expected), rtol=1e-5)
  assert feats(real).shape == (32, 16)


def test_historical_average_running_mean_and_penalty():
  config = tiny_mlp_config(**{"regularizer.historical_average_g": 0.5,
                              "regularizer.historical_average_d": 0.5})
  system = system_for(validate(config))
  state = system.init(0)
  assert int(state.history["g"]["count"]) == 0
  step = jax.jit(system.step)
  past_g = []
  for i in range(3):
    past_g.append(state.g.params)
    state, _ = step(state, _batch(system, seed=i))
  assert int(state.history["g"]["count"]) == 3
  assert int(state.history["d"]["count"]) == 3
  mean = jax.tree.map(lambda *p: sum(p) / 3, *past_g)
  for a, b in zip(jax.tree.leaves(state.history["g"]["mean"]), jax.tree.leaves(mean)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  expected = sum(float(jnp.sum((p - m) ** 2)) for p, m in
                 zip(jax.tree.leaves(state.g.params), jax.tree.leaves(mean)))
  got = float(objectives.history_penalty(state.g.params, state.history["g"]))
  np.testing.assert_allclose(got, expected, rtol=1e-4)
  assert got > 0
  # No past thetas: no penalty.
  assert float(objectives.history_penalty(state.g.params,
                                          objectives.history_init(state.g.params))) == 0.0


def test_lecam_penalty_closed_form():
  anchors = {"real": jnp.asarray(1.0), "fake": jnp.asarray(-1.0)}
  real = jnp.asarray([0.0, -2.0, 1.0])     # excess over a_fake = -1: 1, 0, 2
  fake = jnp.asarray([3.0, 0.5, -1.0])     # shortfall under a_real = 1: 0, 0.5, 2
  got = float(objectives.lecam_penalty(real, fake, anchors))
  np.testing.assert_allclose(got, (1 + 0 + 4) / 3 + (0 + 0.25 + 4) / 3, rtol=1e-6)
  # The anchors are constants: the gradient reaches the logits only.
  grad = jax.grad(lambda a: objectives.lecam_penalty(real, fake, a))(anchors)
  assert float(grad["real"]) == 0.0 and float(grad["fake"]) == 0.0
  # Logits already inside the anchors' band cost nothing.
  assert float(objectives.lecam_penalty(jnp.asarray([-1.5]), jnp.asarray([1.5]), anchors)) == 0.0


def test_lecam_in_the_step_anchors_track_the_critic_logits():
  weight, decay = 0.3, 0.9
  config = validate(tiny_mlp_config(**{"regularizer.lecam": weight,
                                       "regularizer.lecam_decay": decay,
                                       "optim.n_critic": 2}))
  system = system_for(config)
  state = system.init(0)
  assert set(state.history) == {"lecam"}
  step = jax.jit(system.step)
  expected = {"real": 0.0, "fake": 0.0}
  for i in range(3):
    batch = {"x": jax.random.normal(jax.random.key(i), (2, 32) + system.example_shape),
             "label": jnp.zeros((2, 32), jnp.int32)}
    # Replay this step's two critic updates by hand to get each one's logits.
    before = state
    state, metrics = step(state, batch)
    carry = (before.g.collections, before.d, None, dict(before.history["lecam"]))
    step_key = jax.random.fold_in(jax.random.wrap_key_data(before.rng), before.step)
    keys = jax.random.split(jax.random.split(step_key)[0], 2)
    for j in range(2):
      carry, m = system._critic_update(
          before.g.params, carry, (batch["x"][j], batch["label"][j], keys[j],
                                   before.step * 2 + j))
      for side, name in (("real", "d_real_logit"), ("fake", "d_fake_logit")):
        expected[side] = decay * expected[side] + (1 - decay) * float(m[name])
      # The critic's total loss is its adversarial loss plus the weighted term.
      np.testing.assert_allclose(float(m["d_total_loss"]),
                                 float(m["d_loss"]) + weight * float(m["lecam"]), rtol=1e-5)
    for side in ("real", "fake"):
      np.testing.assert_allclose(float(state.history["lecam"][side]), expected[side],
                                 rtol=1e-5, atol=1e-7)
  assert float(metrics["lecam"]) >= 0.0
  # The term changes the critic's update (weight 0 = the plain step).
  plain = system_for(validate(tiny_mlp_config(**{"optim.n_critic": 2})))
  s_plain, _ = jax.jit(plain.step)(plain.init(0), batch)
  s_lecam, _ = step(system.init(0), batch)
  diffs = [float(jnp.max(jnp.abs(a - b))) for a, b in
           zip(jax.tree.leaves(s_plain.d.params), jax.tree.leaves(s_lecam.d.params))]
  assert max(diffs) > 0


def test_historical_average_state_is_checkpointed(tmp_path):
  from gaxla import checkpoint
  from gaxla import workdir as workdir_lib
  config = validate(tiny_mlp_config(**{"regularizer.historical_average_d": 1.0,
                                       "regularizer.lecam": 0.3}))
  system = system_for(config)
  state, _ = jax.jit(system.step)(system.init(0), _batch(system))
  assert set(state.history) == {"d", "lecam"}
  workdir_lib.write_config(config, str(tmp_path))
  manager = checkpoint.make_manager(str(tmp_path), config)
  checkpoint.save(manager, 1, state)
  manager.wait_until_finished()
  restored = checkpoint.restore(manager, system.abstract_state(), 1)
  manager.close()
  assert int(restored.history["d"]["count"]) == 1
  for a, b in zip(jax.tree.leaves(restored.history), jax.tree.leaves(state.history)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_objective_settings_name_the_key():
  import pytest

  from gaxla.config import ConfigError
  bad = [({"unroll.steps": -1}, "'unroll.steps'"),
         ({"feature_matching.weight": -1.0}, "'feature_matching.weight'"),
         ({"feature_matching.adversarial": False}, "'feature_matching.adversarial'"),
         ({"regularizer.historical_average_g": -0.1}, "'regularizer.historical_average_g'"),
         ({"regularizer.lecam": -0.3}, "'regularizer.lecam'"),
         ({"regularizer.lecam_decay": 1.0}, "'regularizer.lecam_decay'")]
  for overrides, needle in bad:
    with pytest.raises(ConfigError, match=needle):
      validate(tiny_mlp_config(**overrides))


def test_objectives_compose_with_packing_and_minibatch_critics():
  # PacGAN packing changes the critic's input width and minibatch layers make
  # D see real and fake in separate passes: the lookahead critic and the
  # feature-matching features must go through the same critic inputs.
  for extra in ({"pack.size": 2}, {"model.critic.minibatch_stddev": 4}):
    config = tiny_mlp_config(**{"unroll.steps": 1, "feature_matching.weight": 1.0, **extra})
    system = system_for(validate(config))
    state, metrics = jax.jit(system.step)(system.init(0), _batch(system))
    assert np.isfinite(float(metrics["g_loss"])), extra
