"""The PacGAN 2-D mixtures and the mode-coverage metric."""

import numpy as np
import pytest

from gaxla.data import mixtures
from gaxla.data.pipeline import MixtureSource
from gaxla.evaluate import mode_coverage


def test_ring_modes_are_eight_distinct_angles_on_unit_circle():
  ring = mixtures.ring()
  assert ring.modes.shape == (8, 2)
  assert ring.std == 0.01
  np.testing.assert_allclose(np.linalg.norm(ring.modes, axis=1), 1.0, atol=1e-12)
  angles = np.sort(np.mod(np.arctan2(ring.modes[:, 1], ring.modes[:, 0]), 2 * np.pi))
  np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)


def test_grid_modes():
  grid = mixtures.grid()
  assert grid.modes.shape == (25, 2)
  assert grid.std == 0.05
  centres = (-4, -2, 0, 2, 4)
  assert {tuple(m) for m in grid.modes} == {(x, y) for x in centres for y in centres}


@pytest.mark.parametrize("make", [mixtures.ring, mixtures.grid])
def test_samples_follow_the_mixture(make):
  mixture = make()
  points = mixture.sample(np.random.default_rng(0), 20000)
  scores = mode_coverage(points, mixture.modes, mixture.std)
  assert scores["modes_covered"] == len(mixture.modes)
  # A 2-D isotropic Gaussian puts 1 - exp(-9/2) = 98.9% within 3 std.
  assert abs(scores["high_quality"] - (1 - np.exp(-4.5))) < 0.005
  assert scores["reverse_kl"] < 0.01
  dist = np.linalg.norm(points[:, None] - mixture.modes[None], axis=-1).min(1)
  assert abs(np.sqrt(np.mean(dist ** 2) / 2) - mixture.std) < 0.05 * mixture.std


def test_mixture_source_is_deterministic_per_step():
  source = MixtureSource(mixtures.ring(), batch_size=16, n_critic=2, seed=3)
  a, b = source.batch(7), source.batch(7)
  np.testing.assert_array_equal(a["x"], b["x"])
  assert a["x"].shape == (2, 16, 2) and a["x"].dtype == np.float32
  assert not np.array_equal(source.batch(8)["x"], a["x"])


def test_mode_coverage_single_mode_and_misses():
  ring = mixtures.ring()
  on_one = np.repeat(ring.modes[:1], 100, axis=0)
  far = np.full((100, 2), 10.0)
  scores = mode_coverage(np.concatenate([on_one, far]), ring.modes, ring.std)
  assert scores["modes_covered"] == 1
  assert scores["high_quality"] == 0.5
  np.testing.assert_allclose(scores["reverse_kl"], np.log(8))
  none = mode_coverage(far, ring.modes, ring.std)
  assert none["modes_covered"] == 0 and none["high_quality"] == 0 and none["reverse_kl"] == np.inf


def test_mode_coverage_threshold_is_three_std():
  ring = mixtures.ring()
  inside = ring.modes[0] + np.array([0.0299, 0.0])
  outside = ring.modes[0] + np.array([0.0301, 0.0])
  assert mode_coverage(inside[None], ring.modes, ring.std)["high_quality"] == 1.0
  assert mode_coverage(outside[None], ring.modes, ring.std)["high_quality"] == 0.0


def test_reverse_kl_of_unbalanced_histogram():
  ring = mixtures.ring()
  counts = np.array([4, 2, 1, 1, 0, 0, 0, 0])
  points = np.repeat(ring.modes, counts, axis=0)
  p = counts / counts.sum()
  expected = sum(pk * np.log(pk * 8) for pk in p if pk > 0)
  np.testing.assert_allclose(mode_coverage(points, ring.modes, ring.std)["reverse_kl"], expected)
