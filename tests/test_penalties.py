"""Tests for gaxla.penalties against float64 NumPy finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla import penalties

BATCH = 6
DIM = 5
HIDDEN = 3
FD_STEP = 1e-6
RTOL = 1e-4


@pytest.fixture(scope="module")
def weights():
  return jax.random.normal(jax.random.key(0), (DIM, HIDDEN), jnp.float32)


@pytest.fixture(scope="module")
def batches():
  real_key, fake_key = jax.random.split(jax.random.key(1))
  real = jax.random.normal(real_key, (BATCH, DIM), jnp.float32)
  fake = 0.5 * jax.random.normal(fake_key, (BATCH, DIM), jnp.float32) + 1.0
  return real, fake


def tanh_critic(w):
  return lambda x: jnp.sum(jnp.tanh(x @ w), axis=-1)


# --- independent float64 reference -----------------------------------------


def _np_tanh_critic(w, x):
  return np.tanh(x @ w).sum(axis=-1)


def _fd_input_grads(w, x):
  """Central finite differences of each example's logit w.r.t. its own input."""
  grads = np.zeros_like(x)
  for j in range(x.shape[1]):
    step = np.zeros_like(x)
    step[:, j] = FD_STEP
    grads[:, j] = (_np_tanh_critic(w, x + step) - _np_tanh_critic(w, x - step)) / (2 * FD_STEP)
  return grads


def _np_gp_from_points(w, x_hat, target=1.0):
  norms = np.linalg.norm(_fd_input_grads(w, x_hat), axis=1)
  return np.mean((norms - target) ** 2)


def _f64(x):
  return np.asarray(x, dtype=np.float64)


# --- gradient penalty ---------------------------------------------------------


@pytest.mark.parametrize("target", [1.0, 0.5])
def test_gradient_penalty_matches_finite_differences(weights, batches, target):
  real, fake = batches
  key = jax.random.key(7)
  penalty = penalties.gradient_penalty(tanh_critic(weights), real, fake, key, target=target)

  # Reproduces the documented draw: one eps per example, broadcast over features.
  eps = _f64(jax.random.uniform(key, (BATCH, 1), dtype=jnp.float32))
  x_hat = eps * _f64(real) + (1 - eps) * _f64(fake)
  np.testing.assert_allclose(penalty, _np_gp_from_points(_f64(weights), x_hat, target),
                             rtol=RTOL)


def test_gradient_penalty_depends_on_key(weights, batches):
  real, fake = batches
  critic = tanh_critic(weights)
  first = penalties.gradient_penalty(critic, real, fake, jax.random.key(1))
  second = penalties.gradient_penalty(critic, real, fake, jax.random.key(2))
  assert float(first) != pytest.approx(float(second))


def test_gradient_penalty_norm_spans_all_non_batch_axes():
  # Image-shaped inputs [B, H, W, C] with a linear critic: the gradient is w
  # everywhere, so the norm must be ||w|| over all of H, W, C.
  w = jax.random.normal(jax.random.key(3), (4, 4, 2))
  critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  real = jax.random.normal(jax.random.key(4), (3, 4, 4, 2))
  fake = jnp.zeros_like(real)
  w_norm = np.linalg.norm(_f64(w))
  np.testing.assert_allclose(penalties.gradient_penalty(critic, real, fake, jax.random.key(5)),
                             (w_norm - 1) ** 2, rtol=1e-5)


