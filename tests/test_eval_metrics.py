"""Host-side metrics: Fréchet distance, streaming statistics, IS, KID, PR, density/coverage."""

import numpy as np
import pytest
import scipy.linalg

from gaxla.evaluate import frechet, inception_score, kid, manifold


def _random_gaussian(rng, d):
  a = rng.normal(size=(d, d))
  return rng.normal(size=d), a @ a.T / d + 0.1 * np.eye(d)


def _scipy_fd(mu1, s1, mu2, s2):
  covmean = scipy.linalg.sqrtm(s1 @ s2)
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
               - 2 * np.trace(covmean.real))


@pytest.mark.parametrize("d", [2, 16, 64])
def test_frechet_distance_matches_scipy_sqrtm(d):
  rng = np.random.default_rng(d)
  mu1, s1 = _random_gaussian(rng, d)
  mu2, s2 = _random_gaussian(rng, d)
  ours = frechet.frechet_distance(mu1, s1, mu2, s2)
  assert ours == pytest.approx(_scipy_fd(mu1, s1, mu2, s2), abs=1e-6, rel=1e-9)
  assert ours > 0.1


def test_frechet_distance_closed_form_1d():
  # d = 1: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.
  fd = frechet.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]),
                                np.array([[9.0]]))
  assert fd == pytest.approx(9.0 + 1.0, abs=1e-12)


def test_frechet_distance_of_identical_statistics_is_zero():
  rng = np.random.default_rng(0)
  # Rank-deficient covariance (fewer samples than dimensions), as with small evals.
  features = rng.normal(size=(50, 128)) * 3.0 + 5.0
  mu, sigma = frechet.statistics(features)
  assert abs(frechet.frechet_distance(mu, sigma, mu, sigma)) <= 1e-6
  full_mu, full_sigma = _random_gaussian(rng, 256)
  assert abs(frechet.frechet_distance(full_mu, full_sigma, full_mu, full_sigma)) <= 1e-6


def test_running_stats_equal_one_shot_for_any_batching():
  rng = np.random.default_rng(1)
  # A large mean relative to the spread: naive sum-of-squares would lose digits.
  features = (rng.normal(size=(1000, 8)) * 0.01 + 1000.0).astype(np.float32)
  expected_mu = features.astype(np.float64).mean(0)
  expected_cov = np.cov(features.astype(np.float64), rowvar=False)
  for batch in (1, 7, 128, 1000):
    stats = frechet.RunningStats(8)
    for start in range(0, 1000, batch):
      stats.update(features[start:start + batch])
    mu, cov = stats.result()
    assert stats.count == 1000
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-12)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-8, atol=1e-12)


def test_cached_reference_computes_once(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return {"mu": np.arange(3.0), "sigma": np.eye(3)}

  path = str(tmp_path / "sub" / "stats.npz")
  first = frechet.cached_reference(path, compute)
  second = frechet.cached_reference(path, compute)
  assert len(calls) == 1
  np.testing.assert_array_equal(first["mu"], second["mu"])
  np.testing.assert_array_equal(second["sigma"], np.eye(3))


def test_inception_score_extremes():
  classes = 10
  uniform = np.full((100, classes), 1.0 / classes)
  mean, std = inception_score.inception_score(probs=uniform)
  assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
  confident = np.eye(classes)[np.arange(100) % classes]
  mean, std = inception_score.inception_score(probs=confident)
  assert mean == pytest.approx(classes, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)
  # One class for everything: confident but not diverse.
  collapsed = np.eye(classes)[np.zeros(100, int)]
  assert inception_score.inception_score(probs=collapsed)[0] == pytest.approx(1.0)
  # Logits go through a softmax: huge margins behave like one-hot.
  logits = 50.0 * confident
  assert inception_score.inception_score(logits=logits)[0] == pytest.approx(classes, rel=1e-6)


def test_kid_is_unbiased_and_detects_shift():
  rng = np.random.default_rng(0)
  d, n = 16, 200
  values = [kid.mmd2_unbiased(rng.normal(size=(n, d)), rng.normal(size=(n, d)))
            for _ in range(200)]
  mean, sem = np.mean(values), np.std(values) / np.sqrt(len(values))
  assert abs(mean) < 4 * sem, (mean, sem)
  shifted_mean, shifted_std = kid.kernel_distance(
      rng.normal(size=(500, d)), rng.normal(size=(500, d)) + 0.5, num_subsets=10,
      subset_size=200)
  assert shifted_mean > 20 * sem and shifted_mean > 5 * shifted_std / np.sqrt(10)


def test_kid_matches_direct_kernel_sums():
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(5, 4)), rng.normal(size=(6, 4)) + 1.0
  k = lambda a, b: (a @ b / 4 + 1) ** 3
  xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
  yy = sum(k(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / 30
  xy = sum(k(x[i], y[j]) for i in range(5) for j in range(6)) / 30
  assert kid.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_precision_recall_density_coverage_known_cases():
  rng = np.random.default_rng(0)
  real = rng.normal(size=(400, 8))
  same = manifold.precision_recall(real, real)
  assert same == {"precision": 1.0, "recall": 1.0}
  dc = manifold.density_coverage(real, real)
  assert dc["coverage"] == 1.0 and dc["density"] >= 1.0
  # Another sample of the same distribution: everything high; density near 1.
  other = rng.normal(size=(400, 8))
  pr = manifold.precision_recall(real, other)
  dc = manifold.density_coverage(real, other)
  assert pr["precision"] > 0.6 and pr["recall"] > 0.6
  assert 0.7 < dc["density"] < 1.3 and dc["coverage"] > 0.9
  far = real + 100.0
  assert manifold.precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}
  assert manifold.density_coverage(real, far) == {"density": 0.0, "coverage": 0.0}
  # Collapse onto a tenth of the real set: precision stays high, recall drops.
  collapsed = real[:40] + rng.normal(size=(40, 8)) * 1e-3
  pr = manifold.precision_recall(real, np.repeat(collapsed, 10, axis=0))
  assert pr["precision"] > 0.9 and pr["recall"] < 0.3


def test_knn_radius_excludes_the_point_itself():
  points = np.array([[0.0], [1.0], [3.0], [7.0]])
  np.testing.assert_allclose(manifold.knn_radii(points, 1), [1.0, 1.0, 4.0, 16.0])
  np.testing.assert_allclose(manifold.knn_radii(points, 2), [9.0, 4.0, 9.0, 36.0])
