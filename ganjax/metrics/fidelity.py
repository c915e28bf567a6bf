"""PSNR and SSIM in the conventions of the published restoration tables (MATLAB's, as BasicSR reproduces them).

Every function takes float images of pixel values on the 0-255 scale, NHWC (B, H, W, C), and returns one value per
image, (B,); all are pure jnp and compile under `jax.jit`. The super-resolution tables score the luma channel only
(`rgb_to_y`) with `scale` border pixels cropped (`crop_border`); denoising tables score grey images whole.
`restoration_scores` does the whole protocol for uint8 images, and adds LPIPS (ganjax/metrics/lpips.py) when asked.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ganjax.images import pixels_to_model_range
from ganjax.metrics import lpips

PEAK = 255.0
SSIM_WINDOW = 11  # Gaussian window side, pixels
SSIM_SIGMA = 1.5  # its standard deviation, pixels
SSIM_K1, SSIM_K2 = 0.01, 0.03
Y_WEIGHTS = (65.481, 128.553, 24.966)  # MATLAB rgb2ycbcr's Y row, for R, G, B in [0, 1] -> Y in [16, 235]


def rgb_to_y(images: jax.Array, *, round_to_uint8: bool = False) -> jax.Array:
    """(B, H, W, 3) RGB on the 0-255 scale -> (B, H, W, 1) ITU-R BT.601 luma as MATLAB's rgb2ycbcr, in [16, 235]:

        Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255

    Kept in floating point by default, as BasicSR does (`bgr2ycbcr(y_only=True)` on float images): that is what
    reproduces the published bicubic x4 figures (tests/test_restoration_metrics.py); Y rounded to integers as
    MATLAB's rgb2ycbcr on uint8 does (`round_to_uint8=True`) falls short of them (benchmarks/RESULTS.md, "The
    conventions behind the restoration tables"). Set14's grey `bridge` is scored on its values as Y.
    """
    weights = jnp.asarray(Y_WEIGHTS, images.dtype) / 255.0
    y = 16.0 + jnp.sum(images * weights, axis=-1, keepdims=True)
    return jnp.round(y) if round_to_uint8 else y


def crop_border(images: jax.Array, border: int) -> jax.Array:
    """(B, H, W, C) -> (B, H - 2 border, W - 2 border, C): `border` pixels removed from each side."""
    if border == 0:
        return images
    return images[:, border:-border, border:-border, :]


def psnr(restored: jax.Array, clean: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
    """(B,) peak signal-to-noise ratio in dB, 10 log10(255^2 / MSE), with the MSE over all pixels and channels.

    mask: (B, H, W, 1), 1.0 on the pixels to score (an inpainting hole: PSNR inside the hole); the MSE is then over
    masked pixels only (all channels). Identical images give +inf; an empty mask gives NaN: callers decide.
    """
    error = (restored.astype(jnp.float32) - clean.astype(jnp.float32)) ** 2
    if mask is None:
        mse = jnp.mean(error, axis=(1, 2, 3))
    else:
        mse = jnp.sum(error * mask, axis=(1, 2, 3)) / (jnp.sum(mask, axis=(1, 2, 3)) * error.shape[-1])
    return 10.0 * jnp.log10(PEAK**2 / mse)


def _gaussian_window() -> np.ndarray:
    """(11,) the normalised 1-D Gaussian of sigma 1.5; its outer product is MATLAB's fspecial('gaussian', 11, 1.5)."""
    x = np.arange(SSIM_WINDOW) - (SSIM_WINDOW - 1) / 2
    window = np.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return window / window.sum()


