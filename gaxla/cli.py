"""`gaxla train | sample | eval | describe | prepare`: the only place flags are defined.

  gaxla train  --config configs/NAME.py[:arg] --workdir DIR [--config.key=value ...]
  gaxla sample --workdir DIR --num N --out FILE [--labels all|i,j,..] [--seed S]
               [--truncation T] [--step latest|best|N] [--standing_batches K]
  gaxla sample --workdir DIR --out sheet.png --sheet 0,0.5,1,2 [--labels ...]
               (rows = classes, columns = truncation thresholds; 0 = none)
  gaxla sample --workdir DIR --out walk.png --interpolate latent|class --num FRAMES
               (one row per class: latent slerp with the class fixed, or the
               class embedding mixed from each class to the next, latent fixed)
  gaxla eval   --workdir DIR [--step latest|best|N] [--metrics a,b] [--num N]
               [--standing_batches K] [--truncation 0.25,0.5,1,1.5,2 [--out FILE.png]]
               (EMA generator, with standing statistics as for sample; --num
               defaults to eval.num_samples, --metrics to eval.metrics; results
               are printed and appended to DIR/eval.jsonl; with --truncation,
               scored at each threshold (0 = none) and drawn against it in
               --out, default DIR/plots/truncation_step_N.png)
  gaxla prepare --source IMAGES --out PREPARED --image_size N [--test_fraction F]
               (your own images, class subfolders -> labels or flat ->
               unconditional, into ArrayRecord shards for data.name = 'folder',
               data.data_dir = PREPARED; unreadable files are skipped and counted)
  gaxla sample --workdir SR_DIR --input LR.npy --out SR.npy|SR.png
               (super-resolution workdirs: upscales float32 NHWC images in
               [-1, 1] by sr.scale; writes float32 in [-1, 1], or a grid)
  gaxla interpolate --psnr DIR1 --gan DIR2 --alpha A --out DIR3
               (ESRGAN network interpolation: DIR3 is a new SR workdir whose
               generator is (1 - A) * DIR1's + A * DIR2's)
  gaxla describe --config configs/NAME.py[:arg]
               (parameters per module group and FLOPs of G, D and the train
               step, from shapes only; --nostep_flops skips the step)

`gaxla sample` and `gaxla eval` use the EMA generator; with --standing_batches
K > 0 (default: the run's `eval.standing_batches`, what training-time
evaluation used) BatchNorm statistics are first re-estimated for the EMA
params over K batches of the config's batch size (standing statistics).

`train` resumes from the workdir's latest checkpoint. On SIGTERM (preemption)
or Ctrl-C (SIGINT) it saves the current step, waits for the write, prints
`gaxla: stopped by SIGTERM ...` (or SIGINT) and exits with status 143 or 130
(128 + the signal); rerun to resume. A second Ctrl-C stops at once (the last
complete checkpoint stays). One `gaxla train` at a time per workdir (a lock
file, `train.lock`, released however the process ends).
`sample --step best` picks the checkpoint with the best
`checkpoint.best_metric` recorded at eval steps.

Errors in configs, workdirs, checkpoints, files or arguments (and a full disk)
print one line, `gaxla: error: ...`, and exit with status 2; docs/errors.md
lists what each bad input gets.
"""

from __future__ import annotations

import logging as logging_std
import os
import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/mog_ring.py[:arg].", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder (train: output; sample: input).")
_NUM = flags.DEFINE_integer("num", 64, "sample: number of samples.")
_OUT = flags.DEFINE_string("out", None, "sample: output file, .npy or .png.")
_LABELS = flags.DEFINE_string("labels", None, "sample: 'all' or comma-separated classes.")
_SEED = flags.DEFINE_integer("seed", 0, "sample: PRNG seed.")
_TRUNCATION = flags.DEFINE_string(
    "truncation", "0", "sample: truncation threshold (0 = off). eval: comma-separated "
    "thresholds, each scored, with a metric-vs-truncation plot.")
_STEP = flags.DEFINE_string("step", "latest",
                            "sample/eval: checkpoint step: 'latest', 'best' (by "
                            "checkpoint.best_metric) or a number.")
_METRICS = flags.DEFINE_string("metrics", None, "eval: comma-separated evaluator names "
                               "(default: the run's eval.metrics).")
_SHEET = flags.DEFINE_list("sheet", None, "sample: truncations for a class x truncation sheet.")
_INTERPOLATE = flags.DEFINE_enum("interpolate", None, ["latent", "class"],
                                 "sample: write an interpolation, --num frames per row.")
