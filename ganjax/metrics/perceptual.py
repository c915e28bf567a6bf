"""A generator's metrics through LPIPS (ganjax/metrics/lpips.py): perceptual path length and LPIPS diversity.

`ppl`, the perceptual path length (Karras, Laine, Aila, "A Style-Based Generator Architecture for Generative
Adversarial Networks", CVPR 2019; as StyleGAN2-ADA's metrics/perceptual_path_length.py computes it): how much the
image changes, perceptually, per step of a walk between latents. For `eval.num_pairs` pairs of latents z0, z1 ~
N(0, I) and t ~ U(0, 1) (`eval.ppl_sampling="full"`; "end": t = 0), each pair with one label for a conditional
generator,

    length = LPIPS_vgg(G(slerp(z0, z1, t)), G(slerp(z0, z1, t + EPSILON))) / EPSILON^2,   EPSILON = 1e-4

and `ppl` is the mean of the lengths between their 1st and 99th percentiles (the reference's outlier filter). Lower
is better: a smoother generator. Images larger than 256 pixels are area-downsampled to 256 before LPIPS, and
`eval.ppl_crop` takes the reference's central face crop (rows 3/8 to 7/8, columns 2/8 to 6/8; meant for FFHQ), as
the reference does. One difference: the reference's slerp returns unit vectors, which StyleGAN's mapping network
normalises anyway; ganjax's generators take latents at their typical norm, so the walk is ganjax's `slerp`
(ganjax/sampling.py), which keeps it.

`lpips_diversity`: the mean LPIPS (alex, v0.1) between two samples drawn from independent latents with the same
label, over `eval.num_pairs` pairs; higher is more diverse. For a class-conditional generator it says whether the
noise still matters once the class is given (a generator that ignores its noise scores 0); for an unconditional one
it is the mean distance between two samples.

Both need the `lpips` extra and image samples of at least LPIPS's minimum size (16 pixels for vgg, 31 for alex).
A GAN evaluates with `LatentSamples`, which can generate from given latents.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ganjax.errors import ConfigError
from ganjax.metrics import lpips
from ganjax.metrics.base import METRICS, Samples
from ganjax.sampling import random_labels, slerp

EPSILON = 1e-4  # the step of the walk, in t
SAMPLINGS = ("full", "end")  # where on the walk t lies: anywhere, or at its start
MAX_SIDE = 256  # pixels: larger images are area-downsampled to this before LPIPS, as the reference does
PAIRS_PER_CALL = 500  # pairs generated and compared at once (bounds memory at large resolutions)
# Metric -> the LPIPS network it uses (for the extra's check before anything runs: ganjax/config.py).
METRIC_NETWORKS = {"ppl": "vgg", "lpips_diversity": "alex"}


class LatentSamples(Samples):
    """A generator's samples for the usual metrics, and its images from any latents for these.

    Args:
      draw: draw(num) -> (num, H, W, C) samples in [-1, 1] from the evaluation's fixed latents.
      generate: generate(z (N, latent_dim), labels (N,) int32 or None) -> (N, H, W, C) images in [-1, 1], numpy.
      latent_dim, num_classes: the generator's (num_classes 0: unconditional).
    """

    def __init__(
        self,
        draw: Callable[[int], np.ndarray],
        generate: Callable[[jax.Array, jax.Array | None], np.ndarray],
        latent_dim: int,
        num_classes: int,
        mesh: jax.sharding.Mesh | None = None,
    ):
        super().__init__(draw, mesh)
        self.generate, self.latent_dim, self.num_classes = generate, latent_dim, num_classes


def _latent_samples(samples: Samples, metric: str) -> LatentSamples:
    if not isinstance(samples, LatentSamples):
        raise ConfigError(
            f"metric {metric!r} walks a generator's latents: it needs a gan run (image-to-image models and VAEs "
            "are scored by other metrics)"
        )
    return samples


def prepare(images: np.ndarray, crop: bool) -> np.ndarray:
    """(N, H, W, C) in [-1, 1] -> what LPIPS compares in the reference: the central face crop when `crop`, then,
    when larger than MAX_SIDE, the mean of each f x f block (f = side // MAX_SIDE)."""
    if crop:
        eighth = images.shape[1] // 8
        images = images[:, 3 * eighth : 7 * eighth, 2 * eighth : 6 * eighth]
    factor = images.shape[1] // MAX_SIDE
    if factor > 1:
        count, height, width, channels = images.shape
        blocks = images.reshape(count, height // factor, factor, width // factor, factor, channels)
        images = blocks.mean(axis=(2, 4))
    return images


def _walk(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Pairs of latents (N, D) each and fractions (N,) -> (N, D): each pair's slerp at its own t."""
    return jax.vmap(lambda start, end, at: slerp(start, end, at[None])[0])(a, b, t)


def path_lengths(samples: LatentSamples, num_pairs: int, seed: int, sampling: str, crop: bool) -> np.ndarray:
    """(num_pairs,) float64: each pair's LPIPS (vgg) between the images at t and t + EPSILON, over EPSILON^2."""
    z_key, t_key = jax.random.split(jax.random.PRNGKey(seed))
    ends = jax.random.normal(z_key, (2, num_pairs, samples.latent_dim), jnp.float32)
    t = jax.random.uniform(t_key, (num_pairs,)) if sampling == "full" else jnp.zeros((num_pairs,))
    labels = random_labels(seed + 1, num_pairs, samples.num_classes)
    lengths = []
    for start in range(0, num_pairs, PAIRS_PER_CALL):
        part = slice(start, start + PAIRS_PER_CALL)
        z = jnp.concatenate([_walk(ends[0, part], ends[1, part], t[part] + step) for step in (0.0, EPSILON)])
        both = None if labels is None else jnp.concatenate([labels[part], labels[part]])
        images = prepare(samples.generate(z, both), crop)
        half = len(images) // 2
        lengths.append(lpips.distance(images[:half], images[half:], "vgg") / EPSILON**2)
    return np.concatenate(lengths).astype(np.float64)


def filtered_mean(lengths: np.ndarray) -> float:
    """The mean of the values between the 1st percentile (rounded down to a value) and the 99th (rounded up)."""
    low, high = np.percentile(lengths, 1, method="lower"), np.percentile(lengths, 99, method="higher")
    return float(np.mean(lengths[(lengths >= low) & (lengths <= high)]))


@METRICS.register("ppl")
def perceptual_path_length(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
    """{"ppl": the filtered mean path length} over config.eval.num_pairs walks (module docstring)."""
    samples, eval_config = _latent_samples(samples, "ppl"), config.eval
    lengths = path_lengths(
        samples, eval_config.num_pairs, eval_config.seed, eval_config.ppl_sampling, eval_config.ppl_crop
    )
    return {"ppl": filtered_mean(lengths)}


@METRICS.register("lpips_diversity")
def lpips_diversity(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
    """{"lpips_diversity": the mean LPIPS (alex) between two samples of one label} over config.eval.num_pairs."""
    samples, num_pairs = _latent_samples(samples, "lpips_diversity"), config.eval.num_pairs
    z = jax.random.normal(jax.random.PRNGKey(config.eval.seed), (2, num_pairs, samples.latent_dim), jnp.float32)
    labels = random_labels(config.eval.seed + 1, num_pairs, samples.num_classes)
    distances = []
    for start in range(0, num_pairs, PAIRS_PER_CALL):
        part = slice(start, start + PAIRS_PER_CALL)
        pair_labels = None if labels is None else labels[part]
        first, second = (samples.generate(z[side, part], pair_labels) for side in (0, 1))
        distances.append(lpips.distance(first, second, "alex"))
    return {"lpips_diversity": float(np.mean(np.concatenate(distances)))}


def check_samples(metrics: tuple[str, ...] | list[str], sample_shape: tuple[int, ...]) -> None:
    """ConfigError, before anything trains, when `metrics` holds one of this module's and the generator's samples
    (`sample_shape`) are not images LPIPS takes."""
    for metric in metrics:
        if metric in METRIC_NETWORKS:
            network, smallest = METRIC_NETWORKS[metric], lpips.MIN_SIZE[METRIC_NETWORKS[metric]]
            if len(sample_shape) != 3 or min(sample_shape[:2]) < smallest:
                raise ConfigError(
                    f"--config.eval.metrics has {metric}, which compares images through LPIPS {network} (at least "
                    f"{smallest}x{smallest} pixels); this generator's samples have shape {sample_shape}"
                )


def describe(config: ml_collections.ConfigDict) -> dict[str, str]:
    """The evaluation protocol's entries for the metrics of this module that config.eval.metrics asks for."""
    protocol = {}
    if "ppl" in config.eval.metrics:
        crop = ", the face crop" if config.eval.ppl_crop else ""
        protocol["ppl"] = (
            f"{config.eval.num_pairs} walks in Z (slerp, t {config.eval.ppl_sampling}), epsilon {EPSILON:g}{crop}, "
            f"{lpips.describe('vgg')}, mean between the 1st and 99th percentiles"
        )
    if "lpips_diversity" in config.eval.metrics:
        protocol["lpips_diversity"] = f"{config.eval.num_pairs} pairs of one label, {lpips.describe('alex')}"
    return protocol
