"""The config schema: defaults for every key, and validation at the edge.

Every config file in `configs/` starts from `defaults()` and overrides fields.
`validate(config)` runs once, before anything is built, and raises one
`ConfigError` naming the key and the fix for: unknown keys (with the closest
valid name), unknown loss / penalty / model / dataset names, non-positive
learning rates or sizes, and model kwargs the chosen model does not take.

Top-level keys with fixed meanings (other tools rely on them):
  seed, num_steps (generator steps), batch_size (global), log_every_steps,
  eval_every_steps, checkpoint_every_steps.
The `checkpoint` group (keep_latest, keep_best, best_metric, best_mode,
async_save) sets what gaxla/checkpoint.py keeps and how it writes.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import ml_collections


class ConfigError(ValueError):
  """A config value that cannot work; the message names the key and the fix."""


def _optimizer_defaults(lr: float) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      name="adam",          # 'adam', 'rmsprop' or 'sgd' (optax)
      lr=lr,
      momentum=0.0,         # rmsprop / sgd momentum (0 = none)
      rms_decay=0.99,       # rmsprop's squared-gradient decay (PyTorch's alpha, as in WGAN)
      b1=0.5,
      b2=0.999,
      eps=1e-8,
      # 'constant', 'linear' (decay to 0 at num_steps), 'cosine'.
      schedule="constant",
      warmup_steps=0,
      grad_clip_norm=0.0,   # 0 disables global-norm clipping
  ))


def defaults() -> ml_collections.ConfigDict:
  """Returns the full schema with default values."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.num_steps = 1000             # generator updates
  config.batch_size = 64              # global batch, per critic/generator update
  config.log_every_steps = 100
  config.eval_every_steps = 1000      # evaluation + sample grid
  config.checkpoint_every_steps = 1000  # also saved: every eval step, the last step, on SIGTERM
  # > 1: up to this many steps per jitted call (a lax.scan over stacked batches),
  # so Python dispatch and host-to-device transfers are paid once per call
  # (TPUEstimator's iterations_per_loop). Calls end at every log, eval and
  # checkpoint step, and the result equals step-by-step training. Pays off for
  # small, fast steps (the 2-D MLPs: ~30% faster); XLA:CPU runs convolutions
  # inside a loop several times slower, so image configs on CPU keep 1.
  config.steps_per_call = 1
  # JAX's persistent compilation cache: the second run of a config loads its
  # compiled step instead of compiling again. '' = off (JAX_COMPILATION_CACHE_DIR wins).
  config.compile_cache_dir = "~/.cache/gaxla/jax"

  # What gaxla/checkpoint.py keeps: the newest `keep_latest` steps plus the
  # `keep_best` best by an eval metric (saved with each eval step).
  config.checkpoint = ml_collections.ConfigDict({
      "keep_latest": 3,       # >= 1; the newest step always survives
      "keep_best": 1,         # best steps by best_metric also kept (ignored if best_metric is '')
      "best_metric": "",      # e.g. 'eval/mode_coverage/high_quality'; '' = keep only the latest
      "best_mode": "max",     # 'max' or 'min' (e.g. for 'eval/mode_coverage/reverse_kl')
      "async_save": True,     # write in a background thread while training goes on
  })

  config.data = ml_collections.ConfigDict(dict(
      name="ring",        # see gaxla.data.DATASETS
      data_dir="",        # tfds data dir ('' = $TFDS_DATA_DIR or ~/tensorflow_datasets)
      # Fashion-MNIST IDX files ('' = Debian's /usr/share/datasets/fashion-mnist)
      source_dir="",
      image_size=0,       # resize images to this side (0 = native)
      # > 0: cifar10 / imagenet2012 / folder batches are read and decoded ahead
      # in this many grain worker processes (gaxla/data/grain_pipeline.py);
      # the batches are the same for any value. 0 = in the training process
      # (faster on a 2-core machine: see docs/benchmarks_data.md).
      workers=0,
      # cifar10 / imagenet2012 / folder: flip each image horizontally with
      # probability 1/2 (seeded by the example's position in the run).
      random_flip=False,
  ))

  config.model = ml_collections.ConfigDict(dict(
      name="mlp",         # see gaxla.models.MODELS
      latent_dim=64,
      # > 0: a categorical code joins z: z = [N(0, I_latent_dim), one_hot(c)],
      # c uniform over this many categories (the discrete latent of InfoGAN /
      # DeLiGAN). Lets G place disconnected modes without mass on the bridges.
      latent_categories=0,
      # > 0: this many continuous codes uniform in [-1, 1] follow (InfoGAN's
      # continuous latents; the Q head that predicts them: config.aux).
      latent_continuous=0,
      conditional=False,  # class-conditional G and D (needs a labelled dataset)
      generator=ml_collections.ConfigDict(),  # kwargs of the family's generator
      critic=ml_collections.ConfigDict(),     # kwargs of the family's critic
  ))

  config.loss = ml_collections.ConfigDict(dict(
      name="non_saturating",  # see gaxla.losses.LOSSES
      real_label=1.0,         # < 1: one-sided label smoothing (minimax / non_saturating)
      # Top-k training (Sinha et al., 2020): the generator loss uses only the
      # fraction of fakes the critic rates most real. The fraction decays
      # exponentially from 1 to `top_k` over `top_k_anneal_steps`; 1.0 = off.
      top_k=1.0,
      top_k_anneal_steps=1000,
  ))
  config.penalty = ml_collections.ConfigDict(dict(
      name="none",            # 'none' or a name in gaxla.penalties.PENALTIES
      weight=0.0,             # WGAN-GP: 10; R1: gamma / 2
      # > 1: lazy regularization (StyleGAN2): the penalty is computed on every
      # `every`-th critic update only (updates every-1, 2*every-1, ...), with its
      # weight multiplied by `every`.
      # The logged 'penalty' is the value at that update (0 on skipped ones).
      every=1,
  ))
  # Critic-input transforms (gaxla/critic_inputs.py), applied to real and fake alike.
  # PacGAN (Lin et al. 2018): the critic scores packs of `size` examples, all
  # real or all fake, concatenated along the last axis; 1 = off.
  config.pack = ml_collections.ConfigDict(dict(size=1))
  # Instance noise: N(0, std^2) added to the critic's inputs, std decaying
  # linearly to 0 at generator step anneal_steps; std 0 = off.
  config.instance_noise = ml_collections.ConfigDict(dict(std=0.0, anneal_steps=1000))
  config.augment = ml_collections.ConfigDict(dict(
      policy="",              # DiffAugment families, e.g. 'translation,cutout,color'
      diff_augment=False,     # True: augment real and fake in the adversarial losses
      bcr_real=0.0,           # bCR weights: critic consistency under the policy
      bcr_fake=0.0,           # on real / fake inputs (Zhao et al. 2021; paper: 10)
  ))
  config.weight_clip = 0.0    # > 0: original WGAN clipping of critic weights to [-c, c]
  # Weight regularizers added to the players' losses (gaxla.penalties).
  config.regularizer = ml_collections.ConfigDict(dict(
      orthogonal_g=0.0,       # BigGAN orthogonal reg. on G (paper: 1e-4); 0 = off
      orthogonal_d=0.0,       # the same on D (BigGAN-PyTorch D_ortho); 0 = off
      # Historical averaging (Salimans et al. 2016): weight * ||theta - mean of past
      # thetas||^2 on G / D; the running means live in the state. 0 = off.
      historical_average_g=0.0,
      historical_average_d=0.0,
      # LeCam (Tseng et al. 2021; their CIFAR BigGAN scripts: 0.3): w * the critic's logits'
      # squared excess over moving averages of its fake / real logits (the
      # anchors live in the state, decaying by lecam_decay per critic update).
      lecam=0.0,
      lecam_decay=0.99,
  ))
  # Unrolled GAN (Metz et al. 2017): G's loss against the critic after `steps`
  # lookahead critic updates, differentiated through them (gaxla/objectives.py).
  config.unroll = ml_collections.ConfigDict(dict(steps=0))
  # Feature matching (Salimans et al. 2016): weight * ||E f(x) - E f(G(z))||^2 on
  # the critic's last hidden features joins G's loss; adversarial=False drops
  # the adversarial term (feature matching alone). weight 0 = off.
  config.feature_matching = ml_collections.ConfigDict(dict(weight=0.0, adversarial=True))
  # Auxiliary critic heads on the critic's last hidden features (gaxla/heads.py).
  config.aux = ml_collections.ConfigDict(dict(
      # ACGAN (Odena et al. 2017): class head; weight of its cross-entropies on
      # real and fake (critic) and on fake (G). Needs model.conditional. 0 = off.
      acgan_weight=0.0,
      # False: the critic body gets no label input (no projection/concat term;
      # the ACGAN paper's D), only the class head sees classes.
      critic_conditioning=True,
      # InfoGAN (Chen et al. 2016): Q head predicting the codes of
      # model.latent_categories / model.latent_continuous; weights of the
      # mutual-information terms in G's and the critic's losses (paper: 1, 0.1). 0 = off.
      info_weight_categorical=0.0,
      info_weight_continuous=0.0,
      info_learned_std=False,   # True: Q learns a std per continuous code (else std 1)
      head_hidden=0,            # > 0: one hidden layer of this width in each head
  ))

  config.optim = ml_collections.ConfigDict(dict(
      n_critic=1,             # critic updates per generator update
      generator=_optimizer_defaults(2e-4),
      critic=_optimizer_defaults(2e-4),
  ))
  config.ema = ml_collections.ConfigDict(dict(
      decay=0.999,            # EMA of generator params; 0 disables
      start_step=0,           # before this step the EMA copies the params
  ))
  config.optim.grad_accum_steps = 1  # > 1: split each update's batch into this many micro-batches
  # True: the generator update reuses the last critic update's z and G forward
  # pass (one G forward per step instead of two, as PyTorch's DCGAN example).
  config.optim.reuse_fakes = False

  # Devices. The step is partitioned over a ('data', 'fsdp') mesh; see gaxla/parallel.py.
  config.mesh = ml_collections.ConfigDict(dict(
      data=-1,                # batch axis size; -1 = all devices left by 'fsdp'
      fsdp=1,                 # > 1: also shard params and optimizer state over this axis
  ))
  # Multi-host start-up through jax.distributed.initialize() (or GAXLA_DISTRIBUTED=1).
  # Leave the rest empty on TPU pods, SLURM and Open MPI: JAX detects them.
  config.distributed = ml_collections.ConfigDict(dict(
      enabled=False,
      coordinator_address="",  # e.g. 'localhost:1234' for processes on one machine
      num_processes=0,         # 0 = detect
      process_id=-1,           # -1 = detect
  ))
  # 'bfloat16': G and D compute in bf16; params, optimizer state, BatchNorm and
  # spectral-norm statistics and the losses stay float32.
  config.compute_dtype = "float32"

  # Collapse monitor (gaxla/monitor.py): stop when training collapses and keep
  # the best checkpoint from before it. The watched metric is the checkpoint
  # manager's best metric (checkpoint.best_metric / best_mode).
  config.monitor = ml_collections.ConfigDict(dict(
      enabled=True,
      tolerance=0.1,          # metric: worse than the best by more than this fraction ...
      patience=3,             # ... for this many evaluations (or logs, for the rules below)
      sigma_growth=0.0,       # > 0: stop when a layer's top singular value grows this much
      margin_limit=0.0,       # > 0: stop when D's real-fake logit margin stays above this
      critic_stall=0.0,       # > 0: alarm when D's grad norm stays below this x its median
      generator_stall=0.0,    # > 0: alarm when G's grad norm stays below this x its median
      # A stall alarm with an eval metric watched: evaluate now (and checkpoint
      # that generator, a candidate for best); stop only if the metric confirms
      # (worse than its best by > tolerance). False: a stall alarm stops at once.
      check_with_eval=True,
      explosion=0.0,          # > 0: stop at once when a grad norm or |margin| jumps above
                              # this x its median over the run so far (one log is enough)
      action="stop_keep_best",  # or 'stop' (keep the latest) or 'warn' (log and go on)
  ))

  config.eval = ml_collections.ConfigDict(dict(
      num_samples=2500,       # generated samples per evaluation (PacGAN protocol: 2500)
      grid_size=10,           # sample grid: grid_size x grid_size images
      # Evaluator names (gaxla.evaluate), run every eval_every_steps and by
      # `gaxla eval`; () = mode_coverage for 2-D mixtures, none for images.
      metrics=(),
      feature_extractor="inception",  # space of fid/kid/precision_recall/density_coverage:
                                      # 'inception' or 'classifier' (the dataset's own CNN)
      batch_size=200,         # samples per generator / feature-network call
      cache_dir="",           # reference statistics, classifier weights ('' = ~/.cache/gaxla)
      # converted FID Inception .npz ('' = <cache_dir>/pt_inception-2015-12-05.npz)
      inception_weights="",
      classifier_steps=1000,  # training steps of the domain classifier (batch 128)
      # Evaluations (in training and `gaxla eval`) and sample pictures use the EMA
      # generator with BatchNorm statistics re-estimated over this many latent
      # batches of `batch_size` (standing statistics); 0 = the running statistics.
      standing_batches=16,
  ))
  # Super-resolution (model.name = 'esrgan'; gaxla/superres.py). Ignored by other models.
  config.sr = ml_collections.ConfigDict(dict(
      scale=4,                # upscaling factor: 2, 4 or 8 (LR = bicubic HR / scale)
      stage="gan",            # 'psnr': L1 only, no critic update; 'gan': ESRGAN's loss
      perceptual="classifier",  # feature network: 'classifier' (the domain CNN) or 'vgg19'
      vgg19_weights="",       # torchvision vgg19 .pth (sr.perceptual = 'vgg19')
      vgg19_layer="conv5_4",  # features taken before this layer's ReLU
      perceptual_weight=1.0,  # L_G = perceptual_weight * L_percep
      adversarial_weight=5e-3,  # + adversarial_weight * L_Ra (ESRGAN's lambda)
      l1_weight=1e-2,         # + l1_weight * L1 (ESRGAN's eta)
      init_from="",           # workdir (PSNR stage) whose EMA generator initializes G
      metrics=("psnr", "ssim"),  # on held-out images: 'psnr', 'ssim', 'fd'
  ))
  return config