_STANDING = flags.DEFINE_integer(
    "standing_batches", None, "sample/eval: batches for BatchNorm standing statistics (0 = off; "
    "default: the run's eval.standing_batches).")
_STEP_FLOPS = flags.DEFINE_bool("step_flops", True, "describe: also count the train step's FLOPs.")
_PROGRESS = flags.DEFINE_enum("progress", "auto", ["auto", "bar", "lines"],
                              "train: progress bar, plain log lines, or auto (bar on a TTY).")

_SOURCE = flags.DEFINE_string("source", None, "prepare: folder of images (class subfolders "
                              "or flat).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "prepare: side of the stored square images.")
_TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.1,
                                    "prepare: share of images held out as the 'test' split.")

_INPUT = flags.DEFINE_string("input", None,
                             "sample (SR workdirs): .npy or folder of LR images to upscale.")
_PSNR = flags.DEFINE_string("psnr", None, "interpolate: the PSNR-stage SR workdir.")
_GAN = flags.DEFINE_string("gan", None, "interpolate: the GAN-stage SR workdir.")
_ALPHA = flags.DEFINE_float("alpha", None, "interpolate: weight of the GAN generator, 0..1.")

COMMANDS = ("train", "sample", "eval", "describe", "prepare", "interpolate")
USAGE = __doc__


def _train(argv) -> None:
  from gaxla import train
  if _CONFIG.value is None:
    raise ValueError("train needs --config configs/NAME.py")
  if not _WORKDIR.value:
    raise ValueError("train needs --workdir DIR")
  show = {"auto": None, "bar": True, "lines": False}[_PROGRESS.value]
  config = _CONFIG.value
  config.unlock()
  state, metrics = train.train_and_evaluate(config, _WORKDIR.value, show_progress=show)
  summary = ", ".join(f"{k} = {v:.4g}" for k, v in metrics.items())
  print(f"gaxla: trained to step {int(state.step)} in {_WORKDIR.value}; {summary}")


def _restore(config):
  """(system, state) of the workdir's checkpoint at --step, on one device.

  Sampling and evaluation run on one device, whatever mesh trained the
  checkpoint.
  """
  from gaxla import checkpoint, parallel
  from gaxla.system import system_for
  system = system_for(config, mesh=parallel.single_device_mesh())
  manager = checkpoint.make_manager(_WORKDIR.value, config, read_only=True)
  try:
    step = checkpoint.resolve_step(manager, _STEP.value)
    state = checkpoint.restore(manager, system.abstract_state(), step)
  finally:
    manager.close()
  return system, state


def _sample(argv) -> None:
  from gaxla import config as config_lib
  from gaxla import data, workdir
  from gaxla.cli_sample import write_samples
  if not _WORKDIR.value:
    raise ValueError("sample needs --workdir DIR")
  if not _OUT.value:
    raise ValueError("sample needs --out FILE.npy or FILE.png")
  # Flags are checked before the checkpoint is restored, so a typo fails at once.
  try:
    sheet = [float(t) for t in _SHEET.value] if _SHEET.value else None
  except ValueError:
    raise ValueError(f"--sheet must be comma-separated numbers, got {_SHEET.value!r}") from None
  if _STANDING.value is not None and _STANDING.value < 0:
    raise ValueError(f"--standing_batches must be >= 0, got {_STANDING.value}")
  config = config_lib.validate(workdir.load_config(_WORKDIR.value))
  from gaxla.sample import standing_batches
  standing = standing_batches(config, _STANDING.value)
  if config.model.name == "esrgan" or _INPUT.value:
    from gaxla.cli_sample import write_upscaled
    written, state = write_upscaled(config, _WORKDIR.value, _INPUT.value, _OUT.value, _STEP.value)
    print(f"gaxla: wrote {', '.join(written)} (step {int(state.step)}, EMA generator)")
    return
  system, state = _restore(config)
  info = data.get_info(config.data)
  modes = data.mixtures.MIXTURES[info.name]().modes if info.kind == "points" else None
  written = write_samples(system, state.ema_generator_variables(), _OUT.value, _NUM.value,
                          seed=_SEED.value, labels=_LABELS.value,
                          truncation=_single_truncation(), modes=modes, sheet_truncations=sheet,
                          interpolate=_INTERPOLATE.value, standing_batches=standing,
                          standing_batch_size=config.batch_size)
  print(f"gaxla: wrote {', '.join(written)} (step {int(state.step)}, EMA generator"
        f"{_standing_note(system, state, standing)})")


