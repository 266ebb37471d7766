"""Evaluators by name, and the metrics behind them.

  get(name)                      the evaluator class; ValueError lists valid names
  build(config, names=None)      evaluator instances for a validated config
                                 (default: `metric_names(config)`), memoized
  run(evaluators, generate_fn, num_samples, key)
                                 draws samples once, runs every evaluator on them,
                                 returns {'NAME/metric': float}

| name             | metrics                                   | data   |
|------------------|-------------------------------------------|--------|
| fid              | fid                                       | images |
| kid              | kid_mean, kid_std                         | images |
| precision_recall | precision, recall (k = 3)                 | images |
| density_coverage | density, coverage (k = 5)                 | images |
| inception_score  | mean, std (10 splits)                     | images |
| classifier       | test_accuracy, fd, accuracy, intra_fd     | labelled images |
| mode_coverage    | modes_covered, high_quality, reverse_kl   | 2-D mixtures |

fid/kid/precision_recall/density_coverage use `eval.feature_extractor`
('inception': FID Inception pool3, weights from `eval.inception_weights`;
'classifier': the dataset's CNN classifier). Metric modules: frechet,
inception_score, kid, manifold, mode_coverage; networks: inception, classifier.
"""

from __future__ import annotations

import json
import os

from gaxla.evaluate.evaluators import (
  EVALUATORS,
  NEEDS_LABELS,
  POINTS_ONLY,
  STACKED_ONLY,
  USES_FEATURE_SPACE,
  USES_INCEPTION,
  Evaluator,
  draw_samples,
  inception_weights_path,
)
from gaxla.evaluate.mode_coverage import mode_coverage  # noqa: F401

FEATURE_SPACES = ("inception", "classifier")


def get(name: str) -> type[Evaluator]:
  """The evaluator class registered under `name`."""
  if name not in EVALUATORS:
    raise ValueError(f"unknown evaluator {name!r}; valid names: {', '.join(sorted(EVALUATORS))}")
  return EVALUATORS[name]


def metric_names(config) -> list[str]:
  """`eval.metrics`, or by default mode coverage for 2-D mixtures and nothing for images."""
  from gaxla import data
  names = list(config.eval.metrics)
  if not names and data.get_info(config.data).kind == "points":
    names = ["mode_coverage"]
  return names


def output_names(config, names=None) -> list[str]:
  """Every metric evaluation will log, as 'eval/EVALUATOR/METRIC' (known before any runs)."""
  from gaxla import data
  from gaxla.metrics import eval_name
  if names is None and config.model.name == "esrgan":  # SR runs log sr.metrics
    from gaxla import superres
    return superres.output_names(config)
  names = metric_names(config) if names is None else names
  conditional = bool(config.model.conditional and data.get_info(config.data.name).num_classes)
  return [eval_name(f"{name}/{output}") for name in names
          for output in get(name).output_names(conditional)]


def check_best_metric(config) -> None:
  """Raises ConfigError, before training, if `checkpoint.best_metric` will never be logged."""
  from gaxla.config import ConfigError
  best = config.checkpoint.best_metric
  if not best:
    return
  produced = output_names(config)
  if best not in produced:
    import difflib
    close = difflib.get_close_matches(best, produced, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"config: 'checkpoint.best_metric' is {best!r}, but evaluation will log only "
        f"{produced or 'no metrics (eval.metrics is empty)'}.{hint} Set it to one of those, "
        "or to '' to keep only the latest checkpoints.")


def uses_inception(config, names=None) -> bool:
  names = metric_names(config) if names is None else names
  return any(n in USES_INCEPTION or (n in USES_FEATURE_SPACE
                                     and config.eval.feature_extractor == "inception")
             for n in names)


def real_splits(config, names=None) -> dict[str, list[str]]:
  """Which real-data splits each evaluator reads: {split: [evaluator names]}.

  Inception space: the train split (FID convention); classifier space and the
  classifier metrics: train (to fit the classifier) and test (its reference).
  """
  names = metric_names(config) if names is None else names
  splits: dict[str, list[str]] = {}
  for name in names:
    needed = ()
    if name in NEEDS_LABELS or name in STACKED_ONLY or (
        name in USES_FEATURE_SPACE and config.eval.feature_extractor == "classifier"):
      needed = ("train", "test")
    elif name in USES_FEATURE_SPACE:
      needed = ("train",)
    for split in needed:
      splits.setdefault(split, []).append(name)
  return splits


