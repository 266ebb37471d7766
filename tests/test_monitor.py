"""The collapse monitor: its pure decision on known histories, and its signals."""

import jax
import numpy as np
import pytest

from conftest import tiny_dcgan_config, tiny_mlp_config
from gaxla import config as config_lib, monitor, train, train_eval
from gaxla.system import system_for

METRIC = "eval/mode_coverage/high_quality"  # scripted in the loop tests


def _config(**overrides):
  config = config_lib.defaults().monitor
  for key, value in overrides.items():
    config[key] = value
  return config


def _history(metric_values, every=100):
  return [{"step": (i + 1) * every, METRIC: v, "d_loss": 1.0} for i, v in enumerate(metric_values)]


def test_rise_then_collapse_stops_and_names_the_best_step():
  history = _history([0.2, 0.6, 0.9, 0.93, 0.92, 0.7, 0.5, 0.3])
  decision = monitor.decide(history, _config(), METRIC, "max")
  assert decision.action == monitor.STOP_KEEP_BEST
  assert decision.step == 800
  assert decision.triggers["best_step"] == 400 and decision.triggers["best_value"] == 0.93
  assert "fell from its best 0.93 (step 400)" in decision.reason
  # One evaluation earlier, only two of the last three were bad: keep going.
  assert not monitor.decide(history[:-1], _config(), METRIC, "max").stop


def test_noise_within_tolerance_and_single_dips_do_not_stop():
  rng = np.random.default_rng(0)
  plateau = list(0.9 + 0.03 * rng.standard_normal(40))
  assert not monitor.decide(_history(plateau), _config(), METRIC, "max").stop
  dip = [0.9, 0.91, 0.5, 0.9, 0.89, 0.4, 0.92]
  for end in range(1, len(dip) + 1):
    assert not monitor.decide(_history(dip[:end]), _config(), METRIC, "max").stop


def test_warn_action_is_a_warning_not_a_stop():
  history = _history([0.2, 0.6, 0.9, 0.93, 0.92, 0.7, 0.5, 0.3])
  decision = monitor.decide(history, _config(action="warn"), METRIC, "max")
  assert decision.action == monitor.WARN
  assert decision.warn and not decision.stop
  stop = monitor.decide(history, _config(action="stop"), METRIC, "max")
  assert stop.stop and not stop.warn
  assert not monitor.Decision(monitor.CONTINUE).stop


def test_min_mode_for_distances():
  fids = [80.0, 40.0, 20.0, 18.0, 25.0, 30.0, 45.0]
  history = [{"step": 100 * (i + 1), "eval/fid": v} for i, v in enumerate(fids)]
  decision = monitor.decide(history, _config(), "eval/fid", "min")
  assert decision.stop and decision.triggers["best_step"] == 400
  # Read as 'higher is better', the first value is the best.
  assert monitor.decide(history, _config(), "eval/fid", "max").triggers["best_step"] == 100


def test_non_finite_values_stop_at_once():
  history = _history([0.5, 0.6]) + [{"step": 300, "d_loss": float("nan"), "g_loss": 1.0}]
  decision = monitor.decide(history, _config(), METRIC, "max")
  assert decision.stop and list(decision.triggers) == ["d_loss"]
  assert "non-finite" in decision.reason
  # ... also when an evaluation at the same step was logged after them.
  assert monitor.decide(history + [{"step": 300, METRIC: 0.6}], _config(), METRIC, "max").stop


def test_critic_stall_rule_fires_on_a_dead_critic_only():
  healthy = [9.0, 12.0, 6.0, 15.0, 10.0, 7.5, 11.0, 5.0, 9.0]
  dead = healthy + [2.0, 0.5, 0.2, 0.05]
  history = [{"step": 50 * (i + 1), "d_grad_norm": v} for i, v in enumerate(dead)]
  assert not monitor.decide(history, _config(), "", "max").stop  # off by default
  decision = monitor.decide(history, _config(critic_stall=0.1), "", "max")
  assert decision.stop and decision.step == 650 and "critic stalled" in decision.reason
  assert decision.triggers["d_grad_norm"] == [0.5, 0.2, 0.05]
  # Two low logs out of three, or a healthy run's swings: no stop.
  assert not monitor.decide(history[:-1], _config(critic_stall=0.1), "", "max").stop
  swings = [{"step": i, "d_grad_norm": v} for i, v in enumerate(healthy * 3)]
  assert not monitor.decide(swings, _config(critic_stall=0.1), "", "max").stop


