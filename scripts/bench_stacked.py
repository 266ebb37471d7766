"""Stacked Fashion-MNIST mode-collapse table: rows of configs/stacked_fashion_mnist.py.

Trains each row (the config's argument: '' baseline, 'pac2', 'mbsd', ...) for
each seed, one run after another, and scores the final EMA generator with
`stacked_modes` (modes covered of 1,000, reverse KL and its two parts, class
imbalance and dependence) on --samples samples; also scores real stacked test
images the same way (the reference row). Prints a Markdown table (per run,
then mean +- std per row) and writes the raw rows as JSON.

Every row gets the same wall-clock budget: the time the baseline takes for
--budget_steps steps. Each row's step rate is measured first in a short
calibration run (--calibrate_steps, on a quiet machine: the rates set the
steps), and the row trains for budget_steps x its rate / the baseline's rate
steps (a full learning-rate schedule of that length; the config anneals
instance noise to 0 at half of it). `--rates` reuses the rates of an earlier calibration
(the JSON it printed), so several invocations can share one.

  python scripts/bench_stacked.py --rows ,pac2,mbsd --seeds 3 --budget_steps 5000 \
      --out runs/bench_stacked.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "stacked_fashion_mnist.py")
SCORES = ("modes_covered", "reverse_kl", "class_imbalance", "dependence", "channel_confidence")


def real_row(samples: int) -> dict:
  """`stacked_modes` on `samples` real stacked test images (what a perfect generator scores).

  Each channel draws its test image independently, with replacement, so any
  sample count gives independent class triples (the test split has 10,000
  images; PacGAN's protocol scores 26,000 samples).
  """
  from gaxla import data
  from gaxla.config import from_file
  from gaxla.evaluate import evaluators
  config = from_file(CONFIG)
  single = config.copy_and_resolve_references()
  single.data.name = "fashion_mnist"    # the single-channel test images
  images, _ = data.load_images(single.data, "test")
  picks = np.random.default_rng(0).integers(0, len(images), (samples, 3))
  stacked = np.concatenate([images[picks[:, k]] for k in range(3)], axis=-1)
  scores = evaluators.StackedModes(config).score(stacked, np.zeros(samples, np.int32), {})
  return {"row": "real test images", "seed": None, **scores}


def _train(row: str, workdir: str, steps: int, *extra: str, every: int | None = None) -> float:
  """Trains `row` for `steps`; evaluates and checkpoints every `every` (default: at the end)."""
  start = time.perf_counter()
  every = every or steps
  overrides = [f"--config.num_steps={steps}", f"--config.eval_every_steps={every}",
               f"--config.checkpoint_every_steps={every}"]
  subprocess.run(
      [sys.executable, "-m", "gaxla", "train", "--config", f"{CONFIG}:{row}" if row else CONFIG,
       "--workdir", workdir, *overrides, *extra, "--progress=lines"],
      check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
  return time.perf_counter() - start


def calibrate(row: str, steps: int) -> float:
  """Steps per second of `row` after compilation (median of the logged rates)."""
  with tempfile.TemporaryDirectory() as workdir:
    log_every = max(steps // 5, 1)
    _train(row, workdir, steps, f"--config.log_every_steps={log_every}", every=10 * steps)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      rates = [json.loads(line).get("steps_per_sec") for line in f]
  rates = [r for r in rates if r is not None][1:]    # the first log includes compilation
  return float(np.median(rates))


def train_row(row: str, seed: int, steps: int, samples: int, workdir: str) -> dict:
  wall = _train(row, workdir, steps, f"--config.seed={seed}",
                f"--config.eval.num_samples={samples}")
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    last = [json.loads(line) for line in f if "eval/stacked_modes/modes_covered" in line][-1]
  prefix = "eval/stacked_modes/"
  return {"row": row or "baseline", "seed": seed, "steps": steps, "wall_s": round(wall, 1),
          **{k[len(prefix):]: v for k, v in last.items() if k.startswith(prefix)}}


def row_steps(budget_steps: int, rates: dict, row: str) -> int:
  """Steps that take `row` as long as `budget_steps` take the baseline (to 100s, >= 100)."""
  return max(100, int(round(budget_steps * rates[row] / rates[""], -2)))


def parse_seeds(text: str) -> list[int]:
  """'3' -> [0, 1, 2]; a list ending in a comma ('1,2,' or '0,') -> those seeds."""
  if "," in text:
    return [int(s) for s in text.split(",") if s.strip()]
  return list(range(int(text)))


def _fmt(r: dict) -> str:
  return " | ".join(f"{r[k]:.0f}" if k == "modes_covered" else f"{r[k]:.3f}" for k in SCORES)


def summary(results: list[dict]) -> list[str]:
  lines = ["| row | steps | modes covered | reverse KL | class imbalance | dependence "
           "| channel confidence |", "|---|---|---|---|---|---|---|"]
  for row in dict.fromkeys(r["row"] for r in results if r["seed"] is not None):
    runs = [r for r in results if r["row"] == row]
    cells = []
    for k in SCORES:
      v = np.array([r[k] for r in runs], np.float64)
      digits = 1 if k == "modes_covered" else 3
      cells.append(f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0:.{digits}f}")
    lines.append(f"| {row} (n = {len(runs)}) | {runs[0]['steps']} | " + " | ".join(cells) + " |")
  return lines


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rows", default=",pac2,pac4,mbd,mbsd,fm,noise,diffaug,unroll5",
                      help="comma-separated config arguments ('' = baseline)")
  parser.add_argument("--seeds", default="3",
                      help="a count (seeds 0..N-1), or a list of seeds ending in a comma "
                           "('1,2,' or '0,')")
  parser.add_argument("--budget_steps", type=int, default=5000,
                      help="the baseline's steps; every row gets the same wall time")
  parser.add_argument("--calibrate_steps", type=int, default=500)
  parser.add_argument("--rates", default="",
                      help="JSON {row: steps/s} from an earlier calibration (skips it)")
  parser.add_argument("--samples", type=int, default=26000,
                      help="samples scored per run (PacGAN's stacked-MNIST protocol: 26,000)")
  parser.add_argument("--workdirs", default=os.path.join(ROOT, "runs", "bench_stacked"))
  parser.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_stacked.json"))
  args = parser.parse_args()
  rows = args.rows.split(",")
  seeds = parse_seeds(args.seeds)
  rates = {("" if k == "baseline" else k): v for k, v in json.loads(args.rates or "{}").items()}
  for row in dict.fromkeys(["", *rows]):
    if row not in rates:
      rates[row] = calibrate(row, args.calibrate_steps)
  print("rates:", json.dumps({(r or "baseline"): round(v, 2) for r, v in rates.items()}),
        flush=True)
  results = [real_row(args.samples)]
  for row in rows:
    steps = row_steps(args.budget_steps, rates, row)
    for seed in seeds:
      workdir = os.path.join(args.workdirs, f"{row or 'baseline'}_seed{seed}")
      results.append(train_row(row, seed, steps, args.samples, workdir))
      print(json.dumps(results[-1]), flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump({"budget_steps": args.budget_steps, "rates": rates, "results": results}, f, indent=1)
  print("| row | seed | steps | modes covered (of 1,000) | reverse KL | class imbalance "
        "| dependence | channel confidence | wall s |")
  print("|---|---|---|---|---|---|---|---|---|")
  for r in results:
    print(f"| {r['row']} | {r['seed'] if r['seed'] is not None else '-'} | "
          f"{r.get('steps', '-')} | {_fmt(r)} | {r.get('wall_s', '-')} |")
  print()
  print("\n".join(summary(results)))


if __name__ == "__main__":
  main()
