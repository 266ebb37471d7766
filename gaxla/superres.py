"""Super-resolution (ESRGAN) on top of the GAN system: an image-conditioned generator.

`SuperResSystem` is a `GANSystem` (gaxla/system.py) for `model.name =
'esrgan'`: G (gaxla/models/esrgan.py's RRDB network) maps a low-resolution
image to a high-resolution one, D is the VGG-style critic. The state, the
checkpoints, the sharding and the training loop are the GAN system's; what
differs is the step, evaluation and sampling:

  step(state, batch)   pure. The batch holds high-resolution (HR) images only;
      the step makes their low-resolution (LR) inputs itself, by bicubic
      downsampling by `sr.scale` with antialiasing (`downsample`). Doing it in
      the step rather than the data path means every source gaxla reads
      (in-memory, grain, folders) feeds SR unchanged, the resize runs on the
      accelerator inside the compiled step, and resume stays exact (the
      batches are still a function of (seed, step)).
      sr.stage = 'psnr': G minimizes the L1 loss alone; the critic is not
        updated (ESRGAN's PSNR-oriented pre-training).
      sr.stage = 'gan': n_critic updates of D with `loss.name` (ESRGAN:
        'relativistic_average'), then G minimizes
          L_G = perceptual_weight * L_percep + adversarial_weight * L_Ra
                + l1_weight * L1
        (ESRGAN: 1, 5e-3, 1e-2), L_percep the mean absolute difference of
        pre-activation features of a feature network: VGG19 ('conv5_4' by
        default) from a converted torchvision file (`sr.vgg19_weights`), or
        gaxla's domain classifier (gaxla/evaluate/classifier.py) up to its
        second conv (`sr.perceptual = 'classifier'`).
      The feature network's weights are an argument of the jitted step, not
      part of the state (they are never trained nor checkpointed).
  init_state(seed)     with `sr.init_from = WORKDIR`, G's params and EMA
      params start as that (PSNR-stage) workdir's EMA generator.
  evaluate(...)        PSNR / SSIM (Y channel, borders cropped by the scale;
      gaxla/evaluate/sr_metrics.py) and the classifier-space Frechet distance
      on held-out images, logged as 'eval/sr/NAME', plus a picture (rows:
      bicubic, ESRGAN, ground truth).

Also here: `upscale` (what `gaxla sample --input` runs) and
`interpolate_workdirs` (ESRGAN's network interpolation, `gaxla interpolate`).
"""

from __future__ import annotations

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gaxla import metrics as names
from gaxla import parallel
from gaxla.data import pixels
from gaxla.evaluate import sr_metrics
from gaxla.models import esrgan
from gaxla.state import GANState, Player
from gaxla.system import GANSystem

STAGES = ("psnr", "gan")
PERCEPTUAL = ("classifier", "vgg19")
SCALES = (2, 4, 8)
L1, PERCEPTUAL_LOSS, ADVERSARIAL = "sr/l1", "sr/perceptual", "sr/adversarial"


# ------------------------------------------------------------------------------
# Config checks (called by gaxla.config.validate for model.name == 'esrgan')
# ------------------------------------------------------------------------------
# Options the SR step does not implement: (key, value that means off).
_UNSUPPORTED = (("model.conditional", False), ("pack.size", 1), ("augment.policy", ""),
                ("instance_noise.std", 0.0), ("unroll.steps", 0),
                ("feature_matching.weight", 0.0), ("regularizer.orthogonal_g", 0.0),
                ("regularizer.orthogonal_d", 0.0), ("regularizer.historical_average_g", 0.0),
                ("regularizer.historical_average_d", 0.0), ("regularizer.lecam", 0.0),
                ("loss.top_k", 1.0),
                ("loss.real_label", 1.0), ("penalty.name", "none"), ("weight_clip", 0.0),
                ("optim.grad_accum_steps", 1), ("optim.reuse_fakes", False),
                ("eval.metrics", ()))


