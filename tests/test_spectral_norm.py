"""Spectral normalization: sigma estimates and where its state lives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla.nn import Conv, Dense, spectral_sigmas


def _power_iterate(layer, x, steps):
  variables = layer.init(jax.random.key(0), x, train=False)
  apply = jax.jit(lambda v: layer.apply(v, x, train=True, mutable=["batch_stats"])[1])
  for _ in range(steps):
    variables = {**variables, **apply(variables)}
  return variables


@pytest.mark.parametrize("layer,x,flat", [
    (Dense(24, spectral_norm=True), jnp.ones((2, 40)), lambda k: k),
    (Conv(8, (3, 3), spectral_norm=True), jnp.ones((2, 6, 6, 5)),
     lambda k: k.reshape(-1, k.shape[-1])),
])
def test_sigma_matches_largest_singular_value(layer, x, flat):
  variables = _power_iterate(layer, x, 30)
  kernel = [np.asarray(v) for v in jax.tree.leaves(variables["params"]) if np.ndim(v) > 1][0]
  true_sigma = np.linalg.svd(flat(kernel), compute_uv=False)[0]
  sigmas = spectral_sigmas(variables["batch_stats"])
  assert len(sigmas) == 1
  sigma = float(next(iter(sigmas.values())))
  assert abs(sigma - true_sigma) / true_sigma < 0.02


def test_normalized_layer_has_unit_spectral_norm():
  layer = Dense(16, spectral_norm=True, use_bias=False)
  x = jnp.eye(32)
  variables = _power_iterate(layer, x, 30)
  effective = np.asarray(layer.apply(variables, x, train=False))  # = W / sigma
  assert abs(np.linalg.svd(effective, compute_uv=False)[0] - 1.0) < 0.02


def test_stats_update_only_in_training():
  layer = Dense(8, spectral_norm=True)
  x = jnp.ones((2, 4))
  variables = layer.init(jax.random.key(1), x, train=False)
  _, unchanged = layer.apply(variables, x, train=False, mutable=["batch_stats"])
  jax.tree.map(np.testing.assert_array_equal, unchanged["batch_stats"], variables["batch_stats"])
  _, changed = layer.apply(variables, x, train=True, mutable=["batch_stats"])
  u_old = [v for k, v in jax.tree_util.tree_flatten_with_path(variables["batch_stats"])[0]]
  u_new = [v for k, v in jax.tree_util.tree_flatten_with_path(changed["batch_stats"])[0]]
  assert any(not np.array_equal(a, b) for a, b in zip(u_old, u_new))
  # The raw weight is untouched: normalization is a reparameterization.
  assert set(changed) == {"batch_stats"}
