"""Evaluators by name on scikit-learn digits: the domain classifier, metrics in its
feature space, mode coverage, config validation, and 1 vs 8 devices."""

import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import tiny_dcgan_config, tiny_mlp_config

from gaxla import config as config_lib
from gaxla import data, evaluate
from gaxla.evaluate import classifier, features

HERE = os.path.dirname(os.path.abspath(__file__))
ALL_IMAGE_METRICS = ("classifier", "fid", "kid", "precision_recall", "density_coverage")


def digits_config(cache_dir, **overrides):
  config = tiny_dcgan_config(**{
      "eval.metrics": ALL_IMAGE_METRICS, "eval.feature_extractor": "classifier",
      "eval.cache_dir": str(cache_dir), "eval.classifier_steps": 300,
      "eval.batch_size": 128, "eval.num_samples": 300, **overrides})
  return config_lib.validate(config)


def real_generator(data_config, split="train"):
  """A 'generator' that returns real images of the requested classes."""
  images, labels = features.load_split(data_config, split)
  images = images.astype(np.float32) / 127.5 - 1.0
  by_class = [np.flatnonzero(labels == c) for c in range(10)]

  def generate(key, requested):
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))
    return np.stack([images[rng.choice(by_class[c])] for c in np.asarray(requested)])
  return generate


def noise_generator(key, requested):
  return np.asarray(jax.random.uniform(key, (len(requested), 8, 8, 1), minval=-1, maxval=1))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("eval_cache")


def test_registry_names_valid_evaluators():
  assert evaluate.get("fid").name == "fid"
  with pytest.raises(ValueError, match="valid names: classifier, density_coverage, fid"):
    evaluate.get("fdi")


def test_classifier_trains_caches_and_reports_accuracy(cache_dir):
  config = digits_config(cache_dir)
  start = time.perf_counter()
  extractor, accuracy = classifier.get_classifier(config.data, str(cache_dir), 300)
  first = time.perf_counter() - start
  assert accuracy > 0.9, accuracy
  path = classifier.cache_path(config.data, str(cache_dir), 300)
  assert os.path.basename(path) == "classifier_digits_8px_cnn16_300steps_seed0.npz"
  mtime = os.path.getmtime(path)
  start = time.perf_counter()
  again, again_accuracy = classifier.get_classifier(config.data, str(cache_dir), 300)
  assert os.path.getmtime(path) == mtime and again_accuracy == accuracy
  assert time.perf_counter() - start < first
  images = features.load_split(config.data, "test")[0][:10]
  np.testing.assert_allclose(extractor(images)["features"], again(images)["features"],
                             rtol=1e-6)


def test_digits_split_is_fixed_and_disjoint():
  cfg = tiny_dcgan_config().data
  train_images = features.load_split(cfg, "train")[0]
  test_images, test_labels = features.load_split(cfg, "test")
  assert len(train_images) + len(test_images) == 1797 and len(test_images) == 359
  assert np.array_equal(features.load_split(cfg, "test")[1], test_labels)
  train_rows = {im.tobytes() for im in train_images}
  assert sum(im.tobytes() in train_rows for im in test_images) < 5  # digits has a few duplicates


def test_real_images_score_well_and_noise_badly(cache_dir):
  config = digits_config(cache_dir)
  evaluators = evaluate.build(config)
  assert evaluate.build(config) is evaluators  # memoized: nothing reloads per eval
  key = jax.random.key(0)
  good = evaluate.run(evaluators, real_generator(config.data), 300, key)
  bad = evaluate.run(evaluators, noise_generator, 300, key)
  expected = {"classifier/test_accuracy", "classifier/fd", "classifier/accuracy",
              "classifier/intra_fd", "fid/fid", "kid/kid_mean", "kid/kid_std",
              "precision_recall/precision", "precision_recall/recall",
              "density_coverage/density", "density_coverage/coverage"}
  assert set(good) == set(bad) == expected
  assert good["classifier/accuracy"] > 0.9 and bad["classifier/accuracy"] < 0.3
  assert good["classifier/fd"] == pytest.approx(good["fid/fid"])  # same space, same split
  assert bad["fid/fid"] > 20 * good["fid/fid"]
  assert bad["classifier/intra_fd"] > 5 * good["classifier/intra_fd"]
  assert abs(good["kid/kid_mean"]) < 0.05 * bad["kid/kid_mean"]
  assert good["precision_recall/precision"] > 0.6 and good["precision_recall/recall"] > 0.6
  assert bad["precision_recall/precision"] < 0.05 and bad["density_coverage/coverage"] < 0.05
  assert good["density_coverage/coverage"] > 0.7
  # Reference statistics were cached per dataset / split / extractor, with a
  # hash of their source in the name.
  names = sorted(os.listdir(cache_dir))
  prefix = "ref_digits_8px_test_classifier_digits_8px_cnn16_300steps_seed0_features_"
  assert any(n.startswith(prefix) and n.endswith(".npz") for n in names), names


def test_an_evaluator_alone_draws_its_own_samples(cache_dir):
  config = digits_config(cache_dir)
  fid = evaluate.get("fid")(config)
  value = fid(real_generator(config.data), 300, jax.random.key(1))
  assert set(value) == {"fid"} and 0 <= value["fid"] < 50
  # Same key, same samples, same number; another key, another number.
  assert fid(real_generator(config.data), 300, jax.random.key(1)) == value
  assert fid(real_generator(config.data), 300, jax.random.key(3)) != value


