"""Classical baselines of the restoration benchmark: denoising, super-resolution and inpainting without learning.

Benchmarks only; ganjax never imports this. Each function is a thin wrapper of a well-kept library (named in its
docstring) on one image (H, W, C), C 1 or 3, and returns uint8 (H', W', C), rounded to nearest and clipped:

- denoising (`median_filter`, `gaussian_filter`, `bm3d_denoise`) takes the noisy image as floats on the 0-255 scale,
  not clipped (DnCNN's protocol adds the noise to the clean uint8 levels and keeps values beyond [0, 255]);
- super-resolution (`nearest_upscale`, `bicubic_upscale`) takes the uint8 low-resolution image;
- inpainting (`telea_inpaint`, `navier_stokes_inpaint`, `mean_fill`) takes the uint8 image and its mask (H, W) bool,
  True where a pixel is missing; known pixels come back unchanged.

`BASELINES[task][name](degraded, context)` calls them uniformly, with a `Context` carrying what the task needs, so a
benchmark can loop over every baseline of a task. scipy is always installed; OpenCV and bm3d come with the
`benchmarks` extra (pip install -e '.[benchmarks]').
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from types import ModuleType

import jax.numpy as jnp
import numpy as np
import scipy.ndimage

from ganjax.degradations import imresize

# The Gaussian filter's standard deviation in pixels, chosen as the best for sigma-25 noise on BSD68 (the baseline
# keeps it at other noise levels): benchmarks/RESULTS.md, "The conventions behind the restoration tables".
GAUSSIAN_SIGMA_PIXELS = 0.85


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _optional(module: str, package: str) -> ModuleType:
    """Imports `module`, or an ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this baseline needs {package} ({module}); install it with pip install -e '.[benchmarks]'"
        ) from error


def median_filter(noisy: np.ndarray, size: int) -> np.ndarray:
    """Each pixel becomes the median of its size x size neighbourhood, per channel (scipy.ndimage.median_filter,
    borders mirrored). noisy: (H, W, C) float on the 0-255 scale; returns uint8 (H, W, C)."""
    return _to_uint8(scipy.ndimage.median_filter(np.asarray(noisy, np.float64), size=(size, size, 1), mode="reflect"))


def gaussian_filter(noisy: np.ndarray, sigma_pixels: float) -> np.ndarray:
    """A Gaussian blur of standard deviation `sigma_pixels` per channel (scipy.ndimage.gaussian_filter, borders
    mirrored, kernel cut at 4 sigma). noisy: (H, W, C) float on the 0-255 scale; returns uint8 (H, W, C)."""
    blurred = scipy.ndimage.gaussian_filter(
        np.asarray(noisy, np.float64), (sigma_pixels, sigma_pixels, 0), mode="reflect"
    )
    return _to_uint8(blurred)


def bm3d_denoise(noisy: np.ndarray, noise_sigma_255: float) -> np.ndarray:
    """BM3D (Dabov et al. 2007) with the bm3d package's default profile: `bm3d.bm3d` on grey images and its colour
    version `bm3d.bm3d_rgb` (CBM3D, in the opponent colour space) on RGB. noisy: (H, W, C) float on the 0-255 scale,
    with white Gaussian noise of standard deviation `noise_sigma_255` on that scale; returns uint8 (H, W, C)."""
    bm3d = _optional("bm3d", "bm3d")
    scaled = np.asarray(noisy, np.float64) / 255.0
    if scaled.shape[-1] == 1:
        denoised = bm3d.bm3d(scaled[..., 0], sigma_psd=noise_sigma_255 / 255.0)[..., None]
    else:
        denoised = bm3d.bm3d_rgb(scaled, sigma_psd=noise_sigma_255 / 255.0)
    return _to_uint8(denoised * 255.0)


def nearest_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel repeated scale x scale times (numpy.repeat; MATLAB's imresize 'nearest' at an integer scale).
    lr: uint8 (h, w, C); returns uint8 (h * scale, w * scale, C)."""
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB's imresize(lr, scale, 'bicubic') (ganjax.degradations.imresize, which matches MATLAB at the borders).
    lr: uint8 (h, w, C); returns uint8 (h * scale, w * scale, C)."""
    return _to_uint8(np.asarray(imresize(jnp.asarray(lr[None], jnp.float32), scale, method="bicubic"))[0])


def _opencv_inpaint(masked: np.ndarray, mask: np.ndarray, radius: int, method: str) -> np.ndarray:
    cv2 = _optional("cv2", "OpenCV (opencv-python-headless)")
    filled = cv2.inpaint(masked, mask.astype(np.uint8), radius, getattr(cv2, method))
    return filled.reshape(masked.shape)


def telea_inpaint(masked: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """Telea's fast marching inpainting (2004; cv2.inpaint with INPAINT_TELEA): holes filled from the boundary
    inwards, each pixel from the known pixels within `radius`. masked: uint8 (H, W, C); mask: (H, W) bool, True =
    hole. Returns uint8 (H, W, C)."""
    return _opencv_inpaint(masked, mask, radius, "INPAINT_TELEA")


def navier_stokes_inpaint(masked: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """Bertalmio et al.'s fluid-dynamics inpainting (2001; cv2.inpaint with INPAINT_NS): isophotes continued into
    the holes. masked: uint8 (H, W, C); mask: (H, W) bool, True = hole. Returns uint8 (H, W, C)."""
    return _opencv_inpaint(masked, mask, radius, "INPAINT_NS")


def mean_fill(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Every hole pixel set to the mean of the image's known pixels, per channel, rounded (numpy). masked: uint8
    (H, W, C); mask: (H, W) bool, True = hole, with at least one known pixel. Returns uint8 (H, W, C)."""
    if mask.all():
        raise ValueError("mean_fill needs at least one known pixel; the mask covers the whole image")
    filled = masked.copy()
    filled[mask] = _to_uint8(masked[~mask].mean(axis=0, dtype=np.float64))
    return filled


@dataclasses.dataclass(frozen=True)
class Context:
    """What a baseline may need besides the degraded image: the noise's standard deviation on the 0-255 scale
    (denoising), the upscaling factor (super-resolution), the holes (H, W) bool, True = missing (inpainting)."""

    sigma: float | None = None
    scale: int | None = None
    mask: np.ndarray | None = None


Baseline = Callable[[np.ndarray, Context], np.ndarray]

BASELINES: dict[str, dict[str, Baseline]] = {
    "denoise": {
        "median 3x3": lambda noisy, context: median_filter(noisy, 3),
        "median 5x5": lambda noisy, context: median_filter(noisy, 5),
        "gaussian": lambda noisy, context: gaussian_filter(noisy, GAUSSIAN_SIGMA_PIXELS),
        "bm3d": lambda noisy, context: bm3d_denoise(noisy, context.sigma),
    },
    "sr": {
        "nearest": lambda lr, context: nearest_upscale(lr, context.scale),
        "bicubic": lambda lr, context: bicubic_upscale(lr, context.scale),
    },
    "inpaint": {
        "telea": lambda masked, context: telea_inpaint(masked, context.mask),
        "navier-stokes": lambda masked, context: navier_stokes_inpaint(masked, context.mask),
        "mean fill": lambda masked, context: mean_fill(masked, context.mask),
    },
}
