"""Converts pytorch-fid's Inception weights (.pth) into gaxla's .npz, without PyTorch.

  python scripts/convert_inception_weights.py \
      --pth pt_inception-2015-12-05-6726825d.pth \
      --out ~/.cache/gaxla/pt_inception-2015-12-05.npz

The .pth comes from pytorch-fid's GitHub release 'fid_weights' (download it
yourself: gaxla never downloads at run time). The file is read by a
restricted unpickler (`gaxla.evaluate.torch_pickle`), so torch need not be
installed and the file cannot run code. Point `eval.inception_weights` at the
output, or write it to the default path above (`eval.cache_dir`).
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--pth", required=True, help="pytorch-fid's pt_inception-*.pth")
  parser.add_argument("--out", required=True, help="output .npz")
  args = parser.parse_args(argv)
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  from gaxla.evaluate import inception
  count = inception.convert_pth(args.pth, os.path.expanduser(args.out))
  print(f"wrote {count} arrays to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
