"""Training: state init, the pure jitted GAN step, and the loop.

Read top to bottom:
  GANTrainer      models, losses and optimizers for one config; `init` builds a
                  GANState, `train_step(state, batch) -> (state, metrics)` is
                  one pure jitted function: n_critic critic updates, one
                  generator update, the EMA update of G.
  train_and_evaluate(config, workdir)
                  validate config -> data -> state (resumed from the workdir's
                  latest checkpoint if any) -> loop: step, log, evaluate and
                  draw samples, checkpoint.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from gaxla import checkpoint, config as config_lib, data, losses, models, penalties
from gaxla import monitor, parallel, plots, progress, sample as sample_lib, xla_cpu
from gaxla import evaluate as evaluate_lib
from gaxla.optim import make_optimizer
from gaxla.state import GANState, Player


def _split_collections(variables) -> tuple[Any, dict]:
  variables = dict(variables)
  params = variables.pop("params")
  return params, variables


def _apply_train(module, variables: dict, *args):
  """`module.apply` in training mode; returns (output, updated non-param collections)."""
  collections = {k: v for k, v in variables.items() if k != "params"}
  if not collections:
    return module.apply(variables, *args, train=True), {}
  out, updates = module.apply(variables, *args, train=True, mutable=list(collections))
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


class GANTrainer:
  """Builds models, losses and optimizers from a validated config.

  Attributes:
    generator, critic: Flax modules.
    mesh: the device mesh (from `config.mesh` unless given).
    state_sharding, batch_sharding: where the state's leaves and the batch live.
    train_step: jitted `(state, batch) -> (state, metrics)`; `batch` is
      {'x': [n_critic, B, ...] float32, 'label': [n_critic, B] int32} with the
      global batch B; the state and batch are partitioned over `mesh`.
    train_steps: jitted `(state, batches) -> (state, metrics)`: k steps in one
      call (a `lax.scan` of the same step) over batches stacked on a leading
      axis of length k ([k, n_critic, B, ...]); the metrics are the last step's.
      One call instead of k saves the per-call Python dispatch and transfer
      cost (`steps_per_call`); it compiles once per distinct k.
  """

  def __init__(self, config: ml_collections.ConfigDict, example_shape: tuple,
               num_classes: int, mesh: jax.sharding.Mesh | None = None):
    self.config = config
    self.example_shape = tuple(example_shape)
    self.num_classes = num_classes if config.model.conditional else 0
    self.noise_dim = int(config.model.latent_dim)
    self.latent_categories = int(config.model.latent_categories)
    # Width of G's input z: normal part, then the one-hot categorical code (if any).
    self.latent_dim = self.noise_dim + self.latent_categories
    self.generator, self.critic = models.build(config.model, self.example_shape, num_classes)
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
        self._train_step, donate_argnums=donate,
        in_shardings=(self.state_sharding, self.batch_sharding),
        out_shardings=(self.state_sharding, parallel.replicated(self.mesh)))
    self.train_steps = jax.jit(
        self._train_steps, donate_argnums=donate,
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
    x = jnp.zeros((1,) + self.example_shape, jnp.float32)
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
    )

  def abstract_state(self, seed: int = 0) -> GANState:
    """Shapes, dtypes and shardings of the state, without computing it.

    This is also the restore target of a checkpoint: restoring onto it places
    the arrays on this trainer's mesh, whatever mesh wrote them. Shapes do not
    depend on `seed`; it is accepted so callers can pass the run's seed.
    """
    del seed
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

  def run_steps(self, state: GANState, source, step: int, num: int) -> tuple[GANState, dict]:
    """Steps step .. step + num - 1 on `source`'s batches, in one call.

    One step goes through `train_step`; more through `train_steps` on the
    stacked batches. Returns (state, the last step's metrics).
    """
    if num == 1:
      return self.train_step(state, self.put_batch(source.batch(step)))
    return self.train_steps(state, self.put_batches(data.stacked_batches(source, step, num)))

  # --------------------------------------------------------------------------
  # Model calls
  # --------------------------------------------------------------------------
  def sample_latent(self, key: jax.Array, num: int, truncation: float = 0.0) -> jax.Array:
    """z ~ N(0, I) (truncated to [-t, t] if t > 0), then the categorical code if any."""
    return sample_lib.latent(key, (num, self.noise_dim), truncation, self.latent_categories)

  def _apply(self, module, variables: dict, x, labels, train: bool):
    """A model call in the compute dtype; float32 output and collections.

    Params stay float32 (the master copy; the cast is differentiated through);
    updated collections (BatchNorm and spectral-norm statistics) are cast back
    to their float32 dtypes so the state's dtypes never change.
    """
    if self.compute_dtype != jnp.float32:
      cast = _cast_floats(variables, self.compute_dtype)
      x = x.astype(self.compute_dtype)
    else:
      cast = variables
    if train:
      out, collections = _apply_train(module, cast, x, labels)
      collections = _like(collections, {k: v for k, v in variables.items() if k != "params"})
      return out.astype(jnp.float32), collections
    return module.apply(cast, x, labels, train=False).astype(jnp.float32)

  def _generate_train(self, params, collections, z, labels):
    """G forward in training mode; returns (samples, updated collections)."""
    return self._apply(self.generator, {"params": params, **collections}, z, labels, True)

  def _critic(self, variables, x, labels):
    """D forward in eval mode (no statistics updates)."""
    return self._apply(self.critic, variables, x, labels, False)

  def generate(self, variables, z: jax.Array, labels: jax.Array) -> jax.Array:
    """Samples in eval mode (running BatchNorm stats, no stat updates)."""
    return self.generator.apply(variables, z, labels, train=False)

  # --------------------------------------------------------------------------
  # The step
  # --------------------------------------------------------------------------
  def _critic_update(self, g_params, carry, inputs):
    """One critic update on one real batch (optionally in accumulated micro-batches)."""
    g_collections, d = carry
    real, labels, key, update_index = inputs
    z_key, penalty_key = jax.random.split(key)
    z = self.sample_latent(z_key, real.shape[0])
    fake, g_collections = self._generate_train(g_params, g_collections, z, labels)
    fake = jax.lax.stop_gradient(fake)
    every = int(self.config.penalty.every)

    def critic_loss_fn(d_params, collections, micro, with_penalty: bool):
      real, fake, labels, penalty_key = micro
      # One forward over real and fake: one spectral-norm power iteration per update.
      both = jnp.concatenate([real, fake], axis=0)
      both_labels = jnp.concatenate([labels, labels], axis=0)
      variables = {"params": d_params, **collections}
      logits, d_collections = self._apply(self.critic, variables, both, both_labels, True)
      real_logits, fake_logits = jnp.split(logits, 2)
      adv = self.loss.critic(real_logits, fake_logits)
      loss = adv
      if self.config.regularizer.orthogonal_d:
        # D keeps its projection embedding in the regularizer (BigGAN-PyTorch D_ortho).
        loss = loss + self.config.regularizer.orthogonal_d * penalties.orthogonal_regularization(
            d_params, exclude=())
      penalty_value = jnp.zeros((), jnp.float32)
      if with_penalty:
        critic_fn = lambda x: self._critic(variables, x, labels)
        penalty_value = self.penalty(critic_fn, real, fake, penalty_key)
        # Lazy regularization (StyleGAN2): applied every `every` updates, scaled by it.
        loss = loss + self.config.penalty.weight * every * penalty_value
      stats = (loss, adv, penalty_value, jnp.mean(real_logits), jnp.mean(fake_logits))
      return loss, (d_collections, stats)

    micro = (real, fake, labels, penalty_key)

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
    loss, adv, penalty_value, real_mean, fake_mean = stats
    updates, opt_state = self.d_tx.update(grads, d.opt_state, d.params)
    params = optax.apply_updates(d.params, updates)
    if self.config.weight_clip:
      params = penalties.clip_weights(params, self.config.weight_clip)
    d = Player(params, d_collections, opt_state)
    metrics = {
        "d_loss": adv, "penalty": penalty_value, "d_total_loss": loss,
        "d_real_logit": real_mean, "d_fake_logit": fake_mean,
        "d_grad_norm": optax.tree.norm(grads),
    }
    return (g_collections, d), metrics

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

  def _train_step(self, state: GANState, batch: dict) -> tuple[GANState, dict]:
    step_key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    critic_key, g_key = jax.random.split(step_key)
    reals, labels = batch["x"], batch["label"]
    n_critic = reals.shape[0]

    # n_critic critic updates, each on its own real batch.
    # A Python loop, unrolled at trace time: XLA:CPU runs convolutions inside a
    # while loop (lax.scan, even with unroll=True) ~7x slower, measured 162 vs
    # 22 ms per quick-start step. n_critic is small, so compile time stays low.
    carry = (state.g.collections, state.d)
    critic_keys = jax.random.split(critic_key, n_critic)
    per_update = []
    for i in range(n_critic):
      carry, update_metrics = self._critic_update(
          state.g.params, carry, (reals[i], labels[i], critic_keys[i], state.step * n_critic + i))
      per_update.append(update_metrics)
    g_collections, d = carry
    d_metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *per_update)

    # One generator update against the updated critic.
    real, real_labels = reals[-1], labels[-1]
    z = self.sample_latent(g_key, real.shape[0])

    def generator_loss_fn(g_params, collections, micro):
      z, real, real_labels = micro
      fake, new_collections = self._generate_train(g_params, collections, z, real_labels)
      critic_vars = d.variables()
      fake_logits = self._critic(critic_vars, fake, real_labels)
      if self.loss.uses_real_in_generator:
        real_logits = self._critic(critic_vars, real, real_labels)
      else:
        real_logits = jnp.zeros_like(fake_logits)
      if self.config.loss.top_k < 1.0:
        # With accumulation, the top k are chosen within each micro-batch.
        loss = self._top_k_generator_loss(fake_logits, state.step)
      else:
        loss = self.loss.generator(real_logits, fake_logits)
      if self.config.regularizer.orthogonal_g:
        # Skips embedding tables: BigGAN leaves G's shared class embedding out.
        loss = loss + self.config.regularizer.orthogonal_g * penalties.orthogonal_regularization(
            g_params)
      return loss, (new_collections, loss)

    g_grads, g_collections, g_loss = self._accumulated_grads(
        generator_loss_fn, state.g.params, g_collections, (z, real, real_labels))
    updates, g_opt_state = self.g_tx.update(g_grads, state.g.opt_state, state.g.params)
    g_params = optax.apply_updates(state.g.params, updates)

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
    )
    metrics = dict(d_metrics, g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
    return new_state, metrics

  def _train_steps(self, state: GANState, batches: dict) -> tuple[GANState, dict]:
    """`_train_step` over batches stacked on a leading axis; the last step's metrics."""
    state, metrics = jax.lax.scan(self._train_step, state, batches)
    return state, jax.tree.map(lambda v: v[-1], metrics)


# ----------------------------------------------------------------------------
# Workdir helpers
# ----------------------------------------------------------------------------
def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json(indent=2, sort_keys=True))


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} not found: is '{workdir}' a gaxla workdir? Train first with "
        "`gaxla train --config ... --workdir DIR`.")
  with open(path) as f:
    return config_lib.from_json(f.read())