def _get(config, dotted: str):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


def check_config(config) -> None:
  """Raises ValueError naming the key and the fix for an SR config that cannot work."""
  from gaxla import data
  sr = config.sr
  info = data.get_info(config.data)
  shape = data.example_shape(config.data)
  if info.kind != "images":
    raise ValueError(f"model 'esrgan' upscales images; data.name {config.data.name!r} is "
                     "not an image dataset.")
  for key, off in _UNSUPPORTED:
    value = _get(config, key)
    if (list(value) if isinstance(value, (list, tuple)) else value) != (
        list(off) if isinstance(off, tuple) else off):
      hint = " (SR workdirs log sr.metrics as eval/sr/NAME)" if key == "eval.metrics" else ""
      raise ValueError(f"'{key}' = {value!r} is not supported with model 'esrgan'{hint}; "
                       f"set it to {off!r}.")
  if sr.scale not in SCALES:
    raise ValueError(f"'sr.scale' must be one of {SCALES}, got {sr.scale!r}.")
  if shape[0] % sr.scale or shape[1] % sr.scale:
    raise ValueError(f"'sr.scale' = {sr.scale} must divide the image size {shape[0]}x"
                     f"{shape[1]} (set data.image_size to a multiple of it).")
  if config.model.generator.get("scale", 0):
    raise ValueError("'model.generator.scale' is set from 'sr.scale'; remove it.")
  if sr.stage not in STAGES:
    raise ValueError(f"'sr.stage' must be one of {STAGES}, got {sr.stage!r}.")
  if sr.perceptual not in PERCEPTUAL:
    raise ValueError(f"'sr.perceptual' must be one of {PERCEPTUAL}, got {sr.perceptual!r}.")
  if sr.stage == "gan" and sr.perceptual == "classifier" and info.num_classes < 2:
    raise ValueError(f"'sr.perceptual' = 'classifier' needs a labelled dataset; "
                     f"{config.data.name!r} has none: use 'vgg19' with sr.vgg19_weights.")
  if sr.stage == "gan" and sr.perceptual == "vgg19" and not sr.vgg19_weights:
    raise ValueError("'sr.vgg19_weights' is empty but sr.perceptual = 'vgg19': give the path "
                     "of torchvision's vgg19 .pth, or set sr.perceptual = 'classifier'.")
  if sr.vgg19_layer not in esrgan.vgg19_layer_names():
    raise ValueError(f"'sr.vgg19_layer' is {sr.vgg19_layer!r}; valid: "
                     f"{', '.join(esrgan.vgg19_layer_names())}.")
  for key in ("perceptual_weight", "adversarial_weight", "l1_weight"):
    if not isinstance(sr[key], (int, float)) or sr[key] < 0:
      raise ValueError(f"'sr.{key}' must be a number >= 0, got {sr[key]!r}.")
  if not isinstance(sr.init_from, str):
    raise ValueError(f"'sr.init_from' must be a workdir path or '', got {sr.init_from!r}.")
  metrics = list(sr.metrics)
  for name in metrics:
    if name not in sr_metrics.SR_METRICS:
      raise ValueError(f"'sr.metrics' names {name!r}; valid: "
                       f"{', '.join(sr_metrics.SR_METRICS)}.")
  if "fd" in metrics and info.num_classes < 2:
    raise ValueError(f"'sr.metrics' 'fd' uses the domain classifier, which needs a labelled "
                     f"dataset; {config.data.name!r} has none: drop 'fd'.")
  cropped = min(shape[0], shape[1]) - 2 * sr.scale
  if "ssim" in metrics and cropped < 11:
    raise ValueError(f"'sr.metrics' 'ssim' needs 11x11 px after cropping {sr.scale} px "
                     f"borders; {shape[0]}x{shape[1]} images leave {cropped}: drop 'ssim'.")


