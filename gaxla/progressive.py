"""Progressive growing (ProGAN) on top of the GAN system: one compiled step per phase.

`ProgressiveSystem` is a `GANSystem` (gaxla/system.py) whose generator and
critic are gaxla/models/progan.py's. Its state has the same fixed structure at
every step (all resolutions' parameters exist from step 0); what changes
between phases is the compiled program:

  system.phase_step(phase)  -> the jitted `(state, batch) -> (state, metrics)`
      of one phase (a resolution, fading or stable), compiled on first use.
  system.train_step / train_steps
      read the state's step once, pick the phase (`Schedule.phase_at`) and
      call its program; `train_steps` splits a call at phase boundaries.

Inside a phase's step everything is a function of the state: alpha comes from
`state.step`, so a run killed in the middle of a fade resumes exactly where it
was. Real batches arrive at the data resolution; the step pads them to a power
of two, average-pools them to the phase's resolution and, during a fade,
blends them with their 2x-coarser version by the same alpha as the
generator's output (the paper's section A.1). The phase and alpha of each step
are written into the players' 'progress' collection, so sampling a checkpoint
shows the stage it was trained at.
"""

from __future__ import annotations

import copy
import functools

import jax
import jax.numpy as jnp

from gaxla import parallel
from gaxla.models import progan
from gaxla.state import GANState, Player
from gaxla.system import GANSystem


def check_config(config) -> None:
  """Raises ValueError naming the key and fix for a schedule that cannot work."""
  from gaxla import data
  g = config.model.generator
  shape = data.example_shape(config.data)
  if len(shape) != 3 or shape[0] != shape[1]:
    raise ValueError(f"model 'progan' needs square images, got examples of shape {shape}; "
                     "use an image dataset (or set data.image_size).")
  side = progan.padded_side(shape[0])
  stages = progan.num_stages_for(shape[0])
  for role in ("generator", "critic"):
    channels = tuple(config.model[role].get("channels", progan.ProGANGenerator.channels))
    if len(channels) != stages:
      raise ValueError(
          f"'model.{role}.channels' has {len(channels)} entries but {shape[0]}x{shape[0]} "
          f"images (padded to {side}) need {stages}: one per resolution "
          f"{', '.join(str(4 * 2 ** k) for k in range(stages))}.")
  for role in ("generator", "critic"):
    if config.model[role].get("phase", -1) != -1:
      raise ValueError(f"'model.{role}.phase' is chosen by the training loop from the "
                       "schedule; remove it from the config.")
  start = g.get("start_resolution", 4)
  valid = [4 * 2 ** k for k in range(stages)]
  if start not in valid:
    raise ValueError(f"'model.generator.start_resolution' is {start!r}; it must be one of "
                     f"{valid} (powers of two from 4 to the padded image side {side}).")
  for key in ("fade_images", "stable_images"):
    value = g.get(key, 1)
    if not isinstance(value, int) or value < 1:
      raise ValueError(f"'model.generator.{key}' must be a positive number of images, "
                       f"got {value!r}.")
  group = config.model.critic.get("mbstd_group_size", 4)
  if not isinstance(group, int) or group < 1 or config.batch_size % group:
    raise ValueError(f"'model.critic.mbstd_group_size' = {group!r} must be a positive "
                     f"integer dividing batch_size = {config.batch_size}.")
  schedule = progan.Schedule.from_kwargs(g, shape[0], config.batch_size)
  last_start = schedule.phase_starts()[-1][1]
  if config.num_steps <= last_start:
    raise ValueError(
        f"'num_steps' = {config.num_steps} ends before the run reaches its final "
        f"{side}x{side} stable phase (starts at step {last_start} with batch_size "
        f"{config.batch_size}); raise num_steps above {last_start} or lower "
        "model.generator.fade_images / stable_images.")


