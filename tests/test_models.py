"""Model families: shapes, conditioning, registry errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla import models
from gaxla.models.dcgan import DCGANCritic, DCGANGenerator


@pytest.mark.parametrize("upsample", ["transpose", "nearest"])
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (16, 16, 1), (8, 8, 1)])
def test_dcgan_shapes(shape, upsample):
  g = DCGANGenerator(out_shape=shape, base_channels=4, upsample=upsample)
  d = DCGANCritic(base_channels=4)
  z = jnp.ones((2, 8))
  gv = g.init(jax.random.key(0), z, None, train=False)
  x = g.apply(gv, z, None, train=False)
  assert x.shape == (2,) + shape
  assert float(jnp.max(jnp.abs(x))) <= 1.0
  dv = d.init(jax.random.key(1), x, None, train=False)
  assert d.apply(dv, x, None, train=False).shape == (2,)


def test_unsupported_options_are_clear_errors():
  g = DCGANGenerator(out_shape=(30, 30, 1))
  with pytest.raises(ValueError, match="halves down.*got 30 .*data.image_size"):
    g.init(jax.random.key(0), jnp.ones((1, 4)), None, train=False)
  g = DCGANGenerator(out_shape=(16, 16, 1), upsample="bicubic")
  with pytest.raises(ValueError, match="'transpose' or 'nearest'"):
    g.init(jax.random.key(0), jnp.ones((1, 4)), None, train=False)


def test_conditional_generator_uses_labels():
  g = DCGANGenerator(out_shape=(16, 16, 1), num_classes=10, base_channels=4)
  z = jnp.ones((2, 8))
  labels_a, labels_b = jnp.array([0, 1]), jnp.array([0, 2])
  v = g.init(jax.random.key(0), z, labels_a, train=False)
  a = g.apply(v, z, labels_a, train=False)
  b = g.apply(v, z, labels_b, train=False)
  np.testing.assert_array_equal(a[0], b[0])
  assert not np.allclose(a[1], b[1])


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_conditional_critic_uses_labels(conditioning):
  d = DCGANCritic(num_classes=10, base_channels=4, conditioning=conditioning, spectral_norm=False)
  x = jax.random.normal(jax.random.key(0), (2, 16, 16, 1))
  v = d.init(jax.random.key(1), x, jnp.array([0, 0]), train=False)
  a = d.apply(v, x, jnp.array([0, 1]), train=False)
  b = d.apply(v, x, jnp.array([0, 3]), train=False)
  assert a[0] == b[0] and a[1] != b[1]


def test_projection_term_is_inner_product_with_class_embedding():
  d = DCGANCritic(num_classes=5, base_channels=4, spectral_norm=False)
  uncond = DCGANCritic(num_classes=0, base_channels=4, spectral_norm=False)
  x = jax.random.normal(jax.random.key(0), (3, 8, 8, 1))
  labels = jnp.array([0, 2, 4])
  v = d.init(jax.random.key(1), x, labels, train=False)
  # The unconditional critic with the same weights gives the logit without projection.
  shared = {"params": {k: p for k, p in v["params"].items() if not k.startswith("Embed")}}
  base = uncond.apply(shared, x, None, train=False)
  cond = d.apply(v, x, labels, train=False)
  # Features h: the input of the final Dense layer.
  feats = x
  for name in sorted(k for k in shared["params"] if k.startswith("Conv")):
    conv = shared["params"][name]["Conv_0"]
    feats = jax.nn.leaky_relu(
        jax.lax.conv_general_dilated(feats, conv["kernel"], (2, 2), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        + conv["bias"], 0.2)
  h = feats.reshape(3, -1)
  embed = v["params"]["Embed_0"]["embedding"][labels]
  np.testing.assert_allclose(cond - base, jnp.sum(embed * h, -1), rtol=1e-4, atol=1e-4)


def test_registry_errors_list_names():
  with pytest.raises(ValueError, match="valid names: biggan, biggan_deep, dcgan, esrgan, mlp"):
    models.get("biggan9")