def test_linear_critic_has_constant_gradient_norm(batches):
  real, fake = batches
  w = jnp.array([0.3, -1.2, 0.8, 2.0, -0.5], jnp.float32)
  critic = lambda x: x @ w
  column_critic = lambda x: (x @ w)[:, None]
  w_norm = np.linalg.norm(_f64(w))
  key = jax.random.key(11)
  for fn in (critic, column_critic):
    np.testing.assert_allclose(penalties.gradient_penalty(fn, real, fake, key),
                               (w_norm - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(penalties.dragan_penalty(fn, real, key), (w_norm - 1) ** 2,
                               rtol=1e-5)
    np.testing.assert_allclose(penalties.r1_penalty(fn, real), w_norm ** 2, rtol=1e-5)
    np.testing.assert_allclose(penalties.r2_penalty(fn, fake), w_norm ** 2, rtol=1e-5)


# --- DRAGAN --------------------------------------------------------------------


def test_dragan_matches_finite_differences(weights, batches):
  real, _ = batches
  key = jax.random.key(13)
  perturb_scale = 0.7
  penalty = penalties.dragan_penalty(tanh_critic(weights), real, key,
                                     perturb_scale=perturb_scale)

  # Reproduces the documented draws.
  noise_key, alpha_key = jax.random.split(key)
  noise = _f64(jax.random.uniform(noise_key, real.shape, dtype=jnp.float32))
  alpha = _f64(jax.random.uniform(alpha_key, (BATCH, 1), dtype=jnp.float32))
  real64 = _f64(real)
  perturbed = real64 + perturb_scale * real64.std() * noise
  x_hat = real64 + alpha * (perturbed - real64)
  np.testing.assert_allclose(penalty, _np_gp_from_points(_f64(weights), x_hat), rtol=RTOL)


# --- R1 / R2 -------------------------------------------------------------------


def test_r1_and_r2_match_finite_differences(weights, batches):
  real, fake = batches
  critic = tanh_critic(weights)
  w64 = _f64(weights)
  for value, x in ((penalties.r1_penalty(critic, real), real),
                   (penalties.r2_penalty(critic, fake), fake)):
    expected = np.mean(np.sum(_fd_input_grads(w64, _f64(x)) ** 2, axis=1))
    np.testing.assert_allclose(value, expected, rtol=RTOL)


# --- differentiability w.r.t. critic parameters ------------------------------


@pytest.mark.parametrize("name", ["wgan_gp", "dragan", "r1", "r2"])
def test_penalties_are_differentiable_wrt_critic_params(name, weights, batches):
  real, fake = batches
  penalty = penalties.get(name)

  @jax.jit
  def penalty_of_weights(w):
    return penalty(tanh_critic(w), real, fake, jax.random.key(17))

  grads = jax.grad(penalty_of_weights)(weights)
  assert grads.shape == weights.shape
  assert np.all(np.isfinite(grads))
  assert np.any(np.abs(grads) > 1e-6)


def test_r1_param_gradient_matches_finite_differences(weights, batches):
  # Double backprop checked end to end: d R1 / dW against central differences
  # of the float64 finite-difference R1.
  real, _ = batches
  grads = jax.grad(lambda w: penalties.r1_penalty(tanh_critic(w), real))(weights)

  real64, w64 = _f64(real), _f64(weights)

  def r1_exact(w):
    # Analytic input gradient of sum_k tanh(x w_k): (1 - tanh^2(x w)) w^T.
    sech2 = 1.0 - np.tanh(real64 @ w) ** 2
    return np.mean(np.sum((sech2 @ w.T) ** 2, axis=1))

  expected = np.zeros_like(w64)
  for idx in np.ndindex(w64.shape):
    step = np.zeros_like(w64)
    step[idx] = 1e-6
    expected[idx] = (r1_exact(w64 + step) - r1_exact(w64 - step)) / 2e-6
  np.testing.assert_allclose(grads, expected, rtol=1e-3, atol=1e-5)


def test_gradient_penalty_param_grads_finite_when_input_gradient_vanishes(batches):
  # A dead ReLU critic has exactly zero input gradient; the norm's derivative at
  # 0 must not poison the parameter gradient with NaN.
  real, fake = batches
  w = -jnp.ones((DIM,), jnp.float32)

  def penalty_of_weights(w):
    critic = lambda x: jax.nn.relu(jnp.abs(x) @ w)
    return penalties.gradient_penalty(critic, real, fake, jax.random.key(0))

  value, grads = jax.value_and_grad(penalty_of_weights)(w)
  np.testing.assert_allclose(value, 1.0)
  assert np.all(np.isfinite(grads))


# --- weight clipping -------------------------------------------------------------


def test_clip_weights_bounds_every_leaf_and_keeps_inner_values():
  keys = jax.random.split(jax.random.key(21), 3)
  params = {
      "dense": {"kernel": 0.1 * jax.random.normal(keys[0], (4, 3)),
                "bias": jnp.array([0.005, -0.2, 0.009])},
      "conv": [3.0 * jax.random.normal(keys[1], (2, 2, 1, 2)),
               jax.random.uniform(keys[2], (2,), minval=-0.01, maxval=0.01)],
  }
  clip = 0.01
  clipped = penalties.clip_weights(params, clip)
  assert jax.tree.structure(clipped) == jax.tree.structure(params)
  for before, after in zip(jax.tree.leaves(params), jax.tree.leaves(clipped)):
    before, after = np.asarray(before), np.asarray(after)
    assert after.shape == before.shape and after.dtype == before.dtype
    assert np.all(np.abs(after) <= clip)
    inside = np.abs(before) <= clip
    np.testing.assert_array_equal(after[inside], before[inside])
    np.testing.assert_array_equal(after[~inside], np.sign(before[~inside]) * np.float32(clip))
  # The bias holds values on both sides of the bound, so the test sees both cases.
  assert 0 < np.sum(np.abs(np.asarray(params["dense"]["bias"])) <= clip) < 3


@pytest.mark.parametrize("clip", [0.0, -0.01])
def test_clip_weights_rejects_non_positive_bound(clip):
  with pytest.raises(ValueError, match="clip_value"):
    penalties.clip_weights({"w": jnp.ones(2)}, clip)


# --- registry -------------------------------------------------------------------


def test_registry_wraps_each_penalty_with_unified_signature(weights, batches):
  real, fake = batches
  critic = tanh_critic(weights)
  key = jax.random.key(23)
  assert set(penalties.PENALTIES) == {"wgan_gp", "dragan", "r1", "r2"}
  expected = {
      "wgan_gp": penalties.gradient_penalty(critic, real, fake, key),
      "dragan": penalties.dragan_penalty(critic, real, key),
      "r1": penalties.r1_penalty(critic, real),
      "r2": penalties.r2_penalty(critic, fake),
  }
  for name, value in expected.items():
    np.testing.assert_allclose(penalties.get(name)(critic, real, fake, key), value, rtol=1e-6)


def test_get_unknown_penalty_lists_valid_names():
  with pytest.raises(ValueError) as info:
    penalties.get("nope")
  assert "unknown penalty 'nope'" in str(info.value)
  assert "dragan, r1, r2, wgan_gp" in str(info.value)
