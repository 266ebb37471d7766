"""Config validation: every bad value gets one error naming the key."""

import glob
import importlib.util
import os

import pytest

from conftest import tiny_mlp_config
from gaxla.config import ConfigError, defaults, validate

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs")


def _load(path):
  spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONFIG_DIR, "*.py"))))
def test_shipped_configs_validate_and_document_their_command(path):
  module = _load(path)
  config = module.get_config()
  if config.data.name == "folder":
    # Needs a prepared folder (tests/test_folder_dataset.py): says how without one.
    with pytest.raises(ConfigError, match="'data.data_dir'.*gaxla prepare"):
      validate(config)
  else:
    validate(config)
  assert "gaxla train --config configs/" + os.path.basename(path) in module.__doc__
  for key in ("seed", "num_steps", "batch_size", "log_every_steps", "eval_every_steps",
              "checkpoint_every_steps"):
    assert key in config


@pytest.mark.parametrize("key,value,needle", [
    ("loss.name", "wasserstien", "'loss.name'"),
    ("model.name", "stylegan9", "'model.name'"),
    ("data.name", "imagenet9", "'data.name'"),
    ("penalty.name", "r3", "'penalty.name'"),
    ("optim.generator.lr", 0.0, "'optim.generator.lr'"),
    ("optim.critic.lr", -1e-4, "'optim.critic.lr'"),
    ("optim.n_critic", 0, "'optim.n_critic'"),
    ("batch_size", 0, "'batch_size'"),
    ("num_steps", -5, "'num_steps'"),
    ("steps_per_call", 0, "'steps_per_call' must be a positive integer"),
    ("ema.decay", 1.0, "'ema.decay'"),
    ("weight_clip", -0.1, "'weight_clip'"),
    ("loss.real_label", 1.5, "'loss.real_label'"),
    ("checkpoint.keep_latest", 0, "'checkpoint.keep_latest' must be an integer >= 1"),
    ("checkpoint.keep_best", -1, "'checkpoint.keep_best' must be an integer >= 0"),
    ("checkpoint.best_mode", "median", "'checkpoint.best_mode' must be 'max' or 'min'"),
    ("regularizer.orthogonal_g", -1e-4, "'regularizer.orthogonal_g'"),
    ("regularizer.orthogonal_d", -1.0, "'regularizer.orthogonal_d'"),
    ("model.latent_categories", -3, "'model.latent_categories'"),
    ("penalty.every", 0, "'penalty.every'"),
])
def test_bad_values_name_the_key(key, value, needle):
  config = tiny_mlp_config(**{key: value})
  with pytest.raises(ConfigError) as info:
    validate(config)
  assert needle in str(info.value)
  assert "\n" not in str(info.value)


def test_unknown_names_list_the_valid_ones():
  with pytest.raises(ConfigError, match="Valid names: .*hinge.*wasserstein"):
    validate(tiny_mlp_config(**{"loss.name": "nope"}))
  with pytest.raises(ConfigError, match="Valid names: biggan, biggan_deep, dcgan, esrgan, mlp"):
    validate(tiny_mlp_config(**{"model.name": "nope"}))


def test_unknown_key_is_an_error_with_suggestion():
  config = tiny_mlp_config()
  config.batch_sizes = 3
  with pytest.raises(ConfigError, match="unknown key 'batch_sizes'.*'batch_size'"):
    validate(config)
  config = tiny_mlp_config()
  config.optim.generator.learning_rate = 1e-3
  with pytest.raises(ConfigError,
                     match="unknown key 'optim.generator.learning_rate'.*Valid keys here: .*lr"):
    validate(config)


def test_unknown_model_kwarg_is_an_error():
  config = tiny_mlp_config()
  config.model.critic = dict(hiden=(8,))
  with pytest.raises(ConfigError, match="'model.critic.hiden'.*Did you mean 'hidden'"):
    validate(config)
  config.model.critic = dict(num_classes=3)
  with pytest.raises(ConfigError, match="'model.critic.num_classes' is set from the dataset"):
    validate(config)


def test_penalty_needs_weight_and_smoothing_needs_sigmoid_loss():
  with pytest.raises(ConfigError, match="'penalty.weight'"):
    validate(tiny_mlp_config(**{"penalty.name": "wgan_gp", "penalty.weight": 0.0}))
  with pytest.raises(ConfigError, match="'loss.real_label'"):
    validate(tiny_mlp_config(**{"loss.name": "hinge", "loss.real_label": 0.9}))


def test_best_metric_needs_a_best_checkpoint_kept():
  with pytest.raises(ConfigError, match="'checkpoint.keep_best' is 0 but checkpoint.best_metric"):
    validate(tiny_mlp_config(**{"checkpoint.best_metric": "eval/high_quality",
                                "checkpoint.keep_best": 0}))
  validate(tiny_mlp_config(**{"checkpoint.best_metric": "", "checkpoint.keep_best": 0}))


def test_conditional_needs_labels():
  with pytest.raises(ConfigError, match="'model.conditional'.*no labels"):
    validate(tiny_mlp_config(**{"model.conditional": True}))


def test_defaults_validate():
  validate(defaults())


def test_from_file_loads_a_config_file_with_an_optional_arg(tmp_path):
  from gaxla.config import from_file
  assert from_file(os.path.join(CONFIG_DIR, "mog_ring.py")) == _load(
      os.path.join(CONFIG_DIR, "mog_ring.py")).get_config()
  path = tmp_path / "sized.py"
  path.write_text("from gaxla.config import defaults\n"
                  "def get_config(arg=None):\n"
                  "  config = defaults()\n"
                  "  config.batch_size = int(arg or 7)\n"
                  "  return config\n")
  assert from_file(str(path)).batch_size == 7
  assert from_file(f"{path}:12").batch_size == 12
  assert from_file(str(path), "5").batch_size == 5
  with pytest.raises(FileNotFoundError, match="config file .*missing.py"):
    from_file(str(tmp_path / "missing.py"))