def output_names(config) -> list[str]:
  """What SR evaluation logs: 'eval/sr/NAME' for NAME in sr.metrics."""
  return [names.eval_name(f"sr/{name}") for name in config.sr.metrics]


# ------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------
def downsample(hr: jax.Array, scale: int) -> jax.Array:
  """HR images [B, H, W, C] in [-1, 1] -> LR [B, H/scale, W/scale, C]: antialiased
  bicubic, clipped to [-1, 1] (bicubic overshoots; a stored LR image could not)."""
  b, h, w, c = hr.shape
  lr = jax.image.resize(hr, (b, h // scale, w // scale, c), "bicubic", antialias=True)
  return jnp.clip(lr, -1.0, 1.0)


def bicubic_upscale(lr: jax.Array, scale: int) -> jax.Array:
  """The bicubic baseline: LR [B, h, w, C] -> [B, h*scale, w*scale, C], clipped."""
  b, h, w, c = lr.shape
  return jnp.clip(jax.image.resize(lr, (b, h * scale, w * scale, c), "bicubic"), -1.0, 1.0)


def _in_batches(fn, images: np.ndarray, batch_size: int) -> np.ndarray:
  """fn over fixed-size batches (one compiled shape; the last batch padded)."""
  parts = []
  for start in range(0, len(images), batch_size):
    chunk = images[start:start + batch_size]
    count = len(chunk)
    if count < batch_size:
      chunk = np.concatenate([chunk, np.zeros((batch_size - count,) + chunk.shape[1:],
                                              chunk.dtype)])
    parts.append(np.asarray(jax.device_get(fn(chunk)))[:count])
  return np.concatenate(parts)


# ------------------------------------------------------------------------------
# The system
# ------------------------------------------------------------------------------
class SuperResSystem(GANSystem):
  """A GANSystem whose generator upscales images (see the module docstring)."""

  is_super_resolution = True

  def __init__(self, config, example_shape, num_classes, mesh=None):
    self.scale = int(config.sr.scale)
    self.stage = config.sr.stage
    h, w, c = example_shape
    self.lr_shape = (h // self.scale, w // self.scale, c)
    self._perceptual = None   # (module, variables), loaded on first use
    super().__init__(config, example_shape, num_classes, mesh)
    # Explicit, so inputs of any size upscale by sr.scale (gaxla sample --input).
    self.generator = self.generator.clone(scale=self.scale)
    donate = () if jax.default_backend() == "cpu" else (0,)
    replicated = parallel.replicated(self.mesh)
    self._jit_step = jax.jit(
        self.step_with_features, donate_argnums=donate,
        in_shardings=(self.state_sharding, self.batch_sharding, replicated),
        out_shardings=(self.state_sharding, replicated))
    self._jit_steps = jax.jit(
        self.steps_with_features, donate_argnums=donate,
        in_shardings=(self.state_sharding, parallel.batch_sharding(self.mesh, batch_axis=2),
                      replicated),
        out_shardings=(self.state_sharding, replicated))
    self.train_step = lambda state, batch: self._jit_step(state, batch,
                                                          self.perceptual_variables())
    self.train_steps = lambda state, batches: self._jit_steps(state, batches,
                                                              self.perceptual_variables())

  # --- Perceptual feature network ----------------------------------------------
  def perceptual_network(self):
    """(Flax module, variables) of the perceptual loss's feature network (cached)."""
    if self._perceptual is None:
      sr = self.config.sr
      if sr.perceptual == "vgg19":
        module = esrgan.VGG19Features(layer=sr.vgg19_layer)
        variables = esrgan.load_vgg19(os.path.expanduser(sr.vgg19_weights))
      else:
        from gaxla.evaluate import evaluators
        extractor, _ = evaluators._classifier(self.config)
        params = extractor.variables["params"]
        module = esrgan.ClassifierFeatures()
        variables = {"params": {k: jax.device_get(params[k]) for k in ("conv1", "conv2")}}
      self._perceptual = (module, variables)
    return self._perceptual

  def perceptual_variables(self) -> dict:
    """The feature network's variables ({} in the PSNR stage, which has no perceptual loss)."""
    if self.stage == "psnr":
      return {}
    return self.perceptual_network()[1]

  # --- State -------------------------------------------------------------------
  def init(self, seed: int) -> GANState:
    """The initial state: G initialized on an LR image, D on an HR one (pure)."""
    g_key, d_key, train_key = jax.random.split(jax.random.key(seed), 3)
    labels = jnp.zeros((1,), jnp.int32)
    generator = self.generator.clone(scale=self.scale)
    g_vars = dict(generator.init({"params": g_key}, jnp.zeros((1,) + self.lr_shape),
                                 labels, train=False))
    d_vars = dict(self.critic.init({"params": d_key}, jnp.zeros((1,) + self.example_shape),
                                   labels, train=False))
    g_params, d_params = g_vars.pop("params"), d_vars.pop("params")
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g=Player(g_params, g_vars, self.g_tx.init(g_params)),
        d=Player(d_params, d_vars, self.d_tx.init(d_params)),
        g_ema_params=jax.tree.map(jnp.copy, g_params),
        rng=jax.random.key_data(train_key),
        history=None,
    )

  def init_state(self, seed: int) -> GANState:
    """The initial state; with sr.init_from, G starts as that workdir's EMA generator."""
    # Op by op, then placed: XLA:CPU compiles this init as one program very
    # slowly (jitted with a static seed it constant-folds the random init: over
    # 10 minutes for the Fashion-MNIST RRDB on 2 cores; with a traced seed
    # and gaxla's conv flag (gaxla/xla_cpu.py) still minutes), and it runs once.
    state = jax.device_put(self.init(seed), self.state_sharding)
    if not self.config.sr.init_from:
      return state
    params = pretrained_generator(self.config)
    _, reference = jax.tree.flatten(state.g.params)
    if jax.tree.structure(params) != reference:
      raise ValueError(f"sr.init_from: the generator in {self.config.sr.init_from!r} has "
                       "other parameters than this config's model.generator.")
    params = jax.device_put(params, self.state_sharding.g.params)
    return state.replace(g=state.g.replace(params=params),
                         g_ema_params=jax.tree.map(jnp.copy, params))

  # --- Model calls -----------------------------------------------------------------
  def upscale_fn(self, variables):
    """`lr -> sr` (eval mode, not clipped), jitted, for fixed variables."""
    apply = jax.jit(lambda v, lr: self.generator.apply(
        v, lr, jnp.zeros((lr.shape[0],), jnp.int32), train=False))
    return lambda lr: apply(variables, lr)

  # --- The step ------------------------------------------------------------------
  def _critic_update(self, g_params, g_collections, d: Player, hr: jax.Array):
    """One update of D (relativistic average in ESRGAN) on one HR batch."""
    labels = jnp.zeros((hr.shape[0],), jnp.int32)
    fake, g_collections = self._generate_train(g_params, g_collections,
                                               downsample(hr, self.scale), labels)
    fake = jax.lax.stop_gradient(fake)

    def critic_loss(d_params):
      both = jnp.concatenate([hr, fake], axis=0)
      logits, collections = self._apply(self.critic, {"params": d_params, **d.collections},
                                        both, jnp.concatenate([labels, labels]), True)
      real_logits, fake_logits = jnp.split(logits, 2)
      return self.loss.critic(real_logits, fake_logits), (collections, real_logits, fake_logits)

    (loss, (collections, real_logits, fake_logits)), grads = jax.value_and_grad(
        critic_loss, has_aux=True)(d.params)
    updates, opt_state = self.d_tx.update(grads, d.opt_state, d.params)
    d = Player(optax.apply_updates(d.params, updates), collections, opt_state)
    metrics = {names.D_LOSS: loss, names.D_TOTAL_LOSS: loss,
               names.D_REAL_LOGIT: jnp.mean(real_logits),
               names.D_FAKE_LOGIT: jnp.mean(fake_logits),
               names.D_GRAD_NORM: optax.tree.norm(grads)}
    return g_collections, d, metrics

  def generator_loss(self, g_params, g_collections, d: Player, hr: jax.Array,
                     perceptual_variables: dict):
    """(L_G, (collections, parts)) of one HR batch; parts: the logged loss terms."""
    labels = jnp.zeros((hr.shape[0],), jnp.int32)
    fake, collections = self._generate_train(g_params, g_collections,
                                             downsample(hr, self.scale), labels)
    l1 = jnp.mean(jnp.abs(fake - hr))
    if self.stage == "psnr":
      return l1, (collections, {L1: l1})
    sr = self.config.sr
    module = self.perceptual_network()[0]
    features = module.apply(perceptual_variables, jnp.concatenate([hr, fake], axis=0))
    real_features, fake_features = jnp.split(features, 2)
    perceptual = jnp.mean(jnp.abs(fake_features - jax.lax.stop_gradient(real_features)))
    logits = self._critic_eval(d.variables(), jnp.concatenate([hr, fake], axis=0),
                               jnp.concatenate([labels, labels]))
    real_logits, fake_logits = jnp.split(logits, 2)
    adversarial = self.loss.generator(real_logits, fake_logits)
    total = (sr.perceptual_weight * perceptual + sr.adversarial_weight * adversarial
             + sr.l1_weight * l1)
    return total, (collections, {L1: l1, PERCEPTUAL_LOSS: perceptual, ADVERSARIAL: adversarial})

  def step_with_features(self, state: GANState, batch: dict, perceptual_variables: dict):
    """One SR step (pure): n_critic D updates (GAN stage only), one G update, EMA.

    Args:
      state: the GANState before the step.
      batch: {'x': [n_critic, B, H, W, C] HR images in [-1, 1], 'label': ignored}.
      perceptual_variables: the feature network's variables ({} in the PSNR stage).
    """
    reals = batch["x"]
    d, g_collections = state.d, state.g.collections
    metrics = {}
    if self.stage == "gan":
      per_update = []
      # A Python loop, as GANSystem.step (XLA:CPU runs convolutions in loops slowly).
      for i in range(reals.shape[0]):
        g_collections, d, update_metrics = self._critic_update(
            state.g.params, g_collections, d, reals[i])
        per_update.append(update_metrics)
      metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *per_update)
    (g_loss, (g_collections, parts)), g_grads = jax.value_and_grad(
        self.generator_loss, has_aux=True)(state.g.params, g_collections, d, reals[-1],
                                           perceptual_variables)
    updates, g_opt_state = self.g_tx.update(g_grads, state.g.opt_state, state.g.params)
    g_params = optax.apply_updates(state.g.params, updates)
    decay = jnp.where(state.step >= self.config.ema.start_step, self.config.ema.decay, 0.0)
    g_ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                         state.g_ema_params, g_params)
    new_state = state.replace(step=state.step + 1,
                              g=Player(g_params, g_collections, g_opt_state), d=d,
                              g_ema_params=g_ema)
    metrics.update(parts)
    metrics[names.G_LOSS] = g_loss
    metrics[names.G_GRAD_NORM] = optax.tree.norm(g_grads)
    return new_state, metrics

  def steps_with_features(self, state, batches, perceptual_variables):
    step = functools.partial(self._scan_body, perceptual_variables)
    state, metrics = jax.lax.scan(step, state, batches)
    return state, jax.tree.map(lambda v: v[-1], metrics)

  def _scan_body(self, perceptual_variables, state, batch):
    return self.step_with_features(state, batch, perceptual_variables)

  def step(self, state: GANState, batch: dict):
    """`step_with_features` with this config's feature network (pure, unjitted)."""
    return self.step_with_features(state, batch, self.perceptual_variables())


