"""The 2-D toolbox configs (unrolled, PacGAN, minibatch discrimination) take the mixture as
their argument: 'grid' trains on the grid, a bad argument names the valid ones."""

import os

import pytest

from gaxla.config import from_file, validate

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs")


def _config(name, arg):
  return from_file(os.path.join(CONFIG_DIR, f"{name}.py"), arg)


@pytest.mark.parametrize("name,arg,mixture", [
    ("mog_unrolled", None, "ring"), ("mog_unrolled", "grid", "grid"),
    ("mog_pacgan", "grid2", "grid"), ("mog_minibatch", "grid", "grid")])
def test_mixture_argument_picks_the_data(name, arg, mixture):
  config = _config(name, arg)
  validate(config)
  assert config.data.name == mixture


def test_unrolled_grid_keeps_the_unrolled_recipe():
  ring, grid = _config("mog_unrolled", "ring"), _config("mog_unrolled", "grid")
  assert grid.unroll.steps == ring.unroll.steps == 10
  # Only the data differs between the two.
  ring.data.name = "grid"
  assert ring == grid


def test_unrolled_bad_mixture_names_the_valid_ones():
  with pytest.raises(ValueError, match="'ring' or 'grid'.*'spiral'"):
    _config("mog_unrolled", "spiral")