def test_training_loop_logs_configured_evaluators(cache_dir, tmp_path):
  from gaxla import train
  config = digits_config(cache_dir, **{"eval.metrics": ("classifier", "fid"),
                                       "eval.num_samples": 200})
  _, last = train.train_and_evaluate(config, str(tmp_path), show_progress=False)
  with open(tmp_path / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  evals = [r for r in records if "eval/classifier/fd" in r]
  assert [r["step"] for r in evals] == [3]
  assert {"eval/classifier/accuracy", "eval/classifier/intra_fd", "eval/fid/fid"} <= set(evals[0])
  assert last["eval/fid/fid"] == evals[0]["eval/fid/fid"] > 0


def test_unconditional_models_get_unconditional_metrics(cache_dir):
  config = digits_config(cache_dir, **{"model.conditional": False,
                                       "eval.metrics": ("classifier",)})
  scores = evaluate.run(evaluate.build(config), real_generator(config.data), 300,
                        jax.random.key(0))
  assert set(scores) == {"classifier/test_accuracy", "classifier/fd"}


def test_workdirs_written_before_the_eval_keys_still_load():
  saved = json.loads(tiny_dcgan_config().to_json())
  for key in ("metrics", "feature_extractor", "cache_dir", "classifier_steps"):
    del saved["eval"][key]
  config = config_lib.validate(config_lib.from_json(json.dumps(saved)))
  assert tuple(config.eval.metrics) == () and config.eval.feature_extractor == "inception"
  assert config.model.generator.base_channels == 4  # free-form groups are kept as saved


def test_mode_coverage_evaluator():
  config = config_lib.validate(tiny_mlp_config())
  assert evaluate.metric_names(config) == ["mode_coverage"]
  mixture = data.mixtures.MIXTURES["ring"]()

  def generate(key, labels):
    return mixture.sample(np.random.default_rng(np.asarray(jax.random.key_data(key))),
                          len(labels))

  scores = evaluate.run(evaluate.build(config), generate, 2500, jax.random.key(0))
  assert scores["mode_coverage/modes_covered"] == 8
  assert scores["mode_coverage/high_quality"] > 0.95
  assert scores["mode_coverage/reverse_kl"] < 0.01


@pytest.mark.parametrize("overrides,needle", [
    ({"eval.metrics": ("fdi",)}, "'eval.metrics' is 'fdi'.*Valid names: classifier"),
    ({"eval.metrics": ("mode_coverage",)}, "for 2-D mixtures"),
    ({"eval.feature_extractor": "vgg"}, "'eval.feature_extractor' is 'vgg'"),
    ({"eval.classifier_steps": 0}, "'eval.classifier_steps' must be a positive integer"),
])
def test_config_validation(overrides, needle):
  with pytest.raises(config_lib.ConfigError, match=needle):
    config_lib.validate(tiny_dcgan_config(**overrides))
  with pytest.raises(config_lib.ConfigError, match="is for images"):
    config_lib.validate(tiny_mlp_config(**{"eval.metrics": ("fid",)}))


def test_missing_inception_weights_fail_early_naming_the_converter(tmp_path):
  config = config_lib.validate(tiny_dcgan_config(**{
      "eval.metrics": ("inception_score",), "eval.cache_dir": str(tmp_path)}))
  with pytest.raises(FileNotFoundError, match="scripts/convert_inception_weights.py"):
    evaluate.check(config)
  # The classifier space needs no Inception weights.
  evaluate.check(digits_config(tmp_path))


_SHARDED_RUN = """
import json, sys
import jax
sys.path.insert(0, {tests!r})
from test_evaluators import digits_config, real_generator
from gaxla import evaluate
config = digits_config({cache!r})
out = evaluate.run(evaluate.build(config), real_generator(config.data), 300, jax.random.key(2))
print("RESULT", json.dumps(dict(out, devices=jax.device_count())))
"""


def _run_with_devices(cache, count):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(
      [os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
  result = subprocess.run([sys.executable, "-c", _SHARDED_RUN.format(tests=HERE, cache=cache)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
  return json.loads(line[len("RESULT "):])


def test_one_and_eight_devices_give_the_same_numbers(cache_dir, tmp_path):
  # Both runs share the trained classifier but compute reference statistics
  # themselves (separate cache dirs), so the sharded path covers those too.
  config = digits_config(cache_dir)
  trained = classifier.cache_path(config.data, str(cache_dir), 300)
  if not os.path.exists(trained):
    classifier.get_classifier(config.data, str(cache_dir), 300)
  caches = {}
  for count in (1, 8):
    caches[count] = tmp_path / f"d{count}"
    caches[count].mkdir()
    with open(trained, "rb") as src, open(caches[count] / os.path.basename(trained), "wb") as dst:
      dst.write(src.read())
  sharded = _run_with_devices(str(caches[8]), 8)
  assert sharded.pop("devices") == 8 and jax.device_count() == 1
  config = digits_config(caches[1])
  single = evaluate.run(evaluate.build(config), real_generator(config.data), 300,
                        jax.random.key(2))
  assert single.keys() == sharded.keys()
  for key, value in single.items():
    assert sharded[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
