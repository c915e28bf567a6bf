"""Sample-quality metrics, registered by name and computed from the EMA generator during and after training.

A metric is a function `metric(samples, config) -> {name: value}`. `samples` is a `Samples`: it draws images from
the EMA generator (the same fixed latents at every evaluation) and remembers what was computed from them, so that
FID, KID and precision/recall in one evaluation share one set of samples and one pass of feature extraction.

Registered here: `ring` (ganjax/data/ring.py), and `fid`, `kid`, `precision_recall`, `inception_score`
(ganjax/metrics/inception_metrics.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax
import ml_collections
import numpy as np

from ganjax.data import ring
from ganjax.registry import Registry

T = TypeVar("T")
METRICS: Registry = Registry("metric", config_key="eval.metrics")


class Samples:
    """The generator's samples for one evaluation, and a memo of results derived from them.

    Args:
      draw: draw(num) -> (num, *sample_shape) float32 samples (images in [-1, 1]), a pure function of num.
      mesh: the devices that extract features; None: the default device.
    """

    def __init__(self, draw: Callable[[int], np.ndarray], mesh: jax.sharding.Mesh | None = None):
        self._draw = draw
        self.mesh = mesh
        self._memo: dict[Any, Any] = {}

    def remember(self, key: Any, compute: Callable[[], T]) -> T:
        """compute(), evaluated once per key for the lifetime of this object."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def remembered(self, key: Any) -> Any | None:
        """What was remembered under `key`, or None if nothing was; computes nothing."""
        return self._memo.get(key)

    def draw(self, num: int) -> np.ndarray:
        """(num, *sample_shape) samples, drawn once per num."""
        return self.remember(("samples", num), lambda: self._draw(num))


@METRICS.register("ring")
def ring_coverage(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
    """Modes covered (of 8) and the share of high-quality samples, on 2,500 samples (see ganjax/data/ring.py)."""
    del config
    return ring.quality(samples.draw(ring.NUM_EVAL_SAMPLES))


# Registers the Inception-based metrics; imported last because it uses METRICS and Samples from this module.
from ganjax.metrics import inception_metrics  # noqa: E402, F401
