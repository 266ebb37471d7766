"""A picture of a ProGAN run's samples at the end of each stage: docs/progan_stages.png.

Loads the workdir's checkpoints at the given steps (e.g. the last step of each
resolution's stable phase) and draws one row per step: the same latents, one
sample per class (or `--cols` samples, unconditional). Each row is what
`gaxla sample` gives at that checkpoint: the stage's output nearest-upsampled
to the data resolution.

  python scripts/progan_stages.py --workdir runs/fmnist_progan --steps 375,1125,1875,3000 \
      --out docs/progan_stages.png
"""

from __future__ import annotations

import argparse

import numpy as np


def stage_rows(workdir: str, steps: list[int], cols: int, seed: int = 0) -> tuple[np.ndarray, list]:
  """[len(steps) * cols, H, W, C] samples (row by row) and each row's (step, phase, alpha)."""
  from gaxla import api
  from gaxla.models import progan
  rows, captions = [], []
  for step in steps:
    run = api.load(workdir, step)
    labels = list(range(cols)) if run.num_classes else None
    rows.append(run.sample(cols, labels=labels, seed=seed))
    progress = run.state.g.collections[progan.PROGRESS]
    captions.append((step, int(progress["phase"]), float(progress["alpha"])))
  return np.concatenate(rows), captions


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--steps", required=True, help="comma-separated checkpoint steps")
  parser.add_argument("--cols", type=int, default=10)
  parser.add_argument("--out", default="docs/progan_stages.png")
  args = parser.parse_args(argv)
  from gaxla import sample as sample_lib
  steps = [int(s) for s in args.steps.split(",")]
  images, captions = stage_rows(args.workdir, steps, args.cols)
  sample_lib.save_png(sample_lib.image_grid(images, args.cols), args.out, upscale=4)
  for step, phase, alpha in captions:
    side = 4 * 2 ** ((phase + 1) // 2)
    kind = "fading in" if phase % 2 else "stable"
    print(f"step {step}: phase {phase} ({side}x{side} {kind}, alpha {alpha:.2f})")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
