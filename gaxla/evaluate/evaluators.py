"""The evaluators behind the registry: each scores generated samples by name.

Common interface (see `gaxla.evaluate`):
  evaluator(generate_fn, num_samples, key) -> {metric: float}
  evaluator.score(samples, labels, cache) -> {metric: float}
`generate_fn(key, labels) -> samples` draws one batch (labels: int32 [B], the
requested classes; zeros for unconditional models). Evaluators are built once
per config (`build`), so networks, classifier weights and real-data statistics
are loaded once per process; `cache` lets evaluators that share a feature
space (e.g. 'fid' and 'kid') extract the samples' features once.

Feature spaces:
  inception   FID Inception pool3 (2048-d); real statistics from the train
              split (the FID convention), at most 50k images.
  classifier  the dataset's own CNN classifier (128-d penultimate layer);
              real statistics from the test split (the classifier saw train).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from gaxla.evaluate import features as features_lib
from gaxla.evaluate import frechet, kid, manifold
from gaxla.evaluate import inception as inception_lib
from gaxla.evaluate.inception_score import inception_score
from gaxla.evaluate.mode_coverage import mode_coverage, stacked_mode_coverage

DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "gaxla")
INCEPTION_FILE = "pt_inception-2015-12-05.npz"


def cache_dir(config) -> str:
  return os.path.expanduser(config.eval.cache_dir or DEFAULT_CACHE_DIR)


def inception_weights_path(config) -> str:
  return os.path.expanduser(config.eval.inception_weights
                            or os.path.join(cache_dir(config), INCEPTION_FILE))


def draw_samples(generate_fn, num_samples: int, key, num_classes: int,
                 batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """Calls `generate_fn` in fixed-size batches; returns (samples, labels) on the host.

  Conditional models get balanced labels (sample i asks for class i mod C).
  Batch i uses `fold_in(key, i)`, so the samples depend only on the key.
  """
  labels = (np.arange(num_samples) % num_classes if num_classes
            else np.zeros(num_samples)).astype(np.int32)
  parts = []
  for i, start in enumerate(range(0, num_samples, batch_size)):
    batch = labels[start:start + batch_size]
    count = len(batch)
    if count < batch_size:  # one shape for every call
      batch = np.concatenate([batch, np.zeros(batch_size - count, np.int32)])
    out = generate_fn(jax.random.fold_in(key, i), batch)
    parts.append(np.asarray(jax.device_get(out))[:count])
  return np.concatenate(parts), labels


class Evaluator:
  """Base class: draws samples, then scores them (subclasses implement `score`)."""

  name = ""
  # The metric names `score` returns ('classifier' adds two for conditional models).
  outputs: tuple[str, ...] = ()

  @classmethod
  def output_names(cls, conditional: bool) -> tuple[str, ...]:
    del conditional
    return cls.outputs

  def __init__(self, config):
    from gaxla import data
    self.config = config
    self.info = data.get_info(config.data)
    self.num_classes = self.info.num_classes if config.model.conditional else 0
    self.batch_size = int(config.eval.batch_size)

  def __call__(self, generate_fn, num_samples: int, key) -> dict[str, float]:
    samples, labels = draw_samples(generate_fn, num_samples, key, self.num_classes,
                                   self.batch_size)
    return self.score(samples, labels, {})

  def score(self, samples: np.ndarray, labels: np.ndarray, cache: dict) -> dict[str, float]:
    raise NotImplementedError


# ----------------------------------------------------------------------------
# Shared networks, loaded once per process.
# ----------------------------------------------------------------------------
_SHARED: dict = {}


def _inception(config) -> features_lib.FeatureExtractor:
  path = inception_weights_path(config)
  key = ("inception", path, config.eval.batch_size)
  if key not in _SHARED:
    variables = inception_lib.load_variables(path)
    name = f"inception2015-{features_lib.file_fingerprint(path)}"
    model = inception_lib.InceptionV3()
    _SHARED[key] = features_lib.FeatureExtractor(name, model.apply, variables,
                                                 config.eval.batch_size)
  return _SHARED[key]


def _classifier(config) -> tuple[features_lib.FeatureExtractor, float]:
  from gaxla.evaluate import classifier
  key = ("classifier", config.data.to_json(), cache_dir(config), config.eval.classifier_steps,
         config.eval.batch_size)
  if key not in _SHARED:
    _SHARED[key] = classifier.get_classifier(config.data, cache_dir(config),
                                             int(config.eval.classifier_steps),
                                             config.eval.batch_size)
  return _SHARED[key]


class _FeatureSpace:
  """Features of samples and of real data in the configured space."""

  def __init__(self, config, space: str):
    self.config = config
    self.space = space
    if space == "inception":
      self.extractor, self.key, self.split = _inception(config), "pool", "train"
    elif space == "classifier":
      self.extractor, self.key, self.split = _classifier(config)[0], "features", "test"
    else:
      raise ValueError(f"unknown feature space {space!r}; valid: classifier, inception")

  def fake(self, samples: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
    if self.extractor.name not in cache:
      cache[self.extractor.name] = self.extractor(samples)
    return cache[self.extractor.name]

  def real(self, per_class: bool = False) -> dict[str, np.ndarray]:
    return features_lib.reference(self.extractor, self.config.data, self.split,
                                  cache_dir(self.config), self.key, per_class=per_class)


class _ImageEvaluator(Evaluator):
  def __init__(self, config, space: str | None = None):
    super().__init__(config)
    self.space = _FeatureSpace(config, space or config.eval.feature_extractor)


class FID(_ImageEvaluator):
  """Fréchet distance of generated vs real features: {'fid'}."""

  name = "fid"
  outputs = ("fid",)

  def score(self, samples, labels, cache):
    mu, sigma = frechet.statistics(self.space.fake(samples, cache)[self.space.key])
    ref = self.space.real()
    return {"fid": frechet.frechet_distance(mu, sigma, ref["mu"], ref["sigma"])}


class KID(_ImageEvaluator):
  """Kernel distance (100 subsets of up to 1000): {'kid_mean', 'kid_std'}."""

  name = "kid"
  outputs = ("kid_mean", "kid_std")

  def score(self, samples, labels, cache):
    fake = self.space.fake(samples, cache)[self.space.key]
    mean, std = kid.kernel_distance(self.space.real()["features"], fake)
    return {"kid_mean": mean, "kid_std": std}


def _real_subset(real: np.ndarray, count: int) -> np.ndarray:
  """Equal-size sets, as the k-NN metrics' reference code uses."""
  return real[:count]


