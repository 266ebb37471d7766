"""Induced collapse on real images: the Fashion-MNIST BigGAN, monitored.

  python scripts/collapse_fashion_mnist.py --out runs/collapse_fmnist

Setting: configs/fashion_mnist_biggan.py, shortened to `--steps` generator
steps, logged every 50 steps and evaluated every `--eval_every` steps on
`--eval_samples` samples (classifier-space FD, the config's watched metric).
  collapsing   both learning rates warmed up (linearly, over `--warmup` steps)
               to `--lr_factor` (10) times the config's and held there, and
               with `--critic_without_sn` / `--generator_without_sn` players
               without spectral norm: the
               run learns while the rates are sane, then breaks down
  healthy      the config itself (with the same shortened schedule), seeds 0..N-1
The collapsing run trains to the end with `monitor.action = 'warn'`, so its
whole curve is known; because `gaxla.monitor.decide` is a pure function of
the logged history, replaying it over that history gives the step where the
monitor (default rules, the σ rule, the metric rule alone, the training
signals alone) would have stopped. The best checkpoint by FD is kept by the
checkpoint manager as in any run and re-evaluated on fresh samples.

Writes OUT/results.json and OUT/collapse.png; prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os

import jax

METRIC = "eval/classifier/fd"


def base_config(args, seed: int):
  from gaxla import config as config_lib
  here = os.path.dirname(os.path.abspath(__file__))
  config = config_lib.from_file(os.path.join(here, "..", "configs", "fashion_mnist_biggan.py"))
  config.seed = seed
  config.num_steps = args.steps
  config.log_every_steps = 50
  config.eval_every_steps = args.eval_every
  config.checkpoint_every_steps = args.steps
  config.eval.num_samples = args.eval_samples
  config.checkpoint.keep_latest = 1
  return config


def collapsing_config(args, seed: int = 0):
  config = base_config(args, seed)
  if args.critic_without_sn:
    config.model.critic.spectral_norm = False
  if args.generator_without_sn:
    config.model.generator.spectral_norm = False
  for side in (config.optim.generator, config.optim.critic):
    side.lr *= args.lr_factor
    side.schedule = "constant"
    side.warmup_steps = args.warmup
  config.monitor.action = "warn"   # train on: the replay says where it would stop
  return config


def setting(args) -> str:
  """The collapsing run's changes to the config, in words (plot titles)."""
  parts = [f"lr x{args.lr_factor:g}"]
  parts += [f"no SN in {p}" for p, off in (("G", args.generator_without_sn),
                                           ("D", args.critic_without_sn)) if off]
  return ", ".join(parts)


def replay(history: list[dict], monitor_config, rules: str) -> dict | None:
  """First log step where `decide` stops, using only some rules ('all', 'metric', 'signals')."""
  from gaxla import monitor
  config = monitor_config.copy_and_resolve_references()
  config.action = "stop_keep_best"
  metric = METRIC if rules in ("all", "metric") else ""
  if rules == "metric":
    config.sigma_growth, config.margin_limit, config.critic_stall = 0.0, 0.0, 0.0
  for i in range(1, len(history) + 1):
    decision = monitor.decide(history[:i], config, metric, "min")
    if decision.stop:
      return {"step": decision.step, "reason": decision.reason}
  return None


def reevaluate(workdir: str, step: int, num: int) -> dict:
  """Classifier metrics of checkpoint `step` on fresh samples (standing stats, new key)."""
  from gaxla import checkpoint, evaluate, parallel, sample, train_eval, workdir as workdir_lib
  from gaxla.system import system_for
  config = workdir_lib.load_config(workdir)
  config.eval.num_samples = num
  trainer = system_for(config, mesh=parallel.single_device_mesh())
  manager = checkpoint.make_manager(workdir, config, read_only=True)
  state = checkpoint.restore(manager, trainer.abstract_state(), step)
  manager.close()
  variables = sample.eval_variables(trainer, state, config.eval.standing_batches,
                                    config.batch_size, seed=7)
  return evaluate.run(evaluate.build(config), train_eval.generate_fn_for(trainer, variables),
                      num, jax.random.key(1234))