_RESERVED_MODEL_KWARGS = ("num_classes", "out_shape")  # filled in from the dataset


def model_kwargs(model_name: str, role: str, **overrides) -> ml_collections.ConfigDict:
  """Every keyword of a model's generator or critic, with defaults, as a ConfigDict.

  Config files use this so that each model option is visible in config.json
  and overridable from the command line (`--config.model.critic.KEY=...`).

  Args:
    model_name: a name in `gaxla.models.MODELS`.
    role: 'generator' or 'critic'.
    **overrides: values that replace the defaults (unknown names raise).
  """
  from gaxla import models
  cls = getattr(models.get(model_name), role)
  fields = {f.name: f.default for f in dataclasses.fields(cls)
            if f.name not in ("parent", "name") + _RESERVED_MODEL_KWARGS
            and f.default is not dataclasses.MISSING}
  unknown = sorted(set(overrides) - set(fields))
  if unknown:
    raise ConfigError(f"config: {model_name} {role} has no option(s) {', '.join(unknown)}; "
                      f"valid: {', '.join(sorted(fields))}.")
  fields.update(overrides)
  return ml_collections.ConfigDict(fields)


# Resume rules, in one place: `checkpoint.check_compatible` enforces them and
# words its error from them, so the message cannot drift from the behaviour.
# Keys under these top-level names change the state's shape or what the
# resumed run means, so they must match the saved config ...
RESUME_FIXED = ("data", "model", "loss", "penalty", "optim", "batch_size", "seed", "aux", "sr",
                # The critic's inputs (packing widens them), G's objective and the
                # regularizers (historical averages live in the state) are the run's too.
                "pack", "instance_noise", "augment", "unroll", "feature_matching",
                "regularizer")
