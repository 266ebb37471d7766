"""Stacked Fashion-MNIST mode-collapse table: rows of configs/stacked_fashion_mnist.py.

Trains each row (the config's argument: '' baseline, 'pac2', 'mbsd', ...) for
each seed with the same number of steps, one run after another, and scores
the final EMA generator with `stacked_modes` (modes covered of 1,000, reverse
KL) on --samples samples; also scores real stacked test images the same way
(the reference row). Prints a Markdown table and writes the raw rows as JSON.

  python scripts/bench_stacked.py --rows ,pac2,mbsd --seeds 1 --steps 2000 \
      --out runs/bench_stacked.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "stacked_fashion_mnist.py")


def real_row(samples: int) -> dict:
  """`stacked_modes` on real stacked test images (what a perfect generator scores)."""
  from gaxla import data
  from gaxla.config import from_file
  from gaxla.evaluate import evaluators
  config = from_file(CONFIG)
  images, _ = data.load_images(config.data, "test")
  images = images[np.random.default_rng(0).permutation(len(images))[:samples]]
  scores = evaluators.StackedModes(config).score(images, np.zeros(len(images), np.int32), {})
  return {"row": "real test images", "seed": None, **scores}


def train_row(row: str, seed: int, steps: int, samples: int, workdir: str) -> dict:
  start = time.perf_counter()
  subprocess.run(
      [sys.executable, "-m", "gaxla", "train", "--config", f"{CONFIG}:{row}" if row else CONFIG,
       "--workdir", workdir, f"--config.seed={seed}", f"--config.num_steps={steps}",
       f"--config.eval_every_steps={steps}", f"--config.checkpoint_every_steps={steps}",
       f"--config.eval.num_samples={samples}", "--progress=lines"],
      check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
  wall = time.perf_counter() - start
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    last = [json.loads(line) for line in f if "eval/stacked_modes/modes_covered" in line][-1]
  prefix = "eval/stacked_modes/"
  return {"row": row or "baseline", "seed": seed, "wall_s": round(wall, 1),
          **{k[len(prefix):]: v for k, v in last.items() if k.startswith(prefix)}}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rows", default=",pac2,pac4,mbd,mbsd,fm,noise,diffaug,unroll5",
                      help="comma-separated config arguments ('' = baseline)")
  parser.add_argument("--seeds", type=int, default=1)
  parser.add_argument("--steps", type=int, default=4000)
  parser.add_argument("--samples", type=int, default=10000)
  parser.add_argument("--workdirs", default=os.path.join(ROOT, "runs", "bench_stacked"))
  parser.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_stacked.json"))
  args = parser.parse_args()
  results = [real_row(args.samples)]
  for row in args.rows.split(","):
    for seed in range(args.seeds):
      workdir = os.path.join(args.workdirs, f"{row or 'baseline'}_seed{seed}")
      results.append(train_row(row, seed, args.steps, args.samples, workdir))
      print(json.dumps(results[-1]), flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(results, f, indent=1)
  print("| row | seed | modes covered (of 1,000) | reverse KL | channel confidence | wall s |")
  print("|---|---|---|---|---|---|")
  for r in results:
    print(f"| {r['row']} | {r['seed'] if r['seed'] is not None else '-'} | "
          f"{r['modes_covered']:.0f} | {r['reverse_kl']:.3f} | "
          f"{r['channel_confidence']:.3f} | {r.get('wall_s', '-')} |")


if __name__ == "__main__":
  main()
