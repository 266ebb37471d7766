"""ESRGAN x4 on Fashion-MNIST: both stages, interpolations, and the PSNR/SSIM/FD table.

  nice -n 19 python scripts/esrgan_fashion_mnist.py --root runs/esrgan_bench \\
      --psnr_steps 600 --gan_steps 600 [--picture docs/esrgan_fashion_mnist.png]

Trains configs/fashion_mnist_esrgan_psnr.py (PSNR stage) and
configs/fashion_mnist_esrgan.py (GAN stage, initialized from the first) in
ROOT/psnr and ROOT/gan (a finished workdir is reused, not retrained), writes
the interpolated workdirs ROOT/interp_A for A in --alphas with
`superres.interpolate_workdirs` (what `gaxla interpolate` runs), then scores
bicubic upscaling and every generator (EMA) on the first --num_test
Fashion-MNIST test images, upscaled x4 from 7x7: PSNR and SSIM on Y with 4 px
borders cropped, and the Frechet distance of the domain classifier's
features (SR vs ground truth; the perceptual proxy). Prints a markdown table,
writes ROOT/table.json and a side-by-side picture (rows: bicubic, PSNR
RRDB, the interpolations, ESRGAN, ground truth).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--root", default="runs/esrgan_bench")
  parser.add_argument("--psnr_steps", type=int, default=600)
  parser.add_argument("--gan_steps", type=int, default=600)
  parser.add_argument("--alphas", default="0.2,0.5,0.8")
  parser.add_argument("--num_test", type=int, default=1000)
  parser.add_argument("--picture", default="docs/esrgan_fashion_mnist.png")
  args = parser.parse_args()

  import jax.numpy as jnp

  from gaxla import config as config_lib
  from gaxla import sample as sample_lib
  from gaxla import superres, train

  os.makedirs(args.root, exist_ok=True)
  psnr_dir, gan_dir = os.path.join(args.root, "psnr"), os.path.join(args.root, "gan")
  timings = {}
  for name, path, workdir, steps, extra in (
      ("psnr", "configs/fashion_mnist_esrgan_psnr.py", psnr_dir, args.psnr_steps, {}),
      ("gan", "configs/fashion_mnist_esrgan.py", gan_dir, args.gan_steps,
       {"init_from": psnr_dir})):
    config = config_lib.from_file(path)
    config.num_steps = steps
    config.eval_every_steps = steps
    config.checkpoint_every_steps = steps
    config.log_every_steps = min(50, steps)
    config.eval.num_samples = args.num_test
    for key, value in extra.items():
      config.sr[key] = value
    start = time.perf_counter()
    train.train_and_evaluate(config, workdir, show_progress=False)
    timings[name] = time.perf_counter() - start
    print(f"{name}: {steps} steps in {timings[name]:.0f} s (incl. compile and eval)", flush=True)

  alphas = [float(a) for a in args.alphas.split(",") if a]
  rows = [("bicubic", None), ("PSNR-pretrained RRDB (alpha 0)", psnr_dir)]
  for alpha in alphas:
    out = os.path.join(args.root, f"interp_{alpha}")
    if not os.path.isdir(out):
      superres.interpolate_workdirs(psnr_dir, gan_dir, alpha, out)
    rows.append((f"interpolation alpha {alpha}", out))
  rows.append(("ESRGAN (alpha 1)", gan_dir))

  config, _, _ = superres.restore_workdir(gan_dir)
  config.sr.metrics = ("psnr", "ssim", "fd")
  hr, lr = superres.held_out(config, args.num_test)
  table, pictures = [], []
  for label, workdir in rows:
    if workdir is None:
      sr = np.asarray(superres.bicubic_upscale(jnp.asarray(lr), 4))
    else:
      _, system, state = superres.restore_workdir(workdir)
      sr = superres.upscale(system, state.ema_generator_variables(), lr, 200)
    scores = superres.score(config, sr, hr)
    table.append({"method": label, **scores})
    pictures.append(sr[:10])
    print(f"{label}: {scores}", flush=True)
  pictures.append(hr[:10])

  with open(os.path.join(args.root, "table.json"), "w") as f:
    json.dump({"rows": table, "timings_s": timings, "psnr_steps": args.psnr_steps,
               "gan_steps": args.gan_steps, "num_test": args.num_test}, f, indent=1)
  print("\n| method | PSNR (dB) | SSIM | classifier FD |\n|---|---|---|---|")
  for row in table:
    print(f"| {row['method']} | {row['sr/psnr']:.2f} | {row['sr/ssim']:.4f} | "
          f"{row['sr/fd']:.3f} |")
  if args.picture:
    os.makedirs(os.path.dirname(os.path.abspath(args.picture)), exist_ok=True)
    sample_lib.save_png(sample_lib.image_grid(np.concatenate(pictures), 10), args.picture,
                        upscale=3)
    print(f"picture: {args.picture}")


if __name__ == "__main__":
  main()