# ... except these: where the data lives, how many processes decode it, and how a
# batch is split into accumulation steps do not change the batches or the state
# (nor do where SR's VGG19 file and pre-trained workdir live: read at step 0 / start).
RESUME_MOVABLE = ("data.data_dir", "data.source_dir", "data.workers", "optim.grad_accum_steps",
                  "sr.init_from", "sr.vgg19_weights")


def resume_rule() -> str:
  """The resume rule in words (built from RESUME_FIXED / RESUME_MOVABLE)."""
  return (f"keys under {', '.join(RESUME_FIXED)} must match (except "
          f"{', '.join(RESUME_MOVABLE)}); every other key, e.g. num_steps, the *_every_steps "
          "keys, eval, monitor and checkpoint, may change")


def group_with_defaults(config, name: str) -> ml_collections.ConfigDict:
  """A copy of `config[name]` with the defaults' keys it lacks (configs saved before them).

  Values are kept as given (not coerced to the defaults' types), so the checks
  still see, and name, a wrong type.
  """
  import copy
  if name not in config:
    return defaults()[name]
  merged = copy.deepcopy(config[name])
  _fill_missing(merged, defaults()[name], name + ".")
  return merged


# Sub-dicts whose keys are free-form (checked against the model's own fields).
_FREE_FORM = {"model.generator", "model.critic"}


