"""Adversarial losses on critic logits, chosen by name.

This module owns the mapping from a loss name (`config.loss`) to the pair of
scalar objectives the two players minimize. Every loss is a pure function of the
critic's raw outputs (logits) on a real batch and a fake batch; nothing here
knows about models, parameters or optimizers. Gradient penalties live in
`penalties.py`.

Conventions:
  * Logits have shape [B]; [B, 1] is accepted and flattened.
  * Every loss is a mean over the batch and is meant to be MINIMIZED by the
    player it belongs to.
  * Terms involving log(sigmoid(.)) are written with `jax.nn.softplus`
    (-log sigmoid(x) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x)), which
    stays finite and has finite gradients for logits of any magnitude.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class GANLoss:
  """A named adversarial loss: one objective per player.

  Attributes:
    name: registry name of the loss.
    critic: (real_logits [B], fake_logits [B]) -> scalar the critic minimizes.
    generator: (real_logits [B], fake_logits [B]) -> scalar the generator
      minimizes.
    uses_real_in_generator: True when `generator` depends on `real_logits`
      (relativistic losses), so the generator step must also run the critic on
      real data. Otherwise `generator` ignores its first argument.
  """

  name: str
  critic: LossFn
  generator: LossFn
  uses_real_in_generator: bool


def _flatten_logits(logits: jax.Array) -> jax.Array:
  logits = jnp.asarray(logits)
  if logits.ndim == 2 and logits.shape[1] == 1:
    return logits[:, 0]
  if logits.ndim != 1:
    # A critic with several outputs per example (e.g. a patch critic) would be
    # silently averaged over the wrong axis; make the caller reduce first.
    raise ValueError(f"logits must have shape [B] or [B, 1], got {logits.shape}")
  return logits


def _flatten_pair(real_logits: jax.Array, fake_logits: jax.Array):
  return _flatten_logits(real_logits), _flatten_logits(fake_logits)


# --- sigmoid cross-entropy family (minimax / non-saturating) ---------------


def _sigmoid_critic_loss(real_logits, fake_logits, real_label: float = 1.0):
  real, fake = _flatten_pair(real_logits, fake_logits)
  # Cross-entropy against target `real_label`:
  #   -t log sigmoid(r) - (1 - t) log(1 - sigmoid(r)) = t softplus(-r) + (1 - t) softplus(r)
  # For t = 1 the second term vanishes exactly, so smoothing costs nothing when off.
  real_term = real_label * jax.nn.softplus(-real) + (1.0 - real_label) * jax.nn.softplus(real)
  fake_term = jax.nn.softplus(fake)
  return jnp.mean(real_term) + jnp.mean(fake_term)


def _minimax_critic(real_logits, fake_logits):
  return _sigmoid_critic_loss(real_logits, fake_logits)


def _minimax_generator(real_logits, fake_logits):
  del real_logits
  fake = _flatten_logits(fake_logits)
  # log(1 - sigmoid(f)) = -softplus(f). Saturates (vanishing gradient) when the
  # critic confidently rejects fakes; kept for fidelity to Goodfellow et al. 2014.
  return jnp.mean(-jax.nn.softplus(fake))


def _non_saturating_generator(real_logits, fake_logits):
  del real_logits
  fake = _flatten_logits(fake_logits)
  return jnp.mean(jax.nn.softplus(-fake))


# --- Wasserstein / hinge / least squares ----------------------------------


def _wasserstein_critic(real_logits, fake_logits):
  real, fake = _flatten_pair(real_logits, fake_logits)
  return jnp.mean(fake) - jnp.mean(real)


def _wasserstein_generator(real_logits, fake_logits):
  del real_logits
  return -jnp.mean(_flatten_logits(fake_logits))


def _wasserstein_drift_critic(real_logits, fake_logits):
  # ProGAN's drift term (epsilon = 0.001) keeps the critic's output near 0, so
  # an unbounded WGAN critic cannot drift away while G catches up.
  real, _ = _flatten_pair(real_logits, fake_logits)
  return _wasserstein_critic(real_logits, fake_logits) + 0.001 * jnp.mean(jnp.square(real))


def _hinge_critic(real_logits, fake_logits):
  real, fake = _flatten_pair(real_logits, fake_logits)
  return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


def _least_squares_critic(real_logits, fake_logits):
  real, fake = _flatten_pair(real_logits, fake_logits)
  return 0.5 * jnp.mean(jnp.square(real - 1.0)) + 0.5 * jnp.mean(jnp.square(fake))


def _least_squares_generator(real_logits, fake_logits):
  del real_logits
  fake = _flatten_logits(fake_logits)
  return 0.5 * jnp.mean(jnp.square(fake - 1.0))


# --- relativistic family ---------------------------------------------------


def _relativistic_critic(real_logits, fake_logits):
  real, fake = _flatten_pair(real_logits, fake_logits)
  # Pairs real i with fake i, so both batches must be the same size.
  return jnp.mean(jax.nn.softplus(-(real - fake)))


def _relativistic_generator(real_logits, fake_logits):
  real, fake = _flatten_pair(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(-(fake - real)))


def _relative_to_other_mean(real_logits, fake_logits):
  """Returns (real - mean(fake), fake - mean(real)).

  The means are over the whole batch passed in. Under `jit` with a batch
  sharded across devices this is the mean over the global batch (XLA inserts
  the cross-device reduction), so results do not depend on the device count.
  """
  real, fake = _flatten_pair(real_logits, fake_logits)
  return real - jnp.mean(fake), fake - jnp.mean(real)


def _relativistic_average_critic(real_logits, fake_logits):
  real_rel, fake_rel = _relative_to_other_mean(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(-real_rel)) + jnp.mean(jax.nn.softplus(fake_rel))


def _relativistic_average_generator(real_logits, fake_logits):
  real_rel, fake_rel = _relative_to_other_mean(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(-fake_rel)) + jnp.mean(jax.nn.softplus(real_rel))


def _relativistic_average_ls_critic(real_logits, fake_logits):
  real_rel, fake_rel = _relative_to_other_mean(real_logits, fake_logits)
  return jnp.mean(jnp.square(real_rel - 1.0)) + jnp.mean(jnp.square(fake_rel + 1.0))


def _relativistic_average_ls_generator(real_logits, fake_logits):
  real_rel, fake_rel = _relative_to_other_mean(real_logits, fake_logits)
  return jnp.mean(jnp.square(fake_rel - 1.0)) + jnp.mean(jnp.square(real_rel + 1.0))


def _relativistic_average_hinge_critic(real_logits, fake_logits):
  real_rel, fake_rel = _relative_to_other_mean(real_logits, fake_logits)
  return jnp.mean(jax.nn.relu(1.0 - real_rel)) + jnp.mean(jax.nn.relu(1.0 + fake_rel))


def _relativistic_average_hinge_generator(real_logits, fake_logits):
  real_rel, fake_rel = _relative_to_other_mean(real_logits, fake_logits)
  return jnp.mean(jax.nn.relu(1.0 - fake_rel)) + jnp.mean(jax.nn.relu(1.0 + real_rel))


LOSSES: dict[str, GANLoss] = {
    loss.name: loss
    for loss in (
        GANLoss("minimax", _minimax_critic, _minimax_generator, False),
        GANLoss("non_saturating", _minimax_critic, _non_saturating_generator, False),
        GANLoss("wasserstein", _wasserstein_critic, _wasserstein_generator, False),
        GANLoss("hinge", _hinge_critic, _wasserstein_generator, False),
        GANLoss("wasserstein_drift", _wasserstein_drift_critic, _wasserstein_generator, False),
        GANLoss("least_squares", _least_squares_critic, _least_squares_generator, False),
        GANLoss("relativistic", _relativistic_critic, _relativistic_generator, True),
        GANLoss("relativistic_average", _relativistic_average_critic,
                _relativistic_average_generator, True),
        GANLoss("relativistic_average_ls", _relativistic_average_ls_critic,
                _relativistic_average_ls_generator, True),
        GANLoss("relativistic_average_hinge", _relativistic_average_hinge_critic,
                _relativistic_average_hinge_generator, True),
    )
}

# Losses whose critic is a sigmoid cross-entropy, where a soft real target makes sense.
_SMOOTHABLE = ("minimax", "non_saturating")


def get(name: str) -> GANLoss:
  """Looks up a loss by registry name.

  Args:
    name: one of the keys of `LOSSES`.

  Returns:
    The registered `GANLoss`.

  Raises:
    ValueError: if `name` is not registered; the message lists valid names.
  """
  try:
    return LOSSES[name]
  except KeyError:
    raise ValueError(
        f"unknown loss {name!r}; valid names: {', '.join(sorted(LOSSES))}") from None


def with_label_smoothing(loss: GANLoss, real_label: float) -> GANLoss:
  """One-sided label smoothing (Salimans et al. 2016) for sigmoid losses.

  The critic is trained towards `real_label` (e.g. 0.9) on real examples while
  fakes keep target 0; smoothing the fake side too would reward the generator
  for staying where the critic is unsure, so it is deliberately not offered.
  The generator objective is unchanged.

  Args:
    loss: a `minimax` or `non_saturating` loss.
    real_label: target probability for real examples, in (0, 1]; 1.0 gives back
      the original critic loss.

  Returns:
    A copy of `loss` (same name and generator) with the smoothed critic.

  Raises:
    ValueError: if `loss` is not a sigmoid cross-entropy loss or `real_label`
      is outside (0, 1].
  """
  if loss.name not in _SMOOTHABLE:
    raise ValueError(
        f"label smoothing applies only to {', '.join(_SMOOTHABLE)}; got loss {loss.name!r}")
  if not 0.0 < real_label <= 1.0:
    raise ValueError(f"real_label must be in (0, 1], got {real_label}")
  real_label = float(real_label)

  def smoothed_critic(real_logits, fake_logits):
    return _sigmoid_critic_loss(real_logits, fake_logits, real_label)

  return dataclasses.replace(loss, critic=smoothed_critic)
