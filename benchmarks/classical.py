"""Classical baselines of the restoration benchmark (denoising, super-resolution, inpainting) and of unpaired
translation (photo -> comic-style drawing), without learning.

Benchmarks only; ganjax never imports this. Each function is a thin wrapper of a well-kept library (named in its
docstring) on one image (H, W, C), C 1 or 3 (translation: 3), and returns uint8 (H', W', C), rounded to nearest and
clipped:

- denoising (`median_filter`, `gaussian_filter`, `bm3d_denoise`) takes the noisy image as floats on the 0-255 scale,
  not clipped (DnCNN's protocol adds the noise to the clean uint8 levels and keeps values beyond [0, 255]);
- super-resolution (`nearest_upscale`, `bicubic_upscale`) takes the uint8 low-resolution image;
- inpainting (`telea_inpaint`, `navier_stokes_inpaint`, `biharmonic_inpaint`, `mean_fill`, `membrane_inpaint`)
  takes the uint8 image and its mask (H, W) bool, True where a pixel is missing; known pixels come back unchanged;
- translation (`cartoon_filter`, `stylization`) takes the uint8 RGB photo; their parameters are OpenCV tutorials'
  and defaults scaled from ~500-pixel photos to CIFAR-10's 32x32.

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

from ganjax.images import pixels_to_uint8
from ganjax.imresize import imresize
from ganjax.models.corrective import membrane_fill

# The Gaussian filter's standard deviation in pixels, chosen as the best for sigma-25 noise on BSD68 (the baseline
# keeps it at other noise levels): benchmarks/RESULTS.md, "The conventions behind the restoration tables".
GAUSSIAN_SIGMA_PIXELS = 0.85


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
    return pixels_to_uint8(
        scipy.ndimage.median_filter(np.asarray(noisy, np.float64), size=(size, size, 1), mode="reflect")
    )


def gaussian_filter(noisy: np.ndarray, sigma_pixels: float) -> np.ndarray:
    """A Gaussian blur of standard deviation `sigma_pixels` per channel (scipy.ndimage.gaussian_filter, borders
    mirrored, kernel cut at 4 sigma). noisy: (H, W, C) float on the 0-255 scale; returns uint8 (H, W, C)."""
    blurred = scipy.ndimage.gaussian_filter(
        np.asarray(noisy, np.float64), (sigma_pixels, sigma_pixels, 0), mode="reflect"
    )
    return pixels_to_uint8(blurred)


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
    return pixels_to_uint8(denoised * 255.0)


def nearest_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel repeated scale x scale times (numpy.repeat; MATLAB's imresize 'nearest' at an integer scale).
    lr: uint8 (h, w, C); returns uint8 (h * scale, w * scale, C)."""
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB's imresize(lr, scale, 'bicubic') (ganjax.imresize.imresize, which matches MATLAB at the borders).
    lr: uint8 (h, w, C); returns uint8 (h * scale, w * scale, C)."""
    return pixels_to_uint8(np.asarray(imresize(jnp.asarray(lr[None], jnp.float32), scale, method="bicubic"))[0])


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
    filled[mask] = pixels_to_uint8(masked[~mask].mean(axis=0, dtype=np.float64))
    return filled


def biharmonic_inpaint(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The smoothest surface through the known pixels: the biharmonic equation solved in the holes
    (skimage.restoration.inpaint_biharmonic, after Damelin and Hoang 2018). masked: uint8 (H, W, C); mask: (H, W)
    bool, True = hole. Returns uint8 (H, W, C)."""
    restoration = _optional("skimage.restoration", "scikit-image")
    filled = restoration.inpaint_biharmonic(masked.astype(np.float64), mask, channel_axis=-1)
    return np.where(mask[..., None], pixels_to_uint8(filled), masked)