def _check_keys(config, schema, prefix: str) -> None:
  for key in config.keys():
    path = f"{prefix}{key}"
    if key not in schema:
      close = difflib.get_close_matches(key, list(schema.keys()), n=1)
      hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
      raise ConfigError(
          f"config: unknown key '{path}'.{hint} Valid keys here: "
          f"{', '.join(sorted(schema.keys()))}.")
    value, default = config[key], schema[key]
    if isinstance(default, ml_collections.ConfigDict) and path not in _FREE_FORM:
      if not isinstance(value, (ml_collections.ConfigDict, dict)):
        raise ConfigError(f"config: '{path}' must be a group of keys, got {value!r}.")
      _check_keys(value, default, path + ".")


def _require(ok: bool, key: str, message: str) -> None:
  if not ok:
    raise ConfigError(f"config: '{key}' {message}")


def _check_model_kwargs(config) -> None:
  from gaxla import models  # local import: models import nothing from config
  family = models.get(config.model.name)
  for role, cls in (("generator", family.generator), ("critic", family.critic)):
    fields = {f.name for f in dataclasses.fields(cls)} - {"parent", "name"}
    reserved = set(_RESERVED_MODEL_KWARGS)
    for key in config.model[role].keys():
      if key in reserved:
        raise ConfigError(
            f"config: 'model.{role}.{key}' is set from the dataset; remove it.")
      if key not in fields:
        close = difflib.get_close_matches(key, sorted(fields - reserved), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"config: unknown key 'model.{role}.{key}' for model "
            f"'{config.model.name}'.{hint} Valid keys: "
            f"{', '.join(sorted(fields - reserved))}.")


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks a config against the schema; raises ConfigError naming the key.

  Args:
    config: a ConfigDict (or dict) built from `defaults()`.

  Returns:
    The same config, for chaining.
  """
  from gaxla import data, losses, optim, penalties, models

  _check_keys(config, defaults(), "")
  for key in ("num_steps", "batch_size", "log_every_steps", "eval_every_steps",
              "checkpoint_every_steps", "steps_per_call"):
    _require(isinstance(config[key], int) and config[key] > 0, key,
             f"must be a positive integer, got {config[key]!r}.")
  _require(isinstance(config.seed, int), "seed", f"must be an integer, got {config.seed!r}.")
  _check_checkpoint(config)

  _name_in(config.data.name, data.DATASETS, "data.name")
  _require(isinstance(config.data.workers, int) and config.data.workers >= 0, "data.workers",
           f"must be an integer >= 0 (0 = decode in the training process), got "
           f"{config.data.workers!r}.")
  _require(isinstance(config.data.random_flip, bool), "data.random_flip",
           f"must be True or False, got {config.data.random_flip!r}.")
  _require(not config.data.random_flip or config.data.name in data.GRAIN_DATASETS,
           "data.random_flip", f"flips images of {', '.join(data.GRAIN_DATASETS)} only (the "
           f"grain pipeline); dataset {config.data.name!r} is not one: set it to False.")
  if config.data.name == "folder":
    try:
      data.get_info(config.data)
    except FileNotFoundError as e:
      raise ConfigError(f"config: 'data.data_dir': {e}") from None
  _name_in(config.model.name, models.MODELS, "model.name")
  _name_in(config.loss.name, losses.LOSSES, "loss.name")
  if config.penalty.name != "none":
    _name_in(config.penalty.name, penalties.PENALTIES, "penalty.name", extra=["none"])
    _require(config.penalty.weight > 0, "penalty.weight",
             f"must be > 0 when penalty.name is '{config.penalty.name}', got "
             f"{config.penalty.weight!r}.")
  _require(0.0 < config.loss.real_label <= 1.0, "loss.real_label",
           f"must be in (0, 1], got {config.loss.real_label!r}.")
  if config.loss.real_label != 1.0:
    _require(config.loss.name in ("minimax", "non_saturating"), "loss.real_label",
             "(one-sided label smoothing) only applies to 'minimax' and "
             f"'non_saturating', not '{config.loss.name}'.")
  _require(0.0 < config.loss.top_k <= 1.0, "loss.top_k",
           f"must be in (0, 1], got {config.loss.top_k!r}.")
  _require(config.loss.top_k_anneal_steps > 0, "loss.top_k_anneal_steps", "must be > 0.")
  if config.loss.top_k < 1.0:
    _require(not losses.get(config.loss.name).uses_real_in_generator, "loss.top_k",
             f"needs a generator loss that is a mean over fakes; '{config.loss.name}' "
             "is relativistic. Use top_k = 1.0 or another loss.")
  _require(config.weight_clip >= 0, "weight_clip", f"must be >= 0, got {config.weight_clip!r}.")
  for key in ("orthogonal_g", "orthogonal_d", "historical_average_g", "historical_average_d",
              "lecam"):
    value = config.regularizer[key]
    _require(isinstance(value, (int, float)) and value >= 0, f"regularizer.{key}",
             f"must be a number >= 0 (0 = off), got {value!r}.")
  decay = config.regularizer.lecam_decay
  _require(isinstance(decay, (int, float)) and 0.0 <= decay < 1.0, "regularizer.lecam_decay",
           f"must be in [0, 1), got {decay!r}.")
  _require(isinstance(config.optim.n_critic, int) and config.optim.n_critic >= 1,
           "optim.n_critic", f"must be an integer >= 1, got {config.optim.n_critic!r}.")
  _check_critic_inputs(config)
  for role in ("generator", "critic"):
    opt = config.optim[role]
    key = f"optim.{role}"
    _require(opt.name in optim.OPTIMIZERS, f"{key}.name",
             f"is {opt.name!r}, which is not known. Valid names: {', '.join(optim.OPTIMIZERS)}.")
    _require(opt.momentum >= 0, f"{key}.momentum", f"must be >= 0, got {opt.momentum!r}.")
    _require(0 <= opt.rms_decay < 1, f"{key}.rms_decay",
             f"must be in [0, 1), got {opt.rms_decay!r}.")
    _require(opt.lr > 0, f"{key}.lr", f"must be > 0, got {opt.lr!r}.")
    _require(0 <= opt.b1 < 1, f"{key}.b1", f"must be in [0, 1), got {opt.b1!r}.")
    _require(0 <= opt.b2 < 1, f"{key}.b2", f"must be in [0, 1), got {opt.b2!r}.")
    _require(opt.schedule in ("constant", "linear", "cosine"), f"{key}.schedule",
             f"must be 'constant', 'linear' or 'cosine', got {opt.schedule!r}.")
    _require(opt.warmup_steps >= 0, f"{key}.warmup_steps", "must be >= 0.")
    _require(opt.grad_clip_norm >= 0, f"{key}.grad_clip_norm", "must be >= 0.")
  accum = config.optim.grad_accum_steps
  _require(isinstance(accum, int) and accum >= 1, "optim.grad_accum_steps",
           f"must be an integer >= 1, got {accum!r}.")
  _require(config.batch_size % accum == 0, "optim.grad_accum_steps",
           f"= {accum} must divide batch_size = {config.batch_size}.")
  _require(config.compute_dtype in ("float32", "bfloat16"), "compute_dtype",
           f"must be 'float32' or 'bfloat16', got {config.compute_dtype!r}.")
  for axis in ("data", "fsdp"):
    size = config.mesh[axis]
    _require(isinstance(size, int) and (size == -1 or size >= 1), f"mesh.{axis}",
             f"must be a positive integer or -1, got {size!r}.")
  mon = config.monitor
  _require(mon.action in ("stop_keep_best", "stop", "warn"), "monitor.action",
           f"must be 'stop_keep_best', 'stop' or 'warn', got {mon.action!r}.")
  _require(mon.tolerance > 0, "monitor.tolerance", f"must be > 0, got {mon.tolerance!r}.")
  _require(isinstance(mon.patience, int) and mon.patience >= 1, "monitor.patience",
           f"must be an integer >= 1, got {mon.patience!r}.")
  _require(mon.sigma_growth == 0 or mon.sigma_growth > 1, "monitor.sigma_growth",
           f"must be 0 (off) or > 1, got {mon.sigma_growth!r}.")
  _require(mon.margin_limit >= 0, "monitor.margin_limit", "must be >= 0 (0 = off).")
  for rule in ("critic_stall", "generator_stall"):
    _require(0 <= mon[rule] < 1, f"monitor.{rule}",
             f"must be 0 (off) or a fraction in (0, 1), got {mon[rule]!r}.")
  _require(mon.explosion == 0 or mon.explosion > 1, "monitor.explosion",
           f"must be 0 (off) or > 1, got {mon.explosion!r}.")
  _require(isinstance(mon.check_with_eval, bool), "monitor.check_with_eval",
           f"must be True or False, got {mon.check_with_eval!r}.")
  _require(0.0 <= config.ema.decay < 1.0, "ema.decay",
           f"must be in [0, 1), got {config.ema.decay!r}.")
  _require(config.model.latent_dim > 0, "model.latent_dim", "must be > 0.")
  _require(isinstance(config.penalty.every, int) and config.penalty.every >= 1, "penalty.every",
           f"must be an integer >= 1, got {config.penalty.every!r}.")
  _require(isinstance(config.model.latent_categories, int) and config.model.latent_categories >= 0,
           "model.latent_categories", "must be an integer >= 0 (0 = no categorical code).")
  _require(isinstance(config.unroll.steps, int) and config.unroll.steps >= 0, "unroll.steps",
           f"must be an integer >= 0 (0 = off), got {config.unroll.steps!r}.")
  _require(config.optim.reuse_fakes in (True, False), "optim.reuse_fakes",
           f"must be True or False, got {config.optim.reuse_fakes!r}.")
  _require(not (config.optim.reuse_fakes and config.unroll.steps), "optim.reuse_fakes",
           "cannot be combined with unroll.steps > 0 (the lookahead critic needs G's "
           "parameters, not one G pass). Set one of them off.")
  _require(not (config.optim.reuse_fakes and config.optim.grad_accum_steps > 1),
           "optim.reuse_fakes", "cannot be combined with optim.grad_accum_steps > 1. "
           "Set optim.reuse_fakes = False or optim.grad_accum_steps = 1.")
  fm = config.feature_matching
  _require(isinstance(fm.weight, (int, float)) and fm.weight >= 0, "feature_matching.weight",
           f"must be a number >= 0 (0 = off), got {fm.weight!r}.")
  _require(fm.adversarial or fm.weight > 0, "feature_matching.adversarial",
           "is False with feature_matching.weight = 0: G would have no loss. Set a weight > 0.")
  _check_aux(config)
  _require(config.eval.num_samples > 0, "eval.num_samples", "must be > 0.")
  _require(config.eval.grid_size > 0, "eval.grid_size", "must be > 0.")
  _check_eval(config)
  if config.model.conditional:
    spec = data.get_info(config.data).num_classes
    _require(spec > 0, "model.conditional",
             f"is True but dataset '{config.data.name}' has no labels; set it to False.")
  _check_model_kwargs(config)
  if config.model.name == "progan":  # the growth schedule (gaxla/progressive.py)
    from gaxla import progressive
    try:
      progressive.check_config(config)
    except ValueError as e:
      raise ConfigError(f"config: {e}") from None
  if config.model.name == "esrgan":  # the SR step's own rules (gaxla/superres.py)
    from gaxla import superres
    try:
      superres.check_config(config)
    except ValueError as e:
      raise ConfigError(f"config: {e}") from None
  return config


def _check_aux(config) -> None:
  """The ACGAN / InfoGAN heads (config.aux) and InfoGAN's continuous codes."""
  from gaxla import heads
  continuous = config.model.latent_continuous
  _require(isinstance(continuous, int) and continuous >= 0, "model.latent_continuous",
           f"must be an integer >= 0 (0 = no continuous code), got {continuous!r}.")
  aux = config.aux
  for key in ("acgan_weight", "info_weight_categorical", "info_weight_continuous"):
    value = aux[key]
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
             f"aux.{key}", f"must be a number >= 0 (0 = off), got {value!r}.")
  for key in ("critic_conditioning", "info_learned_std"):
    _require(isinstance(aux[key], bool), f"aux.{key}", f"must be True or False, got {aux[key]!r}.")
  _require(isinstance(aux.head_hidden, int) and aux.head_hidden >= 0, "aux.head_hidden",
           f"must be an integer >= 0 (0 = no hidden layer), got {aux.head_hidden!r}.")
  if aux.acgan_weight:
    _require(config.model.conditional, "aux.acgan_weight",
             "> 0 (ACGAN's class head) needs a class-conditional model: set "
             "model.conditional = True (on a labelled dataset) or aux.acgan_weight = 0.")
  _require(aux.critic_conditioning or aux.acgan_weight > 0, "aux.critic_conditioning",
           "is False but aux.acgan_weight = 0: the critic would never see the classes. "
           "Set aux.acgan_weight > 0 or aux.critic_conditioning = True.")
  if aux.info_weight_categorical:
    _require(config.model.latent_categories > 0, "aux.info_weight_categorical",
             "> 0 needs a categorical code for Q to predict: set model.latent_categories "
             "(e.g. 10) or aux.info_weight_categorical = 0.")
  if aux.info_weight_continuous:
    _require(continuous > 0, "aux.info_weight_continuous",
             "> 0 needs continuous codes for Q to predict: set model.latent_continuous "
             "(e.g. 2) or aux.info_weight_continuous = 0.")
  _require(not aux.info_learned_std or aux.info_weight_continuous > 0, "aux.info_learned_std",
           "is True but aux.info_weight_continuous = 0: there is no continuous Q output to "
           "give a std. Set it to False or turn on aux.info_weight_continuous.")
  _require(aux.head_hidden == 0 or heads_on(config), "aux.head_hidden",
           "> 0 but no head is on (aux.acgan_weight, aux.info_weight_*): set it to 0.")
  if heads_on(config):
    _require(config.model.name in heads.FEATURE_CRITICS, "aux",
             f"heads need a critic that returns its features ({', '.join(heads.FEATURE_CRITICS)}"
             f"); model.name is {config.model.name!r}. Set the aux weights to 0.")
    _require(config.pack.size == 1, "pack.size",
             "> 1 with an auxiliary head (aux.*_weight > 0): a head classifies single "
             "examples, not packs. Set pack.size = 1 or the aux weights to 0.")


