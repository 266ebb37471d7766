"""Issue 13's critic-side toolbox, one behaviour per technique: packing,
instance noise, DiffAugment and bCR, minibatch discrimination and stddev,
virtual batch norm, the DCGAN BatchNorm critic, and per-side optimizers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import tiny_dcgan_config, tiny_mlp_config
from gaxla import critic_inputs, data
from gaxla.config import ConfigError, validate
from gaxla.models.dcgan import DCGANGenerator
from gaxla.nn.minibatch import MinibatchDiscrimination, minibatch_stddev
from gaxla.nn.virtual_batch_norm import VirtualBatchNorm
from gaxla.optim import make_optimizer
from gaxla.system import system_for


def _batch(config, step=0):
  source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed)
  return source.batch(step)


def _leaves_equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _image_config(**overrides):
  """Unconditional tiny DCGAN on 8x8 digits (packing needs one kind per pack)."""
  return tiny_dcgan_config(**{"model.conditional": False, **overrides})


# --- PacGAN -------------------------------------------------------------------
def test_pack_layout_and_m1_step_equals_no_packing():
  x = jnp.arange(12.0).reshape(6, 2)
  packed = critic_inputs.pack(x, 3)
  np.testing.assert_array_equal(packed, [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
  images = jnp.arange(2 * 2 * 2 * 3.0).reshape(2, 2, 2, 3)
  np.testing.assert_array_equal(critic_inputs.pack(images, 2)[0, 1, 0],
                                np.concatenate([images[0, 1, 0], images[1, 1, 0]]))

  plain, packed_1 = tiny_mlp_config(), tiny_mlp_config(**{"pack.size": 1})
  batch = _batch(plain)
  a = system_for(plain).train_step(system_for(plain).init(0), batch)
  b = system_for(packed_1).train_step(system_for(packed_1).init(0), batch)
  assert _leaves_equal(a, b)

  config = tiny_mlp_config(**{"pack.size": 4})
  system = system_for(config)
  state = system.init(0)
  # The critic's first layer takes 4 points of 2 dims; it scores B / 4 packs.
  assert (8, 16) in [leaf.shape for leaf in jax.tree.leaves(state.d.params)]
  new_state, metrics = system.train_step(state, _batch(config))
  assert np.isfinite(float(metrics["d_loss"])) and not _leaves_equal(new_state.d.params,
                                                                     state.d.params)


def test_pack_size_must_divide_the_batch():
  with pytest.raises(ConfigError, match="'pack.size'.*must divide.*batch_size = 32"):
    validate(tiny_mlp_config(**{"pack.size": 3}))
  with pytest.raises(ConfigError, match="'pack.size'.*unconditional"):
    validate(tiny_dcgan_config(**{"pack.size": 2}))


# --- Instance noise -------------------------------------------------------------
def test_instance_noise_anneals_to_zero_and_hits_real_and_fake():
  std = [float(critic_inputs.instance_noise_std(jnp.float32(s), 0.4, 100))
         for s in (0, 50, 99, 100, 500)]
  np.testing.assert_allclose(std[:3], [0.4, 0.2, 0.004], rtol=1e-5)
  assert std[3] == 0.0 and std[4] == 0.0

  config = tiny_mlp_config(**{"instance_noise.std": 0.5, "instance_noise.anneal_steps": 4,
                              "batch_size": 256})
  system = system_for(config)
  seen = []
  transform = system.inputs.transform

  def recording(x, labels, key, step, augment=None):
    out = transform(x, labels, key, step, augment)
    if not isinstance(out[0], jax.core.Tracer):   # G's fakes are traced by jax.grad
      seen.append((np.asarray(x), np.asarray(out[0])))
    return out
  system.inputs.transform = recording
  state = system.init(0)
  # The step unjitted: the critic update's inputs are concrete and can be read.
  for step in (0, 2, 4):
    seen.clear()
    system.step(state.replace(step=jnp.int32(step)), _batch(config))
    assert len(seen) == 2                    # the critic update's real and fake batches
    expected = 0.5 * max(0.0, 1 - step / 4)
    for x, out in seen:
      np.testing.assert_allclose(np.std(out - x), expected, rtol=0.15, atol=1e-7)


# --- DiffAugment and bCR ---------------------------------------------------------
def test_translation_moves_pixels_as_specified_and_augment_is_differentiable():
  x = jnp.zeros((2, 5, 5, 1)).at[0, 2, 3, 0].set(1.0).at[1, 0, 0, 0].set(1.0)
  moved = critic_inputs.translate(x, jnp.array([[1, -1], [-1, 0]]))
  assert moved[0, 3, 2, 0] == 1.0 and float(jnp.sum(moved[0])) == 1.0
  assert float(jnp.sum(moved[1])) == 0.0     # shifted off the top edge, zero filled
  policy = critic_inputs.parse_policy("translation,cutout,color")
  grad = jax.grad(lambda v: jnp.sum(critic_inputs.diff_augment(
      jax.random.key(0), v, policy) ** 2))(jnp.linspace(-1, 1, 2 * 64).reshape(2, 8, 8, 1))
  assert np.all(np.isfinite(grad)) and float(jnp.abs(grad).sum()) > 0
  with pytest.raises(ConfigError, match="'augment.policy'.*rotate.*translation, cutout, color"):
    validate(_image_config(**{"augment.policy": "translation,rotate"}))


def test_diff_augment_hits_real_and_fake_and_bcr_is_zero_for_identity():
  config = _image_config(**{"augment.policy": "translation", "augment.diff_augment": True,
                            "augment.bcr_real": 1.0, "augment.bcr_fake": 1.0})
  system = system_for(config)
  state, batch = system.init(0), _batch(config)
  calls = []
  augment = system.inputs.augment
  system.inputs.augment = lambda key, x: calls.append(x.shape) or augment(key, x)
  _, metrics = system.step(state, batch)
  # Critic update: real, fake (+ their bCR twins use no augmentation); G: fake.
  assert calls == [(32, 8, 8, 1)] * 3
  assert float(metrics["bcr"]) > 0
  g_grads = jax.grad(lambda p: jnp.sum(system._critic_eval(
      state.d.variables(), *system.inputs.transform(
          system.generate({"params": p, **state.g.collections},
                          jnp.ones((4, system.latent_dim)), jnp.zeros(4, jnp.int32)),
          jnp.zeros(4, jnp.int32), jax.random.key(1), jnp.int32(0)))))(state.g.params)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(g_grads))
  system.inputs.augment = lambda key, x: x
  _, metrics = system.step(state, batch)
  assert float(metrics["bcr"]) < 1e-10


# --- Minibatch discrimination and stddev -----------------------------------------
def test_minibatch_features_see_the_other_examples():
  layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=4)
  x = jax.random.normal(jax.random.key(0), (4, 5))
  params = layer.init(jax.random.key(1), x)
  out = layer.apply(params, x)
  assert out.shape == (4, 8)
  changed = layer.apply(params, x.at[2].set(x[2] + 1.0))
  assert not np.allclose(out[0, 5:], changed[0, 5:])        # i = 0 moved with j = 2
  np.testing.assert_array_equal(out[0, :5], changed[0, :5])  # its own features did not

  constant = jnp.ones((8, 3, 3, 2))
  assert float(jnp.abs(minibatch_stddev(constant, 4)[..., -1]).max()) == 0.0
  pair = jnp.array([[0.0], [2.0]])                            # one group of two
  np.testing.assert_allclose(minibatch_stddev(pair, 2)[:, -1], [1.0, 1.0])
  assert float(minibatch_stddev(pair.at[1].set(4.0), 2)[0, -1]) == 2.0


@pytest.mark.parametrize("family", ["mlp", "dcgan"])
def test_minibatch_critic_options_train(family):
  config = tiny_mlp_config() if family == "mlp" else _image_config()
  config.model.critic = dict(config.model.critic, minibatch_discrimination=4,
                             minibatch_kernel_dim=3, minibatch_stddev=4)
  system = system_for(validate(config))
  state = system.init(0)
  names = str(jax.tree_util.tree_structure(state.d.params))
  assert "MinibatchDiscrimination" in names
  new_state, metrics = system.train_step(state, _batch(config))
  assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))
  bad = tiny_mlp_config()
  bad.model.critic = dict(hidden=(16,), minibatch_stddev=5)
  with pytest.raises(ConfigError, match="minibatch_stddev"):
    validate(bad)


# --- Virtual batch norm -------------------------------------------------------------
def test_vbn_uses_only_the_reference_batch_and_the_example():
  layer = VirtualBatchNorm(reference_size=6)
  ref = jax.random.normal(jax.random.key(0), (6, 3, 3, 4)) * 3 + 1
  rest = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  params = layer.init(jax.random.key(2), jnp.concatenate([ref, rest]))
  out = layer.apply(params, jnp.concatenate([ref, rest]))
  np.testing.assert_allclose(jnp.mean(out[:6], axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(jnp.var(out[:6], axis=(0, 1, 2)), 1.0, rtol=1e-3)
  others = layer.apply(params, jnp.concatenate([ref, rest.at[1:].set(rest[1:] * 5 - 2)]))
  np.testing.assert_allclose(out[6], others[6], rtol=1e-6)    # example 0 unchanged
  moved = layer.apply(params, jnp.concatenate([ref * 2, rest]))
  assert not np.allclose(out[6], moved[6])                     # the reference decides

  generator = DCGANGenerator(out_shape=(8, 8, 1), base_channels=4, virtual_batch_norm=8)
  z = jax.random.normal(jax.random.key(3), (4, 8))
  variables = generator.init(jax.random.key(4), z, None, train=True)
  assert "batch_stats" not in variables                         # no running statistics
  a = generator.apply(variables, z, None, train=True)
  b = generator.apply(variables, z.at[1:].set(-z[1:]), None, train=True)
  np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(a[0], generator.apply(variables, z[:1], None, train=False)[0],
                             rtol=1e-5, atol=1e-6)


# --- DCGAN critic with BatchNorm ------------------------------------------------------
def test_dcgan_batchnorm_critic_adds_batch_stats_and_trains():
  config = _image_config(**{"data.image_size": 16})   # two conv stages: BN on the second
  config.model.critic = dict(base_channels=4, spectral_norm=False, batch_norm=True)
  system = system_for(validate(config))
  state = system.init(0)
  assert "BatchNorm_0" in state.d.collections["batch_stats"]
  assert system.separate_critic_passes
  new_state, metrics = system.train_step(state, _batch(config))
  assert np.isfinite(float(metrics["d_loss"]))
  assert not _leaves_equal(new_state.d.collections, state.d.collections)
  assert not _leaves_equal(new_state.d.params, state.d.params)


# --- Optimizers per side ----------------------------------------------------------------
def test_optimizer_choice_per_side():
  config = tiny_mlp_config(**{"optim.generator.name": "sgd", "optim.generator.lr": 0.1,
                              "optim.critic.name": "rmsprop", "optim.critic.lr": 0.01})
  grads = {"w": jnp.array([2.0, -4.0])}
  params = {"w": jnp.zeros(2)}
  sgd = make_optimizer(config.optim.generator, 10)
  updates, _ = sgd.update(grads, sgd.init(params), params)
  np.testing.assert_allclose(updates["w"], [-0.2, 0.4], rtol=1e-6)
  rms = make_optimizer(config.optim.critic, 10)
  updates, _ = rms.update(grads, rms.init(params), params)
  # First RMSProp step: -lr * g / (sqrt((1 - decay) g^2) + eps), decay 0.99.
  np.testing.assert_allclose(updates["w"], [-0.1, 0.1], rtol=1e-5)
  system = system_for(validate(config))
  assert isinstance(system.d_tx, optax.GradientTransformation)
  with pytest.raises(ConfigError, match="'optim.critic.name'.*adam, rmsprop, sgd"):
    validate(tiny_mlp_config(**{"optim.critic.name": "adagrad"}))
