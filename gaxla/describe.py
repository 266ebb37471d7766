"""`gaxla describe`: parameter counts and FLOPs of a config's models, from shapes only.

Nothing is initialized and no data is read: parameters come from
`jax.eval_shape` of the GAN system's init, FLOPs from XLA's cost analysis of the
lowered (not compiled) programs with abstract arguments, so a 70M-parameter
ImageNet BigGAN is described in seconds on a laptop CPU.

Conventions:
  - Parameters are the `params` collection only; spectral-norm `u`/`sigma` and
    BatchNorm running statistics (`batch_stats`) are buffers, not parameters,
    as in PyTorch's `parameters()`.
  - XLA counts a multiply-add as 2 FLOPs (a [1, 4] x [4, 3] matmul: 24), and
    counts elementwise and reduction ops too. Numbers are for the HLO before
    XLA's optimizations (the lowered module), so they do not depend on the
    backend.
  - XLA skips convolution taps that fall on zero padding (a 3x3 SAME conv on
    8x8 counts (22/24)^2 = 84% of 2 * 64 * 9 * Cin * Cout). The usual
    hand count includes them: for ImageNet-128 BigGAN G that gives the
    familiar 42.2 GFLOP per image, XLA 40.7 GFLOP.
  - Upsample-then-conv layers are counted in their direct form (upsample, then
    a 3x3 conv), the conventional count, even where training on a CPU computes
    them at low resolution with fewer FLOPs (gaxla.nn.Conv).
  - G and D forward FLOPs are per image, in eval mode. The train step is the
    whole jitted step at the config's global batch (n_critic critic updates,
    one generator update, EMA), reported in total and per example of the
    batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def count_params(tree) -> int:
  """Number of scalars in a pytree of arrays or ShapeDtypeStructs."""
  return int(sum(np.prod(leaf.shape, dtype=np.int64) for leaf in jax.tree.leaves(tree)))


def param_groups(params) -> dict[str, int]:
  """{top-level submodule name: parameter count}, in the tree's order."""
  return {name: count_params(sub) for name, sub in params.items()}


def lowered_flops(fn, *abstract_args) -> float:
  """FLOPs XLA's cost analysis assigns to `jax.jit(fn)` on abstract arguments.

  Args:
    fn: a jittable function.
    *abstract_args: pytrees of `jax.ShapeDtypeStruct` (or arrays) for `fn`.

  Returns:
    The 'flops' entry of the lowered module's cost analysis.
  """
  analysis = jax.jit(fn).lower(*abstract_args).cost_analysis()
  if isinstance(analysis, (list, tuple)):   # older JAX: one dict per computation
    analysis = analysis[0] if analysis else None
  if not analysis or "flops" not in analysis:
    # The GPU plugin gives no analysis before compilation, and a compiled GPU
    # module counts cuDNN/cuBLAS custom calls as 0 FLOPs: lower on the CPU.
    raise RuntimeError("XLA's cost analysis gave no FLOP count for these arguments; "
                       "pass arguments placed on a CPU device")
  return float(analysis["flops"])


def describe(config, step_flops: bool = True) -> dict:
  """See `_describe`; FLOPs are counted with upsample + conv in the direct form."""
  from gaxla.nn.layers import upsample_form
  with upsample_form(False):
    return _describe(config, step_flops)


def _describe(config, step_flops: bool = True) -> dict:
  """Parameter counts per module group and FLOPs for a validated config.

  Args:
    config: a config built from `gaxla.config.defaults()` (validated here).
    step_flops: also lower the full train step (slower for big models).

  Returns:
    {'generator': {'params', 'groups', 'forward_flops_per_image'},
     'critic': {...}, 'train_step': {'flops', 'flops_per_example', 'batch_size',
     'n_critic'}} ('train_step' only with step_flops).
  """
  from gaxla import config as config_lib
  from gaxla.system import system_for
  config_lib.validate(config)
  # Counted on one CPU device whatever the backend: the unoptimized program's
  # FLOPs do not depend on where it runs, and only the CPU client analyses a
  # module before compiling it (the GPU plugin returns nothing).
  from gaxla import parallel
  system = system_for(config, mesh=parallel.single_device_mesh(jax.devices("cpu")[0]))
  state = system.abstract_state()
  z = jax.ShapeDtypeStruct((1, system.latent_dim), jnp.float32)
  labels = jax.ShapeDtypeStruct((1,), jnp.int32)
  x = jax.ShapeDtypeStruct((1,) + system.inputs.packed_shape(system.example_shape), jnp.float32)
  g_flops = lowered_flops(
      lambda v, z, y: system.generator.apply(v, z, y, train=False), state.g.variables(), z, labels)
  d_flops = lowered_flops(
      lambda v, x, y: system.critic.apply(v, x, y, train=False), state.d.variables(), x, labels)
  report = {
      "generator": {"params": count_params(state.g.params),
                    "groups": param_groups(state.g.params),
                    "forward_flops_per_image": g_flops},
      "critic": {"params": count_params(state.d.params),
                 "groups": param_groups(state.d.params),
                 "forward_flops_per_image": d_flops},
  }
  if step_flops:
    n_critic, batch = int(config.optim.n_critic), int(config.batch_size)
    abstract_batch = {
        "x": jax.ShapeDtypeStruct((n_critic, batch) + system.example_shape, jnp.float32),
        "label": jax.ShapeDtypeStruct((n_critic, batch), jnp.int32),
    }
    flops = lowered_flops(system.step, state, abstract_batch)
    report["train_step"] = {"flops": flops, "flops_per_example": flops / batch,
                            "batch_size": batch, "n_critic": n_critic}
  return report


def _si(value: float) -> str:
  for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
    if abs(value) >= scale:
      return f"{value / scale:.2f} {unit}"
  return f"{value:.0f} "


def format_report(report: dict, name: str = "") -> str:
  """The report as aligned text lines (what `gaxla describe` prints)."""
  lines = [f"gaxla describe {name}".rstrip()]
  for role in ("generator", "critic"):
    part = report[role]
    lines.append(f"{role}: {part['params']:,} parameters ({_si(part['params'])}), "
                 f"forward {_si(part['forward_flops_per_image'])}FLOP per image")
    width = max(len(k) for k in part["groups"]) if part["groups"] else 0
    for group, count in part["groups"].items():
      lines.append(f"  {group:<{width}}  {count:>14,}")
  if "train_step" in report:
    step = report["train_step"]
    lines.append(f"train step (batch {step['batch_size']}, n_critic {step['n_critic']}): "
                 f"{_si(step['flops'])}FLOP, {_si(step['flops_per_example'])}FLOP per example")
  lines.append("(XLA cost analysis of the lowered HLO; a multiply-add counts as 2 FLOPs)")
  return "\n".join(lines)