def heads_on(config) -> bool:
  """Whether `config.aux` turns on an ACGAN or InfoGAN head."""
  aux = config.aux
  return bool(aux.acgan_weight or aux.info_weight_categorical or aux.info_weight_continuous)


def _check_critic_inputs(config) -> None:
  from gaxla import critic_inputs, data
  size = config.pack.size
  _require(isinstance(size, int) and size >= 1, "pack.size",
           f"must be an integer >= 1 (1 = no packing), got {size!r}.")
  accum = config.optim.grad_accum_steps
  _require(config.batch_size % (size * accum) == 0, "pack.size",
           f"= {size} must divide the batch per update (batch_size = {config.batch_size}"
           + (f" / optim.grad_accum_steps = {accum}" if accum > 1 else "")
           + "); change batch_size or pack.size.")
  if size > 1:
    _require(not config.model.conditional, "pack.size",
             "> 1 needs an unconditional model (packs of one class are not implemented); "
             "set model.conditional = False or pack.size = 1.")
  group = config.model.critic.get("minibatch_stddev", 0)
  if group:
    per_call = config.batch_size // (size * accum)
    _require(per_call % min(group, per_call) == 0, "model.critic.minibatch_stddev",
             f"= {group} must divide the critic's batch ({per_call} = batch_size / pack.size"
             " / optim.grad_accum_steps); change the group size.")
  noise = config.instance_noise
  _require(noise.std >= 0, "instance_noise.std", f"must be >= 0 (0 = off), got {noise.std!r}.")
  _require(isinstance(noise.anneal_steps, int) and noise.anneal_steps > 0,
           "instance_noise.anneal_steps", f"must be a positive integer, got "
           f"{noise.anneal_steps!r}.")
  aug = config.augment
  try:
    policy = critic_inputs.parse_policy(aug.policy)
  except ValueError as e:
    raise ConfigError(f"config: 'augment.policy': {e}.") from None
  for key in ("bcr_real", "bcr_fake"):
    _require(aug[key] >= 0, f"augment.{key}", f"must be >= 0 (0 = off), got {aug[key]!r}.")
  if aug.diff_augment or aug.bcr_real or aug.bcr_fake:
    _require(bool(policy), "augment.policy",
             "is empty but augment.diff_augment or a bCR weight is on; name the transforms, "
             f"e.g. '{','.join(critic_inputs.POLICIES)}'.")
  if policy:
    _require(len(data.example_shape(config.data)) == 3, "augment.policy",
             f"needs image data [H, W, C]; '{config.data.name}' is not images. Set it to ''.")