def trainer_for(config: ml_collections.ConfigDict,
                mesh: jax.sharding.Mesh | None = None) -> GANTrainer:
  """The trainer for a validated config (needs no data).

  Args:
    config: a validated config.
    mesh: devices to run on; default the mesh `config.mesh` describes. Pass
      `parallel.single_device_mesh()` to sample or evaluate a run trained on
      any number of devices on one device.
  """
  info = data.get_info(config.data)
  return GANTrainer(config, data.example_shape(config.data), info.num_classes, mesh)


# ----------------------------------------------------------------------------
# Evaluation during training
# ----------------------------------------------------------------------------
def generate_fn_for(trainer: GANTrainer, variables):
  """`(key, labels) -> samples` for evaluators: the given generator, eval mode."""
  generate = jax.jit(lambda v, key, labels: trainer.generate(
      v, trainer.sample_latent(key, labels.shape[0]), labels))
  return lambda key, labels: generate(variables, key, labels)


def evaluate(trainer: GANTrainer, state: GANState, config, workdir: str | None,
             fixed_key: jax.Array) -> dict[str, float]:
  """Metrics and a sample picture for the current state.

  The generator scored is the EMA generator with standing statistics
  (`eval.standing_batches`), as `gaxla eval` and `gaxla sample` use it.

  Metrics: the evaluators named in `eval.metrics` (default: mode coverage for
  2-D mixtures) on `eval.num_samples` samples, logged as 'eval/NAME/metric'.
  Picture: a scatter plot (2-D mixtures) or a sample grid (one row per class
  for conditional models).
  """
  info = data.get_info(config.data)
  # EMA generator with standing statistics: what `gaxla eval` scores.
  variables = sample_lib.eval_variables(trainer, state, config.eval.standing_batches,
                                        config.batch_size)
  step = int(state.step)
  scores = evaluate_lib.run(evaluate_lib.build(config), generate_fn_for(trainer, variables),
                            config.eval.num_samples, fixed_key)
  results = {f"eval/{k}": v for k, v in scores.items()}
  if workdir is None:
    return results
  picture = os.path.join(workdir, "samples", f"step_{step:07d}.png")
  if info.kind == "points":
    mixture = data.mixtures.MIXTURES[info.name]()
    points = sample_lib.generate(trainer, variables, fixed_key, config.eval.num_samples)
    sample_lib.save_scatter_png(points, picture, modes=mixture.modes)
  else:
    grid = sample_lib.sample_grid(trainer, variables, fixed_key, config.eval.grid_size)
    sample_lib.save_png(grid, picture)
  return results


