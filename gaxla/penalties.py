"""Regularizers: critic gradient penalties, weight clipping, orthogonal regularization.

This module owns the penalties added to the critic loss to keep it (locally)
Lipschitz or smooth: WGAN-GP, DRAGAN, R1 and R2, plus the original WGAN weight
clipping. They are pure functions of a critic function and input batches, know
nothing about models or optimizers, and are built from `jax.grad`, so they can
be jitted and differentiated again with respect to the critic's parameters
(double backprop).

`critic_fn` is a function `x -> logits` (shape [B] or [B, 1]) that closes over
the critic's parameters and any conditioning labels. Per-example input
gradients are computed as the gradient of `sum(critic_fn(x))` with respect to
`x`. This equals the per-example gradient only if example i's logit depends on
x_i alone, i.e. the critic treats the examples of a batch independently (no
batch normalization in training mode, no minibatch statistics). All penalties
rely on that assumption.

`orthogonal_regularization` is a weight regularizer (BigGAN's, on G) and takes
a parameter pytree instead.

Randomness is drawn with fixed, documented calls so a caller (or a test) can
reproduce the exact interpolation points from the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

CriticFn = Callable[[jax.Array], jax.Array]
Penalty = Callable[[CriticFn, jax.Array, jax.Array, jax.Array], jax.Array]
"""Unified penalty signature: (critic_fn, real, fake, key) -> scalar."""


def _input_gradients(critic_fn: CriticFn, x: jax.Array) -> jax.Array:
  # Summing the logits gives every example's input gradient in one backward
  # pass, valid because examples do not interact (see module docstring).
  return jax.grad(lambda inputs: jnp.sum(critic_fn(inputs)))(x)


def _per_example_sq_norm(grads: jax.Array) -> jax.Array:
  return jnp.sum(jnp.square(grads), axis=tuple(range(1, grads.ndim)))


def _per_example_norm(grads: jax.Array) -> jax.Array:
  sq_norm = _per_example_sq_norm(grads)
  # sqrt has an infinite derivative at 0, which turns into NaN parameter
  # gradients when an input gradient vanishes exactly (e.g. a dead ReLU
  # critic). The double `where` keeps the value exact and the derivative 0 there.
  positive = sq_norm > 0
  safe_sq_norm = jnp.where(positive, sq_norm, 1.0)
  return jnp.where(positive, jnp.sqrt(safe_sq_norm), 0.0)


def _per_example_uniform(key: jax.Array, x: jax.Array) -> jax.Array:
  # Shape [B, 1, ..., 1] so one draw broadcasts over all of an example's axes.
  shape = (x.shape[0],) + (1,) * (x.ndim - 1)
  return jax.random.uniform(key, shape, dtype=x.dtype)


def gradient_penalty(critic_fn: CriticFn, real: jax.Array, fake: jax.Array,
                     key: jax.Array, target: float = 1.0) -> jax.Array:
  """WGAN-GP penalty (Gulrajani et al. 2017).

  Evaluates the critic's input gradient at random points on the segments
  between paired real and fake examples:
    eps = jax.random.uniform(key, (B, 1, ..., 1), dtype=real.dtype)
    x_hat = eps * real + (1 - eps) * fake
  and returns mean_i (||grad_x critic(x_hat)_i||_2 - target)^2, the norm taken
  over all non-batch axes. Callers multiply by their weight (lambda = 10 in
  the paper).

  Args:
    critic_fn: x -> logits [B] or [B, 1]; examples must be independent.
    real: real batch [B, ...].
    fake: fake batch, same shape as `real`.
    key: PRNG key for the interpolation coefficients.
    target: desired gradient norm (1 for 1-Lipschitz).

  Returns:
    Scalar penalty.
  """
  eps = _per_example_uniform(key, real)
  x_hat = eps * real + (1.0 - eps) * fake
  norms = _per_example_norm(_input_gradients(critic_fn, x_hat))
  return jnp.mean(jnp.square(norms - target))


def dragan_penalty(critic_fn: CriticFn, real: jax.Array, key: jax.Array,
                   perturb_scale: float = 0.5, target: float = 1.0) -> jax.Array:
  """DRAGAN penalty (Kodali et al. 2017): gradient penalty around real data.

  Points are drawn in a neighbourhood of the real batch:
    noise_key, alpha_key = jax.random.split(key)
    noise = jax.random.uniform(noise_key, real.shape, dtype=real.dtype)
    x_p = real + perturb_scale * std(real) * noise   # std over the whole tensor
    alpha = jax.random.uniform(alpha_key, (B, 1, ..., 1), dtype=real.dtype)
    x_hat = real + alpha * (x_p - real)
  and the result is mean_i (||grad_x critic(x_hat)_i||_2 - target)^2.

  Args:
    critic_fn: x -> logits [B] or [B, 1]; examples must be independent.
    real: real batch [B, ...].
    key: PRNG key for the perturbation and the interpolation coefficients.
    perturb_scale: perturbation size in units of the batch's standard deviation.
    target: desired gradient norm.

  Returns:
    Scalar penalty.
  """
  noise_key, alpha_key = jax.random.split(key)
  noise = jax.random.uniform(noise_key, real.shape, dtype=real.dtype)
  perturbed = real + perturb_scale * jnp.std(real) * noise
  alpha = _per_example_uniform(alpha_key, real)
  x_hat = real + alpha * (perturbed - real)
  norms = _per_example_norm(_input_gradients(critic_fn, x_hat))
  return jnp.mean(jnp.square(norms - target))


def r1_penalty(critic_fn: CriticFn, real: jax.Array) -> jax.Array:
  """R1 penalty (Mescheder et al. 2018): squared input-gradient norm on reals.

  Returns mean_i ||grad_x critic(real)_i||_2^2. The paper's regularizer is
  (gamma / 2) times this; the caller applies the gamma / 2 factor.

  Args:
    critic_fn: x -> logits [B] or [B, 1]; examples must be independent.
    real: real batch [B, ...].

  Returns:
    Scalar penalty.
  """
  return jnp.mean(_per_example_sq_norm(_input_gradients(critic_fn, real)))


def r2_penalty(critic_fn: CriticFn, fake: jax.Array) -> jax.Array:
  """R2 penalty (Mescheder et al. 2018): R1 evaluated on fake data.

  Returns mean_i ||grad_x critic(fake)_i||_2^2; the caller applies gamma / 2.

  Args:
    critic_fn: x -> logits [B] or [B, 1]; examples must be independent.
    fake: fake batch [B, ...].

  Returns:
    Scalar penalty.
  """
  return jnp.mean(_per_example_sq_norm(_input_gradients(critic_fn, fake)))


def clip_weights(params: Any, clip_value: float) -> Any:
  """Original WGAN weight clipping (Arjovsky et al. 2017).

  Args:
    params: pytree of arrays (typically the critic's parameters).
    clip_value: c > 0; a static Python number, since it is validated eagerly.

  Returns:
    A pytree of the same structure with every leaf clipped to [-c, c].

  Raises:
    ValueError: if `clip_value` is not positive.
  """
  if not clip_value > 0:
    raise ValueError(f"clip_value must be > 0, got {clip_value}")
  return jax.tree.map(lambda leaf: jnp.clip(leaf, -clip_value, clip_value), params)


def orthogonal_regularization(params: Any, exclude: tuple[str, ...] = ("embedding",)) -> jax.Array:
  """BigGAN's orthogonal regularization: sum over weights of ||W^T W * (1 - I)||_F^2.

  Each weight with 2 or more dimensions is viewed as a matrix with one column
  per output unit (Flax kernels keep outputs last: a conv kernel [kh, kw, in,
  out] becomes [kh*kw*in, out]); only the off-diagonal entries of the Gram
  matrix of its columns are penalized, so filters are pushed towards mutual
  orthogonality without constraining their norms (Brock et al., 2019, Sec. 3.1).
  Multiply by beta (1e-4 in BigGAN) and add to the loss.

  BigGAN-PyTorch applies it as a gradient term 2 (W W^T * (1 - I)) W, which is
  the gradient of half this value; here the loss itself is the documented
  formula, so beta_here = beta_pytorch / 2 reproduces its updates.

  Args:
    params: a parameter pytree (dicts of arrays, e.g. a Flax 'params' tree).
    exclude: leaf names to skip. The default skips `nn.Embed` tables
      ('embedding'): BigGAN excludes G's shared class embedding.

  Returns:
    Scalar float32, 0 when every weight's columns are mutually orthogonal.
  """
  total = jnp.zeros((), jnp.float32)
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    name = getattr(path[-1], "key", str(path[-1])) if path else ""
    if leaf.ndim < 2 or name in exclude:
      continue
    matrix = jnp.reshape(leaf, (-1, leaf.shape[-1])).astype(jnp.float32)
    gram = matrix.T @ matrix
    off_diagonal = gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))
    total = total + jnp.sum(jnp.square(off_diagonal))
  return total


# --- registry: every penalty behind (critic_fn, real, fake, key) -----------


def _wgan_gp(critic_fn, real, fake, key):
  return gradient_penalty(critic_fn, real, fake, key)


def _dragan(critic_fn, real, fake, key):
  del fake
  return dragan_penalty(critic_fn, real, key)


def _r1(critic_fn, real, fake, key):
  del fake, key
  return r1_penalty(critic_fn, real)


def _r2(critic_fn, real, fake, key):
  del real, key
  return r2_penalty(critic_fn, fake)


PENALTIES: dict[str, Penalty] = {
    "wgan_gp": _wgan_gp,
    "dragan": _dragan,
    "r1": _r1,
    "r2": _r2,
}


def get(name: str) -> Penalty:
  """Looks up a penalty by registry name.

  Args:
    name: one of the keys of `PENALTIES`.

  Returns:
    A function (critic_fn, real, fake, key) -> scalar, using each penalty's
    default hyperparameters; unused arguments are ignored.

  Raises:
    ValueError: if `name` is not registered; the message lists valid names.
  """
  try:
    return PENALTIES[name]
  except KeyError:
    raise ValueError(
        f"unknown penalty {name!r}; valid names: {', '.join(sorted(PENALTIES))}") from None
