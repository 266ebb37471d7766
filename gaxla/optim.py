"""The generator and critic optax chains (two-timescale updates, TTUR).

Each side gets its own optimizer (`name`: adam, rmsprop or sgd) with its own
learning rate, hyperparameters and schedule, so G and D can run on different
timescales (Heusel et al., 2017) or follow a paper's recipe (the original
WGAN: RMSProp on both sides).
"""

from __future__ import annotations

import optax

OPTIMIZERS = ("adam", "rmsprop", "sgd")  # values of optim.{generator,critic}.name


def learning_rate(opt_config, num_steps: int) -> optax.Schedule:
  """The schedule for one side: optional linear warm-up, then constant/linear/cosine."""
  peak = float(opt_config.lr)
  warmup = int(opt_config.warmup_steps)
  decay_steps = max(num_steps - warmup, 1)
  if opt_config.schedule == "constant":
    main = optax.constant_schedule(peak)
  elif opt_config.schedule == "linear":
    main = optax.linear_schedule(peak, 0.0, decay_steps)
  elif opt_config.schedule == "cosine":
    main = optax.cosine_decay_schedule(peak, decay_steps)
  else:
    raise ValueError(f"unknown schedule {opt_config.schedule!r}")
  if warmup:
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), main], [warmup])
  return main


def make_optimizer(opt_config, num_steps: int) -> optax.GradientTransformation:
  """The side's optimizer (with optional global-norm clipping).

  adam uses b1, b2, eps; rmsprop uses rms_decay, eps (added outside the
  square root, as PyTorch's RMSprop that the WGAN code used) and momentum;
  sgd uses momentum.

  Args:
    opt_config: `config.optim.generator` or `config.optim.critic`.
    num_steps: schedule length in updates of this side (the critic's schedule
      counts critic updates, i.e. num_steps * n_critic).
  """
  chain = []
  if opt_config.grad_clip_norm:
    chain.append(optax.clip_by_global_norm(opt_config.grad_clip_norm))
  lr = learning_rate(opt_config, num_steps)
  name = opt_config.get("name", "adam")
  momentum = float(opt_config.get("momentum", 0.0)) or None
  if name == "adam":
    chain.append(optax.adam(lr, b1=opt_config.b1, b2=opt_config.b2, eps=opt_config.eps))
  elif name == "rmsprop":
    chain.append(optax.rmsprop(lr, decay=opt_config.rms_decay, eps=opt_config.eps,
                               eps_in_sqrt=False, momentum=momentum))
  elif name == "sgd":
    chain.append(optax.sgd(lr, momentum=momentum))
  else:
    raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
  return optax.chain(*chain)
