"""Upsample-then-conv computed at low resolution equals the direct form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gaxla import models
from gaxla.nn import Conv, nearest_upsample_conv3x3, upsample_nearest


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (1, 4, 4, 8)])
def test_nearest_upsample_conv3x3_equals_upsample_then_conv(shape):
  x = jax.random.normal(jax.random.key(0), shape)
  kernel = jax.random.normal(jax.random.key(1), (3, 3, shape[-1], 6))
  direct = jax.lax.conv_general_dilated(upsample_nearest(x), kernel, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
  fused = jax.jit(nearest_upsample_conv3x3)(x, kernel)
  assert fused.shape == (shape[0], 2 * shape[1], 2 * shape[2], 6)
  np.testing.assert_allclose(fused, direct, rtol=1e-5, atol=1e-5)
  # Gradients too (the step differentiates through it).
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  direct_fn = lambda x, k: jax.lax.conv_general_dilated(
      upsample_nearest(x), k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  grads = lambda f: jax.jit(jax.grad(loss(f), (0, 1)))(x, kernel)
  for g_fused, g_direct in zip(grads(nearest_upsample_conv3x3), grads(direct_fn)):
    np.testing.assert_allclose(g_fused, g_direct, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [1, 3])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_conv_upsample_forms_share_parameters_and_agree(size, spectral_norm):
  x = jax.random.normal(jax.random.key(2), (3, 6, 6, 4))
  fused = Conv(5, (size, size), spectral_norm=spectral_norm, upsample=True, fused_upsample=True)
  direct = Conv(5, (size, size), spectral_norm=spectral_norm, upsample=True,
                fused_upsample=False)
  variables = fused.init(jax.random.key(3), x, train=False)
  direct_vars = direct.init(jax.random.key(3), x, train=False)
  assert jax.tree.structure(variables) == jax.tree.structure(direct_vars)
  # The direct form is literally upsample, then the same layer.
  plain = Conv(5, (size, size), spectral_norm=spectral_norm)
  assert jax.tree.structure(plain.init(jax.random.key(3), upsample_nearest(x), train=False)) \
      == jax.tree.structure(variables)
  out_f, upd_f = fused.apply(variables, x, train=True, mutable=["batch_stats"])
  out_d, upd_d = direct.apply(variables, x, train=True, mutable=["batch_stats"])
  out_p = plain.apply(variables, upsample_nearest(x), train=False)
  np.testing.assert_allclose(out_f, out_d, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(direct.apply(variables, x, train=False), out_p, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(upd_f), jax.tree.leaves(upd_d)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_biggan_generator_fused_and_direct_agree():
  """Same params, same outputs and BatchNorm/SN updates, in both upsample forms."""
  kwargs = dict(out_shape=(16, 16, 1), num_classes=3, ch=4, channel_multipliers=(4, 2, 2),
                attention_resolutions=(8,), shared_dim=4)
  fused = models.get("biggan").generator(upsample_conv="fused", **kwargs)
  direct = models.get("biggan").generator(upsample_conv="direct", **kwargs)
  z = jax.random.normal(jax.random.key(0), (4, 12))
  labels = jnp.array([0, 1, 2, 1])
  variables = jax.jit(lambda k: fused.init(k, z, labels, train=False))(jax.random.key(1))
  run = lambda g: jax.jit(lambda v: g.apply(v, z, labels, train=True, mutable=["batch_stats"]))
  out_f, upd_f = run(fused)(variables)
  out_d, upd_d = run(direct)(variables)
  np.testing.assert_allclose(out_f, out_d, rtol=1e-4, atol=1e-5)
  for a, b in zip(jax.tree.leaves(upd_f), jax.tree.leaves(upd_d)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="upsample_conv"):
    bad = models.get("biggan").generator(upsample_conv="nope", **kwargs)
    jax.eval_shape(lambda: bad.init(jax.random.key(1), z, labels, train=False))
