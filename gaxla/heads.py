"""Auxiliary critic heads: ACGAN's class head and InfoGAN's Q head.

Both are switches of the pure step in gaxla/system.py, set in `config.aux`;
each head is a Dense layer on the critic's last hidden features (the
`features` the critics sow), so it shares the critic's body and its forward
pass (`HeadedCritic` wraps the family's critic).

  aux.acgan_weight = w > 0
      ACGAN (Odena et al., 2017): a head with num_classes logits. The
      cross-entropy of the head on real images with their labels plus that on
      fakes with the labels they were generated for (the paper's -L_C) joins
      the critic's loss with weight w; the cross-entropy on fakes joins G's
      loss with weight w. Needs `model.conditional`. With
      `aux.critic_conditioning = False` the critic body takes no label input
      (no projection or concat term), as in the paper, where only the head
      sees classes.
  aux.info_weight_categorical = l_d > 0, aux.info_weight_continuous = l_c > 0
      InfoGAN (Chen et al., 2016): G's input is z = [noise, one_hot(c),
      u] with c uniform over `model.latent_categories` and u uniform in
      [-1, 1]^`model.latent_continuous` (gaxla/sample.py). A Q head predicts
      the codes of a fake: categorical logits, and per continuous code a
      Gaussian mean (std 1, or a learned std with `aux.info_learned_std`). Its
      negative log-likelihoods (the variational lower bound on the mutual
      information I(c; G(z, c)), less the codes' constant entropy) join both
      G's and the critic's loss with weights l_d and l_c (paper: 1 and 0.1 or
      less). Each weight only switches on the Q outputs of its own codes.

With `aux.head_hidden = n > 0`, each head has one hidden Dense layer of n
units (leaky ReLU) before its outputs, like the paper's Q network.

The step logs (names in gaxla/metrics.py, means over the critic updates,
computed in the critic update's forward pass): ACGAN's cross-entropies and
accuracies on real and fake; InfoGAN's code losses, the categorical code's
accuracy, and the mutual-information lower bound H(c) - E[-log Q(c | x)] in
nats (log K for the categorical code, log 2 per uniform code on [-1, 1];
with std fixed at 1 each continuous code's part stays below
log 2 - log sqrt(2 pi) = -0.23: the bound is loose, it is the trend that matters).
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gaxla import metrics as names

# Critics that return their sown features (`return_features=True`).
FEATURE_CRITICS = ("mlp", "dcgan", "biggan", "biggan_deep", "sngan_resnet")

# Learned log-stds are clipped to this range: a Q head that is sure of a code
# would otherwise drive its std to 0 and its log-likelihood to infinity.
_LOG_STD_RANGE = (-5.0, 2.0)


class HeadedCritic(nn.Module):
  """A family critic plus auxiliary heads on its last hidden features.

  `__call__(x, labels, train=...)` returns the body's logits [B], so the rest
  of the system (penalties, bCR, unrolling) sees a plain critic; with
  `with_aux=True` it returns (logits, aux), aux a dict with 'acgan' [B,
  num_classes] and/or 'q' [B, q_outputs] logits. The body's params live under
  'body'.
  """

  body: nn.Module
  acgan_classes: int = 0       # ACGAN head outputs (0 = no head)
  q_categories: int = 0        # Q head: categorical code logits (0 = none)
  q_continuous: int = 0        # Q head: continuous codes predicted (0 = none)
  learned_std: bool = False    # Q head also outputs a log-std per continuous code
  hidden: int = 0              # > 0: one hidden layer per head

  @property
  def q_outputs(self) -> int:
    return self.q_categories + self.q_continuous * (2 if self.learned_std else 1)

  def _head(self, features: jax.Array, outputs: int, name: str) -> jax.Array:
    h = features
    if self.hidden:
      h = nn.leaky_relu(nn.Dense(self.hidden, name=f"{name}_hidden")(h), 0.2)
    return nn.Dense(outputs, name=name)(h)

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, *, train: bool,
               with_aux: bool = False):
    logits, features = self.body(x, labels, train=train, return_features=True)
    # Sown again at the top level, where feature matching looks for them.
    self.sow("intermediates", "features", features)
    # At init the heads run too, so that their params exist.
    if not (with_aux or self.is_initializing()):
      return logits
    features = features.reshape(features.shape[0], -1)
    aux = {}
    if self.acgan_classes:
      aux["acgan"] = self._head(features, self.acgan_classes, "acgan")
    if self.q_outputs:
      aux["q"] = self._head(features, self.q_outputs, "q")
    return (logits, aux) if with_aux else logits


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy of integer labels [B] under logits [B, K]."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))
  return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), -1))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return jnp.mean((jnp.argmax(logits, -1) == labels).astype(jnp.float32))


def gaussian_nll(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
  """-log N(x; mean, exp(log_std)^2), summed over codes [B, K], mean over the batch."""
  z = (x - mean) * jnp.exp(-log_std)
  per_code = 0.5 * jnp.square(z) + log_std + 0.5 * math.log(2 * math.pi)
  return jnp.mean(jnp.sum(per_code, axis=-1))


@dataclasses.dataclass(frozen=True)
class AuxHeads:
  """The heads of one config and their losses (`from_config`; None when all are off).

  Attributes:
    acgan_weight: weight of ACGAN's cross-entropies (0 = no class head).
    info_weight_categorical, info_weight_continuous: weights of the InfoGAN
      code terms (0 = that code is not predicted).
    num_classes: classes of the ACGAN head.
    noise_dim: where the codes start in G's input z.
    categories, continuous: the code sizes in z (`model.latent_categories`,
      `model.latent_continuous`).
    learned_std: Q learns a std per continuous code (else std 1).
    hidden: hidden units per head (0 = a single Dense).
    critic_conditioning: False removes the body's own label input.
  """

  acgan_weight: float
  info_weight_categorical: float
  info_weight_continuous: float
  num_classes: int
  noise_dim: int
  categories: int
  continuous: int
  learned_std: bool = False
  hidden: int = 0
  critic_conditioning: bool = True

  @classmethod
  def from_config(cls, config, num_classes: int) -> AuxHeads | None:
    """The heads `config.aux` asks for (None if none: the critic stays as built)."""
    aux = config.aux
    if not (aux.acgan_weight or aux.info_weight_categorical or aux.info_weight_continuous):
      return None
    return cls(
        acgan_weight=float(aux.acgan_weight),
        info_weight_categorical=float(aux.info_weight_categorical),
        info_weight_continuous=float(aux.info_weight_continuous),
        num_classes=int(num_classes),
        noise_dim=int(config.model.latent_dim),
        categories=int(config.model.latent_categories),
        continuous=int(config.model.latent_continuous),
        learned_std=bool(aux.info_learned_std),
        hidden=int(aux.head_hidden),
        critic_conditioning=bool(aux.critic_conditioning))

  # Which outputs the heads have. A code is predicted when its weight is on,
  # so the Q head does not change when a weight is turned down to test it.
  @property
  def acgan_classes(self) -> int:
    return self.num_classes if self.acgan_weight else 0

  @property
  def q_categories(self) -> int:
    return self.categories if self.info_weight_categorical else 0

  @property
  def q_continuous(self) -> int:
    return self.continuous if self.info_weight_continuous else 0

  def wrap(self, critic: nn.Module) -> HeadedCritic:
    """The critic with these heads (and without its label input if asked)."""
    if not self.critic_conditioning:
      critic = critic.clone(num_classes=0)
    return HeadedCritic(critic, acgan_classes=self.acgan_classes,
                        q_categories=self.q_categories, q_continuous=self.q_continuous,
                        learned_std=self.learned_std, hidden=self.hidden)

  # --------------------------------------------------------------------------
  # Losses
  # --------------------------------------------------------------------------
  def _codes(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(categorical code index [B], continuous codes [B, K]) of G's input z."""
    start = self.noise_dim
    category = jnp.argmax(z[:, start:start + self.categories], axis=-1)
    continuous = z[:, start + self.categories:start + self.categories + self.continuous]
    return category, continuous

  def _info_terms(self, q: jax.Array, z: jax.Array) -> dict:
    """The Q head's code losses on fakes generated from z, and their metrics."""
    category, continuous = self._codes(z)
    q = q.astype(jnp.float32)
    out = {}
    bound = jnp.zeros((), jnp.float32)
    if self.q_categories:
      logits = q[:, :self.q_categories]
      out[names.INFO_CATEGORICAL_LOSS] = cross_entropy(logits, category)
      out[names.INFO_CATEGORICAL_ACCURACY] = accuracy(logits, category)
      bound = bound + math.log(self.q_categories) - out[names.INFO_CATEGORICAL_LOSS]
    if self.q_continuous:
      k = self.q_continuous
      mean = q[:, self.q_categories:self.q_categories + k]
      if self.learned_std:
        log_std = jnp.clip(q[:, self.q_categories + k:self.q_categories + 2 * k],
                           *_LOG_STD_RANGE)
      else:
        log_std = jnp.zeros_like(mean)
      out[names.INFO_CONTINUOUS_LOSS] = gaussian_nll(mean, log_std, continuous)
      # Entropy of the uniform distribution on [-1, 1]: log 2 per code.
      bound = bound + k * math.log(2.0) - out[names.INFO_CONTINUOUS_LOSS]
    out[names.INFO_MI_LOWER_BOUND] = bound
    return out

  def _info_loss(self, terms: dict) -> jax.Array:
    loss = jnp.zeros((), jnp.float32)
    if self.q_categories:
      loss = loss + self.info_weight_categorical * terms[names.INFO_CATEGORICAL_LOSS]
    if self.q_continuous:
      loss = loss + self.info_weight_continuous * terms[names.INFO_CONTINUOUS_LOSS]
    return loss

  def critic_loss(self, real_aux: dict, fake_aux: dict, labels: jax.Array,
                  z: jax.Array) -> tuple[jax.Array, dict]:
    """The heads' part of the critic's loss, and the step's aux metrics.

    Args:
      real_aux, fake_aux: the critic's aux outputs on the real batch and on
        fakes G(z, labels).
      labels: classes of the real batch, which the fakes were generated for.
      z: G's input for the fakes (the codes are read from it).
    """
    loss = jnp.zeros((), jnp.float32)
    metrics = {}
    if self.acgan_classes:
      real_ce = cross_entropy(real_aux["acgan"], labels)
      fake_ce = cross_entropy(fake_aux["acgan"], labels)
      loss = loss + self.acgan_weight * (real_ce + fake_ce)
      metrics.update({
          names.ACGAN_REAL_LOSS: real_ce, names.ACGAN_FAKE_LOSS: fake_ce,
          names.ACGAN_REAL_ACCURACY: accuracy(real_aux["acgan"], labels),
          names.ACGAN_FAKE_ACCURACY: accuracy(fake_aux["acgan"], labels)})
    if "q" in fake_aux:
      terms = self._info_terms(fake_aux["q"], z)
      loss = loss + self._info_loss(terms)
      metrics.update(terms)
    return loss, metrics

  def generator_loss(self, fake_aux: dict, labels: jax.Array, z: jax.Array) -> jax.Array:
    """The heads' part of G's loss on fakes G(z, labels)."""
    loss = jnp.zeros((), jnp.float32)
    if self.acgan_classes:
      loss = loss + self.acgan_weight * cross_entropy(fake_aux["acgan"], labels)
    if "q" in fake_aux:
      loss = loss + self._info_loss(self._info_terms(fake_aux["q"], z))
    return loss


def split_output(out) -> tuple[jax.Array, dict | None]:
  """(logits, aux) of a critic call: aux is None for a call without heads."""
  if isinstance(out, tuple):
    return out
  return out, None
