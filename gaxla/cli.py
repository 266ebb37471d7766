"""`gaxla train | sample | describe`: the only place flags are defined.

  gaxla train  --config configs/NAME.py[:arg] --workdir DIR [--config.key=value ...]
  gaxla sample --workdir DIR --num N --out FILE [--labels all|i,j,..] [--seed S]
               [--truncation T] [--step latest|N] [--standing_batches K]
  gaxla sample --workdir DIR --out sheet.png --sheet 0,0.5,1,2 [--labels ...]
               (rows = classes, columns = truncation thresholds; 0 = none)
  gaxla sample --workdir DIR --out walk.png --interpolate latent|class --num FRAMES
               (one row per class: latent slerp with the class fixed, or the
               class embedding mixed from each class to the next, latent fixed)
  gaxla describe --config configs/NAME.py[:arg]
               (parameters per module group and FLOPs of G, D and the train
               step, from shapes only; --nostep_flops skips the step)

`gaxla sample` uses the EMA generator; with --standing_batches K > 0 (default
16) BatchNorm statistics are first re-estimated for the EMA params over K
batches of the config's batch size (standing statistics).

Errors in configs, workdirs or arguments print one line, `gaxla: error: ...`,
and exit with status 2.
"""

from __future__ import annotations

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
_TRUNCATION = flags.DEFINE_float("truncation", 0.0, "sample: truncation threshold (0 = off).")
_STEP = flags.DEFINE_string("step", "latest", "sample: checkpoint step, 'latest' or a number.")
_SHEET = flags.DEFINE_list("sheet", None, "sample: truncations for a class x truncation sheet.")
_INTERPOLATE = flags.DEFINE_enum("interpolate", None, ["latent", "class"],
                                 "sample: write an interpolation, --num frames per row.")
_STANDING = flags.DEFINE_integer(
    "standing_batches", 16, "sample: batches for BatchNorm standing statistics (0 = off).")
_STEP_FLOPS = flags.DEFINE_bool("step_flops", True, "describe: also count the train step's FLOPs.")
_PROGRESS = flags.DEFINE_enum("progress", "auto", ["auto", "bar", "lines"],
                              "train: progress bar, plain log lines, or auto (bar on a TTY).")

COMMANDS = ("train", "sample", "describe")
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


def _sample(argv) -> None:
  from gaxla import checkpoint, config as config_lib, data, train
  from gaxla.sample import write_samples
  if not _WORKDIR.value:
    raise ValueError("sample needs --workdir DIR")
  if not _OUT.value:
    raise ValueError("sample needs --out FILE.npy or FILE.png")
  config = config_lib.validate(train.load_config(_WORKDIR.value))
  trainer = train.trainer_for(config)
  manager = checkpoint.make_manager(_WORKDIR.value, config.checkpoint_every_steps)
  step = None
  if _STEP.value != "latest":
    try:
      step = int(_STEP.value)
    except ValueError:
      raise ValueError(f"--step must be 'latest' or an integer, got {_STEP.value!r}") from None
  state = checkpoint.restore(manager, trainer.abstract_state(config.seed), step)
  manager.close()
  if state is None:
    raise FileNotFoundError(f"no checkpoint in {_WORKDIR.value}/checkpoints: train first.")
  info = data.get_info(config.data.name)
  modes = data.mixtures.MIXTURES[info.name]().modes if info.kind == "points" else None
  try:
    sheet = [float(t) for t in _SHEET.value] if _SHEET.value else None
  except ValueError:
    raise ValueError(f"--sheet must be comma-separated numbers, got {_SHEET.value!r}") from None
  if _STANDING.value < 0:
    raise ValueError(f"--standing_batches must be >= 0, got {_STANDING.value}")
  written = write_samples(trainer, state.ema_generator_variables(), _OUT.value, _NUM.value,
                          seed=_SEED.value, labels=_LABELS.value,
                          truncation=_TRUNCATION.value, modes=modes, sheet_truncations=sheet,
                          interpolate=_INTERPOLATE.value, standing_batches=_STANDING.value,
                          standing_batch_size=config.batch_size)
  standing = f", standing stats over {_STANDING.value} batches" if _STANDING.value else ""
  print(f"gaxla: wrote {', '.join(written)} (step {int(state.step)}, EMA generator{standing})")


def _describe(argv) -> None:
  from gaxla import describe
  if _CONFIG.value is None:
    raise ValueError("describe needs --config configs/NAME.py")
  config = _CONFIG.value
  config.unlock()
  report = describe.describe(config, step_flops=_STEP_FLOPS.value)
  print(describe.format_report(report, config_flags.get_config_filename(flags.FLAGS["config"])))


def _run(command):
  def main(argv):
    if len(argv) > 1:
      raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
      command(argv)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
      print(f"gaxla: error: {e}", file=sys.stderr)
      sys.exit(2)
  return main


def main(argv=None) -> None:
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] not in COMMANDS:
    print(USAGE, file=sys.stderr)
    sys.exit(0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2)
  command = {"train": _train, "sample": _sample, "describe": _describe}[argv[1]]
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  try:
    app.run(_run(command), argv=[f"gaxla {argv[1]}"] + argv[2:])
  except (AttributeError, KeyError) as e:
    # ml_collections rejects `--config.KEY=...` for a KEY the config lacks while
    # absl parses flags, before our own validation can run.
    detail = str(e.args[0] if e.args else e).replace("\\n", " ").replace("\n", " ")
    detail = detail.replace("\\'", "'").strip("'\" ")
    key = detail.split()[0].strip("'\"") if detail else ""
    flag = next((a.split("=")[0] for a in argv[2:]
                 if a.startswith("--config.") and a.split("=")[0].split(".")[-1] == key), None)
    where = f"'{flag[len('--config.'):]}' (from {flag})" if flag else repr(key)
    hint = detail[len(key) + 2:].strip() if "Did you mean" in detail else ""
    print(f"gaxla: error: unknown config key {where}. {hint} Keys a config has are "
          "listed in its config.json; model options in gaxla/models/.".replace("  ", " "),
          file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  main()
