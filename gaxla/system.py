"""The GAN system: models, losses, optimizers, state init and the pure step.

`GANSystem(config, example_shape, num_classes)` builds, for one validated
config, everything a training step needs; `system_for(config)` does it
without reading data. Stepping, in one place:

  system.step(state, batch) -> (state, metrics)
      the pure, unjitted step: n_critic critic updates, one generator update,
      the EMA update of G (trace it, lower it, compose it).
  system.steps(state, batches) -> (state, metrics)
      k steps: a `lax.scan` of `step` over batches stacked on a leading axis;
      the last step's metrics (pure, unjitted).
  system.train_step, system.train_steps
      the same two, jitted, with the state and batches partitioned over
      `system.mesh`: what the training loop calls.

The training loop (gaxla/train.py) only feeds batches to these.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gaxla import data, losses, models, objectives, parallel, penalties
from gaxla.heads import AuxHeads, split_output
from gaxla.critic_inputs import CriticInputs
from gaxla import metrics as names
from gaxla import sample as sample_lib
from gaxla.optim import make_optimizer
from gaxla.state import GANState, Player


def _split_collections(variables) -> tuple[Any, dict]:
  variables = dict(variables)
  params = variables.pop("params")
  return params, variables


def _apply_train(module, variables: dict, *args, **kwargs):
  """`module.apply` in training mode; returns (output, updated non-param collections)."""
  collections = {k: v for k, v in variables.items() if k != "params"}
  if not collections:
    return module.apply(variables, *args, train=True, **kwargs), {}
  out, updates = module.apply(variables, *args, train=True, mutable=list(collections), **kwargs)
  return out, {**collections, **updates}


def _cast_floats(tree, dtype):
  return jax.tree.map(
      lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def _like(tree, reference):
  """`tree` cast leaf by leaf to the dtypes of `reference` (same structure)."""
  return jax.tree.map(lambda x, r: x.astype(r.dtype), tree, reference)


def _split_micro(tree, num: int):
  """[B, ...] leaves -> [num, B / num, ...] (micro-batches for accumulation)."""
  return jax.tree.map(lambda x: x.reshape((num, x.shape[0] // num) + x.shape[1:]), tree)


class GANSystem:
  """The two players, their losses and optimizers, and the step, for one config.

  Attributes:
    generator, critic: Flax modules.
    mesh: the device mesh (from `config.mesh` unless given).
    state_sharding, batch_sharding: where the state's leaves and the batch live.
    train_step: `step`, jitted: `(state, batch) -> (state, metrics)`; `batch`
      is {'x': [n_critic, B, ...] float32, 'label': [n_critic, B] int32} with
      the global batch B; the state and batch are partitioned over `mesh`.
    train_steps: `steps`, jitted: `(state, batches) -> (state, metrics)`, k
      steps in one call over batches stacked on a leading axis of length k
      ([k, n_critic, B, ...]); the metrics are the last step's. One call
      instead of k saves the per-call Python dispatch and transfer cost
      (`steps_per_call`); it compiles once per distinct k.
  """

  def __init__(self, config: ml_collections.ConfigDict, example_shape: tuple,
               num_classes: int, mesh: jax.sharding.Mesh | None = None):
    self.config = config
    self.example_shape = tuple(example_shape)
    self.num_classes = num_classes if config.model.conditional else 0
    self.noise_dim = int(config.model.latent_dim)
    self.latent_categories = int(config.model.latent_categories)
    self.latent_continuous = int(config.model.get("latent_continuous", 0))
    # Width of G's input z: normal part, then the one-hot categorical code and
    # the continuous codes (if any).
    self.latent_dim = self.noise_dim + self.latent_categories + self.latent_continuous
    self.generator, self.critic = models.build(config.model, self.example_shape, num_classes)
    # ACGAN / InfoGAN heads on the critic's features (gaxla/heads.py); None when off.
    self.heads = AuxHeads.from_config(config, self.num_classes)
    if self.heads is not None:
      self.critic = self.heads.wrap(self.critic)
    # Critic calls whose aux outputs the heads' losses need.
    self._aux = {"with_aux": True} if self.heads is not None else {}
    # Packing, instance noise, DiffAugment: every critic input goes through these.
    self.inputs = CriticInputs(config)
    critic_options = config.model.critic
    # Critics whose output for one example depends on the batch (BatchNorm,
    # minibatch features) see real and fake in separate passes, never mixed.
    self.separate_critic_passes = bool(
        critic_options.get("batch_norm", False)
        or critic_options.get("minibatch_discrimination", 0)
        or critic_options.get("minibatch_stddev", 0))
    self.critic_batch_norm = bool(critic_options.get("batch_norm", False))
    loss = losses.get(config.loss.name)
    if config.loss.real_label != 1.0:
      loss = losses.with_label_smoothing(loss, config.loss.real_label)
    self.loss = loss
    self.penalty = None if config.penalty.name == "none" else penalties.get(config.penalty.name)
    n_critic = int(config.optim.n_critic)
    self.g_tx = make_optimizer(config.optim.generator, config.num_steps)
    self.d_tx = make_optimizer(config.optim.critic, config.num_steps * n_critic)
    self.accum_steps = int(config.optim.grad_accum_steps)
    self.compute_dtype = jnp.dtype(config.compute_dtype)

    # --- Devices: mesh and shardings (shapes first, then shard) ---
    self.mesh = parallel.make_mesh(config.mesh) if mesh is None else mesh
    parallel.check_batch_size(config.batch_size, self.mesh)
    parallel.check_batch_size(config.batch_size // self.accum_steps, self.mesh,
                              key="batch_size / optim.grad_accum_steps")
    # Traced once: the shapes do not depend on the seed.
    self._state_shapes = jax.eval_shape(functools.partial(self.init, 0))
    self.state_sharding = parallel.state_shardings(self._state_shapes, self.mesh)
    self.batch_sharding = parallel.batch_sharding(self.mesh)
    # Buffer donation is not implemented on CPU (it only warns there).
    donate = () if jax.default_backend() == "cpu" else (0,)
    self.train_step = jax.jit(
        self.step, donate_argnums=donate,
        in_shardings=(self.state_sharding, self.batch_sharding),
        out_shardings=(self.state_sharding, parallel.replicated(self.mesh)))
    self.train_steps = jax.jit(
        self.steps, donate_argnums=donate,
        in_shardings=(self.state_sharding, parallel.batch_sharding(self.mesh, batch_axis=2)),
        out_shardings=(self.state_sharding, parallel.replicated(self.mesh)))

  # --------------------------------------------------------------------------
  # Init
  # --------------------------------------------------------------------------
  def init(self, seed: int) -> GANState:
    """Initializes the full state from a seed (pure; can run under eval_shape)."""
    root = jax.random.key(seed)
    g_key, d_key, train_key = jax.random.split(root, 3)
    z = jnp.zeros((1, self.latent_dim), jnp.float32)
    labels = jnp.zeros((1,), jnp.int32)
    x = jnp.zeros((1,) + self.inputs.packed_shape(self.example_shape), jnp.float32)
    g_params, g_coll = _split_collections(
        self.generator.init({"params": g_key}, z, labels, train=False))
    d_params, d_coll = _split_collections(
        self.critic.init({"params": d_key}, x, labels, train=False))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g=Player(g_params, g_coll, self.g_tx.init(g_params)),
        d=Player(d_params, d_coll, self.d_tx.init(d_params)),
        g_ema_params=jax.tree.map(jnp.copy, g_params),
        rng=jax.random.key_data(train_key),
        history=self._init_history(g_params, d_params),
    )

  def _init_history(self, g_params, d_params) -> dict | None:
    """Running state of the regularizers that keep one (None if none): historical
    averages of the players' params, LeCam's logit anchors."""
    reg = self.config.regularizer
    history = {}
    if reg.historical_average_g:
      history["g"] = objectives.history_init(g_params)
    if reg.historical_average_d:
      history["d"] = objectives.history_init(d_params)
    if reg.lecam:
      history["lecam"] = objectives.lecam_init()
    return history or None

  def abstract_state(self) -> GANState:
    """Shapes, dtypes and shardings of the state, without computing it.

    This is also the restore target of a checkpoint: restoring onto it places
    the arrays on this system's mesh, whatever mesh wrote them. (Shapes do not
    depend on the seed, so there is none to pass.)
    """
    return parallel.with_shardings(self._state_shapes, self.state_sharding)

  def init_state(self, seed: int) -> GANState:
    """The initial state, computed directly into its shardings."""
    return jax.jit(self.init, static_argnums=0, out_shardings=self.state_sharding)(seed)

  def put_batch(self, local_batch: dict) -> dict:
    """This process's rows of a batch -> global arrays sharded over the mesh."""
    return parallel.global_batch(local_batch, self.mesh, self.config.batch_size)

  def put_batches(self, local_batches: dict) -> dict:
    """Like `put_batch`, for k batches stacked on a leading axis (`train_steps`)."""
    return parallel.global_batch(local_batches, self.mesh, self.config.batch_size,
                                 batch_axis=2)


  # --------------------------------------------------------------------------
  # Model calls
  # --------------------------------------------------------------------------
  def sample_latent(self, key: jax.Array, num: int, truncation: float = 0.0) -> jax.Array:
    """z ~ N(0, I) (truncated to [-t, t] if t > 0), then the categorical code if any."""
    return sample_lib.latent(key, (num, self.noise_dim), truncation, self.latent_categories,
                             self.latent_continuous)

  def _apply(self, module, variables: dict, x, labels, train: bool, **kwargs):
    """A model call in the compute dtype; float32 output(s) and collections.

    Params stay float32 (the master copy; the cast is differentiated through);
    updated collections (BatchNorm and spectral-norm statistics) are cast back
    to their float32 dtypes so the state's dtypes never change.
    """
    if self.compute_dtype != jnp.float32:
      cast = _cast_floats(variables, self.compute_dtype)
      x = x.astype(self.compute_dtype)
    else:
      cast = variables
    to_float32 = lambda out: jax.tree.map(lambda v: v.astype(jnp.float32), out)
    if train:
      out, collections = _apply_train(module, cast, x, labels, **kwargs)
      collections = _like(collections, {k: v for k, v in variables.items() if k != "params"})
      return to_float32(out), collections
    return to_float32(module.apply(cast, x, labels, train=False, **kwargs))

  def _generate_train(self, params, collections, z, labels):
    """G forward in training mode; returns (samples, updated collections)."""
    return self._apply(self.generator, {"params": params, **collections}, z, labels, True)

  def _critic_eval(self, variables, x, labels):
    """D forward in eval mode (no statistics updates)."""
    return self._apply(self.critic, variables, x, labels, False)

  def _critic_for_generator(self, variables, x, labels, **kwargs):
    """D's logits in G's loss: batch statistics with a BatchNorm critic (as the
    DCGAN paper, whose G update ran D in training mode; the updated statistics
    are discarded), eval mode otherwise."""
    if self.critic_batch_norm:
      return self._apply(self.critic, variables, x, labels, True, **kwargs)[0]
    return self._apply(self.critic, variables, x, labels, False, **kwargs)

  def generate(self, variables, z: jax.Array, labels: jax.Array) -> jax.Array:
    """Samples in eval mode (running BatchNorm stats, no stat updates)."""
    return self.generator.apply(variables, z, labels, train=False)

  # --------------------------------------------------------------------------
  # The step
  # --------------------------------------------------------------------------
  def _critic_update(self, g_params, carry, inputs, given=None):
    """One critic update on one real batch (optionally in accumulated micro-batches).

    `given`: (z, fakes, G's collections after making them) from a G pass made
    outside (`optim.reuse_fakes`); by default G makes this update's fakes here.
    """
    g_collections, d, history_d, lecam = carry
    real, labels, key, update_index = inputs
    z_key, penalty_key = jax.random.split(key)
    # Folded in, not split: configs without input transforms keep their random streams.
    input_key = jax.random.fold_in(key, 7)
    generator_step = update_index // int(self.config.optim.n_critic)
    if given is None:
      z = self.sample_latent(z_key, real.shape[0])
      fake, g_collections = self._generate_train(g_params, g_collections, z, labels)
    else:
      z, fake, g_collections = given
    fake = jax.lax.stop_gradient(fake)
    every = int(self.config.penalty.every)

    def critic_loss_fn(d_params, collections, micro, with_penalty: bool):
      real, fake, labels, penalty_key, input_key, z = micro
      real_key, fake_key = jax.random.split(input_key)
      real_in, packed_labels = self.inputs.transform(real, labels, real_key, generator_step)
      fake_in, _ = self.inputs.transform(fake, labels, fake_key, generator_step)
      variables = {"params": d_params, **collections}
      if self.separate_critic_passes:
        real_out, d_collections = self._apply(
            self.critic, variables, real_in, packed_labels, True, **self._aux)
        fake_out, d_collections = self._apply(
            self.critic, {"params": d_params, **d_collections}, fake_in, packed_labels, True,
            **self._aux)
        (real_logits, real_aux), (fake_logits, fake_aux) = map(split_output, (real_out, fake_out))
      else:
        # One forward over real and fake: one spectral-norm power iteration per update.
        both = jnp.concatenate([real_in, fake_in], axis=0)
        both_labels = jnp.concatenate([packed_labels, packed_labels], axis=0)
        out, d_collections = self._apply(
            self.critic, variables, both, both_labels, True, **self._aux)
        logits, both_aux = split_output(out)
        real_logits, fake_logits = jnp.split(logits, 2)
        real_aux, fake_aux = (None, None) if both_aux is None else (
            jax.tree.map(lambda v: v[:real.shape[0]], both_aux),
            jax.tree.map(lambda v: v[real.shape[0]:], both_aux))
      adv = self.loss.critic(real_logits, fake_logits)
      loss = adv
      aux_metrics = {}
      if self.heads is not None:
        # ACGAN / InfoGAN terms on this forward pass's head outputs (gaxla/heads.py).
        aux_loss, aux_metrics = self.heads.critic_loss(real_aux, fake_aux, labels, z)
        loss = loss + aux_loss
      bcr_value = jnp.zeros((), jnp.float32)
      if self.inputs.uses_bcr:
        # bCR: the critic's output should not change under the augmentation.
        # Same keys as above, so only the augmentation differs between the two.
        other = not self.inputs.diff_augment
        for weight, x, key, logits in ((self.inputs.bcr_real, real, real_key, real_logits),
                                       (self.inputs.bcr_fake, fake, fake_key, fake_logits)):
          if weight:
            x_other, _ = self.inputs.transform(x, labels, key, generator_step, augment=other)
            # Training mode like the main pass (same spectral-norm sigma); the
            # statistics updates of this extra pass are dropped.
            logits_other = self._apply(self.critic, variables, x_other, packed_labels, True)[0]
            bcr_value = bcr_value + weight * jnp.mean(jnp.square(logits - logits_other))
        loss = loss + bcr_value
      if self.config.regularizer.orthogonal_d:
        # D keeps its projection embedding in the regularizer (BigGAN-PyTorch D_ortho).
        loss = loss + self.config.regularizer.orthogonal_d * penalties.orthogonal_regularization(
            d_params, exclude=())
      if history_d is not None:
        loss = loss + self.config.regularizer.historical_average_d * objectives.history_penalty(
            d_params, history_d)
      lecam_value = jnp.zeros((), jnp.float32)
      if lecam is not None:
        lecam_value = objectives.lecam_penalty(real_logits, fake_logits, lecam)
        loss = loss + self.config.regularizer.lecam * lecam_value
      penalty_value = jnp.zeros((), jnp.float32)
      if with_penalty:
        # The penalty sees the untransformed batches; packing stays part of the critic.
        critic_fn = lambda x: self._critic_eval(variables, *self.inputs.pack_only(x, labels))
        penalty_value = self.penalty(critic_fn, real, fake, penalty_key)
        # Lazy regularization (StyleGAN2): applied every `every` updates, scaled by it.
        loss = loss + self.config.penalty.weight * every * penalty_value
      stats = (loss, adv, penalty_value, jnp.mean(real_logits), jnp.mean(fake_logits),
               bcr_value, lecam_value, aux_metrics)
      return loss, (d_collections, stats)

    micro = (real, fake, labels, penalty_key, input_key, z)

    def grads_with(with_penalty: bool):
      return lambda: self._accumulated_grads(
          functools.partial(critic_loss_fn, with_penalty=with_penalty),
          d.params, d.collections, micro)

    if self.penalty is None or every == 1:
      grads, d_collections, stats = grads_with(self.penalty is not None)()
    else:
      # Only the taken branch runs: skipped updates do not pay for the penalty.
      grads, d_collections, stats = jax.lax.cond(
          (update_index + 1) % every == 0, grads_with(True), grads_with(False))
    loss, adv, penalty_value, real_mean, fake_mean, bcr_value, lecam_value, aux_metrics = stats
    updates, opt_state = self.d_tx.update(grads, d.opt_state, d.params)
    params = optax.apply_updates(d.params, updates)
    if self.config.weight_clip:
      params = penalties.clip_weights(params, self.config.weight_clip)
    if history_d is not None:
      history_d = objectives.history_update(history_d, d.params)
    if lecam is not None:
      lecam = objectives.lecam_update(lecam, real_mean, fake_mean,
                                      self.config.regularizer.lecam_decay)
    d = Player(params, d_collections, opt_state)
    metrics = {
        names.D_LOSS: adv, names.PENALTY: penalty_value, names.D_TOTAL_LOSS: loss,
        names.D_REAL_LOGIT: real_mean, names.D_FAKE_LOGIT: fake_mean,
        names.D_GRAD_NORM: optax.tree.norm(grads),
    }
    if self.inputs.uses_bcr:
      metrics[names.BCR] = bcr_value
    if lecam is not None:
      metrics[names.LECAM] = lecam_value
    metrics.update(aux_metrics)
    return (g_collections, d, history_d, lecam), metrics

  def _accumulated_grads(self, loss_fn, params, collections, micro):
    """Gradient of `loss_fn` over a batch, in `grad_accum_steps` micro-batches.

    `loss_fn(params, collections, micro) -> (loss, (collections, stats))`. With
    accumulation, the micro-batches run one after another in a `lax.scan` (so
    only one micro-batch's activations are alive at a time); collections thread
    through them (BatchNorm sees micro-batch statistics, spectral norm does one
    power iteration per micro-batch, as in BigGAN-PyTorch) and the gradients
    and stats are averaged. A PRNG key in `micro` is split per micro-batch.
    """
    grad_fn = jax.grad(loss_fn, has_aux=True)
    if self.accum_steps == 1:
      grads, (collections, stats) = grad_fn(params, collections, micro)
      return grads, collections, stats
    k = self.accum_steps
    micro = tuple(
        jax.random.split(m, k) if jnp.issubdtype(m.dtype, jax.dtypes.prng_key) else
        _split_micro(m, k) for m in micro)

    def body(carry, one_micro):
      grad_sum, collections = carry
      grads, (collections, stats) = grad_fn(params, collections, one_micro)
      return (jax.tree.map(jnp.add, grad_sum, grads), collections), stats

    zeros = jax.tree.map(jnp.zeros_like, params)
    (grad_sum, collections), stats = jax.lax.scan(body, (zeros, collections), micro)
    grads = jax.tree.map(lambda g: g / k, grad_sum)
    return grads, collections, jax.tree.map(lambda v: jnp.mean(v, axis=0), stats)

  def top_k_fraction(self, step: jax.Array) -> jax.Array:
    """Fraction of fakes in the generator loss at `step` (top-k training)."""
    final = self.config.loss.top_k
    progress = jnp.minimum(step / self.config.loss.top_k_anneal_steps, 1.0)
    return jnp.exp(jnp.log(final) * progress)

  def _top_k_generator_loss(self, fake_logits: jax.Array, step: jax.Array) -> jax.Array:
    """Generator loss over the k fakes with the highest critic scores.

    Sinha et al. (2020): fakes the critic already finds implausible (e.g.
    samples bridging two modes) give gradients that drag the generator the
    wrong way; dropping them late in training sharpens the modes. The loss is
    a mean of per-example terms, so it is evaluated per example and masked.
    """
    batch = fake_logits.shape[0]
    k = jnp.ceil(self.top_k_fraction(step) * batch)
    ranks = jnp.argsort(jnp.argsort(-fake_logits))  # 0 = rated most real
    keep = (ranks < k).astype(fake_logits.dtype)
    per_example = jax.vmap(
        lambda f: self.loss.generator(jnp.zeros((1,), f.dtype), f[None]))(fake_logits)
    return jnp.sum(keep * per_example) / jnp.sum(keep)

  def step(self, state: GANState, batch: dict) -> tuple[GANState, dict]:
    """One training step, pure and unjitted (see `train_step` for the jitted one).

    Args:
      state: the GANState before the step.
      batch: {'x': [n_critic, B, ...] float32, 'label': [n_critic, B] int32},
        one real batch per critic update.

    Returns:
      (the state after the step, {metric name: scalar}; see gaxla/metrics.py).
    """
    step_key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    critic_key, g_key = jax.random.split(step_key)
    reals, labels = batch["x"], batch["label"]
    n_critic = reals.shape[0]

    # n_critic critic updates, each on its own real batch.
    # A Python loop, unrolled at trace time: XLA:CPU runs convolutions inside a
    # while loop (lax.scan, even with unroll=True) ~7x slower, measured 162 vs
    # 22 ms per quick-start step. n_critic is small, so compile time stays low.
    history = dict(state.history or {})
    carry = (state.g.collections, state.d, history.get("d"), history.get("lecam"))
    critic_keys = jax.random.split(critic_key, n_critic)
    z = self.sample_latent(g_key, reals.shape[1])  # the generator update's z
    reuse = bool(self.config.optim.reuse_fakes)
    per_update = []
    for i in range(n_critic):
      given = None
      if reuse and i == n_critic - 1:
        # One G pass for the last critic update and the generator update: its
        # vjp carries G's gradient back from d(G's loss)/d(fakes) below.
        fake, g_vjp, made_collections = jax.vjp(
            lambda p: self._generate_train(p, carry[0], z, labels[-1]), state.g.params,
            has_aux=True)
        given = (z, fake, made_collections)
      carry, update_metrics = self._critic_update(
          state.g.params, carry, (reals[i], labels[i], critic_keys[i], state.step * n_critic + i),
          given)
      per_update.append(update_metrics)
    g_collections, d, history_d, lecam = carry
    if history_d is not None:
      history["d"] = history_d
    if lecam is not None:
      history["lecam"] = lecam
    d_metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *per_update)

    # One generator update against the updated critic.
    real, real_labels = reals[-1], labels[-1]
    # Folded, not split, so that g_key (and so z) stays what it is without unrolling.
    unroll_key = jax.random.fold_in(g_key, 1)
    g_input_key = jax.random.fold_in(g_key, 7)
    if reuse:
      loss_on = self.generator_loss_on(d.variables(), state.step, history.get("g"))
      g_loss, (g_direct, g_fake) = jax.value_and_grad(loss_on, argnums=(0, 1))(
          state.g.params, fake, (z, real, real_labels, g_input_key))
      g_grads = jax.tree.map(jnp.add, g_direct, g_vjp(g_fake)[0])
    else:
      generator_loss_fn = self.generator_objective(d, state.step, history.get("g"))
      g_grads, g_collections, g_loss = self._accumulated_grads(
          generator_loss_fn, state.g.params, g_collections,
          (z, real, real_labels, g_input_key, unroll_key))
    updates, g_opt_state = self.g_tx.update(g_grads, state.g.opt_state, state.g.params)
    g_params = optax.apply_updates(state.g.params, updates)
    if "g" in history:
      history["g"] = objectives.history_update(history["g"], state.g.params)

    # EMA of G: copy the params until `start_step`, then average.
    decay = jnp.where(state.step >= self.config.ema.start_step, self.config.ema.decay, 0.0)
    g_ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                         state.g_ema_params, g_params)

    new_state = GANState(
        step=state.step + 1,
        g=Player(g_params, g_collections, g_opt_state),
        d=d,
        g_ema_params=g_ema,
        rng=state.rng,
        history=history or None,
    )
    metrics = {**d_metrics, names.G_LOSS: g_loss, names.G_GRAD_NORM: optax.tree.norm(g_grads)}
    return new_state, metrics

  def generator_objective(self, d: Player, step: jax.Array, history_g: dict | None = None):
    """G's loss against critic `d`: `(g_params, collections, micro) -> (loss, (collections, loss))`.

    `micro` is (z, real, real_labels, input_key, unroll_key). Pure; `step` sets
    the top-k fraction and the input transforms' schedules. Unrolling
    (`unroll.steps`) enters here (gaxla/objectives.py); the rest of the loss is
    `generator_loss_on`.
    """
    unroll = int(self.config.unroll.steps)

    def generator_loss_fn(g_params, collections, micro):
      z, real, real_labels, input_key, unroll_key = micro
      fake, new_collections = self._generate_train(g_params, collections, z, real_labels)
      if unroll:
        critic_vars = objectives.unrolled_critic_variables(
            self, d, g_params, collections, real, real_labels, unroll_key, unroll)
      else:
        critic_vars = d.variables()
      loss = self.generator_loss_on(critic_vars, step, history_g)(
          g_params, fake, (z, real, real_labels, input_key))
      return loss, (new_collections, loss)

    return generator_loss_fn

  def generator_loss_on(self, critic_vars: dict, step: jax.Array,
                        history_g: dict | None = None):
    """G's loss given its fakes: `(g_params, fake, micro) -> loss`.

    `micro` is (z, real, real_labels, input_key).

    `fake` = G(z; g_params), made by the caller (so `optim.reuse_fakes` can
    differentiate it through the critic update's G pass). `g_params` enter
    only through the regularizers. Feature matching and G's historical
    averaging enter here (gaxla/objectives.py), and so do the ACGAN / InfoGAN
    head terms (gaxla/heads.py).
    """
    fm = self.config.feature_matching

    def loss_fn(g_params, fake, micro):
      z, real, real_labels, input_key = micro
      real_key, fake_key = jax.random.split(input_key)
      # G is scored through the same input transforms as in D's update
      # (DiffAugment: G's gradient flows through the augmentation).
      fake_logits, fake_aux = split_output(self._critic_for_generator(
          critic_vars, *self.inputs.transform(fake, real_labels, fake_key, step), **self._aux))
      if self.loss.uses_real_in_generator:
        real_logits = self._critic_for_generator(
            critic_vars, *self.inputs.transform(real, real_labels, real_key, step))
      else:
        real_logits = jnp.zeros_like(fake_logits)
      if self.config.loss.top_k < 1.0:
        # With accumulation, the top k are chosen within each micro-batch.
        loss = self._top_k_generator_loss(fake_logits, step)
      else:
        loss = self.loss.generator(real_logits, fake_logits)
      if self.config.regularizer.orthogonal_g:
        # Skips embedding tables: BigGAN leaves G's shared class embedding out.
        loss = loss + self.config.regularizer.orthogonal_g * penalties.orthogonal_regularization(
            g_params)
      if fm.weight:
        features = [objectives.critic_features(self, critic_vars,
                                               *self.inputs.pack_only(x, real_labels))
                    for x in (real, fake)]
        matching = objectives.feature_matching_loss(*features)
        loss = (loss if fm.adversarial else 0.0) + fm.weight * matching
      if history_g is not None:
        loss = loss + self.config.regularizer.historical_average_g * objectives.history_penalty(
            g_params, history_g)
      if self.heads is not None:
        loss = loss + self.heads.generator_loss(fake_aux, real_labels, z)
      return loss

    return loss_fn

  def steps(self, state: GANState, batches: dict) -> tuple[GANState, dict]:
    """`step` over batches stacked on a leading axis; the last step's metrics (pure)."""
    state, metrics = jax.lax.scan(self.step, state, batches)
    return state, jax.tree.map(lambda v: v[-1], metrics)


def system_for(config: ml_collections.ConfigDict,
               mesh: jax.sharding.Mesh | None = None) -> GANSystem:
  """The GAN system for a validated config (needs no data).

  Args:
    config: a validated config.
    mesh: devices to run on; default the mesh `config.mesh` describes. Pass
      `parallel.single_device_mesh()` to sample or evaluate a run trained on
      any number of devices on one device.
  """
  info = data.get_info(config.data)
  if config.model.name == "progan":  # one compiled step per growth phase
    from gaxla.progressive import ProgressiveSystem
    return ProgressiveSystem(config, data.example_shape(config.data), info.num_classes, mesh)
  if config.model.name == "esrgan":  # G maps LR images to HR ones
    from gaxla.superres import SuperResSystem
    return SuperResSystem(config, data.example_shape(config.data), info.num_classes, mesh)
  return GANSystem(config, data.example_shape(config.data), info.num_classes, mesh)
