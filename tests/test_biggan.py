"""BigGAN / BigGAN-deep / SNGAN-ResNet: layers, conditioning paths, counts, one step."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla import models, penalties
from gaxla.models.biggan import BigGANCritic, BigGANGenerator
from gaxla.nn import ConditionalBatchNorm, SelfAttention

NUM_CLASSES = 5


def tiny_generator(**overrides):
  """16x16, two up-blocks of 16 -> 8 channels, attention at 8x8, z = 3 chunks of 4."""
  kwargs = {"out_shape": (16, 16, 3), "num_classes": NUM_CLASSES, "ch": 8,
            "channel_multipliers": (2, 2, 1), "attention_resolutions": (8,), "shared_dim": 8}
  kwargs.update(overrides)
  return BigGANGenerator(**kwargs)


def tiny_critic(**overrides):
  kwargs = {"num_classes": NUM_CLASSES, "ch": 8, "channel_multipliers": (1, 2),
            "downsample": (True, False), "attention_resolutions": (8,)}
  kwargs.update(overrides)
  return BigGANCritic(**kwargs)


def _z(batch, dim=12, seed=0):
  return jax.random.normal(jax.random.key(seed), (batch, dim))


def _num_params(tree):
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


# ----------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------
def test_conditional_batchnorm_is_bn_times_one_plus_gain_plus_bias():
  x = jax.random.normal(jax.random.key(0), (6, 4, 4, 3)) * 3.0 + 1.0
  cond = jax.random.normal(jax.random.key(1), (6, 5))
  layer = ConditionalBatchNorm(spectral_norm=False)
  variables = layer.init(jax.random.key(2), x, cond, train=False)
  out, _ = layer.apply(variables, x, cond, train=True, mutable=["batch_stats"])
  p = variables["params"]
  w_gain, w_bias = p["gain"]["Dense_0"]["kernel"], p["bias"]["Dense_0"]["kernel"]
  assert "bias" not in p["gain"]["Dense_0"]    # bias-free linears, as BigGAN
  mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
  normalized = (x - mean) / jnp.sqrt(var + 1e-5)
  expected = (normalized * (1 + cond @ w_gain)[:, None, None, :]
              + (cond @ w_bias)[:, None, None, :])
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_conditional_batchnorm_with_labels_shifts_one_class_only():
  x = jax.random.normal(jax.random.key(0), (4, 2, 2, 3))
  labels = jnp.array([0, 1, 2, 1])
  layer = ConditionalBatchNorm(num_classes=3)
  variables = layer.init(jax.random.key(1), x, labels, train=False)
  base = layer.apply(variables, x, labels, train=False)
  params = flax.core.unfreeze(variables["params"])
  params["bias"]["embedding"] = params["bias"]["embedding"].at[1].set(0.5)
  params["gain"]["embedding"] = params["gain"]["embedding"].at[1].set(1.0)   # gain 2
  shifted = layer.apply({**variables, "params": params}, x, labels, train=False)
  np.testing.assert_array_equal(shifted[labels != 1], base[labels != 1])
  np.testing.assert_allclose(shifted[labels == 1], 2 * base[labels == 1] + 0.5, rtol=1e-5)


def test_self_attention_matches_manual_computation():
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 16))
  layer = SelfAttention(spectral_norm=False)
  variables = layer.init(jax.random.key(1), x, train=False)
  # gamma starts at 0: a fresh block is the identity.
  np.testing.assert_array_equal(layer.apply(variables, x, train=False), x)
  params = flax.core.unfreeze(variables["params"])
  params["gamma"] = jnp.asarray(0.7)
  out = layer.apply({"params": params}, x, train=False)
  k = {n: params[n]["Conv_0"]["kernel"][0, 0] for n in ("theta", "phi", "g", "o")}
  pool = lambda t: t.reshape(2, 2, 2, 2, 2, -1).max(axis=(2, 4))   # 2x2 max-pool
  theta = (x @ k["theta"]).reshape(2, 16, 2)
  phi = pool(x @ k["phi"]).reshape(2, 4, 2)
  g = pool(x @ k["g"]).reshape(2, 4, 8)
  beta = jax.nn.softmax(jnp.einsum("bqc,bkc->bqk", theta, phi), -1)
  expected = x + 0.7 * (jnp.einsum("bqk,bkc->bqc", beta, g) @ k["o"]).reshape(x.shape)
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# Generator conditioning
# ----------------------------------------------------------------------------
def test_label_changes_only_its_samples_and_embedding_row_only_its_class():
  g = tiny_generator()
  z = _z(3)
  variables = g.init(jax.random.key(0), z, jnp.array([0, 1, 2]), train=False)
  a = g.apply(variables, z, jnp.array([0, 1, 2]), train=False)
  b = g.apply(variables, z, jnp.array([0, 1, 3]), train=False)
  np.testing.assert_array_equal(a[:2], b[:2])
  assert not np.allclose(a[2], b[2])
  # One row of the shared class embedding feeds every CBN of that class only.
  params = flax.core.unfreeze(variables["params"])
  params["shared"]["embedding"] = params["shared"]["embedding"].at[1].add(1.0)
  labels = jnp.array([1, 0, 1])
  before = g.apply(variables, z, labels, train=False)
  after = g.apply({**variables, "params": params}, z, labels, train=False)
  np.testing.assert_array_equal(before[1], after[1])
  assert not np.allclose(before[0], after[0]) and not np.allclose(before[2], after[2])


def _cbn_gains(g, variables, z, labels):
  """Output of every block's first CBN gain map, by block name."""
  _, state = g.apply(variables, z, labels, train=False, capture_intermediates=True,
                     mutable=["intermediates"])
  inter = state["intermediates"]
  return {name: inter[name]["bn1"]["cbn"]["gain"]["__call__"][0]
          for name in inter if name.startswith("block")}, inter["linear"]["__call__"][0]


