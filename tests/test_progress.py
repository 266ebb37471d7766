"""ProgressLog: metrics.jsonl, TensorBoard events, and what a failed events write does."""

import errno
import json
import logging
import time

from gaxla.progress import ProgressLog


class _FullDisk:
  def write_event(self, event):
    raise OSError(errno.ENOSPC, "No space left on device")

  def flush(self):
    pass

  def close(self):
    pass


def test_a_dropped_events_write_is_reported_once_at_close(tmp_path, caplog):
  log = ProgressLog(str(tmp_path), num_steps=2, start_step=0, show_progress=False)
  assert log._guards  # noqa: SLF001
  for guard in log._guards:  # noqa: SLF001
    guard.events = _FullDisk()
  log.write(1, {"g_loss": 1.0})
  deadline = time.time() + 10
  while time.time() < deadline and not any(g.error for g in log._guards):  # noqa: SLF001
    time.sleep(0.05)
  assert any(g.error for g in log._guards)  # noqa: SLF001
  log.write(2, {"g_loss": 0.5})  # dropped quietly, no traceback from the thread
  with caplog.at_level(logging.WARNING):
    log.close()
  warnings = [r.getMessage() for r in caplog.records if "TensorBoard events" in r.getMessage()]
  assert len(warnings) == 1 and "No space left on device" in warnings[0]
  # metrics.jsonl still holds both steps.
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2]


def test_a_healthy_run_warns_nothing(tmp_path, caplog):
  log = ProgressLog(str(tmp_path), num_steps=1, start_step=0, show_progress=False)
  log.write(1, {"g_loss": 1.0})
  with caplog.at_level(logging.WARNING):
    log.close()
  assert not [r for r in caplog.records if "TensorBoard" in r.getMessage()]
  assert list((tmp_path / "tensorboard").iterdir())
