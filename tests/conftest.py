"""Shared test set-up: fast compiles and tiny configs."""

import atexit
import os
import shutil
import tempfile

# Each test session and pytest-xdist worker compiles into its own persistent
# cache (gaxla CLI subprocesses inherit it): the user's ~/.cache/gaxla/jax
# stays untouched, and no two processes write one entry at the same time
# (a truncated entry fails a test under filterwarnings = error). Set before
# jax is imported.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
  _cache = tempfile.mkdtemp(prefix=f"gaxla-test-jax-{_worker}-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)

import jax  # noqa: E402
import pytest  # noqa: E402

# Tests compile many small programs; optimizations cost more than they save.
jax.config.update("jax_disable_most_optimizations", True)


def tiny_mlp_config(**overrides):
  """A 2-D ring config with a tiny MLP (compiles and runs in well under a second)."""
  from gaxla.config import defaults
  config = defaults()
  config.data.name = "ring"
  config.model.name = "mlp"
  config.model.latent_dim = 4
  config.model.generator = dict(hidden=(16, 16))
  config.model.critic = dict(hidden=(16, 16))
  config.batch_size = 32
  config.num_steps = 3
  config.log_every_steps = 1
  config.eval_every_steps = 3
  config.checkpoint_every_steps = 3
  config.eval.num_samples = 200
  for key, value in overrides.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def tiny_dcgan_config(**overrides):
  """Class-conditional DCGAN on 8x8 digits with 4 base channels."""
  base = dict(
      **{"data.name": "digits", "model.name": "dcgan", "model.conditional": True,
         "model.latent_dim": 8, "eval.grid_size": 2},
  )
  base.update(overrides)
  config = tiny_mlp_config(**base)
  config.model.generator = dict(base_channels=4, embed_dim=4)
  config.model.critic = dict(base_channels=4, spectral_norm=True)
  return config


@pytest.fixture
def mlp_config():
  return tiny_mlp_config
