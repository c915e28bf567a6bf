"""The statistics behind FID, KID and precision/recall, computed from Inception features on the host in float64.

Features are (N, D) arrays (D = 2048 for the Inception pool3 features), one row per image. Everything here is
NumPy: the sums are small next to the feature extraction, and float64 keeps FID stable to many digits.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """The mean (D,) and covariance (D, D) of a feature set, float64; for a set of N <= D features also `factor`, the
    (N, D) centred features over sqrt(N - 1), so that covariance = factor.T @ factor."""

    mean: np.ndarray
    covariance: np.ndarray
    factor: np.ndarray | None = None


def fit_gaussian(features: np.ndarray) -> Gaussian:
    """Mean and unbiased covariance of `features` (N, D), in float64.

    Warns when N <= D: the covariance then has rank at most N - 1 < D, so it is singular and FID depends strongly on
    N (FID is conventionally reported on 10,000 or 50,000 images).
    """
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need a (N, D) feature array with N >= 2; got shape {features.shape}")
    count, dim = features.shape
    if count <= dim:
        warnings.warn(
            f"{count} samples for {dim}-d features: the covariance is singular (rank <= {count - 1}) and FID is "
            f"biased upward; use more than {dim} images (10,000 or 50,000 are the usual counts)",
            stacklevel=2,
        )
    mean = features.mean(axis=0)
    factor = (features - mean) / np.sqrt(count - 1) if count <= dim else None
    return Gaussian(mean, np.cov(features, rowvar=False), factor)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix, via its eigendecomposition; the tiny
    negative eigenvalues that rounding produces are clipped to 0."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """The Fréchet distance between two Gaussians: |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)).

    tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of a symmetric PSD matrix with the same
    non-zero eigenvalues as S_a S_b: always real, no iteration that can fail. That matrix is S_a^(1/2) S_b S_a^(1/2)
    (D x D), or, when a set of N <= D features has S = F^T F (`Gaussian.factor`), F S_other F^T (N x N): the same
    value for N^2 D operations instead of two D x D eigendecompositions (seconds each at D = 2048, for the small
    sets of in-loop evaluations and tests).
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"the feature sets differ in dimension: {a.mean.shape} vs {b.mean.shape}")
    factored = [gaussian for gaussian in (a, b) if gaussian.factor is not None]
    if factored:
        small = min(factored, key=lambda gaussian: len(gaussian.factor))
        other = b if small is a else a
        middle = small.factor @ other.covariance @ small.factor.T
    else:
        sqrt_a = _psd_sqrt(a.covariance)
        middle = sqrt_a @ b.covariance @ sqrt_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    mean_term = np.sum((a.mean - b.mean) ** 2)
    return float(mean_term + np.trace(a.covariance) + np.trace(b.covariance) - 2 * trace_sqrt)


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, *, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: the unbiased MMD^2 with the kernel k(x, y) = (x.y / D + 1)^3, averaged over random subsets.

    Args:
      real, fake: (N_real, D) and (N_fake, D) features.
      num_subsets: how many subset pairs to average over.
      subset_size: rows per subset (capped at the smaller set's size).
      seed: the subsets' random seed.

    Returns:
      (mean, standard deviation) of the MMD^2 estimates over the subsets.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 real and 2 generated samples; got {len(real)} and {len(fake)}")
    dim = real.shape[1]
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(num_subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        k_xx, k_yy, k_xy = ((p @ q.T / dim + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
        off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        estimates.append(off_diagonal - 2 * k_xy.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, float64."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0)


def _kth_neighbour_radii(points: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """(N,) squared distance from each point to its k-th nearest other point."""
    radii = np.empty(len(points))
    for start in range(0, len(points), chunk):
        distances = _squared_distances(points[start : start + chunk], points)
        # Column 0 of the sorted row is the point itself (distance 0), so the k-th neighbour is column k.
        radii[start : start + chunk] = np.partition(distances, k, axis=1)[:, k]
    return radii


def _coverage(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray, chunk: int) -> float:
    """The share of `queries` inside at least one ball (manifold point, its radius)."""
    inside = 0
    for start in range(0, len(queries), chunk):
        distances = _squared_distances(queries[start : start + chunk], manifold)
        inside += int(np.any(distances <= radii[None, :], axis=1).sum())
    return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3, chunk: int = 1000) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) with k-nearest-neighbour manifolds.

    Each set's manifold is the union of balls around its points, reaching each point's k-th nearest neighbour.
    Precision is the share of generated samples inside the real manifold (fidelity); recall the share of real samples
    inside the generated manifold (diversity).

    Args:
      real, fake: (N_real, D) and (N_fake, D) features; each set needs more than k points.
      k: the neighbour that sets each ball's radius.
      chunk: rows per block of the pairwise-distance computation (memory is chunk x N x 8 bytes).

    Returns:
      (precision, recall), each in [0, 1].
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs over {k} samples per set; got {len(real)} and {len(fake)}")
    real_radii, fake_radii = _kth_neighbour_radii(real, k, chunk), _kth_neighbour_radii(fake, k, chunk)
    return _coverage(real, real_radii, fake, chunk), _coverage(fake, fake_radii, real, chunk)


def inception_score(logits: np.ndarray, *, num_splits: int = 10) -> tuple[float, float]:
    """Inception Score exp(E_x KL(p(y|x) || p(y))) from classifier logits (N, classes), over `num_splits` splits.

    Returns:
      (mean, standard deviation) over the splits.
    """
    logits = np.asarray(logits, np.float64)
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    scores = []
    for part in np.array_split(log_probs, num_splits):
        log_marginal = np.log(np.exp(part).mean(axis=0))
        scores.append(np.exp(np.mean(np.sum(np.exp(part) * (part - log_marginal), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))
