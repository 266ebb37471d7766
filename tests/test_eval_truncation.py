"""`gaxla eval --truncation a,b,..`: metrics per truncation threshold and the curve PNG."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gaxla.evaluate import truncation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gaxla(*args):
  result = subprocess.run([sys.executable, "-m", "gaxla", *args], cwd=ROOT,
                          env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True,
                          text=True, timeout=300)
  return result


def test_parse_names_bad_values():
  assert truncation.parse("0.25, 0.5,1,2") == [0.25, 0.5, 1.0, 2.0]
  for bad, needle in (("a", "'a'"), ("-1", ">= 0"), ("", "at least one")):
    with pytest.raises(ValueError, match=needle):
      truncation.parse(bad)


def test_eval_scores_each_truncation_and_draws_the_curve(tmp_path):
  workdir, cache = str(tmp_path / "run"), str(tmp_path / "cache")
  result = _gaxla("train", "--config", "configs/quickstart.py", "--workdir", workdir,
                  "--config.num_steps=2", "--config.batch_size=16", "--config.log_every_steps=2",
                  "--config.eval_every_steps=2", "--config.checkpoint_every_steps=2",
                  "--config.eval.num_samples=50", "--config.eval.grid_size=2",
                  "--config.model.generator.base_channels=4",
                  "--config.model.critic.base_channels=4", f"--config.eval.cache_dir={cache}",
                  "--config.eval.classifier_steps=5", "--config.eval.metrics=()",
                  "--config.eval.feature_extractor=classifier")
  assert result.returncode == 0, result.stderr
  out = str(tmp_path / "curve.png")
  result = _gaxla("eval", "--workdir", workdir, "--metrics", "classifier", "--num", "30",
                  "--truncation", "0.5,1,2", "--standing_batches", "0", "--out", out)
  assert result.returncode == 0, result.stderr
  with open(os.path.join(workdir, "eval.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["truncation"] for r in records] == [0.5, 1.0, 2.0]
  for r in records:
    assert r["step"] == 2 and np.isfinite(r["classifier/fd"])
  # Different thresholds draw different samples (same key otherwise).
  assert len({r["classifier/fd"] for r in records}) == 3
  assert "truncation 0.5: classifier/accuracy" in result.stdout
  with Image.open(out) as image:
    assert image.size[0] > 300 and image.size[1] > 200
