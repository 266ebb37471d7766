"""A checkpoint write that fails mid-run (disk full, `ulimit -f`) ends in one line, every time.

The failure is injected in a real `gaxla train` process: a wrapper lowers the
process's file size limit just before the step-4 save, so step 2 is complete
on disk and step 4's writes fail inside orbax/tensorstore (EFBIG, the same
path as a full disk: several writes in flight, one fails, the others finish
on a closed asyncio loop). Whether their leftovers printed tracebacks depended
on timing, so the run is repeated; every repetition must exit 2 with gaxla's
message alone, and step 2 must still restore.
"""

import os
import subprocess
import sys
import types

import pytest

from gaxla import checkpoint, cli, workdir as workdir_lib
from gaxla.system import system_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPEATS = 3

# cli.main with an explicit argv: no huge-page re-exec, so the patch stays in place.
WRAPPER = """
import resource, sys
from gaxla import checkpoint, cli, workdir as workdir_lib
save = checkpoint.save
def failing_save(manager, step, *args, **kwargs):
  if step >= 4:  # step 2 is written normally; from here on every file stays under 2 KiB
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
  return save(manager, step, *args, **kwargs)
checkpoint.save = failing_save
cli.main(["gaxla", "train"] + sys.argv[1:])
"""

RING = ["--config", "configs/mog_ring.py", "--config.batch_size=16",
        "--config.eval.num_samples=100", "--config.model.generator.hidden=(8,)",
        "--config.model.critic.hidden=(8,)", "--config.steps_per_call=1",
        "--config.num_steps=4", "--config.log_every_steps=1", "--config.eval_every_steps=4",
        "--config.checkpoint_every_steps=2", "--progress=lines"]


def test_asyncio_reports_of_orbax_tasks_are_dropped_and_others_kept():
  def record(message):
    return cli.logging_std.LogRecord("asyncio", cli.logging_std.ERROR, "base_events.py", 1,
                                     message, None, None)
  orbax_task = ("Task exception was never retrieved\nfuture: <Task finished coro=<write_fragment"
                "() defined at /x/site-packages/orbax/checkpoint/_src/serialization.py:188>>")
  assert not cli._quiet_orbax_tasks(record(orbax_task))
  assert cli._quiet_orbax_tasks(record("Task exception was never retrieved\nfuture: <Task mine>"))


def test_only_closed_loop_callbacks_and_unawaited_orbax_reads_are_dropped(monkeypatch):
  """The hook `save` and `restore` install passes every other unraisable error on."""
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", seen.append)
  checkpoint._ignore_callbacks_on_a_closed_loop()
  checkpoint._ignore_callbacks_on_a_closed_loop()  # once: not a chain of wrappers
  hook = sys.unraisablehook
  assert hook is not seen.append
  closed = types.SimpleNamespace(exc_value=RuntimeError("Event loop is closed"), object=None)
  other = types.SimpleNamespace(exc_value=RuntimeError("something else"), object=None)
  # A read an aborted restore never started (its warning is an error under -W error).
  from orbax.checkpoint._src.metadata import array_metadata_store
  orbax_read = array_metadata_store.Store._get_array_metadatas(None, None)

  async def mine():
    pass

  my_coroutine = mine()
  never = "coroutine '{}' was never awaited"
  unawaited_orbax = types.SimpleNamespace(
      exc_value=RuntimeWarning(never.format(orbax_read.__qualname__)), object=orbax_read)
  unawaited_mine = types.SimpleNamespace(
      exc_value=RuntimeWarning(never.format(my_coroutine.__qualname__)), object=my_coroutine)
  try:
    for unraisable in (closed, other, unawaited_orbax, unawaited_mine):
      hook(unraisable)
  finally:
    orbax_read.close()
    my_coroutine.close()
  assert seen == [other, unawaited_mine]


@pytest.mark.skipif(not hasattr(__import__("resource"), "RLIMIT_FSIZE"), reason="no RLIMIT_FSIZE")
def test_a_failed_save_exits_with_one_line_every_time(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
             PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  workdirs = [str(tmp_path / f"run{i}") for i in range(REPEATS)]
  # Side by side: the writes race each other (and the compiles) differently each time.
  processes = [subprocess.Popen([sys.executable, "-c", WRAPPER, *RING, "--workdir", w],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for w in workdirs]
  results = [(p.communicate(timeout=300)[1], p.returncode) for p in processes]
  for stderr, code in results:
    assert code == 2, stderr
    assert "Traceback" not in stderr and "Event loop is closed" not in stderr, stderr
    assert "never retrieved" not in stderr, stderr
    assert "gaxla: error: could not write checkpoint step 4" in stderr, stderr
    assert "File too large" in stderr, stderr
  for workdir in workdirs:  # the last good step is intact
    config = workdir_lib.load_config(workdir)
    system = system_for(config)
    manager = checkpoint.make_manager(workdir, config, read_only=True)
    try:
      assert manager.latest_step() == 2
      state = checkpoint.restore(manager, system.abstract_state())
    finally:
      manager.close()
    assert int(state.step) == 2
