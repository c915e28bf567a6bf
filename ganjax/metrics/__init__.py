"""Sample-quality metrics, registered by name and computed from the EMA generator during and after training.

A metric is a function `metric(samples, config) -> {name: value}`. `samples` is a `Samples`: it draws images from
the EMA generator (the same fixed latents at every evaluation) and remembers what was computed from them, so that
FID, KID and precision/recall in one evaluation share one set of samples and one pass of feature extraction.

Image-to-image models evaluate with a `ScoredSamples`: the images they made from an evaluation set of inputs
(restored test images, translated test photos), which the Inception metrics read like any samples, together with
per-image scores that the per-image metrics average, over all images and per group (inpainting's hole-area
buckets): PSNR, SSIM and LPIPS against the clean image (ganjax/metrics/fidelity.py, lpips.py) for restoration;
the edge-map SSIM between input and translation (ganjax/metrics/translation.py) and the PSNR of the cycle's
reconstruction for unpaired translation.

Registered here: `ring` (ganjax/data/ring.py), the per-image metrics of `PER_IMAGE_METRICS` (among them `lpips` and
`lpips_vgg`, which need the `lpips` extra), `fid`, `kid`, `precision_recall`, `inception_score`
(ganjax/metrics/inception_metrics.py), a VAE's bounds on the test log-likelihood, `elbo` and `iwae`
(ganjax/metrics/likelihood.py), and a generator's perceptual path length `ppl` and `lpips_diversity`
(ganjax/metrics/perceptual.py, through LPIPS).
"""

from ganjax.metrics import inception_metrics, likelihood, perceptual  # noqa: F401  (importing registers their metrics)
from ganjax.metrics.base import HIGHER_IS_BETTER, METRICS, PER_IMAGE_METRICS, Samples, ScoredSamples

__all__ = ["HIGHER_IS_BETTER", "METRICS", "PER_IMAGE_METRICS", "Samples", "ScoredSamples"]