def test_stall_alarm_with_a_watched_metric_asks_for_an_evaluation_that_confirms_or_clears():
  norms = [3.0, 2.5, 3.5, 2.8, 3.2, 3.0, 0.2, 0.25, 0.15]
  history = [{"step": 50 * (i + 1), "g_grad_norm": v} for i, v in enumerate(norms)]
  history.insert(3, {"step": 200, METRIC: 0.8})
  config = _config(generator_stall=0.2)
  decision = monitor.decide(history, config, METRIC, "max")
  assert decision.check and not decision.stop and "generator stalled" in decision.reason
  # Without a metric, or with check_with_eval off, the alarm stops at once.
  assert monitor.decide(history, config, "", "max").stop
  assert monitor.decide(history, _config(generator_stall=0.2, check_with_eval=False),
                        METRIC, "max").stop
  # The check's value decides: within tolerance of the best clears the alarm ...
  cleared = history + [{"step": 450, METRIC: 0.78, "monitor/check": 1.0}]
  assert monitor.decide(cleared, config, METRIC, "max").action == monitor.CONTINUE
  # ... and the stall must then last `patience` new logs to alarm again.
  more = cleared + [{"step": 450 + 50 * i, "g_grad_norm": 0.2} for i in (1, 2)]
  assert monitor.decide(more, config, METRIC, "max").action == monitor.CONTINUE
  more.append({"step": 600, "g_grad_norm": 0.2})
  assert monitor.decide(more, config, METRIC, "max").check
  # More than 10% worse than the best before it confirms: stop, keep the best.
  confirmed = history + [{"step": 450, METRIC: 0.6, "monitor/check": 1.0}]
  decision = monitor.decide(confirmed, config, METRIC, "max")
  assert decision.action == monitor.STOP_KEEP_BEST and decision.triggers["best_step"] == 200
  assert "confirms" in decision.reason
  # A scheduled evaluation at the alarm's own step is not "before" it.
  same_step = history + [{"step": 450, METRIC: 0.6}, {"step": 450, METRIC: 0.6,
                                                        "monitor/check": 1.0}]
  assert monitor.decide(same_step, config, METRIC, "max").stop
  no_earlier_eval = [r for r in history if METRIC not in r] + same_step[-2:]
  assert monitor.decide(no_earlier_eval, config, METRIC, "max").action == monitor.CONTINUE


def test_explosion_rule_stops_on_one_log_and_spares_healthy_swings():
  healthy = [9.0, 12.0, 6.0, 15.0, 10.0, 7.5, 11.0, 5.0, 9.0, 30.0]   # up to 3.3x its median
  history = [{"step": 50 * (i + 1), "d_grad_norm": v, "d_real_logit": 0.3, "d_fake_logit": 0.1}
             for i, v in enumerate(healthy)]
  assert not monitor.decide(history, _config(explosion=20.0), "", "max").stop
  blown = history + [{"step": 550, "d_grad_norm": 900.0, "d_real_logit": 0.3,
                      "d_fake_logit": 0.1}]
  assert not monitor.decide(blown, _config(), "", "max").stop   # off by default
  decision = monitor.decide(blown, _config(explosion=20.0), METRIC, "max")
  assert decision.action == monitor.STOP_KEEP_BEST and decision.step == 550
  assert "d_grad_norm exploded to 900" in decision.reason
  # At an eval step the eval record comes after the log record: still caught.
  assert monitor.decide(blown + [{"step": 550, METRIC: 0.5}], _config(explosion=20.0),
                        METRIC, "max").stop
  margin = history + [{"step": 550, "d_grad_norm": 9.0, "d_real_logit": 500.0,
                       "d_fake_logit": -300.0}]
  decision = monitor.decide(margin, _config(explosion=20.0), "", "max")
  assert decision.stop and "critic margin" in decision.reason


def test_critic_stall_must_be_a_fraction():
  config = config_lib.defaults()
  config.monitor.critic_stall = 1.5
  with pytest.raises(config_lib.ConfigError, match="monitor.critic_stall"):
    config_lib.validate(config)