# ------------------------------------------------------------------------------
# Workdirs: restore, pre-trained init, interpolation
# ------------------------------------------------------------------------------
def restore_workdir(workdir: str, step: str = "latest"):
  """(config, system on one device, state) of an SR workdir's checkpoint."""
  from gaxla import checkpoint, system as system_lib
  from gaxla import config as config_lib
  from gaxla import workdir as workdir_lib
  config = config_lib.validate(workdir_lib.load_config(workdir))
  if config.model.name != "esrgan":
    raise ValueError(f"{workdir!r} is a {config.model.name!r} run, not an SR (esrgan) run.")
  system = system_lib.system_for(config, mesh=parallel.single_device_mesh())
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  try:
    state = checkpoint.restore(manager, system.abstract_state(),
                               checkpoint.resolve_step(manager, step))
  finally:
    manager.close()
  return config, system, state


def _same_generator(a, b, what: str) -> None:
  """Raises ValueError naming the first key where two SR configs' generators differ."""
  from gaxla import data
  pairs = [("model.generator", a.model.generator.to_dict(), b.model.generator.to_dict()),
           ("sr.scale", a.sr.scale, b.sr.scale),
           ("image shape (data)", data.example_shape(a.data), data.example_shape(b.data))]
  for key, x, y in pairs:
    if x != y:
      raise ValueError(f"{what}: the generators differ in {key}: {x!r} vs {y!r}.")