# ----------------------------------------------------------------------------
# Collapse monitor I/O
# ----------------------------------------------------------------------------
def _read_history(workdir: str, up_to_step: int) -> list[dict]:
  """The logged records of earlier runs in this workdir, up to the resumed step.

  Records after `up_to_step` (logged by a run that crashed before its next
  checkpoint) are dropped: the resumed run logs those steps again.
  """
  path = os.path.join(workdir, "metrics.jsonl")
  history = []
  if up_to_step and os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash
          continue
        if record.get("step", 0) <= up_to_step:
          history.append(record)
  return history


def _report_collapse(decision: monitor.Decision, manager, workdir: str | None,
                     history: list[dict]) -> None:
  """Writes collapse.json and the annotated plot; logs what was kept."""
  best_step = checkpoint.best_step(manager) if decision.action == monitor.STOP_KEEP_BEST else None
  kept = None
  if best_step is not None:
    value = (manager.metrics(best_step) or {}).get(manager.best_metric)
    kept = (best_step, value)
  report = monitor.to_json(decision, kept)
  logging.warning("gaxla monitor stopped training at step %d: %s. Kept checkpoint: %s "
                  "(gaxla sample --step best).", decision.step, decision.reason,
                  "latest" if best_step is None else best_step)
  if workdir is None:
    return
  with open(os.path.join(workdir, "collapse.json"), "w") as f:
    json.dump(report, f, indent=2)
  plots.plot_history(history, os.path.join(workdir, "plots", "training.png"), title=workdir,
                     collapse_step=decision.step, kept_step=best_step)


