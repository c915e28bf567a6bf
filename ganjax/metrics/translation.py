"""Content preservation of unpaired image-to-image translation (photo -> drawing): edge-map SSIM.

A translated image may change every colour and texture of its input but should keep its structure: where the
objects' outlines are. `edge_ssim` compares the two images' edge maps (`edge_map`) with SSIM; each map is scaled to
its own maximum, so a drawing's few strong edges between flat colours and a photo's many weaker ones compare by
position only. Values are on the SSIM scale: 1 for an image with itself or any contrast change of it, about 0 for
unrelated images.

What it gives the photos themselves, blurred and compressed copies, the classical cartoon filter and unrelated
drawings is in benchmarks/RESULTS.md, "The edge-map SSIM, calibrated": it rewards outlines of 1-2 px on the input's
edges and under-rates thick outlines drawn beside them (OpenCV's stylization scores like an unrelated drawing).

All functions take float images on the 0-255 scale, NHWC, are pure jnp, and compile under `jax.jit`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ganjax.metrics.fidelity import PEAK, rgb_to_y, ssim

# The Gaussian smoothing of the luma before the Sobel operator, standard deviation in pixels: the value that best
# separates the cartoon filter's output (which keeps the structure) from random drawings on CIFAR-10 (`edge_map`).
EDGE_SMOOTHING_SIGMA = 1.0
GAUSSIAN_TRUNCATE = 3.0  # the smoothing kernel's radius, in standard deviations (rounded up to whole pixels)


def _luma(images: jax.Array) -> jax.Array:
    """(N, H, W, C) -> (N, H, W, 1) float32: BT.601 Y of RGB (`rgb_to_y`), grey values as they are."""
    images = images.astype(jnp.float32)
    if images.shape[-1] == 3:
        return rgb_to_y(images)
    if images.shape[-1] == 1:
        return images
    raise ValueError(f"edge maps need grey (C = 1) or RGB (C = 3) images; these have C = {images.shape[-1]}")


def _reflect(images: jax.Array, radius: int) -> jax.Array:
    """(N, H, W, 1) -> (N, H + 2 radius, W + 2 radius, 1), mirrored about the border pixels (d c b | a b c d | c b a:
    OpenCV's default BORDER_REFLECT_101, scipy's 'mirror')."""
    return jnp.pad(images, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="reflect")


def _gaussian_smooth(images: jax.Array, sigma: float) -> jax.Array:
    """(N, H, W, 1) -> (N, H, W, 1): separable Gaussian blur of standard deviation `sigma` pixels, borders mirrored,
    as weighted sums of shifted slices (as restoration._filter_valid)."""
    radius = math.ceil(GAUSSIAN_TRUNCATE * sigma)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    weights = [float(weight) for weight in weights / weights.sum()]
    height, width = images.shape[1:3]
    padded = _reflect(images, radius)
    padded = sum(weight * padded[:, tap : tap + height] for tap, weight in enumerate(weights))
    return sum(weight * padded[:, :, tap : tap + width] for tap, weight in enumerate(weights))


def _sobel_magnitude(images: jax.Array) -> jax.Array:
    """(N, H, W, 1) -> (N, H, W, 1): sqrt(gx^2 + gy^2) of the 3x3 Sobel derivatives, borders mirrored.

    gx = [1 2 1]^T (x) [-1 0 1]: a derivative across columns smoothed down rows; gy the transpose. Unnormalised, as
    OpenCV's and scipy's: a ramp rising by 1 per pixel gives 8.
    """
    padded = _reflect(images, 1)
    down_rows = padded[:, 2:] - padded[:, :-2]  # (N, H, W + 2, 1)
    smoothed_rows = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
    gx = smoothed_rows[:, :, 2:] - smoothed_rows[:, :, :-2]
    gy = down_rows[:, :, :-2] + 2 * down_rows[:, :, 1:-1] + down_rows[:, :, 2:]
    return jnp.sqrt(gx**2 + gy**2)


def edge_map(images: jax.Array, *, smoothing_sigma: float = EDGE_SMOOTHING_SIGMA) -> jax.Array:
    """(N, H, W, C), C 1 or 3, on the 0-255 scale -> (N, H, W, 1) float32 edge strength on the 0-255 scale.

    The Sobel gradient magnitude of the luma (BT.601 Y of RGB via `rgb_to_y`, grey as it is) after a Gaussian blur
    of `smoothing_sigma` pixels (0: none), borders mirrored, each image scaled so that its maximum is exactly 255; an
    image without any gradient (flat) maps to all zeros. The scaling makes the map contrast-invariant: an image and
    a * image + b (a != 0) have one edge map.

    Why the blur of 1 px: it separates the cartoon filter's output (which keeps the photo's structure) from random
    drawings, and JPEG copies from the cartoon filter, best of the sigmas tried (benchmarks/RESULTS.md, "The
    edge-map SSIM, calibrated"). It spreads each edge over a few pixels, so outlines drawn a pixel off the photo's
    edges still overlap them; wider, it merges the edges of a 32x32 image and lets unrelated drawings overlap too.
    """
    if smoothing_sigma < 0:
        raise ValueError(f"smoothing_sigma is a standard deviation in pixels, >= 0; got {smoothing_sigma}")
    luma = _luma(images)
    if smoothing_sigma > 0:
        luma = _gaussian_smooth(luma, smoothing_sigma)
    magnitude = _sobel_magnitude(luma)
    peak = jnp.max(magnitude, axis=(1, 2, 3), keepdims=True)
    return PEAK * (magnitude / jnp.maximum(peak, jnp.finfo(jnp.float32).tiny))  # x / x is exactly 1


def edge_ssim(inputs: jax.Array, outputs: jax.Array) -> jax.Array:
    """(N,) SSIM (`ssim`: 11x11 Gaussian window, 'valid') between the edge maps (`edge_map`) of each input and its
    translation.

    inputs: (N, H, W, C), outputs: (N, H, W, C'), C and C' each 1 or 3 (a photo and its grey drawing compare), on
    the 0-255 scale; H and W at least 11. 1 for an output equal to its input up to a contrast change. An output
    without edges (flat) scores the mean over windows of C1 C2 / ((mu^2 + C1)(sigma^2 + C2)), mu and sigma the
    input edge map's local mean and standard deviation, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2: 1 when the input
    is flat as well, 0.006 on CIFAR-10 photos.
    """
    if inputs.shape[:3] != outputs.shape[:3]:
        raise ValueError(
            f"inputs and outputs must have one batch size and image size (N, H, W); got {inputs.shape[:3]} and "
            f"{outputs.shape[:3]}"
        )
    return ssim(edge_map(outputs), edge_map(inputs))