def pretrained_generator(config):
  """The EMA generator params of the workdir `config.sr.init_from` (host arrays)."""
  path = config.sr.init_from
  if not os.path.isdir(path):
    raise FileNotFoundError(f"sr.init_from {path!r} is not a workdir: train the PSNR stage "
                            "there first (e.g. configs/fashion_mnist_esrgan_psnr.py).")
  pre_config, _, pre_state = restore_workdir(path)
  _same_generator(pre_config, config, f"sr.init_from {path!r}")
  return jax.device_get(pre_state.g_ema_params)


def interpolate_params(psnr_params, gan_params, alpha: float):
  """ESRGAN's network interpolation: (1 - alpha) * psnr + alpha * gan, leaf by leaf.

  alpha = 0 and 1 give the two networks exactly (x * 1 + y * 0 = x in floats).
  """
  return jax.tree.map(lambda p, g: (1.0 - alpha) * p + alpha * g, psnr_params, gan_params)


def interpolate_workdirs(psnr_dir: str, gan_dir: str, alpha: float, out_dir: str) -> int:
  """Writes `out_dir`: the GAN workdir with G (and its EMA) interpolated towards PSNR's.

  The new workdir has the GAN run's config and step (so `gaxla sample` and SR
  evaluation read it as any SR workdir) and an `interpolation.json` saying
  where it came from. Returns the step written.
  """
  from gaxla import checkpoint
  from gaxla import workdir as workdir_lib
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f"--alpha must be in [0, 1] (0 = the PSNR network, 1 = the GAN one), "
                     f"got {alpha}")
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    raise ValueError(f"--out {out_dir!r} exists and is not empty: give a new folder.")
  psnr_config, _, psnr_state = restore_workdir(psnr_dir)
  gan_config, gan_system, gan_state = restore_workdir(gan_dir)
  _same_generator(psnr_config, gan_config, "--psnr and --gan")
  state = gan_state.replace(
      g=gan_state.g.replace(params=interpolate_params(psnr_state.g.params,
                                                      gan_state.g.params, alpha)),
      g_ema_params=interpolate_params(psnr_state.g_ema_params, gan_state.g_ema_params, alpha))
  step = int(state.step)
  workdir_lib.create(out_dir)
  workdir_lib.write_config(gan_config, out_dir)
  manager = checkpoint.make_manager(out_dir, gan_config)
  try:
    checkpoint.save(manager, step, state)
    manager.wait_until_finished()
  finally:
    manager.close()
  with open(os.path.join(out_dir, "interpolation.json"), "w") as f:
    json.dump({"psnr": os.path.abspath(psnr_dir), "gan": os.path.abspath(gan_dir),
               "alpha": alpha, "psnr_step": int(psnr_state.step), "gan_step": step}, f,
              indent=1)
  del gan_system
  return step


