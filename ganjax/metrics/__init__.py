"""Sample-quality metrics, registered by name and computed from the EMA generator during and after training.

A metric is a function `metric(generate, config) -> {name: value}`, where `generate(num)` returns `num` samples
(num, *sample_shape) float32 from the EMA generator, drawn from the same fixed latents at every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import ml_collections
import numpy as np

from ganjax.data import ring
from ganjax.registry import Registry

Generate = Callable[[int], np.ndarray]
METRICS: Registry = Registry("metric", config_key="eval.metrics")


@METRICS.register("ring")
def ring_coverage(generate: Generate, config: ml_collections.ConfigDict) -> dict[str, float]:
    """Modes covered (of 8) and the share of high-quality samples, on 2,500 samples (see ganjax/data/ring.py)."""
    del config
    return ring.quality(generate(ring.NUM_EVAL_SAMPLES))