class PrecisionRecall(_ImageEvaluator):
  """Kynkäänniemi et al. (k = 3): {'precision', 'recall'}."""

  name = "precision_recall"
  outputs = ("precision", "recall")

  def score(self, samples, labels, cache):
    fake = self.space.fake(samples, cache)[self.space.key]
    return manifold.precision_recall(_real_subset(self.space.real()["features"], len(fake)),
                                     fake, k=3)


class DensityCoverage(_ImageEvaluator):
  """Naeem et al. (k = 5): {'density', 'coverage'}."""

  name = "density_coverage"
  outputs = ("density", "coverage")

  def score(self, samples, labels, cache):
    fake = self.space.fake(samples, cache)[self.space.key]
    return manifold.density_coverage(_real_subset(self.space.real()["features"], len(fake)),
                                     fake, k=5)


class InceptionScore(_ImageEvaluator):
  """IS over 10 splits from the unbiased logits: {'mean', 'std'}."""

  name = "inception_score"
  outputs = ("mean", "std")

  def __init__(self, config):
    super().__init__(config, space="inception")

  def score(self, samples, labels, cache):
    logits = self.space.fake(samples, cache)["logits_unbiased"]
    mean, std = inception_score(logits=logits, splits=10)
    return {"mean": mean, "std": std}