def run(config, workdir: str) -> dict:
  """`collapse_experiment.run` on the FD metric, plus the run's logged history."""
  from collapse_experiment import run as run_and_score  # scripts/ is on sys.path
  from gaxla import workdir as workdir_lib
  result = run_and_score(config, workdir, METRIC)
  result["history"] = workdir_lib.read_history(workdir, result["final_step"])
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="runs/collapse_fmnist")
  parser.add_argument("--steps", type=int, default=3000)
  parser.add_argument("--warmup", type=int, default=1000)
  parser.add_argument("--eval_every", type=int, default=250)
  parser.add_argument("--eval_samples", type=int, default=2000)
  parser.add_argument("--healthy_seeds", type=int, default=3)
  parser.add_argument("--healthy_steps", type=int, default=0, help="0 = --steps")
  parser.add_argument("--skip_collapsing", action="store_true")
  parser.add_argument("--lr_factor", type=float, default=10.0,
                      help="collapsing run: learning rates x this after the warm-up")
  parser.add_argument("--critic_without_sn", action="store_true",
                      help="collapsing run: no spectral norm in the critic")
  parser.add_argument("--generator_without_sn", action="store_true",
                      help="collapsing run: no spectral norm in the generator")
  args = parser.parse_args()
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  from gaxla import plots
  os.makedirs(args.out, exist_ok=True)
  results_path = os.path.join(args.out, "results.json")
  results: dict = {"metric": METRIC, "args": vars(args)}
  if os.path.exists(results_path):
    with open(results_path) as f:
      results = {**json.load(f), "args": vars(args)}

  if not args.skip_collapsing:
    config = collapsing_config(args)
    collapsing = run(config, os.path.join(args.out, "collapsing"))
    history = collapsing.pop("history")
    evals = collapsing["evals"]
    best_step, best_fd = min(evals, key=lambda e: e[1])
    stops = {rules: replay(history, config.monitor, rules) for rules in ("all", "metric",
                                                                         "signals")}
    first_bad = next((s for s, v in evals if s > best_step and v > 1.1 * best_fd), None)
    kept = reevaluate(collapsing["workdir"], best_step, args.eval_samples)
    results["collapsing"] = {**collapsing, "best": [best_step, best_fd], "stops": stops,
                             "first_eval_10pct_worse": first_bad,
                             "kept_reevaluated": kept, "final_fd": evals[-1][1]}
    stop = stops["all"]
    plots.plot_history(history, os.path.join(args.out, "collapse.png"),
                       title=f"Fashion-MNIST BigGAN, {setting(args)}: where the monitor stops",
                       collapse_step=stop and stop["step"], kept_step=best_step)
    print(json.dumps({k: results["collapsing"][k] for k in (
        "best", "stops", "first_eval_10pct_worse", "final_fd", "seconds")}))
    print("kept (re-evaluated):", kept)

  healthy_args = argparse.Namespace(**{**vars(args),
                                       "steps": args.healthy_steps or args.steps})
  results["healthy"] = []
  for seed in range(args.healthy_seeds):
    healthy = run(base_config(healthy_args, seed), os.path.join(args.out, f"healthy_{seed}"))
    history = healthy.pop("history")
    healthy["replayed_stop"] = replay(history, base_config(healthy_args, seed).monitor, "all")
    results["healthy"].append(healthy)
    print(f"healthy seed {seed}: alarm={healthy['collapse'] is not None}, replay="
          f"{healthy['replayed_stop']}, FD {healthy['evals'][-1][1]:.3f} ({healthy['seconds']} s)")
  with open(results_path, "w") as f:
    json.dump(results, f, indent=1)


if __name__ == "__main__":
  main()