# ------------------------------------------------------------------------------
# Sampling and evaluation
# ------------------------------------------------------------------------------
def upscale(system: SuperResSystem, variables, lr_images: np.ndarray,
            batch_size: int = 64) -> np.ndarray:
  """LR images [N, h, w, C] in [-1, 1] -> SR images [N, h*s, w*s, C] in [-1, 1] (float32)."""
  lr_images = np.asarray(lr_images, np.float32)
  fn = system.upscale_fn(variables)
  return np.clip(_in_batches(fn, lr_images, min(batch_size, len(lr_images))), -1.0, 1.0)


_HELD_OUT: dict = {}


def held_out(config, num: int) -> tuple[np.ndarray, np.ndarray]:
  """(HR, LR) float32 held-out images in [-1, 1]: the 'test' split's first `num` (cached)."""
  from gaxla.evaluate import features as features_lib
  key = (config.data.to_json(), int(config.sr.scale), num)
  if key not in _HELD_OUT:
    images, _ = features_lib.load_split(config.data, "test", limit=num)
    hr = pixels.to_model(images)
    down = jax.jit(functools.partial(downsample, scale=int(config.sr.scale)))
    lr = _in_batches(down, hr, min(int(config.eval.batch_size), len(hr)))
    _HELD_OUT[key] = (hr, lr)
  return _HELD_OUT[key]


