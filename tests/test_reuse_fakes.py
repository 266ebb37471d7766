"""`optim.reuse_fakes`: one G pass shared by the last critic update and G's update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla.config import validate
from gaxla.system import system_for
from conftest import tiny_dcgan_config, tiny_mlp_config


def _same_z_everywhere(system):
  """Makes every z the same (the key is ignored), so the plain step's critic and
  generator updates see the z that `reuse_fakes` shares between them."""
  fixed = system.sample_latent(jax.random.key(123), system.config.batch_size)
  system.sample_latent = lambda key, num, truncation=0.0: fixed[:num]
  return system


def _run(system, state, batches):
  step = jax.jit(system.step)
  for batch in batches:
    state, metrics = step(state, batch)
  return state, metrics


def _batches(system, n_critic, num=3):
  shape = (n_critic, system.config.batch_size) + system.example_shape
  return [{"x": jax.random.normal(jax.random.key(10 + i), shape),
           "label": jax.random.randint(jax.random.key(20 + i), shape[:2], 0, 3)}
          for i in range(num)]


def _assert_trees_close(a, b, **tolerance):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tolerance)


@pytest.mark.parametrize("n_critic", [1, 2])
def test_reuse_equals_the_plain_step_with_the_same_z(n_critic):
  # The MLP keeps no statistics, so sharing G's pass is exactly the plain step
  # whenever the critic update and the generator update draw the same z.
  overrides = {"optim.n_critic": n_critic, "regularizer.orthogonal_g": 1e-3}
  plain = _same_z_everywhere(system_for(validate(tiny_mlp_config(**overrides))))
  reuse = _same_z_everywhere(system_for(validate(tiny_mlp_config(
      **overrides, **{"optim.reuse_fakes": True}))))
  state = plain.init(0)
  batches = _batches(plain, n_critic)
  s_plain, m_plain = _run(plain, state, batches)
  s_reuse, m_reuse = _run(reuse, state, batches)
  _assert_trees_close(s_plain.g.params, s_reuse.g.params, rtol=1e-5, atol=1e-6)
  _assert_trees_close(s_plain.d.params, s_reuse.d.params, rtol=1e-5, atol=1e-6)
  _assert_trees_close(m_plain, m_reuse, rtol=1e-5, atol=1e-6)
  # And the steps did move G (the comparison is not between two frozen states).
  moved = max(float(jnp.max(jnp.abs(a - b)))
              for a, b in zip(jax.tree.leaves(state.g.params), jax.tree.leaves(s_reuse.g.params)))
  assert moved > 1e-4


def test_reuse_with_batchnorm_in_g_updates_its_statistics_once():
  # A DCGAN G (BatchNorm): the plain step runs G in training mode twice per
  # step, reuse once. The fakes in the batch-statistics forward are the same,
  # so D's update is identical; G's running statistics move once, not twice.
  plain = _same_z_everywhere(system_for(validate(tiny_dcgan_config())))
  reuse = _same_z_everywhere(system_for(validate(tiny_dcgan_config(
      **{"optim.reuse_fakes": True}))))
  state = plain.init(0)
  batch = _batches(plain, 1, num=1)
  s_plain, _ = _run(plain, state, batch)
  s_reuse, _ = _run(reuse, state, batch)
  _assert_trees_close(s_plain.d.params, s_reuse.d.params, rtol=1e-5, atol=1e-6)
  _assert_trees_close(s_plain.g.params, s_reuse.g.params, rtol=1e-4, atol=1e-5)
  one_forward = jax.tree.leaves(s_reuse.g.collections)
  two_forwards = jax.tree.leaves(s_plain.g.collections)
  before = jax.tree.leaves(state.g.collections)
  assert one_forward and len(one_forward) == len(two_forwards)
  # Running means with momentum m after identical batches: one update moves
  # them by (1 - m) of the way, two by 1 - m^2: a different, larger move.
  move = lambda after: sum(float(jnp.sum(jnp.abs(a - b))) for a, b in zip(after, before))
  assert 0 < move(one_forward) < move(two_forwards)


def test_reuse_default_z_stream_is_the_generator_updates():
  # Without the patch: reuse gives the critic's last update the generator
  # update's z, so D's update differs from the plain step's but G's z does not.
  plain = system_for(validate(tiny_mlp_config()))
  reuse = system_for(validate(tiny_mlp_config(**{"optim.reuse_fakes": True})))
  state = plain.init(0)
  batch = _batches(plain, 1, num=1)
  s_plain, _ = _run(plain, state, batch)
  s_reuse, _ = _run(reuse, state, batch)
  pairs = zip(jax.tree.leaves(s_plain.d.params), jax.tree.leaves(s_reuse.d.params))
  d_diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in pairs)
  assert d_diff > 0


@pytest.mark.parametrize("overrides, fragment", [
    ({"unroll.steps": 2}, "unroll.steps"),
    ({"optim.grad_accum_steps": 2}, "grad_accum_steps"),
])
def test_reuse_rejects_what_it_cannot_do(overrides, fragment):
  config = tiny_mlp_config(**{"optim.reuse_fakes": True, **overrides})
  with pytest.raises(ValueError, match="optim.reuse_fakes") as info:
    validate(config)
  assert fragment in str(info.value)