def test_hierarchical_latent_chunk_k_reaches_exactly_block_k():
  g = tiny_generator()
  z, labels = _z(2), jnp.array([0, 4])
  variables = g.init(jax.random.key(0), z, labels, train=False)
  assert g.num_latent_chunks() == 3
  gains, linear = _cbn_gains(g, variables, z, labels)
  assert sorted(gains) == ["block0", "block1"]
  for chunk in range(3):
    bumped = z.at[:, 4 * chunk: 4 * (chunk + 1)].add(1.0)
    new_gains, new_linear = _cbn_gains(g, variables, bumped, labels)
    assert np.allclose(new_linear, linear) == (chunk != 0)
    for block in range(2):
      same = np.allclose(new_gains[f"block{block}"], gains[f"block{block}"])
      assert same == (chunk != block + 1), (chunk, block)


def test_latent_dim_must_split_evenly():
  g = tiny_generator()
  with pytest.raises(ValueError, match="not divisible by 3"):
    g.init(jax.random.key(0), _z(1, dim=10), jnp.zeros((1,), jnp.int32), train=False)


# ----------------------------------------------------------------------------
# Critic
# ----------------------------------------------------------------------------
def test_projection_term_is_inner_product_of_class_embedding_and_pooled_features():
  d = tiny_critic(spectral_norm=False)
  x = jax.random.normal(jax.random.key(0), (3, 16, 16, 3))
  labels = jnp.array([0, 2, 4])
  variables = d.init(jax.random.key(1), x, labels, train=False)
  logits = d.apply(variables, x, labels, train=False)
  _, inter = d.apply(variables, x, labels, train=False, mutable=["intermediates"])
  h = inter["intermediates"]["features"][0]
  assert h.shape == (3, 16) and bool(jnp.all(h >= 0))     # sum-pooled after ReLU
  p = variables["params"]
  linear = h @ p["linear"]["Dense_0"]["kernel"][:, 0] + p["linear"]["Dense_0"]["bias"][0]
  projection = jnp.sum(p["embed"]["embedding"][labels] * h, axis=-1)
  np.testing.assert_allclose(logits, linear + projection, rtol=1e-4, atol=1e-4)
  # With spectral norm the class embedding is normalized as well.
  d_sn = tiny_critic()
  v_sn = d_sn.init(jax.random.key(1), x, labels, train=False)
  assert "embed_sn" in v_sn["batch_stats"]