def score(config, sr_images: np.ndarray, hr_images: np.ndarray) -> dict[str, float]:
  """{'sr/NAME': value} for NAME in sr.metrics (PSNR/SSIM on Y, borders cropped by the scale;
  'fd': Frechet distance of the domain classifier's features, SR vs HR)."""
  scale = int(config.sr.scale)
  out = {}
  for name in config.sr.metrics:
    if name == "psnr":
      out["sr/psnr"] = sr_metrics.psnr(sr_images, hr_images, scale)
    elif name == "ssim":
      out["sr/ssim"] = sr_metrics.ssim(sr_images, hr_images, scale)
    elif name == "fd":
      from gaxla.evaluate import evaluators, frechet
      extractor, _ = evaluators._classifier(config)
      stats = [frechet.statistics(extractor(x)["features"]) for x in (sr_images, hr_images)]
      out["sr/fd"] = float(frechet.frechet_distance(*stats[0], *stats[1]))
  return out


def evaluate(system: SuperResSystem, state: GANState, config,
             workdir: str | None) -> dict[str, float]:
  """SR metrics of the EMA generator on held-out images, and a picture in `workdir`.

  Images: the first `eval.num_samples` of the dataset's test split. Picture:
  `samples/step_N.png`, rows of `eval.grid_size` images: bicubic, ESRGAN,
  ground truth.
  """
  from gaxla import sample as sample_lib
  hr, lr = held_out(config, int(config.eval.num_samples))
  sr = upscale(system, {"params": state.g_ema_params, **state.g.collections}, lr,
               int(config.eval.batch_size))
  results = {names.eval_name(k): v for k, v in score(config, sr, hr).items()}
  if workdir is not None:
    n = min(int(config.eval.grid_size), len(hr))
    bicubic = np.asarray(bicubic_upscale(jnp.asarray(lr[:n]), int(config.sr.scale)))
    picture = sample_lib.image_grid(np.concatenate([bicubic, sr[:n], hr[:n]]), n)
    sample_lib.save_png(picture, os.path.join(workdir, "samples",
                                              f"step_{int(state.step):07d}.png"))
  return results
