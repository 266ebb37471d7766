"""Times BigGAN-PyTorch's own training iteration on this machine, for a side-by-side.

BigGAN-PyTorch (github.com/ajbrock/BigGAN-PyTorch) is not part of gaxla and
nothing of it is copied here: clone it into a scratch folder outside this
repository and pass its path. This script builds its CIFAR generator and
discriminator with its own modules and its CIFAR launch settings
(`scripts/launch_cifar_ema.sh`: ch 64, dim_z 128, no attention, no shared
embedding, N02 init, hinge loss, SN, Adam(0, 0.999), lr 2e-4) and runs its
own `train_fns.GAN_training_function` on random images, so the timed work is
exactly one BigGAN-PyTorch iteration (num_D_steps critic updates + one G
update + EMA), on the CPU with `--threads` threads.

  python scripts/bench_biggan_pytorch.py --repo /path/to/BigGAN-PyTorch \
      --batch_size 64 --num_D_steps 4 --iters 3

The gaxla side of the comparison is
  python scripts/bench_step.py --config configs/cifar10_biggan.py --synthetic \
      --batch_size 64 --config.optim.n_critic=4 --steps 3
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repo", required=True, help="a BigGAN-PyTorch checkout")
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--num_D_steps", type=int, default=4)
  parser.add_argument("--iters", type=int, default=3, help="timed iterations after one warm-up")
  parser.add_argument("--threads", type=int, default=os.cpu_count())
  args = parser.parse_args()

  sys.path.insert(0, os.path.abspath(args.repo))
  import torch
  import BigGAN  # noqa: E402  (BigGAN-PyTorch's module)
  import train_fns  # noqa: E402
  import utils  # noqa: E402

  torch.set_num_threads(args.threads)
  argv = ["--batch_size", str(args.batch_size), "--num_D_steps", str(args.num_D_steps),
          "--G_lr", "2e-4", "--D_lr", "2e-4", "--dataset", "C10", "--G_ortho", "0.0",
          "--G_attn", "0", "--D_attn", "0", "--G_init", "N02", "--D_init", "N02",
          "--ema", "--use_ema", "--ema_start", "1000", "--seed", "0"]
  config = vars(utils.prepare_parser().parse_args(argv))
  config["resolution"] = utils.imsize_dict[config["dataset"]]
  config["n_classes"] = utils.nclass_dict[config["dataset"]]
  config["G_activation"] = utils.activation_dict[config["G_nl"]]
  config["D_activation"] = utils.activation_dict[config["D_nl"]]
  config["skip_init"] = False
  utils.seed_rng(config["seed"])
  device = "cpu"
  G = BigGAN.Generator(**config).to(device)
  D = BigGAN.Discriminator(**config).to(device)
  G_ema = BigGAN.Generator(**{**config, "skip_init": True, "no_optim": True}).to(device)
  ema = utils.ema(G, G_ema, config["ema_decay"], config["ema_start"])
  GD = BigGAN.G_D(G, D)
  state_dict = {"itr": 0, "epoch": 0, "save_num": 0, "save_best_num": 0,
                "best_IS": 0, "best_FID": 999999, "config": config}
  bs = config["batch_size"]
  z_, y_ = utils.prepare_z_y(bs, G.dim_z, config["n_classes"], device=device,
                             fp16=config["G_fp16"])
  train = train_fns.GAN_training_function(G, D, GD, z_, y_, ema, state_dict, config)
  n = bs * config["num_D_steps"] * config["num_D_accumulations"]
  x = torch.rand(n, 3, 32, 32) * 2 - 1
  y = torch.randint(0, config["n_classes"], (n,))
  G.train()
  D.train()
  times = []
  for i in range(args.iters + 1):
    start = time.perf_counter()
    train(x, y)
    state_dict["itr"] += 1
    if i:
      times.append(time.perf_counter() - start)
  g_params = sum(p.numel() for p in G.parameters())
  d_params = sum(p.numel() for p in D.parameters())
  print(json.dumps({
      "framework": f"BigGAN-PyTorch (torch {torch.__version__})", "batch_size": bs,
      "num_D_steps": config["num_D_steps"], "threads": args.threads,
      "G_params": g_params, "D_params": d_params,
      "iter_s": [round(t, 2) for t in times], "mean_iter_s": round(sum(times) / len(times), 2),
      "machine": f"{platform.machine()}, {os.cpu_count()} cores"}))


if __name__ == "__main__":
  main()