# ----------------------------------------------------------------------------
# Sizes
# ----------------------------------------------------------------------------
def test_imagenet128_parameter_counts_match_biggan_pytorch():
  """G: exactly BigGAN-PyTorch's 70,433,988 (its `parameters()`: SN u/sv are
  buffers, like our `batch_stats`). D: 87,982,370 by the same rules."""
  g = BigGANGenerator(out_shape=(128, 128, 3), num_classes=1000, ch=96)
  d = BigGANCritic(num_classes=1000, ch=96)
  labels = jax.ShapeDtypeStruct((1,), jnp.int32)
  g_vars = jax.eval_shape(
      lambda z, y: g.init(jax.random.key(0), z, y, train=False),
      jax.ShapeDtypeStruct((1, 120), jnp.float32), labels)
  d_vars = jax.eval_shape(
      lambda x, y: d.init(jax.random.key(0), x, y, train=False),
      jax.ShapeDtypeStruct((1, 128, 128, 3), jnp.float32), labels)
  assert _num_params(g_vars["params"]) == 70_433_988
  assert _num_params(d_vars["params"]) == 87_982_370
  # The 20-d chunk + 128-d shared embedding feed each CBN (148 inputs).
  assert g_vars["params"]["block0"]["bn1"]["cbn"]["gain"]["Dense_0"]["kernel"].shape == (148, 1536)
  assert "attention3" in g_vars["params"] and "attention0" in d_vars["params"]


def test_biggan_deep_128_sizes_are_close_to_the_paper():
  """BigGAN-deep at 128 (ch=128, z 128): the paper reports 50.4 M (G) and 34.6 M (D)."""
  fam = models.get("biggan_deep")
  g, d = fam.generator(out_shape=(128, 128, 3), num_classes=1000, ch=128), fam.critic(
      num_classes=1000, ch=128)
  labels = jax.ShapeDtypeStruct((1,), jnp.int32)
  g_vars = jax.eval_shape(lambda z, y: g.init(jax.random.key(0), z, y, train=False),
                          jax.ShapeDtypeStruct((1, 128), jnp.float32), labels)
  d_vars = jax.eval_shape(lambda x, y: d.init(jax.random.key(0), x, y, train=False),
                          jax.ShapeDtypeStruct((1, 128, 128, 3), jnp.float32), labels)
  assert _num_params(g_vars["params"]) == pytest.approx(50.4e6, rel=0.005)
  assert _num_params(d_vars["params"]) == pytest.approx(34.6e6, rel=0.005)
  assert "block0a" in g_vars["params"] and "input_conv" in d_vars["params"]


@pytest.mark.parametrize("family", ["biggan", "biggan_deep", "sngan_resnet"])
def test_families_produce_images_and_logits(family):
  fam = models.get(family)
  if family == "sngan_resnet":
    g = fam.generator(out_shape=(32, 32, 3), num_classes=NUM_CLASSES, ch=4)
    d = fam.critic(num_classes=NUM_CLASSES, ch=4)
    z, side = _z(2, dim=8), 32
  else:
    g = fam.generator(out_shape=(16, 16, 3), num_classes=NUM_CLASSES, ch=8,
                      channel_multipliers=(2, 2, 1), attention_resolutions=(8,), shared_dim=8)
    d = fam.critic(num_classes=NUM_CLASSES, ch=8, channel_multipliers=(1, 2),
                   downsample=(True, False), attention_resolutions=(8,))
    z, side = _z(2), 16
  labels = jnp.array([1, 3])
  gv = g.init(jax.random.key(0), z, labels, train=False)
  x, _ = g.apply(gv, z, labels, train=True, mutable=["batch_stats"])
  assert x.shape == (2, side, side, 3) and float(jnp.max(jnp.abs(x))) <= 1.0
  dv = d.init(jax.random.key(1), x, labels, train=False)
  assert d.apply(dv, x, labels, train=False).shape == (2,)


