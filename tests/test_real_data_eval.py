"""Evaluators on datasets read from prepared tfds ArrayRecord files (mocked, no TF).

`data.load_images` gives real images for every image dataset; reference
statistics are cached under a hash of what they came from; config checks at
start name a missing split.
"""

import json
import os

import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import tiny_dcgan_config

from gaxla import config as config_lib
from gaxla import data, evaluate
from gaxla.evaluate import features


def _data_config(name, image_size=0, data_dir=""):
  return ml_collections.ConfigDict(
      {"name": name, "data_dir": data_dir, "source_dir": "", "image_size": image_size})


@pytest.mark.parametrize("name,size,split", [("cifar10", 0, "test"), ("imagenet2012", 16, "test"),
                                             ("imagenet2012", 16, "train")])
def test_streamed_datasets_have_images(name, size, split):
  with tfds.testing.mock_data(num_examples=12):
    images, labels = data.load_images(_data_config(name, size), split)
    subset, subset_labels = data.load_images(_data_config(name, size), split, limit=5)
    again, _ = data.load_images(_data_config(name, size), split, limit=5)
    described = data.describe_source(_data_config(name, size), split)
  side = size or 32
  assert images.shape == (12, side, side, 3) and images.dtype == np.uint8
  assert labels.shape == (12,) and labels.dtype == np.int32
  assert subset.shape == (5, side, side, 3)
  np.testing.assert_array_equal(subset, again)           # a fixed subset
  idx = data.subset_indices(12, 5)
  np.testing.assert_array_equal(subset, images[idx])     # of the same decoded images
  np.testing.assert_array_equal(subset_labels, labels[idx])
  # ImageNet's labelled held-out split is 'validation'.
  assert described["split"] == ("validation" if (name, split) == ("imagenet2012", "test")
                                 else split)
  assert described["examples"] == 12 and described["image_shape"] == [side, side, 3]


def _cifar_config(tmp_path, **overrides):
  return config_lib.validate(tiny_dcgan_config(**{
      "data.name": "cifar10", "eval.metrics": ("fid", "kid", "classifier"),
      "eval.feature_extractor": "classifier", "eval.classifier_steps": 3,
      "eval.cache_dir": str(tmp_path / "cache"), "eval.num_samples": 10,
      "eval.batch_size": 10, "model.conditional": False, **overrides}))


def _toy_classifier(config):
  # Stands in for the trained CNN (trained and tested in test_evaluators): this
  # test is about where the real images come from, not the network.
  def apply(variables, x):
    flat = x.reshape(x.shape[0], -1)
    return {"features": flat[:, :6], "logits": flat[:, :10]}
  return features.FeatureExtractor("toy", apply, {}, config.eval.batch_size), 0.5


def test_classifier_space_metrics_run_on_cifar10_and_cache_by_source(tmp_path, monkeypatch):
  monkeypatch.setattr(features, "MAX_REFERENCE", 8)
  monkeypatch.setattr(evaluate.evaluators, "_classifier", _toy_classifier)
  config = _cifar_config(tmp_path)
  with tfds.testing.mock_data(num_examples=12):
    evaluate.check(config)
    real = data.load_images(config.data, "test")[0].astype(np.float32) / 127.5 - 1
    scores = evaluate.run(evaluate.build(config), lambda key, labels: real[:len(labels)], 10,
                          jax.random.key(0))
  assert {"fid/fid", "kid/kid_mean", "classifier/fd", "classifier/test_accuracy"} <= set(scores)
  assert all(np.isfinite(v) for v in scores.values()), scores
  refs = sorted(f for f in os.listdir(tmp_path / "cache") if f.startswith("ref_"))
  assert refs, os.listdir(tmp_path / "cache")
  for name in refs:
    with np.load(tmp_path / "cache" / name) as ref:
      source = json.loads(str(ref["source"]))
      assert int(ref["count"]) == 8
    assert source["dataset"] == "cifar10" and source["examples"] == 12
    assert name.endswith(f"_{features.source_hash(source)}.npz")
  # Another dataset size is another source: a new file, not the stale one.
  monkeypatch.setattr(features, "MAX_REFERENCE", 6)
  with tfds.testing.mock_data(num_examples=10):
    extractor = evaluate.evaluators._classifier(config)[0]
    features.reference(extractor, config.data, "test", str(tmp_path / "cache"), "features")
  assert len([f for f in os.listdir(tmp_path / "cache") if f.startswith("ref_")]) == len(refs) + 1


def test_a_missing_split_fails_at_start_naming_the_key(tmp_path):
  config = _cifar_config(tmp_path, **{"data.data_dir": str(tmp_path / "empty")})
  with pytest.raises(config_lib.ConfigError,
                     match=r"'eval.metrics' \(fid, kid, classifier\).*'train' split.*tfds build"):
    evaluate.check(config)
  # Metrics that need no real images pass.
  evaluate.check(config_lib.validate(tiny_dcgan_config(**{
      "data.name": "cifar10", "data.data_dir": str(tmp_path / "empty"),
      "eval.metrics": ("inception_score",),
      "eval.inception_weights": __file__})), check_files=False)
