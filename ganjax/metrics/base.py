"""The metric registry and what metrics read: `Samples` drawn from a model and `ScoredSamples` made from an
evaluation set (ganjax/metrics/__init__.py describes both); the per-image metrics and `ring` are registered here,
the others in the modules that compute them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax
import ml_collections
import numpy as np

from ganjax.data import ring
from ganjax.errors import ConfigError
from ganjax.metrics.lpips import METRIC_NETWORKS
from ganjax.registry import Registry

T = TypeVar("T")
METRICS: Registry = Registry("metric", config_key="eval.metrics")
# The per-image metrics: means of scores an evaluation computed per image (which task scores which: the tasks'
# `metrics`, ganjax/tasks/). LPIPS (ganjax/metrics/lpips.py) is a distance, better when lower; the others are better
# when higher.
PER_IMAGE_METRICS = ("psnr", "ssim", "psnr_hole", "edge_ssim", "cycle_psnr", *METRIC_NETWORKS)
# Scores that are better when higher (the others, FID, KID, LPIPS and PPL, are better when lower).
HIGHER_IS_BETTER = (
    *(name for name in PER_IMAGE_METRICS if name not in METRIC_NETWORKS),
    "modes_covered",
    "high_quality_share",
    "precision",
    "recall",
    "inception_score",
    "lpips_diversity",
)


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


class ScoredSamples(Samples):
    """An image-to-image model's evaluation set: the images it made (which `draw` returns, for the Inception
    metrics) and the per-image scores of each of them.

    Args:
      images: (N, H, W, C) float32 in [-1, 1] when every image has one size (else None: no Inception metrics).
      per_image: {metric name: (N,) float64} for the per-image metrics this evaluation computed (`PER_IMAGE_METRICS`;
        PSNR in dB).
      groups: (N,) group names (inpainting's hole-area buckets, "10-20%"), or None.
    """

    def __init__(
        self,
        images: np.ndarray | None,
        per_image: dict[str, np.ndarray],
        groups: list[str] | None,
        mesh: jax.sharding.Mesh | None = None,
    ):
        super().__init__(self._first, mesh)
        self.images, self.per_image, self.groups = images, per_image, groups

    def _first(self, num: int) -> np.ndarray:
        if self.images is None:
            raise ConfigError(
                "the Inception metrics need an evaluation set of images of one size; this one has several: "
                "remove fid/kid/precision_recall from --config.eval.metrics"
            )
        return self.images[:num]

    def mean(self, name: str) -> dict[str, float]:
        """{name: mean over all images, name/group: mean over each group's images}."""
        if name not in self.per_image:
            raise ConfigError(
                f"metric {name!r} is not scored by this evaluation (it has {', '.join(self.per_image)}); for "
                "psnr_hole, only inpainting runs (--config.degradation.name=inpaint) have holes"
            )
        values = self.per_image[name]
        means = {name: float(np.mean(values))}
        for group in sorted(set(self.groups or ())):
            means[f"{name}/{group}"] = float(np.mean(values[np.asarray(self.groups) == group]))
        return means


def _per_image_metric(name: str) -> Callable[[Samples, ml_collections.ConfigDict], dict[str, float]]:
    def metric(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
        del config
        if not isinstance(samples, ScoredSamples):
            raise ConfigError(f"metric {name!r} scores the images an image-to-image model makes from an evaluation set")
        return samples.mean(name)

    metric.__doc__ = f"The mean {name} over the evaluation set, overall and per group."
    return metric


for _name in PER_IMAGE_METRICS:
    METRICS.register(_name)(_per_image_metric(_name))


@METRICS.register("ring")
def ring_coverage(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
    """Modes covered (of 8) and the share of high-quality samples, on 2,500 samples (see ganjax/data/ring.py)."""
    del config
    return ring.quality(samples.draw(ring.NUM_EVAL_SAMPLES))