def _check_checkpoint(config) -> None:
  group = group_with_defaults(config, "checkpoint")
  _require(isinstance(group.keep_latest, int) and group.keep_latest >= 1,
           "checkpoint.keep_latest",
           f"must be an integer >= 1 (the newest checkpoint is what a run resumes from), "
           f"got {group.keep_latest!r}.")
  _require(isinstance(group.keep_best, int) and group.keep_best >= 0, "checkpoint.keep_best",
           f"must be an integer >= 0, got {group.keep_best!r}.")
  _require(isinstance(group.best_metric, str), "checkpoint.best_metric",
           "must be a metric name such as 'eval/mode_coverage/high_quality' or '', got "
           f"{group.best_metric!r}.")
  _require(group.best_mode in ("max", "min"), "checkpoint.best_mode",
           f"must be 'max' or 'min', got {group.best_mode!r}.")
  if group.best_metric:
    _require(group.keep_best >= 1, "checkpoint.keep_best",
             f"is 0 but checkpoint.best_metric is {group.best_metric!r}; set keep_best >= 1 "
             "or best_metric to ''.")
  _require(isinstance(group.async_save, bool), "checkpoint.async_save",
           f"must be True or False, got {group.async_save!r}.")


def _check_eval(config) -> None:
  from gaxla import evaluate
  metrics = config.eval.metrics
  _require(isinstance(metrics, (list, tuple)) and all(isinstance(m, str) for m in metrics),
           "eval.metrics", f"must be a list of evaluator names, got {metrics!r}.")
  for name in metrics:
    _name_in(name, evaluate.EVALUATORS, "eval.metrics")
  _name_in(config.eval.feature_extractor, evaluate.FEATURE_SPACES, "eval.feature_extractor")
  for key in ("batch_size", "classifier_steps"):
    _require(isinstance(config.eval[key], int) and config.eval[key] > 0, f"eval.{key}",
             f"must be a positive integer, got {config.eval[key]!r}.")
  try:
    evaluate.check(config, check_files=False)
  except ValueError as e:
    raise ConfigError(f"config: 'eval.metrics': {e}.") from None