def membrane_inpaint(masked: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ganjax's own classical fill, the starting point of the `fill_unet` restorer: Laplace's equation in the holes
    (ganjax.models.corrective.membrane_fill). masked: uint8 (H, W, C); mask: (H, W) bool, True = hole. Returns
    uint8 (H, W, C)."""
    hole = jnp.asarray(mask, jnp.float32)[None, :, :, None]
    filled = np.asarray(membrane_fill(jnp.asarray(masked, jnp.float32)[None], hole))[0]
    return np.where(mask[..., None], pixels_to_uint8(filled), masked)


# k-means of the cartoon filter's colour quantisation, as in OpenCV's tutorials: 20 iterations at most, fewer only
# once no centre moves by more than the epsilon (in levels); the most compact of 10 k-means++ initialisations.
KMEANS_ITERATIONS, KMEANS_EPSILON, KMEANS_ATTEMPTS = 20, 0.001, 10


def _require_rgb_uint8(image: np.ndarray, name: str) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"{name} takes uint8 RGB images (H, W, 3); got {image.dtype} {image.shape}")


def cartoon_filter(
    image: np.ndarray,
    *,
    smoothing_passes: int = 5,
    bilateral_diameter: int = 5,
    bilateral_sigma_colour: float = 30.0,
    bilateral_sigma_space: float = 2.0,
    colours: int = 8,
    median_size: int = 3,
    edge_block_size: int = 5,
    edge_offset: float = 12.0,
    seed: int = 0,
) -> np.ndarray:
    """The cartoon filter of the OpenCV tutorials: flat regions of a few colours inside dark outlines.

    1. Colours: `smoothing_passes` edge-preserving bilateral filters (cv2.bilateralFilter: `bilateral_diameter`
       pixels across, Gaussian weights of `bilateral_sigma_space` pixels in space and `bilateral_sigma_colour`
       levels in colour), then quantisation to `colours` colours by k-means over the RGB values (cv2.kmeans with
       KMEANS_PP_CENTERS after cv2.setRNGSeed(seed), which resets the calling thread's OpenCV random generator;
       the centres rounded to uint8).
    2. Outlines: cv2.adaptiveThreshold (ADAPTIVE_THRESH_MEAN_C) of the grey image (cv2.COLOR_RGB2GRAY) after a
       `median_size` median blur: a pixel is an outline where it is at least `edge_offset` levels darker than the
       mean of its `edge_block_size` x `edge_block_size` neighbourhood.
    3. cv2.bitwise_and of the two: outline pixels black, the others their quantised colour. A flat image stays flat.

    The tutorials' photos of ~500 pixels take diameter 9, median 5-7 and block 9 (some after downscaling by 4).
    Scaled by 32/500 these would be under a pixel, so the spatial sizes are the smallest that still work: diameter 5
    (2 pixels each side) at sigma 2, median 3, block 5 (a 3x3 block outlines the texture inside objects). Colour
    levels do not scale with size: sigma_colour is 30 levels with 5 passes, between the tutorials' 9 with 7 passes
    and 250 with one. But a 5x5 block mixes an object's texture with its outline, so the offset is 12 levels, not the
    tutorials' 2-9: on the first 100 CIFAR-10 test images 26% of the pixels are outlines at 6, 16% at 12, and the
    outlines are then 1-2 pixels wide. Deterministic for a given `seed`.

    image: uint8 (H, W, 3) RGB, with at least `colours` pixels. Returns uint8 (H, W, 3) RGB with at most `colours`
    colours besides the black outlines.
    """
    cv2 = _optional("cv2", "OpenCV (opencv-python-headless)")
    _require_rgb_uint8(image, "cartoon_filter")
    if image.shape[0] * image.shape[1] < colours:
        raise ValueError(f"cartoon_filter needs at least {colours} pixels for {colours} colours; got {image.shape}")
    smoothed = image
    for _ in range(smoothing_passes):
        smoothed = cv2.bilateralFilter(smoothed, bilateral_diameter, bilateral_sigma_colour, bilateral_sigma_space)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, KMEANS_ITERATIONS, KMEANS_EPSILON)
    _, labels, centres = cv2.kmeans(
        smoothed.reshape(-1, 3).astype(np.float32), colours, None, criteria, KMEANS_ATTEMPTS, cv2.KMEANS_PP_CENTERS
    )
    quantised = pixels_to_uint8(centres)[labels[:, 0]].reshape(image.shape)
    grey = cv2.medianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), median_size)
    not_outline = cv2.adaptiveThreshold(
        grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, edge_block_size, edge_offset
    )
    return cv2.bitwise_and(quantised, quantised, mask=not_outline)


def stylization(image: np.ndarray, *, sigma_s: float = 4.0, sigma_r: float = 0.45) -> np.ndarray:
    """OpenCV's non-photorealistic stylization (cv2.stylization, after Gastal and Oliveira's domain transform): an
    edge-preserving smoothing, darkened where the smoothed image's Sobel gradient is strong.

    sigma_s: the smoothing's spatial standard deviation in pixels. OpenCV's default, 60, is meant for photos of
    ~500 pixels; scaled by 32/500 it is 4 here. At 60, wider than a 32x32 image, 92 of the first 500 CIFAR-10 test
    images come out all black. sigma_r: its range on colours scaled to [0, 1], which does not depend on the image
    size: OpenCV's default, 0.45. OpenCV then multiplies the smoothed image by 1 minus the sum over channels of its
    Sobel gradient magnitudes (on [0, 1]); an edge of a 32x32 image is a step between neighbouring pixels, steeper
    than in a large photo, so the darkening is wide: outlines 2-4 pixels wide, the mean level halved (58 against the
    photos' 123, same 500 images).

    image: uint8 (H, W, 3) RGB (passed to OpenCV as BGR, its order). Returns uint8 (H, W, 3) RGB.
    """
    cv2 = _optional("cv2", "OpenCV (opencv-python-headless)")
    _require_rgb_uint8(image, "stylization")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(cv2.stylization(bgr, sigma_s=sigma_s, sigma_r=sigma_r), cv2.COLOR_BGR2RGB)


@dataclasses.dataclass(frozen=True)
class Context:
    """What a baseline may need besides the degraded image: the noise's standard deviation on the 0-255 scale
    (denoising), the upscaling factor (super-resolution), the holes (H, W) bool, True = missing (inpainting);
    translation needs nothing."""

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
        "biharmonic (scikit-image)": lambda masked, context: biharmonic_inpaint(masked, context.mask),
        "mean fill": lambda masked, context: mean_fill(masked, context.mask),
        "membrane fill (ganjax, fill_unet's start)": lambda masked, context: membrane_inpaint(masked, context.mask),
    },
    "translate": {
        "cartoon": lambda photo, context: cartoon_filter(photo),
        "stylization": lambda photo, context: stylization(photo),
    },
}