def _single_truncation() -> float:
  from gaxla.evaluate import truncation
  values = truncation.parse(_TRUNCATION.value)
  if len(values) != 1:
    raise ValueError(f"sample takes one --truncation value, got {_TRUNCATION.value!r} "
                     "(use --sheet for several)")
  return values[0]


def _standing_note(system, state, batches: int) -> str:
  """The message's note on standing statistics, only where they applied."""
  from gaxla import sample
  if batches and sample.has_standing_statistics(system, state.ema_generator_variables()):
    return f", standing stats over {batches} batches"
  return ""


def _describe(argv) -> None:
  from gaxla import describe
  if _CONFIG.value is None:
    raise ValueError("describe needs --config configs/NAME.py")
  config = _CONFIG.value
  config.unlock()
  report = describe.describe(config, step_flops=_STEP_FLOPS.value)
  print(describe.format_report(report, config_flags.get_config_filename(flags.FLAGS["config"])))
  import jax

  from gaxla import xla_cpu
  if jax.default_backend() == "cpu":
    print(f"CPU defaults (gaxla/xla_cpu.py): XLA flags {xla_cpu.status()}; "
          f"huge-page malloc {xla_cpu.hugepage_malloc_status()}")


def _eval(argv) -> None:
  import json
  import os
  import time

  from gaxla import config as config_lib
  from gaxla import evaluate, sample, train_eval, workdir
  if not _WORKDIR.value:
    raise ValueError("eval needs --workdir DIR")
  config = workdir.load_config(_WORKDIR.value)
  if config.model.name == "esrgan":
    _eval_super_resolution(config)
    return
  if _METRICS.value is not None:
    config.eval.metrics = tuple(m.strip() for m in _METRICS.value.split(",") if m.strip())
  if _NUM.present:
    config.eval.num_samples = _NUM.value
  config = config_lib.validate(config)
  names = evaluate.metric_names(config)
  if not names:
    raise ValueError("no metrics to compute: pass --metrics a,b (valid: "
                     f"{', '.join(sorted(evaluate.EVALUATORS))}) or set eval.metrics.")
  evaluate.check(config)
  truncations = None
  if _TRUNCATION.present:
    from gaxla.evaluate import truncation
    truncations = truncation.parse(_TRUNCATION.value)
    if _OUT.value and not _OUT.value.endswith(".png"):
      raise ValueError(f"eval --out must be a .png file (the truncation plot), got {_OUT.value!r}")
  system, state = _restore(config)
  start = time.perf_counter()
  standing = sample.standing_batches(config, _STANDING.value)
  if standing < 0:
    raise ValueError(f"--standing_batches must be >= 0, got {standing}")
  # The generator and key training-time evaluation uses (eval.standing_batches,
  # seed 0): `gaxla eval` on a checkpoint prints the numbers training logged for it.
  variables = sample.eval_variables(system, state, standing, config.batch_size, _SEED.value)
  if truncations is not None:
    _eval_truncations(config, system, state, variables, truncations, start, standing)
    return
  results = evaluate.run(evaluate.build(config), train_eval.generate_fn_for(system, variables),
                         config.eval.num_samples, train_eval.eval_key(config))
  step = int(state.step)
  record = {"step": step, "num_samples": config.eval.num_samples,
            "seconds": round(time.perf_counter() - start, 3), **results}
  with open(os.path.join(_WORKDIR.value, "eval.jsonl"), "a") as f:
    f.write(json.dumps(record) + "\n")
  for key, value in results.items():
    print(f"[{step}] {key} = {value:.6g}")
  print(f"gaxla: evaluated step {step} ({config.eval.num_samples} samples, EMA generator"
        f"{_standing_note(system, state, standing)}); "
        f"appended to {os.path.join(_WORKDIR.value, 'eval.jsonl')}")


