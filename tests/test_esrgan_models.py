"""ESRGAN building blocks: RRDB generator shapes, residual scaling, VGG19 pre-activation."""

import jax
import jax.numpy as jnp
import numpy as np

from gaxla.models import esrgan


def test_rrdb_generator_upscales_by_scale():
  lr = jnp.ones((2, 4, 4, 1))
  g = esrgan.RRDBGenerator(out_shape=(16, 16, 1), features=8, growth=4, num_blocks=1)
  variables = g.init(jax.random.key(0), lr)
  assert g.apply(variables, lr).shape == (2, 16, 16, 1)
  # With an explicit scale, any input size upscales by it.
  g2 = g.clone(scale=4)
  assert g2.apply(variables, jnp.ones((1, 6, 6, 1))).shape == (1, 24, 24, 1)


def test_dense_block_residual_is_scaled():
  x = jax.random.normal(jax.random.key(1), (1, 4, 4, 8))
  block = esrgan.DenseBlock(8, 4, residual_scale=1.0)
  variables = block.init(jax.random.key(2), x)
  full = block.apply(variables, x) - x
  scaled = esrgan.DenseBlock(8, 4, residual_scale=0.2).apply(variables, x) - x
  np.testing.assert_allclose(scaled, 0.2 * full, rtol=1e-5, atol=1e-6)
  # RRDB with scale 0 is the identity.
  rrdb = esrgan.RRDB(8, 4, residual_scale=0.0)
  np.testing.assert_array_equal(rrdb.apply(rrdb.init(jax.random.key(3), x), x), x)


def test_vgg19_pre_activation_differs_from_post():
  x = jax.random.uniform(jax.random.key(4), (1, 8, 8, 3), minval=-1, maxval=1)
  pre = esrgan.VGG19Features(layer="conv1_2")
  variables = pre.init(jax.random.key(5), x)
  a = pre.apply(variables, x)
  b = esrgan.VGG19Features(layer="conv1_2", pre_activation=False).apply(variables, x)
  assert (a < 0).any()
  np.testing.assert_allclose(b, jax.nn.relu(a))
  assert not np.allclose(a, b)


def test_vgg19_converter_follows_torchvision_indices():
  # torchvision's vgg19().features: conv, ReLU pairs with a max pool after each block,
  # so conv2_1 is features.5 and conv5_4 is features.34.
  rng = np.random.default_rng(0)
  state, index, c_in = {}, 0, 3
  for b, widths in enumerate(esrgan.VGG19_BLOCKS):
    index += 1 if b else 0
    for width in widths:
      state[f"features.{index}.weight"] = rng.normal(size=(width, c_in, 3, 3)).astype(np.float32)
      state[f"features.{index}.bias"] = rng.normal(size=(width,)).astype(np.float32)
      c_in, index = width, index + 2
  params = esrgan.convert_torchvision_vgg19(state)["params"]
  np.testing.assert_array_equal(params["conv2_1"]["kernel"],
                                state["features.5.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(params["conv5_4"]["bias"], state["features.34.bias"])
  assert len(params) == 16
  del state["features.34.weight"]
  import pytest
  with pytest.raises(KeyError, match="features.34.weight"):
    esrgan.convert_torchvision_vgg19(state)
