"""What an InfoGAN run's codes learned: categorical code vs real class, continuous sweeps.

  python scripts/infogan_codes.py --workdir runs/fmnist_infogan \
      [--num 1000] [--png docs/fashion_mnist_infogan_codes.png]

For a run of configs/fashion_mnist_infogan.py (or any image run with
model.latent_categories > 0): for each value k of the categorical code,
`--num` samples with the code fixed to k (noise and continuous codes drawn as
in training) are classified by gaxla's Fashion-MNIST classifier
(gaxla/evaluate/classifier.py, trained and cached on first use). From the
[code, class] count matrix it reports the accuracy of the categorical code
alone as a class predictor after the best one-to-one matching of codes to
classes (scipy.optimize.linear_sum_assignment), the matching itself, and the
classifier's own test accuracy. Chance is 1/classes; a code that ignores the
class scores about the share of the most common class in the samples.

The picture holds one panel per continuous code: one row per categorical
value, columns sweep that code over `--sweep` values (the others at 0, one
shared noise vector), as in the InfoGAN paper's figures.

Prints and writes a JSON summary (`--json`, default WORKDIR/infogan_codes.json).
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import numpy as np


def code_class_counts(run, classifier, num: int, seed: int = 0) -> np.ndarray:
  """[categories, classes] counts of the classifier's class for samples of each code."""
  from gaxla import sample as sample_lib
  system = run.system
  counts = np.zeros((system.latent_categories, classifier_classes(classifier)), np.int64)
  for code in range(system.latent_categories):
    z = run.latent(num, seed=seed * 1000 + code)
    images = run.generator(sample_lib.with_codes(system, z, category=code))
    predicted = classifier(images)["logits"].argmax(axis=1)
    counts[code] = np.bincount(predicted, minlength=counts.shape[1])
  return counts


def classifier_classes(classifier) -> int:
  return int(classifier.variables["params"]["out"]["bias"].shape[0])


def matched_accuracy(counts: np.ndarray) -> tuple[float, dict]:
  """Accuracy of the best one-to-one code -> class matching, and the matching."""
  from scipy.optimize import linear_sum_assignment
  codes, classes = linear_sum_assignment(-counts)
  return float(counts[codes, classes].sum() / counts.sum()), dict(
      zip(codes.tolist(), classes.tolist()))


def sweep_picture(run, values, seed: int = 0) -> np.ndarray:
  """One panel per continuous code (rows: categorical values), side by side."""
  from gaxla import sample as sample_lib
  system = run.system
  panels = []
  for code in range(system.latent_continuous):
    images = sample_lib.code_sweep(system, run.variables, jax.random.key(seed), code, values)
    panels.append(sample_lib.image_grid(images, len(values)))
  gap = np.full((panels[0].shape[0], 8, panels[0].shape[2]), 255, np.uint8)
  out = [panels[0]]
  for panel in panels[1:]:
    out += [gap, panel]
  return np.concatenate(out, axis=1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--step", default="latest")
  parser.add_argument("--num", type=int, default=1000, help="samples per categorical value")
  parser.add_argument("--sweep", default="-1,-0.67,-0.33,0,0.33,0.67,1",
                      help="values of each continuous code in its sweep")
  parser.add_argument("--png", default="docs/fashion_mnist_infogan_codes.png")
  parser.add_argument("--json", default="", help="default WORKDIR/infogan_codes.json")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  from gaxla import api
  from gaxla import sample as sample_lib
  from gaxla.evaluate import classifier as classifier_lib
  from gaxla.evaluate.evaluators import cache_dir

  run = api.load(args.workdir, args.step if args.step in ("latest", "best") else int(args.step))
  if not run.system.latent_categories:
    raise SystemExit(f"{args.workdir}: the run has no categorical code "
                     "(model.latent_categories = 0)")
  config = run.config
  classifier, test_accuracy = classifier_lib.get_classifier(
      config.data, cache_dir(config), config.eval.classifier_steps)
  counts = code_class_counts(run, classifier, args.num, args.seed)
  accuracy, matching = matched_accuracy(counts)
  summary = {
      "workdir": args.workdir, "step": run.step, "samples_per_code": args.num,
      "matched_accuracy": accuracy, "chance": 1.0 / counts.shape[1],
      "largest_class_share": float(counts.sum(0).max() / counts.sum()),
      "code_to_class": matching, "counts": counts.tolist(),
      "classifier_test_accuracy": test_accuracy,
  }
  if run.system.latent_continuous:
    values = [float(v) for v in args.sweep.split(",")]
    sample_lib.save_png(sweep_picture(run, values, args.seed), args.png)
    summary["sweep_png"] = args.png
  out = args.json or os.path.join(args.workdir, "infogan_codes.json")
  with open(out, "w") as f:
    json.dump(summary, f, indent=1)
  print(f"step {run.step}: categorical code -> class accuracy {accuracy:.3f} after matching "
        f"(chance {summary['chance']:.2f}, largest class share "
        f"{summary['largest_class_share']:.3f}; classifier test accuracy {test_accuracy:.3f})")
  print(f"matching code->class: {matching}")
  print(f"wrote {out}" + (f" and {args.png}" if "sweep_png" in summary else ""))


if __name__ == "__main__":
  main()