def _filter_valid(images: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H - 10, W - 10, C): the 11x11 Gaussian window applied without padding, separably, as
    weighted sums of shifted slices (elementwise float32 on every backend; on CPU faster than a conv or a matmul)."""
    window = [float(weight) for weight in _gaussian_window()]
    valid = images.shape[1] - SSIM_WINDOW + 1
    images = sum(weight * images[:, tap : tap + valid] for tap, weight in enumerate(window))
    valid = images.shape[2] - SSIM_WINDOW + 1
    return sum(weight * images[:, :, tap : tap + valid] for tap, weight in enumerate(window))


def ssim(restored: jax.Array, clean: jax.Array) -> jax.Array:
    """(B,) structural similarity (Wang et al. 2004) as MATLAB's ssim_index and BasicSR compute it.

    An 11x11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering (no padding: the map is
    (H - 10, W - 10)), then the mean over the map and over channels. Images must be at least 11x11. Equal to
    skimage's structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255),
    which pads but crops the padded margin before its mean. Variances are computed about each image's mean, so
    float32 loses nothing to cancellation on the 0-255 scale.
    """
    x, y = restored.astype(jnp.float32), clean.astype(jnp.float32)
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    offset = jnp.mean(y, axis=(1, 2), keepdims=True)  # shifts neither variances nor covariance
    xc, yc = x - offset, y - offset
    channels = x.shape[-1]
    moments = _filter_valid(jnp.concatenate([xc, yc, xc * xc, yc * yc, xc * yc], axis=-1))
    mu_x, mu_y, xx, yy, xy = (moments[..., i * channels : (i + 1) * channels] for i in range(5))
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    mu_x, mu_y = mu_x + offset, mu_y + offset
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return jnp.mean(ssim_map, axis=(1, 2, 3))


def restoration_scores(
    restored_uint8: np.ndarray,
    clean_uint8: np.ndarray,
    *,
    y_channel: bool,
    crop: int,
    mask: np.ndarray | None = None,
    lpips_metrics: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """PSNR and SSIM of uint8 (B, H, W, C) images of one size: {"psnr": (B,), "ssim": (B,)[, "psnr_hole": (B,)]},
    and the LPIPS metrics asked for.

    y_channel: score BT.601 luma (`rgb_to_y`, float Y) of RGB images; grey images (C = 1) are scored as they are,
    their values taken as Y. crop: border pixels removed from each side first (the SR scale, in the tables).
    mask: (B, H, W, 1), 1.0 in holes; adds "psnr_hole", the PSNR inside the (cropped) holes.
    lpips_metrics: the LPIPS metrics to add, by name ("lpips": AlexNet, "lpips_vgg": VGG16; `lpips.METRIC_NETWORKS`),
      each (B,): the distance between the images as given (RGB, or grey repeated to RGB; `y_channel` does not
      apply), `crop` border pixels removed, scaled to [-1, 1]; lower is better.
    """
    restored, clean = jnp.asarray(restored_uint8, jnp.float32), jnp.asarray(clean_uint8, jnp.float32)
    hole = None if mask is None else jnp.asarray(mask, jnp.float32)
    scores = {name: np.asarray(value) for name, value in _scores(restored, clean, hole, y_channel, crop).items()}
    for name in lpips_metrics:
        pair = (pixels_to_model_range(crop_border(images, crop)) for images in (restored, clean))
        scores[name] = lpips.distance(*pair, network=lpips.METRIC_NETWORKS[name])
    return scores


@functools.partial(jax.jit, static_argnums=(3, 4))
def _scores(
    restored: jax.Array, clean: jax.Array, hole: jax.Array | None, y_channel: bool, crop: int
) -> dict[str, jax.Array]:
    if y_channel and clean.shape[-1] == 3:
        restored, clean = rgb_to_y(restored), rgb_to_y(clean)
    restored, clean = crop_border(restored, crop), crop_border(clean, crop)
    scores = {"psnr": psnr(restored, clean), "ssim": ssim(restored, clean)}
    if hole is not None:
        scores["psnr_hole"] = psnr(restored, clean, mask=crop_border(hole, crop))
    return scores


# MATLAB's rgb2ycbcr for values on the 0-255 scale: ycbcr = offset + matrix @ rgb / 255 (ITU-R BT.601).
_YCBCR_MATRIX = np.array([Y_WEIGHTS, [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def rgb_to_ycbcr(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W, 3) Y, Cb, Cr, float64 on the 0-255 scale (Y in [16, 235])."""
    return pixels @ _YCBCR_MATRIX.T + _YCBCR_OFFSET


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """The inverse of `rgb_to_ycbcr`."""
    return (ycbcr - _YCBCR_OFFSET) @ np.linalg.inv(_YCBCR_MATRIX).T