def check(config, names=None, check_files: bool = True) -> None:
  """Raises ValueError / FileNotFoundError if the evaluators cannot run for this config.

  Cheap (no network is built, no image decoded): unknown names, metrics that
  do not fit the dataset, and with `check_files` a missing Inception weights
  file (the message names the converter) and, for datasets read from
  prepared files, a missing split the metrics need real images from
  (`ConfigError` naming 'eval.metrics' and the fix).
  """
  from gaxla import data
  from gaxla.evaluate import inception
  names = metric_names(config) if names is None else names
  info = data.get_info(config.data)
  for name in names:
    get(name)
    if name in POINTS_ONLY and info.kind != "points":
      raise ValueError(f"evaluator '{name}' is for 2-D mixtures, not '{info.name}' images")
    if name not in POINTS_ONLY and info.kind == "points":
      raise ValueError(f"evaluator '{name}' is for images; '{info.name}' is a 2-D mixture "
                       "(use mode_coverage)")
    if name in STACKED_ONLY and info.name != "stacked_fashion_mnist":
      raise ValueError(f"evaluator '{name}' is for data.name 'stacked_fashion_mnist', "
                       f"not '{info.name}'")
    if name in NEEDS_LABELS and not info.num_classes:
      raise ValueError(f"evaluator '{name}' needs a labelled dataset; '{info.name}' has none")
  if config.eval.feature_extractor not in FEATURE_SPACES:
    raise ValueError(f"eval.feature_extractor must be one of {', '.join(FEATURE_SPACES)}, "
                     f"got {config.eval.feature_extractor!r}")
  if config.eval.feature_extractor == "classifier" and not info.num_classes and any(
      n in USES_FEATURE_SPACE for n in names):
    raise ValueError(f"eval.feature_extractor 'classifier' needs a labelled dataset; "
                     f"'{info.name}' has none (use 'inception')")
  if check_files and uses_inception(config, names):
    path = inception_weights_path(config)
    if not os.path.exists(path):
      inception.load_variables(path)  # raises the FileNotFoundError naming the converter
  if check_files:
    from gaxla.config import ConfigError
    for split, users in real_splits(config, names).items():
      try:
        data.describe_source(config.data, split)
      except FileNotFoundError as e:
        raise ConfigError(
            f"config: 'eval.metrics' ({', '.join(users)}) needs real images from the "
            f"'{split}' split of data.name = '{info.name}', which cannot be read: {e} "
            "Prepare that split, or remove those metrics from eval.metrics.") from None


_BUILT: dict = {}


def build(config, names=None) -> list[Evaluator]:
  """Evaluator instances for `config`, memoized per (config, names) in this process.

  Building may train the domain classifier or compute reference statistics
  (both cached on disk under `eval.cache_dir`).
  """
  names = metric_names(config) if names is None else list(names)
  check(config, names)
  key = (json.dumps(config.to_dict(), sort_keys=True, default=str), tuple(names))
  if key not in _BUILT:
    _BUILT[key] = [get(name)(config) for name in names]
  return _BUILT[key]


def run(evaluators: list[Evaluator], generate_fn, num_samples: int, key) -> dict[str, float]:
  """Draws `num_samples` once and scores them with every evaluator.

  Args:
    evaluators: from `build`.
    generate_fn: `(key, labels int32 [B]) -> samples [B, ...]`.
    num_samples: samples to draw.
    key: PRNG key; the same key gives the same samples.

  Returns:
    {'NAME/metric': value} over all evaluators.
  """
  if not evaluators:
    return {}
  first = evaluators[0]
  samples, labels = draw_samples(generate_fn, num_samples, key, first.num_classes,
                                 first.batch_size)
  cache: dict = {}
  results: dict[str, float] = {}
  for evaluator in evaluators:
    for metric, value in evaluator.score(samples, labels, cache).items():
      results[f"{evaluator.name}/{metric}"] = float(value)
  return results