def _eval_truncations(config, system, state, variables, truncations, start,
                      standing: int) -> None:
  """`gaxla eval --truncation a,b,..`: one eval.jsonl record per threshold, and the plot."""
  import json
  import os
  import time

  from gaxla import evaluate, train_eval
  from gaxla.evaluate import truncation
  step = int(state.step)
  records = truncation.sweep(evaluate.build(config), system, variables, truncations,
                             config.eval.num_samples, train_eval.eval_key(config))
  seconds = round(time.perf_counter() - start, 3)
  with open(os.path.join(_WORKDIR.value, "eval.jsonl"), "a") as f:
    for record in records:
      f.write(json.dumps({"step": step, "num_samples": config.eval.num_samples,
                          "seconds": seconds, **record}) + "\n")
  for record in records:
    for key, value in record.items():
      if key != "truncation":
        print(f"[{step}] truncation {record['truncation']:g}: {key} = {value:.6g}")
  out = _OUT.value or os.path.join(_WORKDIR.value, "plots", f"truncation_step_{step}.png")
  truncation.plot(records, out, title=f"{os.path.basename(os.path.abspath(_WORKDIR.value))}, "
                  f"step {step}, {config.eval.num_samples} samples")
  print(f"gaxla: evaluated step {step} at truncations {', '.join(f'{t:g}' for t in truncations)} "
        f"({config.eval.num_samples} samples each, EMA generator"
        f"{_standing_note(system, state, standing)}); appended to "
        f"{os.path.join(_WORKDIR.value, 'eval.jsonl')}; plot {out}")


def _prepare(argv) -> None:
  from gaxla.data import folder
  if not _SOURCE.value:
    raise ValueError("prepare needs --source IMAGE_FOLDER")
  if not _OUT.value:
    raise ValueError("prepare needs --out PREPARED_FOLDER")
  if not 0 <= _TEST_FRACTION.value < 1:
    raise ValueError(f"--test_fraction must be in [0, 1), got {_TEST_FRACTION.value}")
  summary = folder.prepare(_SOURCE.value, _OUT.value, _IMAGE_SIZE.value,
                           test_fraction=_TEST_FRACTION.value)
  print(f"gaxla: {summary}")
  print(f"gaxla: train with --config.data.name=folder --config.data.data_dir={_OUT.value} "
        "(e.g. configs/folder.py)")
def _eval_super_resolution(config) -> None:
  """`gaxla eval` on an SR workdir: sr.metrics (or --metrics) on held-out images."""
  import json
  import os

  from gaxla import config as config_lib
  from gaxla import superres
  if _METRICS.value is not None:
    config.sr.metrics = tuple(m.strip() for m in _METRICS.value.split(",") if m.strip())
  if _NUM.present:
    config.eval.num_samples = _NUM.value
  config = config_lib.validate(config)
  system, state = _restore(config)
  results = superres.evaluate(system, state, config, None)
  step = int(state.step)
  with open(os.path.join(_WORKDIR.value, "eval.jsonl"), "a") as f:
    f.write(json.dumps({"step": step, "num_samples": config.eval.num_samples, **results}) + "\n")
  for key, value in results.items():
    print(f"[{step}] {key} = {value:.6g}")
  print(f"gaxla: evaluated step {step} (first {config.eval.num_samples} test images, EMA "
        f"generator); appended to {os.path.join(_WORKDIR.value, 'eval.jsonl')}")


def _interpolate(argv) -> None:
  from gaxla import superres
  missing = [f"--{n}" for n, v in (("psnr", _PSNR.value), ("gan", _GAN.value),
                                   ("alpha", _ALPHA.value), ("out", _OUT.value)) if v is None]
  if missing:
    raise ValueError(f"interpolate needs {', '.join(missing)} (gaxla interpolate --psnr DIR1 "
                     "--gan DIR2 --alpha 0.8 --out DIR3)")
  step = superres.interpolate_workdirs(_PSNR.value, _GAN.value, _ALPHA.value, _OUT.value)
  print(f"gaxla: wrote {_OUT.value} (step {step}, alpha {_ALPHA.value}: "
        f"{1 - _ALPHA.value:g} x {_PSNR.value} + {_ALPHA.value:g} x {_GAN.value})")


def _quiet_orbax_failures(record) -> bool:
  return not (record.levelno >= logging.ERROR and "orbax" in record.pathname)


def _quiet_orbax_tasks(record) -> bool:
  """Drops asyncio's 'Task exception was never retrieved' for orbax's aborted writes."""
  return not (record.levelno >= logging.ERROR and "orbax" in record.getMessage())


def _fail(message: str, code: int = 2) -> None:
  print(f"gaxla: error: {message}", file=sys.stderr)
  sys.exit(code)


def _exit_now(line: str, code: int) -> None:
  """Prints `line` and leaves at once, while orbax may still have save threads running.

  Not sys.exit: interpreter teardown under orbax's still-running or failed save
  threads prints their tracebacks ("Event loop is closed", "Task exception was
  never retrieved"). The complete checkpoint steps are final on disk already.
  """
  print(line, file=sys.stderr, flush=True)
  sys.stdout.flush()
  os._exit(code)


