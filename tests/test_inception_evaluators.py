"""The Inception-space evaluators end to end at 299x299, with synthetic weights.

No real FID weights exist on this machine, so the network gets He-scaled random
weights written through the converter's own path; that checks the wiring
(weights file from the config, pool3 for FID/KID/k-NN, unbiased logits for IS,
the train split as reference, cache names) rather than the values. Kept tiny:
10 real and 10 generated digits (Inception at 299 costs ~0.4 s per image here).
"""

import json
import os

import jax
import numpy as np
import pytest
from conftest import tiny_dcgan_config
from test_inception import reference_state_dict

from gaxla import config as config_lib
from gaxla import evaluate
from gaxla.evaluate import features, inception

METRICS = ("fid", "kid", "precision_recall", "density_coverage", "inception_score")


@pytest.fixture
def optimized():
  # conftest turns XLA optimizations off for fast compiles; a 299px Inception
  # forward then runs 2x slower, which costs more than it saves here.
  jax.config.update("jax_disable_most_optimizations", False)
  yield
  jax.config.update("jax_disable_most_optimizations", True)


def test_inception_evaluators_end_to_end(tmp_path, monkeypatch, optimized):
  weights = str(tmp_path / "weights.npz")
  inception.save_variables(inception.from_torch_state_dict(reference_state_dict()), weights)
  monkeypatch.setattr(features, "MAX_REFERENCE", 10)
  config = config_lib.validate(tiny_dcgan_config(**{
      "eval.metrics": METRICS, "eval.feature_extractor": "inception",
      "eval.inception_weights": weights, "eval.cache_dir": str(tmp_path / "cache"),
      "eval.num_samples": 10, "eval.batch_size": 10}))
  evaluate.check(config)
  images = features.load_split(config.data, "test")[0][:10].astype(np.float32) / 127.5 - 1

  def generate(key, labels):
    return images[: len(labels)]

  scores = evaluate.run(evaluate.build(config), generate, 10, jax.random.key(0))
  assert set(scores) == {"fid/fid", "kid/kid_mean", "kid/kid_std", "precision_recall/precision",
                         "precision_recall/recall", "density_coverage/density",
                         "density_coverage/coverage", "inception_score/mean",
                         "inception_score/std"}
  assert all(np.isfinite(v) for v in scores.values()), scores
  assert scores["fid/fid"] > 0
  assert 1.0 <= scores["inception_score/mean"] <= 1008
  cached = os.listdir(tmp_path / "cache")
  fingerprint = features.file_fingerprint(weights)
  assert len(cached) == 1
  assert cached[0].startswith(f"ref_digits_8px_train_inception2015-{fingerprint}_pool_")
  with np.load(tmp_path / "cache" / cached[0]) as ref:
    assert ref["features"].shape == (10, 2048) and int(ref["count"]) == 10
    assert cached[0].endswith(f"_{features.source_hash(json.loads(str(ref['source'])))}.npz")