def test_sigma_explosion_and_critic_margin_rules():
  sigmas = [{"step": s, "sigma/g_max": v} for s, v in
            enumerate([1.0, 1.1, 1.05, 1.2, 9.0, 12.0, 15.0])]
  assert not monitor.decide(sigmas, _config(), "", "max").stop  # rule off by default
  decision = monitor.decide(sigmas, _config(sigma_growth=5.0), "", "max")
  assert decision.stop and "sigma/g_max" in decision.reason
  assert not monitor.decide(sigmas[:-1], _config(sigma_growth=5.0), "", "max").stop

  logits = [{"step": s, "d_real_logit": r, "d_fake_logit": f}
            for s, (r, f) in enumerate([(1, -1), (3, -3), (8, -9), (9, -9), (10, -12)])]
  decision = monitor.decide(logits, _config(margin_limit=10.0), "", "max")
  assert decision.stop and "margin" in decision.reason
  assert not monitor.decide(logits[:-1], _config(margin_limit=10.0), "", "max").stop


def test_disabled_monitor_never_stops():
  history = _history([0.9, 0.1, 0.1, 0.1, 0.1])
  assert not monitor.decide(history, _config(enabled=False), METRIC, "max").stop


@pytest.mark.parametrize("make_config", [tiny_mlp_config, tiny_dcgan_config])
def test_spectral_signals_match_the_layers_singular_values(make_config):
  config = config_lib.validate(make_config())
  trainer = system_for(config)
  state = trainer.init(0)
  signals = jax.device_get(monitor.spectral_signals(state, iterations=50))

  def true_max(params):
    return max(np.linalg.svd(np.asarray(k).reshape(-1, k.shape[-1]), compute_uv=False)[0]
               for p, k in jax.tree_util.tree_leaves_with_path(params)
               if k.ndim >= 2 and "kernel" in jax.tree_util.keystr(p))

  # G has no spectral norm here: power iteration on its kernels.
  assert signals["sigma/g_max"] == pytest.approx(true_max(state.g.params), rel=0.02)
  if "sigma" in str(jax.tree_util.tree_structure(state.d.collections)):
    # D is spectral-normed: its own running estimate, read as is.
    sn = [float(v) for p, v in jax.tree_util.tree_leaves_with_path(state.d.collections)
          if jax.tree_util.keystr(p).endswith("sigma']")]
    assert signals["sigma/d_max"] == pytest.approx(max(sn))
  else:
    assert signals["sigma/d_max"] == pytest.approx(true_max(state.d.params), rel=0.02)


def test_bad_monitor_config_is_one_readable_error():
  config = tiny_mlp_config(**{"monitor.action": "panic"})
  with pytest.raises(config_lib.ConfigError, match="'monitor.action' must be"):
    config_lib.validate(config)


# ----------------------------------------------------------------------------
# In the training loop
# ----------------------------------------------------------------------------
def test_loop_stops_on_collapse_keeps_best_and_writes_its_report(tmp_path, monkeypatch):
  import json
  import os

  from gaxla import checkpoint
  # The evaluation is scripted (rise, peak at step 15, fall) so the test pins
  # the loop's behaviour; scripts/collapse_experiment.py shows real collapses.
  scripted = iter([0.2, 0.6, 0.9, 0.85, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1])
  monkeypatch.setattr(train_eval, "evaluate", lambda *a, **k: {METRIC: next(scripted)})
  config = tiny_mlp_config(**{
      "num_steps": 60, "eval_every_steps": 5, "log_every_steps": 5,
      "checkpoint_every_steps": 60, "checkpoint.best_metric": METRIC,
      "checkpoint.keep_latest": 1, "monitor.patience": 2})
  workdir = str(tmp_path / "run")
  state, last = train.train_and_evaluate(config, workdir, show_progress=False)
  # 0.5 (step 25) and 0.4 (step 30) are both > 10% below the best 0.9 (step 15).
  assert int(state.step) == 30 and last["collapse_step"] == 30
  with open(os.path.join(workdir, "collapse.json")) as f:
    report = json.load(f)
  assert report["step"] == 30 and report["action"] == "stop_keep_best"
  assert report["kept_step"] == 15 and report["kept_metric"] == pytest.approx(0.9)
  assert "fell from its best 0.9 (step 15)" in report["reason"]
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  assert 15 in manager.all_steps() and checkpoint.best_step(manager) == 15
  manager.close()
  # Signals were logged, and the picture and TensorBoard events exist.
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    history = [json.loads(line) for line in f]
  assert all("sigma/g_max" in r and "sigma/d_max" in r for r in history if "d_loss" in r)
  assert os.path.getsize(os.path.join(workdir, "plots", "training.png")) > 10_000
  events = os.listdir(os.path.join(workdir, "tensorboard"))
  assert any(name.startswith("events.out.tfevents") for name in events)


