"""train_and_evaluate: workdir contents, exact resume, divergence safety."""

import json
import os

import jax
import numpy as np
import pytest

from conftest import tiny_mlp_config
from gaxla import checkpoint, train
from gaxla.system import system_for


def test_resume_is_bit_identical_to_a_straight_run(tmp_path):
  straight, _ = train.train_and_evaluate(tiny_mlp_config(num_steps=6), str(tmp_path / "a"),
                                         show_progress=False)
  train.train_and_evaluate(tiny_mlp_config(num_steps=3), str(tmp_path / "b"), show_progress=False)
  resumed, _ = train.train_and_evaluate(tiny_mlp_config(num_steps=6), str(tmp_path / "b"),
                                        show_progress=False)
  assert int(resumed.step) == 6
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)


def test_divergence_stops_before_saving(tmp_path):
  config = tiny_mlp_config(**{"num_steps": 40, "checkpoint_every_steps": 2, "log_every_steps": 40,
                              "loss.name": "wasserstein", "optim.critic.lr": 1e38,
                              "optim.generator.lr": 1e38, "optim.critic.b1": 0.0})
  with pytest.raises(FloatingPointError, match="non-finite metrics"):
    train.train_and_evaluate(config, str(tmp_path), show_progress=False)
  trainer = system_for(config)
  manager = checkpoint.make_manager(str(tmp_path), config)
  steps = manager.all_steps()
  for step in steps:  # every checkpoint that exists is finite
    state = checkpoint.restore(manager, trainer.abstract_state(), step)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state)
               if np.issubdtype(np.asarray(x).dtype, np.floating))
  manager.close()


def test_corrupt_checkpoint_is_a_readable_error(tmp_path):
  config = tiny_mlp_config(num_steps=2, checkpoint_every_steps=2)
  train.train_and_evaluate(config, str(tmp_path), show_progress=False)
  step_dir = tmp_path / "checkpoints" / "2"
  for root, _, files in os.walk(step_dir):
    for name in files:
      if name != "_CHECKPOINT_METADATA":
        with open(os.path.join(root, name), "wb") as f:
          f.write(b"garbage")
  with pytest.raises(ValueError, match="could not restore checkpoint step 2"):
    train.train_and_evaluate(tiny_mlp_config(num_steps=4, checkpoint_every_steps=2),
                             str(tmp_path), show_progress=False)


def test_metrics_jsonl_and_progress_lines(tmp_path, capsys):
  train.train_and_evaluate(tiny_mlp_config(num_steps=2, log_every_steps=1), str(tmp_path),
                           show_progress=False)
  out = capsys.readouterr().out
  assert "[1] g_loss = " in out and "[2] eval/mode_coverage/modes_covered = " in out
  with open(tmp_path / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records] == [1, 2, 2]


def test_calls_end_at_every_log_eval_and_checkpoint_step():
  config = tiny_mlp_config(num_steps=20, log_every_steps=6, eval_every_steps=10,
                           checkpoint_every_steps=8, steps_per_call=50)
  ends, step = [], 0
  while step < 20:
    step = train._call_end(step, config)
    ends.append(step)
  assert ends == [6, 8, 10, 12, 16, 18, 20]
  config.steps_per_call = 1
  assert [train._call_end(s, config) for s in range(3)] == [1, 2, 3]


def test_steps_per_call_trains_logs_and_saves_like_step_by_step(tmp_path):
  kw = {"num_steps": 12, "log_every_steps": 4, "eval_every_steps": 6,
        "checkpoint_every_steps": 12, "monitor.enabled": False}
  runs = {}
  for steps_per_call in (1, 5):
    workdir = tmp_path / str(steps_per_call)
    state, _ = train.train_and_evaluate(tiny_mlp_config(steps_per_call=steps_per_call, **kw),
                                        str(workdir), show_progress=False)
    with open(workdir / "metrics.jsonl") as f:
      records = [json.loads(line) for line in f]
    runs[steps_per_call] = state, records, sorted(os.listdir(workdir / "checkpoints"))
  (one, one_records, one_saved), (five, five_records, five_saved) = runs[1], runs[5]
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(five)):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=1e-6, atol=1e-7)
  assert [r["step"] for r in five_records] == [r["step"] for r in one_records] == [4, 6, 8, 12, 12]
  for a, b in zip(one_records, five_records):
    for key in set(a) - {"steps_per_sec", "time"}:
      np.testing.assert_allclose(b[key], a[key], rtol=1e-5, atol=1e-6, err_msg=key)
  assert five_saved == one_saved
