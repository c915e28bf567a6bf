"""The 8-Gaussian ring, the standard toy problem for mode coverage (Metz et al. 2017, Unrolled GANs).

Eight isotropic Gaussians with standard deviation 0.02, centred on a circle of radius 2. The measures follow
Srivastava et al. (2017, VEEGAN) and Lin et al. (2018, PacGAN): a sample is "high quality" when it lies within three
standard deviations of its nearest mode, and a mode is covered when at least 20 of 2,500 samples are high-quality
samples of that mode.
"""

from __future__ import annotations

import numpy as np

NUM_MODES = 8
RADIUS = 2.0
STD = 0.02
DATASET_SIZE = 100_000
NUM_EVAL_SAMPLES = 2_500
MIN_SAMPLES_PER_MODE = 20


def mode_centres() -> np.ndarray:
    """(8, 2) float64 centres, at angles 0, 45, ..., 315 degrees."""
    angles = 2 * np.pi * np.arange(NUM_MODES) / NUM_MODES
    return RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample(num: int, seed: int) -> np.ndarray:
    """(num, 2) float32 points drawn from the ring, modes chosen uniformly."""
    rng = np.random.default_rng(seed)
    modes = rng.integers(NUM_MODES, size=num)
    return (mode_centres()[modes] + STD * rng.standard_normal((num, 2))).astype(np.float32)


def quality(points: np.ndarray) -> dict[str, float]:
    """Mode coverage of (N, 2) points: {"modes_covered": 0..8, "high_quality_share": 0..1}.

    The minimum count per mode scales with N (20 per 2,500 samples).
    """
    distances = np.linalg.norm(points[:, None, :].astype(np.float64) - mode_centres()[None], axis=-1)  # (N, 8)
    nearest = distances.argmin(axis=1)
    high_quality = distances.min(axis=1) <= 3 * STD
    counts = np.bincount(nearest[high_quality], minlength=NUM_MODES)
    needed = MIN_SAMPLES_PER_MODE * len(points) / NUM_EVAL_SAMPLES
    return {"modes_covered": float(np.sum(counts >= needed)), "high_quality_share": float(high_quality.mean())}
