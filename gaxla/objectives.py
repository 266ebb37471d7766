"""Objectives and running state beyond the adversarial loss: unrolled GAN,
feature matching, historical averaging, LeCam regularization.

All four are switches of the pure step in gaxla/system.py:

  config.unroll.steps = k > 0
      Unrolled GAN (Metz et al., 2017): G's loss is taken against a copy of the
      critic advanced by k lookahead updates (the critic's own optimizer, its
      adversarial loss, on the step's last real batch and fresh z each time),
      and G's gradient flows through those k updates. The real critic still
      takes only its normal update. Penalties are left out of the lookahead
      (they would need third derivatives), and so are instance noise and
      DiffAugment; PacGAN packing is kept (it is part of the critic).
  config.feature_matching.weight = w > 0
      Feature matching (Salimans et al., 2016): w * ||E f(x) - E f(G(z))||^2 on
      the critic's last hidden features (the `features` the critics `sow` into
      the 'intermediates' collection), added to the adversarial loss, or alone
      with `feature_matching.adversarial = False`.
  config.regularizer.historical_average_g / _d = w > 0
      Historical averaging (Salimans et al., 2016): w * ||theta - mean of the
      past thetas||^2 added to that player's loss. The running mean and the
      number of past thetas live in `GANState.history` (so checkpoints keep it).
  config.regularizer.lecam = w > 0
      LeCam regularization (Tseng et al., 2021): the critic's loss gains
      w * (mean relu(D(x) - a_fake)^2 + mean relu(a_real - D(G(z)))^2), where
      a_real / a_fake are exponential moving averages (`regularizer.lecam_decay`)
      of the critic's mean logits on real and fake batches. It keeps D's
      predictions from drifting apart (a bound on the LeCam divergence). The
      two anchors live in `GANState.history['lecam']`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


# ----------------------------------------------------------------------------
# Feature matching
# ----------------------------------------------------------------------------
def feature_matching_loss(real_features: jax.Array, fake_features: jax.Array) -> jax.Array:
  """||mean over the batch of f(real) - mean of f(fake)||^2 (features [B, ...])."""
  real_mean = jnp.mean(real_features.reshape(real_features.shape[0], -1), axis=0)
  fake_mean = jnp.mean(fake_features.reshape(fake_features.shape[0], -1), axis=0)
  return jnp.sum(jnp.square(real_mean - fake_mean))


def critic_features(system, variables: dict, x: jax.Array, labels: jax.Array) -> jax.Array:
  """The critic's sown 'features' for `x` in eval mode, float32 (compute dtype inside)."""
  if system.compute_dtype != jnp.float32:
    variables = jax.tree.map(
        lambda v: v.astype(system.compute_dtype) if jnp.issubdtype(v.dtype, jnp.floating)
        else v, variables)
    x = x.astype(system.compute_dtype)
  _, inter = system.critic.apply(variables, x, labels, train=False, mutable=["intermediates"])
  found = inter.get("intermediates", {}).get("features")
  if found is None:
    raise ValueError(
        f"feature_matching needs a critic that sows 'features' into 'intermediates'; "
        f"{type(system.critic).__name__} does not. Use model.name 'mlp', 'dcgan', 'biggan', "
        "'biggan_deep' or 'sngan_resnet', or set feature_matching.weight = 0.")
  return found[-1].astype(jnp.float32)


# ----------------------------------------------------------------------------
# Unrolled GAN
# ----------------------------------------------------------------------------
def unrolled_critic_variables(system, d, g_params, g_collections, real, labels, key,
                              steps: int) -> dict:
  """Critic variables after `steps` lookahead updates, differentiable in `g_params`.

  Each lookahead update is the critic's adversarial loss on `real` and fresh
  fakes G(z; g_params) (in training mode, as in the real critic update; G's and
  D's statistics updates thread through the lookahead and are then dropped),
  followed by the critic optimizer's update. With steps = 0 it returns the
  critic's own variables.
  """
  params, collections, opt_state = d.params, d.collections, d.opt_state
  for i in range(steps):
    z = system.sample_latent(jax.random.fold_in(key, i), real.shape[0])
    fake, g_collections = system._generate_train(g_params, g_collections, z, labels)

    def loss_fn(d_params, collections, fake=fake):
      # Packing stays part of the critic; noise and augmentation are left out.
      real_in, packed_labels = system.inputs.pack_only(real, labels)
      fake_in, _ = system.inputs.pack_only(fake, labels)
      variables = {"params": d_params, **collections}
      if system.separate_critic_passes:
        real_logits, collections = system._apply(
            system.critic, variables, real_in, packed_labels, True)
        fake_logits, new_collections = system._apply(
            system.critic, {"params": d_params, **collections}, fake_in, packed_labels, True)
      else:
        both = jnp.concatenate([real_in, fake_in], axis=0)
        both_labels = jnp.concatenate([packed_labels, packed_labels], axis=0)
        logits, new_collections = system._apply(system.critic, variables, both, both_labels, True)
        real_logits, fake_logits = jnp.split(logits, 2)
      return system.loss.critic(real_logits, fake_logits), new_collections

    grads, collections = jax.grad(loss_fn, has_aux=True)(params, collections)
    updates, opt_state = system.d_tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
  return {"params": params, **collections}


# ----------------------------------------------------------------------------
# Historical averaging
# ----------------------------------------------------------------------------
def history_init(params) -> dict:
  """No past thetas yet: a zero mean and a zero count."""
  return {"mean": jax.tree.map(jnp.zeros_like, params), "count": jnp.zeros((), jnp.int32)}


def history_penalty(params, history: dict) -> jax.Array:
  """||theta - mean of past thetas||^2 summed over all leaves; 0 before any past theta."""
  sq = sum(jnp.sum(jnp.square(p - m))
           for p, m in zip(jax.tree.leaves(params), jax.tree.leaves(history["mean"])))
  return jnp.where(history["count"] > 0, sq, 0.0)


def history_update(history: dict, params) -> dict:
  """Adds `params` (the theta just left behind) to the running mean."""
  count = history["count"] + 1
  weight = 1.0 / count.astype(jnp.float32)
  mean = jax.tree.map(lambda m, p: m + weight * (p - m), history["mean"], params)
  return {"mean": mean, "count": count}


# ----------------------------------------------------------------------------
# LeCam regularization
# ----------------------------------------------------------------------------
def lecam_init() -> dict:
  """Anchors before any update: both 0 (a fresh critic's logits are near 0)."""
  return {"real": jnp.zeros((), jnp.float32), "fake": jnp.zeros((), jnp.float32)}


def lecam_penalty(real_logits: jax.Array, fake_logits: jax.Array, anchors: dict) -> jax.Array:
  """mean relu(D(real) - a_fake)^2 + mean relu(a_real - D(fake))^2 (anchors held fixed)."""
  anchors = jax.lax.stop_gradient(anchors)
  real_logits = real_logits.astype(jnp.float32)
  fake_logits = fake_logits.astype(jnp.float32)
  return (jnp.mean(jnp.square(jax.nn.relu(real_logits - anchors["fake"])))
          + jnp.mean(jnp.square(jax.nn.relu(anchors["real"] - fake_logits))))


def lecam_update(anchors: dict, real_mean: jax.Array, fake_mean: jax.Array,
                 decay: float) -> dict:
  """The anchors after one critic update that saw these mean logits."""
  return {"real": decay * anchors["real"] + (1.0 - decay) * jax.lax.stop_gradient(real_mean),
          "fake": decay * anchors["fake"] + (1.0 - decay) * jax.lax.stop_gradient(fake_mean)}
