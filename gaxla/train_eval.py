"""Evaluation during training: the evaluators' metrics and a sample picture.

`evaluate(system, state, config, workdir, key)` is what the loop calls at
every eval step; `eval_key(config)` is the PRNG key it uses, which `gaxla
eval` uses too, so that both give the same numbers for the same generator.
"""

from __future__ import annotations

import os

import jax

from gaxla import data
from gaxla import evaluate as evaluate_lib
from gaxla import metrics as metric_names
from gaxla import sample as sample_lib
from gaxla.state import GANState
from gaxla.system import GANSystem


def eval_key(config) -> jax.Array:
  """The evaluation key: the same noise for every eval step and picture of a run."""
  return jax.random.key(config.seed + 1)


def generate_fn_for(system: GANSystem, variables):
  """`(key, labels) -> samples` for evaluators: the given generator, eval mode."""
  generate = jax.jit(lambda v, key, labels: system.generate(
      v, system.sample_latent(key, labels.shape[0]), labels))
  return lambda key, labels: generate(variables, key, labels)


def evaluate(system: GANSystem, state: GANState, config, workdir: str | None,
             key: jax.Array) -> dict[str, float]:
  """Metrics and a sample picture for the current state.

  The generator scored is the EMA generator with standing statistics
  (`eval.standing_batches`), as `gaxla eval` and `gaxla sample` use it.

  Metrics: the evaluators named in `eval.metrics` (default: mode coverage for
  2-D mixtures) on `eval.num_samples` samples, logged as 'eval/NAME/metric'.
  Picture (when `workdir` is given): `workdir/samples/step_NNNNNNN.png`, a
  scatter plot (2-D mixtures) or a sample grid (one row per class for
  conditional models).
  """
  if getattr(system, "is_super_resolution", False):  # PSNR/SSIM on held-out images
    from gaxla import superres
    return superres.evaluate(system, state, config, workdir)
  info = data.get_info(config.data)
  # EMA generator with standing statistics: what `gaxla eval` scores.
  variables = sample_lib.eval_variables(system, state, config.eval.standing_batches,
                                        config.batch_size)
  step = int(state.step)
  scores = evaluate_lib.run(evaluate_lib.build(config), generate_fn_for(system, variables),
                            config.eval.num_samples, key)
  results = {metric_names.eval_name(k): v for k, v in scores.items()}
  if workdir is None:
    return results
  picture = os.path.join(workdir, "samples", f"step_{step:07d}.png")
  if info.kind == "points":
    mixture = data.mixtures.MIXTURES[info.name]()
    points = sample_lib.generate(system, variables, key, config.eval.num_samples)
    sample_lib.save_scatter_png(points, picture, modes=mixture.modes)
  else:
    grid = sample_lib.sample_grid(system, variables, key, config.eval.grid_size)
    sample_lib.save_png(grid, picture)
  return results