def _os_error_message(e: OSError) -> str:
  """'No space left on device: /path' rather than '[Errno 28] ...'; ours as they are."""
  from gaxla import workdir
  if isinstance(e, workdir.WorkdirError) or not e.strerror:
    return str(e)
  return f"{e.strerror}: {e.filename}" if e.filename else e.strerror


def _run(command):
  def main(argv):
    if len(argv) > 1:  # flags all start with --; anything else is a typo or a lost quote
      _fail(f"unexpected arguments: {' '.join(argv[1:])} (every option is a --flag; "
            f"see gaxla {argv[0].split()[-1]} --helpshort)")
    from gaxla import checkpoint
    try:
      command(argv)
    except checkpoint.Preempted as e:
      print(f"gaxla: {e}", file=sys.stderr)
      sys.exit(128 + e.signum)
    except KeyboardInterrupt:  # a second Ctrl-C: stop now (the last complete step stays)
      _exit_now("gaxla: interrupted (Ctrl-C)", 128 + signal.SIGINT)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
      _fail(str(e))
    except checkpoint.CheckpointWriteError as e:  # disk full, `ulimit -f`, permissions
      # The failed step's *-tmp folder is what orbax ignores and removes on the next start.
      _exit_now(f"gaxla: error: {e}", 2)
    except OSError as e:  # a workdir, --out or disk problem: the message names the path
      _fail(_os_error_message(e))
  return main


def _config_file(argv: list[str]) -> str | None:
  """The --config file named on the command line, if any."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg[len("--config="):]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with errors in the config file or a --config.KEY as one line.

  The config file is loaded once here first, so that a missing file, a syntax
  error, an exception in it, or a missing / wrong `get_config` is reported as
  what it is (ml_collections would report some of them as an unknown key).
  """
  from gaxla import config as config_lib
  path = _config_file(argv)
  if path is not None:
    try:
      config_lib.from_file(path)
    except (ValueError, OSError) as e:
      _fail(str(e))
  try:
    return app.parse_flags_with_usage(argv)
  except (AttributeError, KeyError) as e:
    # ml_collections rejects `--config.KEY=...` for a KEY the config lacks while
    # absl parses flags, before our own validation can run.
    detail = str(e.args[0] if e.args else e).replace("\\n", " ").replace("\n", " ")
    detail = detail.replace("\\'", "'").strip("'\" ")
    key = detail.split()[0].strip("'\"") if detail else ""
    flag = next((a.split("=")[0] for a in argv[1:]
                 if a.startswith("--config.") and a.split("=")[0].split(".")[-1] == key), None)
    where = f"'{flag[len('--config.'):]}' (from {flag})" if flag else repr(key)
    hint = detail[len(key) + 2:].strip() if "Did you mean" in detail else ""
    _fail(f"unknown config key {where}. {hint} Keys a config has are listed in its "
          "config.json; model options in gaxla/models/.".replace("  ", " "))


def main(argv=None) -> None:
  if argv is None:  # the real command line: huge-page malloc first (gaxla/xla_cpu.py)
    from gaxla import xla_cpu
    xla_cpu.reexec_with_hugepage_malloc()
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] not in COMMANDS:
    print(USAGE, file=sys.stderr)
    sys.exit(0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2)
  command = {"train": _train, "sample": _sample, "eval": _eval,
             "describe": _describe, "prepare": _prepare,
             "interpolate": _interpolate}[argv[1]]
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  # orbax logs a failed background write with its traceback, from each of
  # several threads, before the error reaches us; we report it once, in one line.
  logging.get_absl_logger().addFilter(_quiet_orbax_failures)
  # The other writes of a failed save end as asyncio tasks nobody awaits; asyncio
  # logs each when it is collected, often after our one-line error.
  logging_std.getLogger("asyncio").addFilter(_quiet_orbax_tasks)
  # Over `ulimit -f`, a write then fails with EFBIG (reported with its path and
  # step) instead of the kernel killing the process with no message.
  if hasattr(signal, "SIGXFSZ"):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  try:
    app.run(_run(command), argv=[f"gaxla {argv[1]}"] + argv[2:], flags_parser=_parse_flags)
  except KeyboardInterrupt:  # Ctrl-C during start-up (imports, flag parsing)
    print("gaxla: interrupted (Ctrl-C)", file=sys.stderr)
    sys.exit(128 + signal.SIGINT)


if __name__ == "__main__":
  main()
