"""A VAE's bounds on the test log-likelihood, as metrics: `elbo` (the negative ELBO) and `iwae` (the negative
importance-weighted bound with `eval.iwae_samples` samples, the standard estimate of the test negative
log-likelihood). Both in nats per image, lower is better, and in bits per dimension for 256-level likelihoods.

The VAE task (ganjax/tasks/vae.py) evaluates with a `BoundSamples`: its prior samples for the Inception metrics, and
each test image's bound, computed when a metric first asks for it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from ganjax.elbo import bits_per_dim
from ganjax.errors import ConfigError
from ganjax.metrics.base import METRICS, Samples

# metric -> the score it reports in nats (lower is better); "<score>_bpd" is the same in bits per dimension.
BOUND_SCORES = {"elbo": "nelbo", "iwae": "iwae_nll"}


class BoundSamples(Samples):
    """A VAE's samples and its bounds on the test set.

    Args:
      draw: draw(num) -> (num, H, W, C) decoded prior samples in [-1, 1].
      bounds: bounds(metric) -> (N,) float64, each test image's negative bound in nats, for "elbo" or "iwae".
      num_dims: dimensions of one image (H * W * C), for bits per dimension.
      levels: values a target pixel takes (2: binarised, no bits per dimension reported; 256).
    """

    def __init__(
        self,
        draw: Callable[[int], np.ndarray],
        bounds: Callable[[str], np.ndarray],
        num_dims: int,
        levels: int,
        mesh: jax.sharding.Mesh | None = None,
    ):
        super().__init__(draw, mesh)
        self._bounds, self.num_dims, self.levels = bounds, num_dims, levels

    def bound(self, metric: str) -> np.ndarray:
        """Each test image's negative bound (N,), nats, computed once."""
        return self.remember(("bound", metric), lambda: self._bounds(metric))


def _bound_metric(metric: str) -> Callable[[Samples, ml_collections.ConfigDict], dict[str, float]]:
    score = BOUND_SCORES[metric]

    def compute(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
        del config
        if not isinstance(samples, BoundSamples):
            raise ConfigError(f"metric {metric!r} is a VAE's bound on the test log-likelihood: it needs a vae run")
        nats = float(np.mean(samples.bound(metric)))
        scores = {score: nats}
        if samples.levels == 256:
            scores[f"{score}_bpd"] = float(bits_per_dim(nats, samples.num_dims))
        return scores

    compute.__doc__ = f"The test set's mean negative {metric} bound, nats per image (and bits per dimension)."
    return compute


for _metric in BOUND_SCORES:
    METRICS.register(_metric)(_bound_metric(_metric))