# ----------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------
def _call_end(step: int, config: ml_collections.ConfigDict) -> int:
  """The step after which the training call starting at `step` ends.

  At most `steps_per_call` steps, and never past a log, eval or checkpoint
  step or the last step, so every one of those ends a call.
  """
  end = min(step + int(config.steps_per_call), int(config.num_steps))
  for every in (config.log_every_steps, config.eval_every_steps, config.checkpoint_every_steps):
    end = min(end, (step // int(every) + 1) * int(every))
  return end


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       show_progress: bool | None = None) -> tuple[GANState, dict]:
  """Trains a GAN as configured, writing everything into `workdir`.

  Resumes from the latest checkpoint in `workdir/checkpoints` when present.
  Checkpoints are written every `checkpoint_every_steps` and `eval_every_steps`
  (with the eval metrics) and at the last step; see gaxla/checkpoint.py.

  Args:
    config: a config built from `gaxla.config.defaults()`.
    workdir: output folder (created): config.json, metrics.jsonl,
      samples/*.png, checkpoints/.
    show_progress: progress bar (True) or plain log lines (False); default:
      a bar when stderr is a terminal.

  Returns:
    (final state, last logged metrics).

  Raises:
    checkpoint.Preempted: on SIGTERM, after saving the current step and
      waiting for the write (rerun to resume).
  """
  # --- Config and devices -------------------------------------------------------
  config_lib.validate(config)
  parallel.initialize(config.distributed)
  xla_cpu.enable_compile_cache(config.compile_cache_dir)
  evaluate_lib.check(config)  # e.g. missing Inception weights: fail now, not at the first eval
  os.makedirs(workdir, exist_ok=True)
  is_chief = jax.process_index() == 0
  trainer = trainer_for(config)
  saved_config = os.path.join(workdir, "config.json")
  if os.path.exists(saved_config):
    checkpoint.check_compatible(load_config(workdir), config, workdir)
  if is_chief:
    write_config(config, workdir)

  # --- Data ---------------------------------------------------------------------
  # Each process reads only its own rows of every global batch.
  source = data.make_source(config.data, config.batch_size, config.optim.n_critic, config.seed,
                            rows=parallel.process_rows(config.batch_size))

  # --- State (fresh, or resumed from the workdir) ---------------------------------
  manager = checkpoint.make_manager(workdir, config)
  state = checkpoint.restore_latest(manager, trainer.abstract_state(config.seed))
  if state is None:
    state = trainer.init_state(config.seed)
  start_step = int(state.step)
  fixed_key = jax.random.key(config.seed + 1)  # same noise for every eval picture

  # --- Collapse monitor: history (restored on resume) and its cheap signals ---------
  history = _read_history(workdir, start_step)
  spectral_signals = jax.jit(monitor.spectral_signals)
  best_metric, best_mode = config.checkpoint.best_metric, config.checkpoint.best_mode
  warned = False

  # --- Loop -------------------------------------------------------------------------
  log = progress.ProgressLog(workdir if is_chief else None, config.num_steps,
                             start_step, show_progress)
  last: dict[str, float] = {}
  step_start, last_log_step = time.perf_counter(), start_step
  preemption = checkpoint.PreemptionWatch(manager)
  try:
    in_flight = None
    step = start_step
    while step < config.num_steps:
      # Up to `steps_per_call` steps in one call, ending at every log, eval and
      # checkpoint step, so those happen exactly where they would step by step.
      done = _call_end(step, config)
      state, metrics = trainer.run_steps(state, source, step, done - step)
      # At most two calls in flight: wait for the previous one. Unbounded async
      # dispatch can deadlock XLA:CPU's collectives when several simulated
      # devices share few cores (seen with 8 devices on 2 cores); the wait
      # costs nothing measurable on one device.
      if in_flight is not None:
        jax.block_until_ready(in_flight)
      in_flight = metrics
      is_last = done == config.num_steps
      log_now = done % config.log_every_steps == 0 or is_last
      if config.monitor.enabled and log_now:  # only logged values reach the monitor
        metrics = dict(metrics, **spectral_signals(state))
      eval_now = done % config.eval_every_steps == 0 or is_last
      # Asked after every step, on every host (multi-host preemption agrees on a
      # step number); a stop inside a call saves at the call's end.
      stop_now = any([preemption.reached(s) for s in range(step + 1, done + 1)])
      step = done
      # The manager's policy: checkpoint interval, eval steps, last step, preemption.
      save_now = stop_now or manager.should_save(done)
      if log_now or save_now:
        host = {k: float(v) for k, v in jax.device_get(metrics).items()}
        # Checked before any save, so a diverged state never replaces a good checkpoint.
        if not all(np.isfinite(v) for v in host.values()):
          raise FloatingPointError(
              f"non-finite metrics at step {done}: {host}. The last checkpoint in "
              f"{workdir}/checkpoints is from before this; lower the learning rates "
              "or add a penalty.")
      if log_now:
        now = time.perf_counter()
        host["steps_per_sec"] = (done - last_log_step) / max(now - step_start, 1e-9)
        step_start, last_log_step = now, done
        last = host
        log.write(done, host)
        history.append({"step": done, **host})
      results = None
      if eval_now:
        results = evaluate(trainer, state, config, workdir if is_chief else None, fixed_key)
        if results:
          last.update(results)
          log.write(done, results)
          history.append({"step": done, **results})
      if save_now:
        checkpoint.save(manager, done, state, metrics=results)
      log.advance(done)
      decision = monitor.Decision(monitor.CONTINUE)
      # At every log step too: the training-signal rules (spectral norms, margin)
      # can fire between evaluations, before the eval metric degrades.
      if (eval_now or log_now) and config.monitor.enabled:
        decision = monitor.decide(history, config.monitor, best_metric, best_mode)
      if eval_now and config.monitor.enabled:
        if is_chief:
          plots.plot_history(history, os.path.join(workdir, "plots", "training.png"),
                             title=workdir)
      if decision.stop and decision.action == "warn":
        if not warned and is_chief:
          logging.warning("gaxla monitor: %s (monitor.action = 'warn': training goes on)",
                          decision.reason)
        warned = True
      elif decision.stop:
        manager.wait_until_finished()
        _report_collapse(decision, manager, workdir if is_chief else None, history)
        last["collapse_step"] = float(done)
        break
      if stop_now and not is_last:
        manager.wait_until_finished()
        raise checkpoint.Preempted(done, str(manager.directory))
  finally:
    preemption.close()
    manager.wait_until_finished()
    manager.close()
    log.close()
  return state, last
