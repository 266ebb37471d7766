"""Tests for gaxla.losses against closed forms computed independently in NumPy."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla import losses

REAL = np.array([1.5, -0.3, 2.0, 0.0])
FAKE = np.array([-1.0, 0.7, -2.5, 0.2])
RTOL = 1e-5
ATOL = 1e-6

RELATIVISTIC = {
    "relativistic", "relativistic_average", "relativistic_average_ls",
    "relativistic_average_hinge",
}


# --- float64 NumPy references, written from the definitions ---------------


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _log_d(x):
  return np.log(_sigmoid(x))


def _log_1m_d(x):
  return np.log(1.0 - _sigmoid(x))


def _relu(x):
  return np.maximum(x, 0.0)


def _ref_critic_sigmoid(r, f, real_label=1.0):
  real_term = -(real_label * _log_d(r) + (1 - real_label) * _log_1m_d(r)).mean()
  return real_term - _log_1m_d(f).mean()


def _rel_avg(r, f):
  return r - f.mean(), f - r.mean()


REFERENCE = {
    "minimax": (
        _ref_critic_sigmoid,
        lambda r, f: _log_1m_d(f).mean()),
    "non_saturating": (
        _ref_critic_sigmoid,
        lambda r, f: -_log_d(f).mean()),
    "wasserstein": (
        lambda r, f: f.mean() - r.mean(),
        lambda r, f: -f.mean()),
    "wasserstein_drift": (  # ProGAN: + epsilon * D(real)^2, epsilon = 0.001
        lambda r, f: f.mean() - r.mean() + 0.001 * (r ** 2).mean(),
        lambda r, f: -f.mean()),
    "hinge": (
        lambda r, f: _relu(1 - r).mean() + _relu(1 + f).mean(),
        lambda r, f: -f.mean()),
    "least_squares": (
        lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
        lambda r, f: 0.5 * ((f - 1) ** 2).mean()),
    "relativistic": (
        lambda r, f: -_log_d(r - f).mean(),
        lambda r, f: -_log_d(f - r).mean()),
    "relativistic_average": (
        lambda r, f: -_log_d(r - f.mean()).mean() - _log_1m_d(f - r.mean()).mean(),
        lambda r, f: -_log_d(f - r.mean()).mean() - _log_1m_d(r - f.mean()).mean()),
    "relativistic_average_ls": (
        lambda r, f: ((r - f.mean() - 1) ** 2).mean() + ((f - r.mean() + 1) ** 2).mean(),
        lambda r, f: ((f - r.mean() - 1) ** 2).mean() + ((r - f.mean() + 1) ** 2).mean()),
    "relativistic_average_hinge": (
        lambda r, f: _relu(1 - (r - f.mean())).mean() + _relu(1 + (f - r.mean())).mean(),
        lambda r, f: _relu(1 - (f - r.mean())).mean() + _relu(1 + (r - f.mean())).mean()),
}


def _evaluate(loss, real, fake):
  real = jnp.asarray(real, jnp.float32)
  fake = jnp.asarray(fake, jnp.float32)
  return float(loss.critic(real, fake)), float(loss.generator(real, fake))


def test_registry_is_exactly_the_documented_set():
  assert set(losses.LOSSES) == set(REFERENCE)
  for name, loss in losses.LOSSES.items():
    assert loss.name == name


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_matches_numpy_closed_form(name):
  critic, generator = _evaluate(losses.get(name), REAL, FAKE)
  ref_critic, ref_generator = REFERENCE[name]
  np.testing.assert_allclose(critic, ref_critic(REAL, FAKE), rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(generator, ref_generator(REAL, FAKE), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_jit_and_column_logits_give_same_result(name):
  loss = losses.get(name)
  real = jnp.asarray(REAL, jnp.float32)
  fake = jnp.asarray(FAKE, jnp.float32)
  expected = (loss.critic(real, fake), loss.generator(real, fake))
  column = (loss.critic(real[:, None], fake[:, None]),
            loss.generator(real[:, None], fake[:, None]))
  jitted = (jax.jit(loss.critic)(real, fake), jax.jit(loss.generator)(real, fake))
  np.testing.assert_allclose(column, expected, rtol=RTOL)
  np.testing.assert_allclose(jitted, expected, rtol=RTOL)


def test_rejects_logits_with_several_outputs_per_example():
  logits = jnp.zeros((4, 2))
  with pytest.raises(ValueError, match=r"\[B\] or \[B, 1\]"):
    losses.get("hinge").critic(logits, logits)


def test_hand_computed_scalars():
  zero = jnp.zeros((1,))
  # sigmoid(0) = 1/2: both critic terms are -log(1/2).
  minimax = losses.get("minimax")
  np.testing.assert_allclose(minimax.critic(zero, zero), 2 * np.log(2), rtol=RTOL)
  np.testing.assert_allclose(minimax.generator(zero, zero), -np.log(2), rtol=RTOL)
  np.testing.assert_allclose(losses.get("non_saturating").generator(zero, zero), np.log(2),
                             rtol=RTOL)

  real = jnp.array([2.0])
  fake = jnp.array([-0.5])
  hinge = losses.get("hinge")
  # relu(1 - 2) + relu(1 - 0.5) = 0 + 0.5
  np.testing.assert_allclose(hinge.critic(real, fake), 0.5, rtol=RTOL)
  np.testing.assert_allclose(hinge.generator(real, fake), 0.5, rtol=RTOL)
  wasserstein = losses.get("wasserstein")
  np.testing.assert_allclose(wasserstein.critic(real, fake), -2.5, rtol=RTOL)
  np.testing.assert_allclose(wasserstein.generator(real, fake), 0.5, rtol=RTOL)
  least_squares = losses.get("least_squares")
  # 0.5 (2 - 1)^2 + 0.5 (-0.5)^2 = 0.625 ; 0.5 (-1.5)^2 = 1.125
  np.testing.assert_allclose(least_squares.critic(real, fake), 0.625, rtol=RTOL)
  np.testing.assert_allclose(least_squares.generator(real, fake), 1.125, rtol=RTOL)


def test_relativistic_average_uses_batch_mean_of_real_in_fake_term():
  loss = losses.get("relativistic_average")
  changed_real = REAL.copy()
  changed_real[0] += 3.0
  before, _ = _evaluate(loss, REAL, FAKE)
  after, _ = _evaluate(loss, changed_real, FAKE)

  def fake_term(r):
    return -_log_1m_d(FAKE - r.mean()).mean()

  def real_term(r):
    return -_log_d(r - FAKE.mean()).mean()

  # The fake term moves only through mean(real), which rose by 3/4.
  assert fake_term(changed_real) != pytest.approx(fake_term(REAL))
  np.testing.assert_allclose(
      after - before,
      (real_term(changed_real) - real_term(REAL)) + (fake_term(changed_real) - fake_term(REAL)),
      rtol=1e-4)


@pytest.mark.parametrize("name", ["relativistic_average", "relativistic_average_ls",
                                  "relativistic_average_hinge"])
def test_relativistic_average_is_not_pairwise(name):
  # Permuting the fakes changes pairwise differences but not batch means, so
  # averaged losses are invariant while the paired RSGAN loss is not.
  permuted = FAKE[::-1].copy()
  np.testing.assert_allclose(_evaluate(losses.get(name), REAL, permuted),
                             _evaluate(losses.get(name), REAL, FAKE), rtol=RTOL)
  paired = losses.get("relativistic")
  assert _evaluate(paired, REAL, permuted)[0] != pytest.approx(_evaluate(paired, REAL, FAKE)[0])


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_common_shift_changes_only_non_relativistic_losses(name):
  loss = losses.get(name)
  base = np.array(_evaluate(loss, REAL, FAKE))
  shifted = np.array(_evaluate(loss, REAL + 0.75, FAKE + 0.75))
  if name in RELATIVISTIC:
    np.testing.assert_allclose(shifted, base, rtol=RTOL, atol=ATOL)
  else:
    assert not np.allclose(shifted, base, rtol=1e-3)


def test_uses_real_in_generator_exactly_for_relativistic():
  flagged = {name for name, loss in losses.LOSSES.items() if loss.uses_real_in_generator}
  assert flagged == RELATIVISTIC


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_generator_ignores_real_unless_flagged(name):
  loss = losses.get(name)
  fake = jnp.asarray(FAKE, jnp.float32)
  grad_real = jax.grad(loss.generator)(jnp.asarray(REAL, jnp.float32), fake)
  assert bool(jnp.any(grad_real != 0)) == loss.uses_real_in_generator


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_extreme_logits_give_finite_losses_and_grads(name):
  loss = losses.get(name)
  real = jnp.array([100.0, -100.0, 100.0, -100.0])
  fake = jnp.array([-100.0, 100.0, 100.0, -100.0])
  for fn in (loss.critic, loss.generator):
    value, (grad_real, grad_fake) = jax.value_and_grad(fn, argnums=(0, 1))(real, fake)
    assert np.isfinite(value)
    assert np.all(np.isfinite(grad_real)) and np.all(np.isfinite(grad_fake))


def test_sigmoid_losses_are_accurate_far_in_the_tail():
  # softplus(100) = 100 (+ 4e-44); a naive log(1 - sigmoid(100)) would be -inf.
  loss = losses.get("minimax")
  np.testing.assert_allclose(loss.critic(jnp.array([-100.0]), jnp.array([100.0])), 200.0,
                             rtol=RTOL)


def test_get_unknown_name_lists_valid_names():
  with pytest.raises(ValueError) as info:
    losses.get("nope")
  message = str(info.value)
  assert "'nope'" in message
  assert ", ".join(sorted(REFERENCE)) in message


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_label_smoothing_changes_only_the_real_term(name):
  loss = losses.get(name)
  smoothed = losses.with_label_smoothing(loss, 0.9)
  critic, generator = _evaluate(smoothed, REAL, FAKE)
  np.testing.assert_allclose(critic, _ref_critic_sigmoid(REAL, FAKE, 0.9), rtol=RTOL)
  np.testing.assert_allclose(generator, REFERENCE[name][1](REAL, FAKE), rtol=RTOL)

  # The smoothing contribution depends on real logits only: it is the same for
  # any fakes.
  other_fake = FAKE + np.array([0.4, -1.3, 2.2, 0.0])
  delta = critic - _evaluate(loss, REAL, FAKE)[0]
  other_delta = _evaluate(smoothed, REAL, other_fake)[0] - _evaluate(loss, REAL, other_fake)[0]
  expected_delta = (0.1 * (_log_d(REAL) - _log_1m_d(REAL))).mean()
  np.testing.assert_allclose([delta, other_delta], [expected_delta] * 2, rtol=1e-4)
  assert smoothed.name == loss.name
  assert smoothed.uses_real_in_generator == loss.uses_real_in_generator


def test_label_smoothing_of_one_is_identity_and_original_is_untouched():
  loss = losses.get("non_saturating")
  same = losses.with_label_smoothing(loss, 1.0)
  np.testing.assert_allclose(_evaluate(same, REAL, FAKE), _evaluate(loss, REAL, FAKE), rtol=RTOL)
  losses.with_label_smoothing(loss, 0.8)
  np.testing.assert_allclose(_evaluate(losses.get("non_saturating"), REAL, FAKE)[0],
                             _ref_critic_sigmoid(REAL, FAKE), rtol=RTOL)
  with pytest.raises(dataclasses.FrozenInstanceError):
    loss.name = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["hinge", "wasserstein", "least_squares", "relativistic"])
def test_label_smoothing_rejects_non_sigmoid_losses(name):
  with pytest.raises(ValueError, match="label smoothing"):
    losses.with_label_smoothing(losses.get(name), 0.9)


@pytest.mark.parametrize("real_label", [0.0, -0.1, 1.01, 2.0])
def test_label_smoothing_rejects_labels_outside_unit_interval(real_label):
  with pytest.raises(ValueError, match="real_label"):
    losses.with_label_smoothing(losses.get("minimax"), real_label)
