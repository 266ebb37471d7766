"""The notebook API: train a few steps, load a workdir, sample and evaluate from Python.

  run = gaxla.fit("configs/quickstart.py", "runs/qs", num_steps=40)  # trains
  run = gaxla.load("runs/fmnist")              # a trained workdir, latest step
  run.config                                   # the run's config (config.json)
  run.step                                     # the loaded checkpoint's step
  images = run.sample(16, labels=[3], truncation=0.5)   # numpy, NHWC in [-1, 1]
  run.generator(z, labels)                     # EMA generator as a callable
  run.latent(16, seed=0, truncation=0.5)       # latents for `run.generator`
  run.grid()                                   # a PIL image: shows inline
  run.evaluate(["fid"], num_samples=1000)      # {'eval/fid/fid': ...}
  run.train(50)                                # 50 more steps, in place

Sampling and evaluation use the EMA generator with BatchNorm standing
statistics (`standing_batches`, default the run's `eval.standing_batches`,
as `gaxla sample` and `gaxla eval`), on one device, whatever mesh trained
the run. Nothing here writes to the workdir except `fit` and `train`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np

from gaxla import checkpoint, data, parallel, sample as sample_lib, train_eval
from gaxla import config as config_lib
from gaxla import evaluate as evaluate_lib
from gaxla import metrics as metric_names
from gaxla import workdir as workdir_lib
from gaxla.state import GANState
from gaxla.system import GANSystem, system_for


class Run:
  """A trained workdir, loaded at one checkpoint step (see the module docstring).

  Attributes:
    workdir: the run folder.
    config: its config (validated).
    step: the loaded checkpoint's step.
    system: the GANSystem (models, latent size, classes), on one device.
    state: the loaded GANState.
    standing_batches: BatchNorm standing-statistics batches used for sampling.
  """

  def __init__(self, workdir: str, config: ml_collections.ConfigDict, system: GANSystem,
               state: GANState, standing_batches: int | None = None):
    self.workdir = workdir
    self.config = config
    self.system = system
    self.state = state
    self.standing_batches = sample_lib.standing_batches(config, standing_batches)
    self._variables = None

  def __repr__(self) -> str:
    return (f"Run({self.workdir!r}, step={self.step}, data={self.config.data.name!r}, "
            f"model={self.config.model.name!r})")

  @property
  def step(self) -> int:
    return int(self.state.step)

  @property
  def num_classes(self) -> int:
    """Classes the generator is conditioned on (0: unconditional)."""
    return self.system.num_classes

  @property
  def variables(self) -> dict:
    """The EMA generator's variables, with standing statistics (computed once)."""
    if self._variables is None:
      self._variables = sample_lib.eval_variables(
          self.system, self.state, self.standing_batches, int(self.config.batch_size))
    return self._variables

  def latent(self, num: int, seed: int = 0, truncation: float = 0.0) -> np.ndarray:
    """`num` latents for `generator` (truncated normal with truncation > 0)."""
    _check_truncation(truncation)
    return np.asarray(self.system.sample_latent(jax.random.key(seed), int(num), truncation))

  def generator(self, z, labels=None) -> np.ndarray:
    """The EMA generator in eval mode: latents [N, latent_dim] (and labels) -> samples."""
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != self.system.latent_dim:
      raise ValueError(f"z must be [N, {self.system.latent_dim}], got shape {z.shape}")
    labels = self._labels(labels, len(z))
    return sample_lib.generate_from(self.system, self.variables, z, labels)

  def sample(self, num: int, labels=None, truncation: float = 0.0, seed: int = 0) -> np.ndarray:
    """`num` samples (images NHWC in [-1, 1], or 2-D points).

    Args:
      num: how many.
      labels: None (all classes in turn, for a conditional model), one class,
        or a sequence of `num` classes.
      truncation: > 0 draws latents from the normal truncated to [-t, t].
      seed: PRNG seed.
    """
    if int(num) <= 0:
      raise ValueError(f"num must be positive, got {num}")
    _check_truncation(truncation)
    return sample_lib.generate(self.system, self.variables, jax.random.key(seed), int(num),
                               self._labels(labels, int(num)), truncation)

  def grid(self, size: int | None = None, seed: int = 0, truncation: float = 0.0):
    """A picture of samples as a PIL image (displays inline in a notebook).

    Images: a grid (one row per class for conditional models, `size` columns;
    default `eval.grid_size`). 2-D points: a scatter plot with the modes.
    """
    from PIL import Image
    _check_truncation(truncation)
    size = int(size or self.config.eval.grid_size)
    key = jax.random.key(seed)
    info = data.get_info(self.config.data.name)
    if info.kind == "points":
      points = sample_lib.generate(self.system, self.variables, key,
                                   int(self.config.eval.num_samples))
      return sample_lib.scatter_image(points, data.mixtures.MIXTURES[info.name]().modes)
    picture = sample_lib.sample_grid(self.system, self.variables, key, size, truncation)
    return Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)

  def evaluate(self, metrics: Sequence[str] | None = None,
               num_samples: int | None = None) -> dict[str, float]:
    """Scores the EMA generator, as `gaxla eval` does (nothing is written).

    Args:
      metrics: evaluator names (default: the run's `eval.metrics`).
      num_samples: default `eval.num_samples`.

    Returns:
      {'eval/EVALUATOR/METRIC': value}.
    """
    config = ml_collections.ConfigDict(self.config.to_dict())
    if metrics is not None:
      config.eval.metrics = tuple(metrics)
    if num_samples is not None:
      config.eval.num_samples = int(num_samples)
    config = config_lib.validate(config)
    if not evaluate_lib.metric_names(config):
      raise ValueError("no metrics to compute: pass metrics=[...] (valid: "
                       f"{', '.join(sorted(evaluate_lib.EVALUATORS))}) or set eval.metrics.")
    scores = evaluate_lib.run(evaluate_lib.build(config),
                              train_eval.generate_fn_for(self.system, self.variables),
                              config.eval.num_samples, train_eval.eval_key(config))
    return {metric_names.eval_name(k): v for k, v in scores.items()}

  def train(self, steps: int, show_progress: bool = False) -> dict[str, float]:
    """Trains `steps` more steps in the workdir (num_steps grows) and reloads.

    A learning-rate schedule depends on `num_steps`, so a run extended this
    way differs from one configured with the final `num_steps` from the start.
    Returns the last logged metrics.
    """
    from gaxla import train as train_lib
    if int(steps) <= 0:
      raise ValueError(f"steps must be positive, got {steps}")
    config = ml_collections.ConfigDict(self.config.to_dict())
    config.num_steps = self.step + int(steps)
    _, last = train_lib.train_and_evaluate(config, self.workdir, show_progress=show_progress)
    reloaded = load(self.workdir, standing_batches=self.standing_batches)
    self.config, self.system, self.state = reloaded.config, reloaded.system, reloaded.state
    self._variables = None
    return last

  def _labels(self, labels, num: int):
    if not self.num_classes:
      if labels is not None:
        raise ValueError("labels given, but this run's generator is unconditional")
      return None
    if labels is None:
      return np.arange(num, dtype=np.int32) % self.num_classes
    labels = np.asarray(labels, np.int32)
    if labels.ndim == 0:
      labels = np.full((num,), int(labels), np.int32)
    if labels.shape != (num,):
      raise ValueError(f"labels must be one class or {num} classes, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= self.num_classes:
      raise ValueError(f"labels must be in [0, {self.num_classes}), got {labels.tolist()}")
    return labels


def _check_truncation(truncation: float) -> None:
  if not (truncation >= 0 and math.isfinite(truncation)):
    raise ValueError(f"truncation must be >= 0 (0 = off), got {truncation}")


def load(workdir: str, step: int | str = "latest", standing_batches: int | None = None) -> Run:
  """Loads a trained workdir at a checkpoint step, on one device.

  Args:
    workdir: a folder written by `gaxla train` (or `fit`).
    step: 'latest', 'best' (by `checkpoint.best_metric`) or a step number.
    standing_batches: BatchNorm standing-statistics batches for sampling
      (0 = the running statistics from training; None = the run's
      `eval.standing_batches`, what its evaluations used).

  Raises:
    FileNotFoundError: no config.json or no checkpoint.
    ValueError: an unreadable config.json or checkpoint step.
  """
  config = config_lib.validate(workdir_lib.load_config(workdir))
  system = system_for(config, mesh=parallel.single_device_mesh())
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  try:
    resolved = checkpoint.resolve_step(manager, str(step))
    state = checkpoint.restore(manager, system.abstract_state(), resolved)
  finally:
    manager.close()
  return Run(workdir, config, system, state, standing_batches)


def fit(config: str | ml_collections.ConfigDict, workdir: str, show_progress: bool = False,
        **overrides) -> Run:
  """Trains (or resumes) a run, then loads it: the notebook's `gaxla train`.

  Args:
    config: a config file path ('configs/NAME.py[:arg]') or a ConfigDict.
    workdir: the run folder.
    show_progress: a progress bar instead of nothing.
    **overrides: config keys, dotted keys spelled with '__' (e.g.
      `num_steps=40`, `optim__generator__lr=1e-4`).
  """
  from gaxla import train as train_lib
  if isinstance(config, str):
    config = config_lib.from_file(config)
  config = ml_collections.ConfigDict(config.to_dict())
  for key, value in overrides.items():
    node, *path = key.split("__")
    target = config
    for part in [node, *path][:-1]:
      target = target[part]
    target[[node, *path][-1]] = value
  train_lib.train_and_evaluate(config, workdir, show_progress=show_progress)
  return load(workdir)