class ClassifierMetrics(_ImageEvaluator):
  """Metrics in the domain classifier's space.

  Returns {'test_accuracy' (the classifier's own, on real test images),
  'fd' (Fréchet distance to the test split)} and, for conditional models,
  'accuracy' (samples classified as their requested class) and 'intra_fd'
  (mean over classes of the per-class Fréchet distance).
  """

  name = "classifier"
  outputs = ("test_accuracy", "fd")

  @classmethod
  def output_names(cls, conditional: bool) -> tuple[str, ...]:
    return cls.outputs + (("accuracy", "intra_fd") if conditional else ())

  def __init__(self, config):
    super().__init__(config, space="classifier")
    self.test_accuracy = _classifier(config)[1]

  def score(self, samples, labels, cache):
    out = self.space.fake(samples, cache)
    feats = out["features"]
    ref = self.space.real(per_class=bool(self.num_classes))
    mu, sigma = frechet.statistics(feats)
    results = {"test_accuracy": self.test_accuracy,
               "fd": frechet.frechet_distance(mu, sigma, ref["mu"], ref["sigma"])}
    if self.num_classes:
      results["accuracy"] = float(np.mean(out["logits"].argmax(axis=1) == labels))
      per_class = []
      for c in range(self.num_classes):
        mu_c, sigma_c = frechet.statistics(feats[labels == c])
        per_class.append(frechet.frechet_distance(mu_c, sigma_c, ref["class_mu"][c],
                                                  ref["class_sigma"][c]))
      results["intra_fd"] = float(np.mean(per_class))
    return results


class ModeCoverage(Evaluator):
  """2-D mixtures (PacGAN protocol): {'modes_covered', 'high_quality', 'reverse_kl'}."""

  name = "mode_coverage"
  outputs = ("modes_covered", "high_quality", "reverse_kl")

  def __init__(self, config):
    super().__init__(config)
    from gaxla import data
    self.mixture = data.mixtures.MIXTURES[self.info.name]()

  def score(self, samples, labels, cache):
    scores = mode_coverage(samples, self.mixture.modes, self.mixture.std)
    return {k: v for k, v in scores.items() if k != "num_modes"}


class StackedModes(Evaluator):
  """Stacked Fashion-MNIST (the stacked-MNIST protocol of VEEGAN / PacGAN).

  Each channel of a sample is classified by gaxla's Fashion-MNIST classifier
  (the one the 'classifier' evaluator uses, trained on first use); the class
  triple is the sample's mode. Returns {'modes_covered' (of 1,000),
  'reverse_kl' (KL of the mode histogram against uniform, nats), its two
  exact parts 'class_imbalance' (the channels' class marginals against
  uniform) and 'dependence' (the histogram against the product of those
  marginals: collapse onto a subset of triples), see
  `mode_coverage.stacked_mode_coverage`, and 'channel_confidence' (mean top
  softmax probability over channels: low values flag channels that look like
  no class)}.
  """

  name = "stacked_modes"
  outputs = ("modes_covered", "reverse_kl", "class_imbalance", "dependence",
             "channel_confidence")

  def __init__(self, config):
    super().__init__(config)
    single = config.copy_and_resolve_references()
    single.data.name = "fashion_mnist"
    self.extractor = _classifier(single)[0]

  def score(self, samples, labels, cache):
    n, h, w, c = samples.shape
    channels = np.moveaxis(np.asarray(samples), -1, 1).reshape(n * c, h, w, 1)
    logits = self.extractor(channels)["logits"].reshape(n, c, -1)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    scores = stacked_mode_coverage(logits.argmax(-1))
    return {**scores, "channel_confidence": float(probs.max(-1).mean())}


EVALUATORS = {cls.name: cls for cls in (FID, KID, PrecisionRecall, DensityCoverage,
                                        InceptionScore, ClassifierMetrics, ModeCoverage,
                                        StackedModes)}
# Which dataset kinds an evaluator applies to, and what it needs.
POINTS_ONLY = {"mode_coverage"}
STACKED_ONLY = {"stacked_modes"}
NEEDS_LABELS = {"classifier"}
USES_INCEPTION = {"inception_score"}
USES_FEATURE_SPACE = {"fid", "kid", "precision_recall", "density_coverage"}