# ----------------------------------------------------------------------------
# Orthogonal regularization
# ----------------------------------------------------------------------------
def test_orthogonal_regularization_zero_iff_columns_orthogonal():
  q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (36, 8)))
  scaled = q * jnp.arange(1.0, 9.0)        # orthogonal columns, unequal norms
  kernel = scaled.reshape(3, 3, 4, 8)      # a conv kernel: [kh, kw, in, out]
  params = {"conv": {"kernel": kernel, "bias": jnp.ones(8)}, "embed": {"embedding": kernel}}
  assert float(penalties.orthogonal_regularization(params)) == pytest.approx(0.0, abs=1e-4)
  w = jax.random.normal(jax.random.key(1), (5, 3))
  gram = w.T @ w
  expected = float(jnp.sum(gram ** 2) - jnp.sum(jnp.diag(gram) ** 2))
  value = float(penalties.orthogonal_regularization({"dense": {"kernel": w}}))
  assert value > 0 and value == pytest.approx(expected, rel=1e-5)
  # Embedding tables are skipped by default and included with exclude=().
  skewed = {"embed": {"embedding": w}}
  assert float(penalties.orthogonal_regularization(skewed)) == 0.0
  assert float(penalties.orthogonal_regularization(skewed, exclude=())) == pytest.approx(expected)


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------
def test_orthogonal_regularization_is_added_to_each_players_loss():
  """Wiring, on the tiny MLP (fast): the step's losses grow by exactly w * ortho."""
  from gaxla.system import system_for
  from conftest import tiny_mlp_config

  def first_step(**weights):
    config = tiny_mlp_config(**{f"regularizer.{k}": v for k, v in weights.items()})
    trainer = system_for(config)
    state = trainer.init(0)
    batch = {"x": np.random.default_rng(0).normal(size=(1, 32, 2)).astype(np.float32),
             "label": np.zeros((1, 32), np.int32)}
    return state, trainer.train_step(state, batch)[1]

  state, base = first_step()
  _, with_d = first_step(orthogonal_d=0.5)
  _, with_g = first_step(orthogonal_g=0.5)
  d_term = 0.5 * float(penalties.orthogonal_regularization(state.d.params, exclude=()))
  g_term = 0.5 * float(penalties.orthogonal_regularization(state.g.params))
  assert d_term > 0 and g_term > 0
  np.testing.assert_allclose(float(with_d["d_total_loss"]) - float(base["d_total_loss"]),
                             d_term, rtol=1e-4)
  np.testing.assert_allclose(float(with_d["d_loss"]), float(base["d_loss"]), rtol=1e-6)
  # D is updated first and identically; G's loss then differs by the G term only.
  np.testing.assert_allclose(float(with_g["g_loss"]) - float(base["g_loss"]), g_term, rtol=1e-4)


def tiny_biggan_config():
  """8x8 digits, one up-block and one down-block, ortho reg on both players."""
  from conftest import tiny_mlp_config
  config = tiny_mlp_config(**{"data.name": "digits", "model.name": "biggan",
                              "model.conditional": True, "model.latent_dim": 4,
                              "loss.name": "hinge", "batch_size": 4,
                              "regularizer.orthogonal_g": 1e-4,
                              "regularizer.orthogonal_d": 1e-4})
  config.model.generator = {"ch": 4, "channel_multipliers": (2, 1), "attention_resolutions": (),
                            "shared_dim": 4}
  config.model.critic = {"ch": 4, "channel_multipliers": (1,), "downsample": (True,),
                         "attention_resolutions": ()}
  return config


def test_one_train_step_updates_both_players_and_batchnorm_stats():
  from gaxla import config as config_lib
  from gaxla.system import GANSystem
  config = config_lib.validate(tiny_biggan_config())
  trainer = GANSystem(config, (8, 8, 1), 10)
  state = jax.jit(trainer.init, static_argnums=0)(0)   # eager init is ~2x slower
  rng = np.random.default_rng(0)
  batch = {"x": rng.uniform(-1, 1, (1, 4, 8, 8, 1)).astype(np.float32),
           "label": rng.integers(0, 10, (1, 4)).astype(np.int32)}
  new_state, metrics = trainer.train_step(state, batch)
  assert all(np.isfinite(float(v)) for v in metrics.values())

  def all_changed(a, b):
    return all(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

  g_kernels = lambda p: [v for k, v in flax.traverse_util.flatten_dict(p).items()
                         if k[-1] == "kernel"]
  assert all_changed(g_kernels(state.g.params), g_kernels(new_state.g.params))
  assert all_changed(g_kernels(state.d.params), g_kernels(new_state.d.params))
  bn = lambda c: [v for k, v in flax.traverse_util.flatten_dict(c["batch_stats"]).items()
                  if k[-1] in ("mean", "var")]
  assert bn(state.g.collections) and all_changed(bn(state.g.collections),
                                                 bn(new_state.g.collections))
