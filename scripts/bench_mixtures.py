"""Mode-coverage benchmark on PacGAN's 2-D mixtures (ring and grid).

Trains configs/mog_ring.py and configs/mog_grid.py for several seeds, one
run after another, and reports modes covered and % high-quality samples
(2,500 samples, 3-std rule) as mean +- std, with the wall time of each run
(compile included). Prints a Markdown table for BENCHMARKS.md and writes the
raw numbers as JSON.

  python scripts/bench_mixtures.py --seeds 10 --out runs/bench_mixtures.json

A config is a file name in configs/, optionally with its argument, e.g.
`--configs mog_ring,mog_pacgan:ring4,mog_minibatch:ring`; `--first-seed`
starts the seeds elsewhere than 0; `--num-steps N` shortens every run to N
steps (a smaller budget, with the configs' schedules over N steps).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(name: str):
  """`configs/NAME.py`, or `configs/FILE.py` with argument ARG for 'FILE:ARG'."""
  from gaxla import config as config_lib
  file, _, arg = name.partition(":")
  return config_lib.from_file(os.path.join(ROOT, "configs", f"{file}.py"), arg or None)


def run_one(name: str, seed: int, num_steps: int = 0) -> dict:
  from gaxla import train
  config = load_config(name)
  config.seed = seed
  if num_steps:
    # A shorter budget (schedules shrink with it); evaluated and saved at the end.
    config.num_steps = config.eval_every_steps = config.checkpoint_every_steps = num_steps
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    _, metrics = train.train_and_evaluate(config, workdir, show_progress=False)
    wall = time.perf_counter() - start
  return {"config": name, "seed": seed, "wall_s": wall,
          "modes": metrics["eval/mode_coverage/modes_covered"],
          "high_quality": metrics["eval/mode_coverage/high_quality"],
          "reverse_kl": metrics["eval/mode_coverage/reverse_kl"]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=10)
  parser.add_argument("--first-seed", type=int, default=0)
  parser.add_argument("--num-steps", type=int, default=0,
                      help="> 0: train this many steps instead of the config's")
  parser.add_argument("--configs", default="mog_ring,mog_grid")
  parser.add_argument("--out", default="runs/bench_mixtures.json")
  args = parser.parse_args()
  from absl import logging
  logging.set_verbosity(logging.WARNING)

  results = []
  for name in args.configs.split(","):
    for seed in range(args.first_seed, args.first_seed + args.seeds):
      row = run_one(name, seed, args.num_steps)
      results.append(row)
      print(json.dumps(row), flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "results": results}, f, indent=2)

  print("\n| config | modes covered | % high quality | reverse KL | wall time per run (s) |")
  print("|---|---|---|---|---|")
  for name in args.configs.split(","):
    rows = [r for r in results if r["config"] == name]
    m = np.array([r["modes"] for r in rows])
    hq = 100 * np.array([r["high_quality"] for r in rows])
    kl = np.array([r["reverse_kl"] for r in rows])
    wall = np.array([r["wall_s"] for r in rows])
    print(f"| {name} ({len(rows)} seeds) | {m.mean():.2f} ± {m.std():.2f} | "
          f"{hq.mean():.1f} ± {hq.std():.1f} | {kl.mean():.4f} ± {kl.std():.4f} | "
          f"{wall.mean():.0f} ± {wall.std():.0f} (max {wall.max():.0f}) |")


if __name__ == "__main__":
  main()
