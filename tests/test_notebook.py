"""docs/notebook.py (the notebook API's tutorial) runs, as CI would run the notebook."""

import os
import runpy

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_notebook_runs(tmp_path, monkeypatch):
  monkeypatch.chdir(ROOT)  # the notebook names configs/ relative to the repository
  monkeypatch.setenv("NOTEBOOK_STEPS", "20")
  monkeypatch.setenv("NOTEBOOK_WORKDIR", str(tmp_path / "quickstart"))
  monkeypatch.setenv("NOTEBOOK_CLASSIFIER_STEPS", "50")
  namespace = runpy.run_path(os.path.join(ROOT, "docs", "notebook.py"))
  run = namespace["run"]
  assert run.step == 22
  assert namespace["sevens"].shape == (8, 16, 16, 1)
  assert namespace["both"].shape == (8, 16, 16, 1)
  assert set(namespace["scores"]) >= {"eval/classifier/fd", "eval/classifier/accuracy"}