def test_loop_evaluates_on_a_stall_alarm_and_stops_only_when_it_confirms(tmp_path, monkeypatch):
  import json
  import os

  from gaxla import checkpoint
  # Scheduled evaluations at 10 and 20, alarms (scripted) at log steps 15 and 25.
  scripted = iter([0.9, 0.95, 0.8, 0.5])
  monkeypatch.setattr(train_eval, "evaluate", lambda *a, **k: {METRIC: next(scripted)})
  real_decide = monitor.decide

  def decide(history, config, metric, mode):
    latest = history[-1]
    if latest["step"] in (15, 25) and "monitor/check" not in latest:
      return monitor.Decision(monitor.CHECK, "scripted stall", latest["step"])
    return real_decide(history, config, metric, mode)
  monkeypatch.setattr(monitor, "decide", decide)
  config = tiny_mlp_config(**{
      "num_steps": 40, "eval_every_steps": 10, "log_every_steps": 5,
      "checkpoint_every_steps": 40, "checkpoint.best_metric": METRIC})
  workdir = str(tmp_path / "run")
  state, last = train.train_and_evaluate(config, workdir, show_progress=False)
  # Step 15's check (0.95) cleared the alarm and became the best checkpoint;
  # step 25's (0.5, > 10% below 0.95) confirmed it.
  assert int(state.step) == 25 and last["collapse_step"] == 25
  with open(os.path.join(workdir, "collapse.json")) as f:
    report = json.load(f)
  assert report["kept_step"] == 15 and report["kept_metric"] == pytest.approx(0.95)
  assert "confirms" in report["reason"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    checks = [json.loads(line) for line in f if "monitor/check" in line]
  assert [(r["step"], r[METRIC]) for r in checks] == [(15, 0.95), (25, 0.5)]
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  assert checkpoint.best_step(manager) == 15
  manager.close()


def test_warn_action_logs_and_trains_on(tmp_path, monkeypatch):
  scripted = iter([0.9, 0.1, 0.1, 0.1])
  monkeypatch.setattr(train_eval, "evaluate", lambda *a, **k: {METRIC: next(scripted)})
  config = tiny_mlp_config(**{
      "num_steps": 20, "eval_every_steps": 5, "log_every_steps": 5,
      "checkpoint.best_metric": METRIC, "monitor.patience": 1, "monitor.action": "warn"})
  state, last = train.train_and_evaluate(config, str(tmp_path), show_progress=False)
  assert int(state.step) == 20 and "collapse_step" not in last


def test_tensorboard_events_hold_the_logged_scalars(tmp_path):
  import os

  from tensorboardX.proto import event_pb2

  from gaxla import progress
  log = progress.ProgressLog(str(tmp_path), 10, 0, show_progress=False)
  log.write(3, {"d_loss": 0.5, "eval/high_quality": 0.9})
  log.close()
  path = os.path.join(tmp_path, "tensorboard", os.listdir(tmp_path / "tensorboard")[0])
  with open(path, "rb") as f:
    data, values = f.read(), {}
  while data:  # TFRecord framing: length (8), crc (4), payload, crc (4)
    length = int.from_bytes(data[:8], "little")
    event = event_pb2.Event.FromString(data[12:12 + length])
    data = data[12 + length + 4:]
    for value in event.summary.value:
      values[(value.tag, event.step)] = value.simple_value
  assert values == {("d_loss", 3): 0.5, ("eval/high_quality", 3): pytest.approx(0.9)}


def test_a_full_disk_at_close_stops_the_tensorboard_thread(tmp_path, monkeypatch):
  # Left running, the writer thread dies at interpreter exit with a traceback
  # ("handle is closed") after gaxla's one-line disk-full error.
  import errno
  import threading

  from tensorboardX import record_writer

  from gaxla import progress
  log = progress.ProgressLog(str(tmp_path), 10, 0, show_progress=False)
  log.write(1, {"d_loss": 0.5})

  def disk_full(self):
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(record_writer.RecordWriter, "flush", disk_full)
  workers = [w.event_writer._worker for w in log.tensorboard.all_writers.values()]
  for worker in workers:  # the thread's own periodic flush must not raise either
    worker._record_writer.flush()
  log.close()  # logs a warning, does not raise
  assert workers and not any(w.is_alive() for w in workers)
  assert not any(type(t).__name__ == "_EventLoggerThread" and t.is_alive()
                 for t in threading.enumerate())