def blend_reals(x: jnp.ndarray, phase: int, alpha, side: int) -> jnp.ndarray:
  """Real images [..., H, W, C] as the critic sees them in `phase`.

  Padded to `side`, average-pooled to the phase's resolution; during a fade,
  lerp(2x-coarser version upsampled, this resolution, alpha), as the
  generator's output is blended.
  """
  lead = x.shape[:-3]
  flat = progan.pad_to(x.reshape((-1,) + x.shape[-3:]), side)
  stage, fading = progan.stage_of(phase)
  res = 4 * 2 ** stage
  out = progan.downsample(flat, side // res)
  if fading:
    coarse = progan.upsample(progan.downsample(out, 2), 2)
    out = progan.lerp(coarse, out, alpha)
  return out.reshape(lead + out.shape[1:])


def _with_progress(player: Player, phase: int, alpha) -> Player:
  collections = dict(player.collections)
  collections[progan.PROGRESS] = {"phase": jnp.asarray(phase, jnp.int32),
                                  "alpha": jnp.asarray(alpha, jnp.float32)}
  return player.replace(collections=collections)


class ProgressiveSystem(GANSystem):
  """A GANSystem that trains ProGAN phase by phase (see the module docstring)."""

  def __init__(self, config, example_shape, num_classes, mesh=None):
    # Before GANSystem.__init__: it traces `init`, which needs the schedule.
    self.side = progan.padded_side(example_shape[0])
    self.schedule = progan.Schedule.from_kwargs(config.model.generator, example_shape[0],
                                                config.batch_size)
    super().__init__(config, example_shape, num_classes, mesh)
    donate = () if jax.default_backend() == "cpu" else (0,)
    self._jit = functools.partial(
        jax.jit, donate_argnums=donate,
        out_shardings=(self.state_sharding, parallel.replicated(self.mesh)))
    self._phase_steps: dict[int, callable] = {}
    self._phase_multi_steps: dict[int, callable] = {}
    self.train_step = self._dispatch_step
    self.train_steps = self._dispatch_steps

  # --- State ----------------------------------------------------------------
  def init(self, seed: int) -> GANState:
    """As GANSystem.init, with the progress collections set to step 0's phase."""
    state = super().init(seed)
    phase = self.schedule.phase_at(0)
    alpha = self.schedule.alpha(phase, 0)
    return state.replace(g=_with_progress(state.g, phase, alpha),
                         d=_with_progress(state.d, phase, alpha))

  # --- One phase --------------------------------------------------------------
  def _phase_view(self, phase: int) -> GANSystem:
    """This system with the phase's (static) generator and critic modules."""
    view = copy.copy(self)
    view.generator = self.generator.clone(phase=phase)
    view.critic = self.critic.clone(phase=phase)
    return view

  def phase_step_fn(self, phase: int, state: GANState, batch: dict):
    """One training step of `phase` (pure, unjitted)."""
    alpha = self.schedule.alpha(phase, state.step)
    state = state.replace(g=_with_progress(state.g, phase, alpha),
                          d=_with_progress(state.d, phase, alpha))
    batch = dict(batch, x=blend_reals(batch["x"], phase, alpha, self.side))
    new_state, metrics = GANSystem.step(self._phase_view(phase), state, batch)
    return new_state, {**metrics, "progan/alpha": alpha,
                       "progan/resolution": jnp.asarray(4 * 2 ** progan.stage_of(phase)[0],
                                                        jnp.float32)}

  def step(self, state: GANState, batch: dict):
    raise NotImplementedError(
        "ProgressiveSystem has one step per phase: call phase_step_fn(phase, state, batch) "
        "or train_step (which picks the phase from the state's step).")

  def phase_step(self, phase: int):
    """The jitted step of `phase` (compiled on first use)."""
    if phase not in self._phase_steps:
      self._phase_steps[phase] = self._jit(
          functools.partial(self.phase_step_fn, phase),
          in_shardings=(self.state_sharding, self.batch_sharding))
    return self._phase_steps[phase]

  def _phase_steps_fn(self, phase: int, state: GANState, batches: dict):
    state, metrics = jax.lax.scan(functools.partial(self.phase_step_fn, phase), state, batches)
    return state, jax.tree.map(lambda v: v[-1], metrics)

  def phase_steps(self, phase: int):
    """Jitted k steps of `phase` over batches stacked on a leading axis."""
    if phase not in self._phase_multi_steps:
      self._phase_multi_steps[phase] = self._jit(
          functools.partial(self._phase_steps_fn, phase),
          in_shardings=(self.state_sharding, parallel.batch_sharding(self.mesh, batch_axis=2)))
    return self._phase_multi_steps[phase]

  # --- What the training loop calls ---------------------------------------------
  def _dispatch_step(self, state: GANState, batch: dict):
    return self.phase_step(self.schedule.phase_at(int(state.step)))(state, batch)

  def _dispatch_steps(self, state: GANState, batches: dict):
    step, total, done, metrics = int(state.step), jax.tree.leaves(batches)[0].shape[0], 0, None
    while done < total:
      change = self.schedule.next_change(step + done)
      end = total if change is None else min(total, change - step)
      chunk = jax.tree.map(lambda b, lo=done, hi=end: b[lo:hi], batches)
      state, metrics = self.phase_steps(self.schedule.phase_at(step + done))(state, chunk)
      done = end
    return state, metrics
