"""`data.name = 'folder'`: gaxla prepare on a few generated PNG/JPEG files (one
corrupt, one not an image), a few training steps, and FID end to end with random
Inception weights; and the errors for an empty folder or a single class."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import tiny_dcgan_config
from PIL import Image
from test_inception import reference_state_dict

from gaxla import config as config_lib
from gaxla import data, train
from gaxla.data import folder
from gaxla.evaluate import features, inception

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_images(root, classes=("cats", "dogs"), per_class=4):
  rng = np.random.default_rng(0)
  for c, name in enumerate(classes):
    os.makedirs(os.path.join(root, name), exist_ok=True)
    for i in range(per_class):
      shape = (20 + 4 * i, 24, 3) if i % 2 else (24, 20)       # RGB and grey, not square
      array = rng.integers(0, 256, shape, np.uint8)
      ext = "png" if (i + c) % 2 else "jpg"
      Image.fromarray(array).save(os.path.join(root, name, f"img{i}.{ext}"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  source = str(tmp_path_factory.mktemp("images"))
  _write_images(source)
  with open(os.path.join(source, "cats", "broken.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
  with open(os.path.join(source, "dogs", "notes.txt"), "w") as f:
    f.write("not an image")
  out = str(tmp_path_factory.mktemp("prepared"))
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  result = subprocess.run([sys.executable, "-m", "gaxla", "prepare", "--source", source,
                           "--out", out, "--image_size", "16", "--test_fraction", "0.25"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  return out, result.stdout


def test_prepare_skips_and_counts_unreadable_files(prepared):
  out, stdout = prepared
  assert "prepared 8 images (2 classes (cats, dogs)): 6 train, 2 test" in stdout
  assert "skipped 2 unreadable file(s)" in stdout
  info = folder.read_info(out)
  assert info["classes"] == ["cats", "dogs"] and info["skipped"] == 2
  assert sorted(info["skipped_examples"]) == ["cats/broken.jpg", "dogs/notes.txt"]
  records = folder.FolderRecords(out, "train")
  assert len(records) == 6
  example = records[0]
  assert example["image"].shape == (16, 16, 3) and example["image"].dtype == np.uint8
  assert example["label"] in (0, 1)


def test_trains_and_scores_fid_end_to_end(prepared, tmp_path, monkeypatch):
  out, _ = prepared
  weights = str(tmp_path / "inception.npz")
  inception.save_variables(inception.from_torch_state_dict(reference_state_dict()), weights)
  monkeypatch.setattr(features, "MAX_REFERENCE", 4)
  config = tiny_dcgan_config(**{
      "data.name": "folder", "data.data_dir": out, "data.image_size": 16,
      "batch_size": 4, "num_steps": 2, "eval_every_steps": 2, "eval.num_samples": 4,
      "eval.batch_size": 4, "eval.metrics": ("fid",), "eval.inception_weights": weights,
      "eval.cache_dir": str(tmp_path / "cache")})
  assert data.get_info(config.data).num_classes == 2
  state, metrics = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert int(state.step) == 2
  assert np.isfinite(metrics["eval/fid/fid"]) and metrics["eval/fid/fid"] > 0, metrics
  ref = [f for f in os.listdir(tmp_path / "cache") if f.startswith("ref_folder_16px_train")]
  assert len(ref) == 1, os.listdir(tmp_path / "cache")


def test_batches_depend_only_on_seed_and_step(prepared):
  out, _ = prepared
  cfg = tiny_dcgan_config(**{"data.name": "folder", "data.data_dir": out}).data
  a = data.make_source(cfg, 4, 2, seed=1).batch(3)
  b = data.make_source(cfg, 4, 2, seed=1).batch(3)
  np.testing.assert_array_equal(a["x"], b["x"])
  assert a["x"].shape == (2, 4, 16, 16, 3) and a["label"].shape == (2, 4)


def test_errors_say_what_to_do(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(ValueError, match="holds no files"):
    folder.prepare(str(empty), str(tmp_path / "out"), 16)
  one = tmp_path / "one"
  _write_images(str(one), classes=("cats",), per_class=2)
  with pytest.raises(ValueError, match="one class folder only .*'cats'.*at least two"):
    folder.prepare(str(one), str(tmp_path / "out"), 16)
  junk = tmp_path / "junk"
  junk.mkdir()
  (junk / "a.png").write_bytes(b"nope")
  with pytest.raises(ValueError, match="no readable images"):
    folder.prepare(str(junk), str(tmp_path / "out"), 16)
  config = tiny_dcgan_config(**{"data.name": "folder", "data.data_dir": str(tmp_path / "none")})
  with pytest.raises(config_lib.ConfigError, match="'data.data_dir'.*gaxla prepare"):
    config_lib.validate(config)