def _name_in(name: Any, registry, key: str, extra=()) -> None:
  if name not in registry:
    valid = sorted(list(registry) + list(extra))
    raise ConfigError(
        f"config: '{key}' is {name!r}, which is not known. Valid names: {', '.join(valid)}.")


def from_file(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """`get_config(arg)` of a config file, e.g. from_file("configs/mog_ring.py").

  The Python-side twin of `gaxla train --config PATH[:arg]`; a `:arg` suffix
  on `path` is split off and passed on when `arg` is not given.
  """
  import importlib.util
  import os
  if arg is None and ":" in os.path.basename(path):
    path, arg = path.rsplit(":", 1)
  name = os.path.splitext(os.path.basename(path))[0]
  if not os.path.isfile(path):
    what = "is a folder" if os.path.isdir(path) else "not found"
    raise FileNotFoundError(f"config file {path!r} {what} (expected e.g. configs/NAME.py)")
  spec = importlib.util.spec_from_file_location(f"gaxla_config_{name}", path)
  if spec is None:
    raise ConfigError(f"config file {path!r} is not a Python file (expected configs/NAME.py)")
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as e:
    raise ConfigError(f"config file {path!r}: syntax error at line {e.lineno}: {e.msg}") from None
  except Exception as e:  # noqa: BLE001 (a config file may raise anything)
    raise ConfigError(f"config file {path!r} raised {type(e).__name__} while loading: {e}"
                      f"{_where(e, path)}") from None
  if not callable(getattr(module, "get_config", None)):
    raise ConfigError(f"config file {path!r} defines no get_config() function: a config file "
                      "is `def get_config(arg=None): config = gaxla.config.defaults(); ...; "
                      "return config` (see configs/quickstart.py).")
  try:
    config = module.get_config(arg) if arg is not None else module.get_config()
  except Exception as e:  # noqa: BLE001
    raise ConfigError(f"config file {path!r}: get_config({'' if arg is None else repr(arg)}) "
                      f"raised {type(e).__name__}: {e}{_where(e, path)}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"config file {path!r}: get_config() returned a {type(config).__name__}, "
                      "not an ml_collections.ConfigDict; start from gaxla.config.defaults() "
                      "(see configs/quickstart.py).")
  return config


def _where(error: BaseException, path: str) -> str:
  """' (line N)' of the innermost frame of `error` in the file `path`, if any."""
  import os
  import traceback
  lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
           if os.path.abspath(frame.filename) == os.path.abspath(path)]
  return f" (line {lines[-1]})" if lines else ""


def from_json(text: str) -> ml_collections.ConfigDict:
  """Rebuilds a config saved as workdir/config.json (lists stay lists).

  Keys added to the schema after the workdir was written (e.g. eval options)
  get their defaults, so older workdirs still load.
  """
  import json
  loaded = json.loads(text)
  if not isinstance(loaded, dict):
    raise ValueError(f"expected a JSON object, got {type(loaded).__name__}")
  config = ml_collections.ConfigDict(loaded)
  _fill_missing(config, defaults(), "")
  return config


def _fill_missing(config, schema, prefix: str) -> None:
  for key in schema.keys():
    path = f"{prefix}{key}"
    if key not in config:
      config[key] = schema[key]
    elif (isinstance(schema[key], ml_collections.ConfigDict) and path not in _FREE_FORM
          and isinstance(config[key], ml_collections.ConfigDict)):
      _fill_missing(config[key], schema[key], path + ".")
