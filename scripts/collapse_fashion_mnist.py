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
monitor (the config's rules, the metric rule alone, the training signals
alone, the explosion rule alone) would have stopped. With
`--live_eval_every N` the collapsing config also runs with the monitor
acting and evaluations every N steps, as sparse as a full run's: the stop,
the stall alarms' own evaluations, and the checkpoint kept. The best checkpoint by FD is kept by the
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


RULE_SETS = ("all", "metric", "signals", "explosion")


def replay(history: list[dict], monitor_config, rules: str) -> dict | None:
  """Where `decide` stops on a logged history, using only some rules.

  rules: 'all' (the config's monitor), 'metric' (the eval-metric rule alone),
  'signals' (training signals alone: stall alarms stop at once, no metric),
  'explosion' (the explosion rule alone). Records are fed one step at a time,
  as the loop appends them. A stall alarm's CHECK is answered with the
  history's own evaluation at that step (the collapsing run evaluates at
  every log step, and an evaluation is a pure function of the checkpoint, so
  this is what the loop's check would have scored). Returns the stop step,
  reason, the alarms checked on the way and the best evaluation before the
  stop (what `stop_keep_best` keeps), or None.
  """
  from gaxla import metrics as names, monitor
  config = monitor_config.copy_and_resolve_references()
  config.action = "stop_keep_best"
  metric = METRIC if rules in ("all", "metric") else ""
  if rules == "metric":
    config.sigma_growth, config.margin_limit = 0.0, 0.0
    config.critic_stall, config.generator_stall, config.explosion = 0.0, 0.0, 0.0
  if rules == "explosion":
    config.critic_stall, config.generator_stall = 0.0, 0.0
  by_step: dict[int, list[dict]] = {}
  for record in history:
    if not record.get(names.MONITOR_CHECK):   # the run's own checks: replayed here instead
      by_step.setdefault(int(record["step"]), []).append(record)
  seen: list[dict] = []
  alarms = []
  for step in sorted(by_step):
    seen.extend(by_step[step])
    decision = monitor.decide(seen, config, metric, "min")
    if decision.check:
      value = next((r[METRIC] for r in by_step[step] if METRIC in r), None)
      if value is None:
        continue
      alarms.append([step, value])
      seen.append({"step": step, METRIC: value, names.MONITOR_CHECK: 1.0})
      decision = monitor.decide(seen, config, metric, "min")
    if decision.stop:
      evals = [(int(r["step"]), r[METRIC]) for r in seen if METRIC in r]
      return {"step": decision.step, "reason": decision.reason, "alarms": alarms,
              "kept": min(evals, key=lambda e: e[1]) if evals else None}
  return None


def checks(history: list[dict]) -> list[list]:
  """[step, FD] of each evaluation a stall alarm asked for during the run."""
  from gaxla import metrics as names
  return [[r["step"], r[METRIC]] for r in history if r.get(names.MONITOR_CHECK)]


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
  parser.add_argument("--live_eval_every", type=int, default=0,
                      help="> 0: also run the collapsing config with the monitor acting and "
                           "evaluations only every this many steps")
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
    stops = {rules: replay(history, config.monitor, rules) for rules in RULE_SETS}
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

  if args.live_eval_every:
    # The same collapsing run with the monitor acting and evaluations as sparse
    # as a real run's: what stops it, and which checkpoint it keeps.
    config = collapsing_config(args)
    config.eval_every_steps = args.live_eval_every
    config.monitor.action = "stop_keep_best"
    live = run(config, os.path.join(args.out, "live"))
    history = live.pop("history")
    live["checks"] = checks(history)
    report = live["collapse"]
    if report and report["kept_step"] is not None:
      live["kept_reevaluated"] = reevaluate(live["workdir"], report["kept_step"],
                                            args.eval_samples)
    results["live"] = live
    print("live:", json.dumps({k: live.get(k) for k in (
        "final_step", "checks", "collapse", "kept_reevaluated", "seconds")}))

  healthy_args = argparse.Namespace(**{**vars(args),
                                       "steps": args.healthy_steps or args.steps})
  results["healthy"] = []
  for seed in range(args.healthy_seeds):
    healthy = run(base_config(healthy_args, seed), os.path.join(args.out, f"healthy_{seed}"))
    history = healthy.pop("history")
    healthy["replayed_stop"] = replay(history, base_config(healthy_args, seed).monitor, "all")
    healthy["checks"] = checks(history)
    results["healthy"].append(healthy)
    print(f"healthy seed {seed}: stopped={healthy['collapse'] is not None}, stall checks="
          f"{healthy['checks']}, replay={healthy['replayed_stop']}, FD "
          f"{healthy['evals'][-1][1]:.3f} ({healthy['seconds']} s)")
  with open(results_path, "w") as f:
    json.dump(results, f, indent=1)


if __name__ == "__main__":
  main()
