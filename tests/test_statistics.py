"""FID, KID, precision/recall and Inception Score against values worked by hand and against SciPy, and the table
that names them as metrics."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import scipy.linalg

from ganjax.errors import ConfigError
from ganjax.metrics import METRICS
from ganjax.metrics.inception_metrics import BEST_METRICS, INCEPTION_METRIC_TABLE, INCEPTION_METRICS, scores
from ganjax.metrics.statistics import (
    Gaussian,
    fit_gaussian,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
)


def _random_gaussian(rng: np.random.Generator, dim: int) -> Gaussian:
    factor = rng.normal(size=(dim, 2 * dim))
    return Gaussian(rng.normal(size=dim), factor @ factor.T / dim)


def test_frechet_distance_of_diagonal_gaussians_is_worked_by_hand():
    a = Gaussian(np.array([0.0, 1.0]), np.diag([4.0, 1.0]))
    b = Gaussian(np.array([3.0, 1.0]), np.diag([1.0, 9.0]))
    # |mu_a - mu_b|^2 + sum_i (sqrt(s_a,i) - sqrt(s_b,i))^2 = 9 + (2 - 1)^2 + (1 - 3)^2
    assert frechet_distance(a, b) == pytest.approx(14.0, abs=1e-12)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_and_is_symmetric():
    rng = np.random.default_rng(0)
    a, b = _random_gaussian(rng, 64), _random_gaussian(rng, 64)
    covariance_sqrt = scipy.linalg.sqrtm(a.covariance @ b.covariance).real
    expected = np.sum((a.mean - b.mean) ** 2) + np.trace(a.covariance + b.covariance - 2 * covariance_sqrt)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_a_singular_covariance_matches_a_nuclear_norm():
    rng = np.random.default_rng(1)
    a = fit_gaussian(rng.normal(size=(3000, 16)))
    # Rank 3 of 16: a singular covariance, where an iterative sqrtm of S_a S_b can return complex values.
    points = rng.normal(size=(4, 16))
    with pytest.warns(UserWarning, match="singular"):
        b = fit_gaussian(points)
    # S_b = F F^T with F = (centred points)^T / sqrt(3), so tr((S_a S_b)^(1/2)) is the sum of the singular values of
    # S_a^(1/2) F: no square root of a singular matrix is taken.
    factor = (points - points.mean(axis=0)).T / np.sqrt(3)
    trace_sqrt = np.linalg.norm(scipy.linalg.sqrtm(a.covariance).real @ factor, ord="nuc")
    expected = np.sum((a.mean - b.mean) ** 2) + np.trace(a.covariance) + np.trace(b.covariance) - 2 * trace_sqrt
    # The 13 zero eigenvalues come out of eigh as +-1e-16 or so; their square roots, ~1e-8 each, are the difference.
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)


@pytest.mark.filterwarnings("ignore:.*singular")
@pytest.mark.parametrize("sizes", [(5, 9), (9, 5), (40, 5), (5, 40)])
def test_the_small_set_shortcut_gives_the_full_eigendecomposition_value(sizes):
    """Sets of N <= D features take the N x N path (F S_other F^T); with the factors dropped, the D x D path runs.
    Both give the same distance, whichever set is the small one."""
    rng = np.random.default_rng(2)
    a, b = (fit_gaussian(rng.normal(size=(count, 24)) + shift) for count, shift in zip(sizes, (0.0, 0.5), strict=True))
    assert (a.factor is None, b.factor is None) == (sizes[0] > 24, sizes[1] > 24)
    full = frechet_distance(*(Gaussian(gaussian.mean, gaussian.covariance) for gaussian in (a, b)))
    assert frechet_distance(a, b) == pytest.approx(full, rel=1e-7)
    np.testing.assert_allclose(a.factor.T @ a.factor if a.factor is not None else a.covariance, a.covariance)


def test_fit_gaussian_is_float64_mean_and_unbiased_covariance():
    features = np.array([[1, 2], [3, 6], [5, 4]], np.float32)
    gaussian = fit_gaussian(features)
    assert gaussian.mean.dtype == np.float64 and gaussian.covariance.dtype == np.float64
    np.testing.assert_allclose(gaussian.mean, [3, 4])
    np.testing.assert_allclose(gaussian.covariance, [[4, 2], [2, 4]])  # sums of products / (3 - 1)


def _brute_force_mmd(x: np.ndarray, y: np.ndarray) -> float:
    def kernel(p, q):
        return (p @ q / len(p) + 1) ** 3

    m = len(x)
    pairs = list(itertools.permutations(range(m), 2))
    within = sum(kernel(x[i], x[j]) + kernel(y[i], y[j]) for i, j in pairs) / len(pairs)
    across = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return within - 2 * across


def test_kid_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(6, 4)), rng.normal(1.0, size=(6, 4))
    mean, std = kernel_inception_distance(real, fake, num_subsets=3, subset_size=6)
    # Subsets of the whole set are the whole set (in another order): every estimate is the full MMD^2.
    assert mean == pytest.approx(_brute_force_mmd(real, fake), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_separates_equal_from_shifted_distributions():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(400, 8))
    same, _ = kernel_inception_distance(real, rng.normal(size=(400, 8)), num_subsets=10, subset_size=200)
    shifted, _ = kernel_inception_distance(real, rng.normal(0.5, size=(400, 8)), num_subsets=10, subset_size=200)
    assert abs(same) < 0.02 < shifted


def test_precision_recall_on_points_worked_by_hand():
    # Real points 0..9 on a line: each one's 3rd nearest neighbour is 2 away (3 at the ends).
    real = np.arange(10, dtype=np.float64)[:, None]
    # Generated points crowd 0..1 (inside the real manifold, a small part of it) plus one far outlier.
    fake = np.array([[0.0], [0.25], [0.5], [0.75], [1.0], [100.0]])
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == pytest.approx(5 / 6)
    # The generated balls: around 0..1 radii of 0.5 to 0.75; around the outlier 100 a radius of 99.5 (its 3rd nearest
    # neighbour is 0.5), reaching every real point >= 0.5. Real point 0 is itself a generated point: recall 1.
    assert recall == pytest.approx(1.0)
    precision, recall = precision_recall(real, fake[:5], k=3)
    assert precision == pytest.approx(1.0)
    assert recall == pytest.approx(2 / 10)  # only real 0 and 1 lie within 0.75 of a generated point (radius 0.5..0.75)


def test_inception_score_extremes():
    # Confident and evenly spread over 10 classes: IS = 10. All the same class: IS = 1.
    confident = np.full((100, 10), -50.0)
    confident[np.arange(100), np.arange(100) % 10] = 50.0
    assert inception_score(confident, num_splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    collapsed = np.zeros((100, 10))
    collapsed[:, 3] = 50.0
    assert inception_score(collapsed, num_splits=2) == pytest.approx((1.0, 0.0), abs=1e-6)


# --- the metric table ----------------------------------------------------------------------------------------------


def test_every_metric_of_the_table_is_registered_with_its_doc():
    assert INCEPTION_METRICS == ("fid", "kid", "precision_recall", "inception_score")
    for metric in INCEPTION_METRIC_TABLE:
        assert METRICS.get(metric.name).__doc__ == metric.doc
    # The best checkpoint keeps the lowest value under the metric's own name: only the distances qualify.
    assert BEST_METRICS == ("fid", "kid")


def test_scores_of_features_under_each_metrics_keys():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(500, 4))
    shift = np.array([1.0, -2.0, 0.0, 0.5])
    # The same points moved by `shift`: equal covariances, so FID is |shift|^2.
    assert scores("fid", real, real + shift) == {"fid": pytest.approx(5.25, rel=1e-12)}
    fake = rng.normal(0.5, size=(300, 4))
    mean, std = kernel_inception_distance(real, fake, seed=7)
    assert scores("kid", real, fake, seed=7) == {"kid": mean, "kid_std": std}
    line, crowd = np.arange(10.0)[:, None], np.array([[0.0], [0.25], [0.5], [0.75], [1.0], [100.0]])
    assert scores("precision_recall", line, crowd) == {"precision": pytest.approx(5 / 6), "recall": pytest.approx(1.0)}
    confident = np.full((100, 10), -50.0)
    confident[np.arange(100), np.arange(100) % 10] = 50.0  # each split of 10 holds every class once: IS 10
    assert scores("inception_score", None, real[:100], confident) == {
        "inception_score": pytest.approx(10.0, rel=1e-6),
        "inception_score_std": pytest.approx(0.0, abs=1e-6),
    }
    with pytest.raises(ConfigError, match=re.escape("'fdi'; valid: fid, kid, precision_recall, inception_score")):
        scores("fdi", real, fake)
