"""The CLI contract: `gaxla train`, `gaxla sample` and `gaxla eval`, errors, resume."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "--config.num_steps=4", "--config.batch_size=16", "--config.log_every_steps=2",
    "--config.eval_every_steps=4", "--config.checkpoint_every_steps=2",
    "--config.eval.num_samples=100", "--config.eval.grid_size=2",
]


def gaxla(*args, check=True):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  result = subprocess.run([sys.executable, "-m", "gaxla", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
  if check and result.returncode != 0:
    raise AssertionError(f"gaxla {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
  return result


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("ring"))
  gaxla("train", "--config", "configs/mog_ring.py", "--workdir", workdir, *TINY,
        "--config.model.generator.hidden=(8,)", "--config.model.critic.hidden=(8,)")
  return workdir


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("digits"))
  cache = str(tmp_path_factory.mktemp("eval_cache"))
  gaxla("train", "--config", "configs/quickstart.py", "--workdir", workdir, *TINY,
        "--config.data.image_size=8", "--config.model.generator.base_channels=4",
        "--config.model.critic.base_channels=4", f"--config.eval.cache_dir={cache}",
        "--config.eval.classifier_steps=100", "--config.eval.feature_extractor=classifier")
  return workdir


def test_train_writes_the_workdir(ring_run):
  names = set(os.listdir(ring_run))
  assert {"config.json", "metrics.jsonl", "samples", "checkpoints"} <= names
  with open(os.path.join(ring_run, "config.json")) as f:
    config = json.load(f)
  assert config["num_steps"] == 4 and config["model"]["generator"]["hidden"] == [8]
  with open(os.path.join(ring_run, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records if "g_loss" in r] == [2, 4]
  assert any("eval/mode_coverage/modes_covered" in r for r in records)
  assert os.listdir(os.path.join(ring_run, "samples")) == ["step_0000004.png"]


def test_sample_points_npy(ring_run, tmp_path):
  out = str(tmp_path / "points.npy")
  gaxla("sample", "--workdir", ring_run, "--num", "50", "--out", out, "--seed", "3")
  points = np.load(out)
  assert points.shape == (50, 2) and points.dtype == np.float32
  again = str(tmp_path / "again.npy")
  gaxla("sample", "--workdir", ring_run, "--num", "50", "--out", again, "--seed", "3")
  np.testing.assert_array_equal(points, np.load(again))


def test_sample_points_png_and_truncation(ring_run, tmp_path):
  out = str(tmp_path / "points.png")
  result = gaxla("sample", "--workdir", ring_run, "--num", "200", "--out", out,
                 "--truncation", "0.5")
  with open(out, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  # Standing statistics (on by default) do not apply to the MLP: not claimed.
  assert "EMA generator)" in result.stdout and "standing" not in result.stdout


def test_sample_conditional_images_with_labels(digits_run, tmp_path):
  out = str(tmp_path / "imgs.npy")
  gaxla("sample", "--workdir", digits_run, "--num", "6", "--out", out, "--labels", "3,7")
  images, labels = np.load(out), np.load(str(tmp_path / "imgs.labels.npy"))
  assert images.shape == (6, 8, 8, 1) and images.dtype == np.float32
  assert images.min() >= -1 and images.max() <= 1
  np.testing.assert_array_equal(labels, [3, 3, 3, 7, 7, 7])
  png = str(tmp_path / "grid.png")
  gaxla("sample", "--workdir", digits_run, "--num", "20", "--out", png, "--labels", "all")
  from PIL import Image
  with Image.open(png) as image:
    width, height = image.size
  # 10 rows (one per class) of 2 images: 8-px images with 1-px gaps, upscaled.
  assert height / width == pytest.approx((10 * 9 + 1) / (2 * 9 + 1))


def test_sample_from_an_older_step(digits_run, tmp_path):
  out = str(tmp_path / "s2.npy")
  result = gaxla("sample", "--workdir", digits_run, "--num", "2", "--out", out, "--step", "2")
  assert "step 2" in result.stdout
  bad = gaxla("sample", "--workdir", digits_run, "--num", "2", "--out", out, "--step", "3",
              check=False)
  assert bad.returncode == 2 and "no checkpoint for step 3" in bad.stderr


def test_resume_continues_from_checkpoint(ring_run):
  result = gaxla("train", "--config", "configs/mog_ring.py", "--workdir", ring_run, *TINY,
                 "--config.num_steps=6", "--config.model.generator.hidden=(8,)",
                 "--config.model.critic.hidden=(8,)", "--progress=lines")
  assert "[5]" not in result.stdout and "[6] g_loss" in result.stdout
  assert "trained to step 6" in result.stdout


def test_eval_a_checkpoint(digits_run):
  result = gaxla("eval", "--workdir", digits_run, "--metrics", "classifier,kid", "--num", "200")
  assert "[4] classifier/fd = " in result.stdout and "[4] kid/kid_mean = " in result.stdout
  gaxla("eval", "--workdir", digits_run, "--metrics", "fid", "--num", "200", "--step", "2")
  with open(os.path.join(digits_run, "eval.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records[-2:]] == [4, 2]
  latest, older = records[-2:]
  assert latest["num_samples"] == 200
  assert {"classifier/accuracy", "classifier/intra_fd", "classifier/test_accuracy",
          "kid/kid_mean", "kid/kid_std"} <= set(latest)
  assert set(older) == {"step", "num_samples", "seconds", "fid/fid"}
  assert older["fid/fid"] > 0 and 0 <= latest["classifier/accuracy"] <= 1


def test_eval_uses_the_runs_metrics_by_default(ring_run):
  result = gaxla("eval", "--workdir", ring_run)
  assert "mode_coverage/modes_covered = " in result.stdout


@pytest.mark.parametrize("args,needle", [
    (["--metrics", "fdi"], "'eval.metrics' is 'fdi'"),
    (["--metrics", "fid", "--step", "9"], "no checkpoint for step 9"),
    (["--metrics", "inception_score"], "scripts/convert_inception_weights.py"),
])
def test_eval_errors(digits_run, args, needle):
  result = gaxla("eval", "--workdir", digits_run, *args, check=False)
  assert result.returncode == 2 and needle in result.stderr, result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,needle", [
    (["--config.loss.name=nope"], "'loss.name' is 'nope'"),
    (["--config.optim.generator.lr=0"], "'optim.generator.lr' must be > 0"),
    (["--config.model.critic.widht=3"], "'model.critic.widht'"),
])
def test_bad_config_is_one_readable_error(tmp_path, args, needle):
  result = gaxla("train", "--config", "configs/mog_ring.py", "--workdir", str(tmp_path),
                 *TINY, *args, check=False)
  assert result.returncode == 2
  assert needle in result.stderr
  assert "Traceback" not in result.stderr


def test_unknown_config_key_on_command_line(tmp_path):
  result = gaxla("train", "--config", "configs/mog_ring.py", "--workdir", str(tmp_path),
                 "--config.batch_sise=3", check=False)
  assert result.returncode != 0
  assert "batch_sise" in result.stderr
  assert "Traceback" not in result.stderr


def test_incompatible_workdir_names_the_keys(ring_run):
  result = gaxla("train", "--config", "configs/mog_ring.py", "--workdir", ring_run, *TINY,
                 "--config.model.generator.hidden=(8,)", "--config.model.critic.hidden=(16,)",
                 check=False)
  assert result.returncode == 2
  assert "model.critic.hidden" in result.stderr


def test_sample_errors(tmp_path):
  result = gaxla("sample", "--workdir", str(tmp_path), "--out", str(tmp_path / "x.npy"),
                 check=False)
  assert result.returncode == 2 and "config.json" in result.stderr
  usage = subprocess.run([sys.executable, "-m", "gaxla"], cwd=ROOT, capture_output=True, text=True)
  assert usage.returncode == 2 and "gaxla train" in usage.stderr


def test_a_stray_argument_is_one_line(tmp_path):
  # e.g. `--truncation 0.5 1` or a lost quote: absl hands the rest to main.
  result = gaxla("sample", "--workdir", str(tmp_path), "--out", str(tmp_path / "x.npy"),
                 "extra", check=False)
  assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
  assert result.stderr.startswith("gaxla: error: unexpected arguments: extra")
