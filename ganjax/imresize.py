"""MATLAB's `imresize` on float image batches in JAX: the resize of the super-resolution tables' protocol (the
`downscale` degradation), of bicubic baselines and of EDSR's skip (ganjax/models/corrective.py)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ganjax.errors import ConfigError


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic'), support [-2, 2]."""
    a = np.abs(x)
    near = (1.5 * a**3 - 2.5 * a**2 + 1.0) * (a <= 1)
    far = (-0.5 * a**3 + 2.5 * a**2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return near + far


def _box(x: np.ndarray) -> np.ndarray:
    """MATLAB's 'nearest' kernel: 1 on [-0.5, 0.5)."""
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


_KERNELS = {"bicubic": (_cubic, 4.0), "nearest": (_box, 1.0)}  # kernel, support width in input pixels


@functools.lru_cache(maxsize=64)
def _resize_matrix(in_length: int, out_length: int, scale: float, method: str) -> np.ndarray:
    """(out_length, in_length) float32 weights of MATLAB's imresize along one axis.

    As MATLAB's `contributions`: output pixel x (1-based) samples the input at u = x / scale + (1 - 1/scale) / 2;
    when shrinking, bicubic's kernel is stretched by 1/scale and scaled by scale (antialiasing; 'nearest' never is);
    each row's taps are normalised to sum to 1, then taps outside the image are mirrored (symmetric padding, the edge
    pixel repeated), and mirrored taps that land on the same pixel add up.
    """
    kernel, width = _KERNELS[method]
    if scale < 1 and method != "nearest":
        stretched = kernel
        kernel = lambda x: scale * stretched(scale * x)  # noqa: E731
        width = width / scale
    u = np.arange(1, out_length + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = left[:, None] + np.arange(math.ceil(width) + 2)[None, :]  # 1-based input positions
    weights = kernel(u[:, None] - taps)
    weights = weights / weights.sum(axis=1, keepdims=True)
    period = np.mod(taps.astype(np.int64) - 1, 2 * in_length)  # 0-based, on the mirrored sequence of period 2n
    index = np.where(period < in_length, period, 2 * in_length - 1 - period)
    matrix = np.zeros((out_length, in_length))
    np.add.at(matrix, (np.repeat(np.arange(out_length), taps.shape[1]), index.ravel()), weights.ravel())
    matrix = matrix.astype(np.float32)
    matrix.flags.writeable = False
    return matrix


def imresize(images: jax.Array, scale: float, *, method: str = "bicubic") -> jax.Array:
    """MATLAB's `imresize(images, scale, method)` on float images: (B, H, W, C) -> (B, ceil(H*scale), ceil(W*scale), C).

    Bicubic is Keys' cubic (a = -0.5), antialiased when shrinking (the kernel stretched by 1/scale); 'nearest' is
    never antialiased. Borders mirror the image (MATLAB's symmetric padding) and each output pixel's weights sum to 1,
    so a constant image stays constant. `scale` may be any positive number, e.g. 1/4 or 3/2; a fractions.Fraction
    gives the output size exactly. No rounding: round to uint8 yourself to mimic MATLAB on uint8 images.

    Why not jax.image.scale_and_translate (method "cubic", antialias=True): it samples the same positions with the
    same kernel, and matches this to 0.0 in the interior, but at the borders it renormalises over the taps inside the
    image instead of mirroring them, and differs by several levels on the outermost rows and columns
    (benchmarks/RESULTS.md, "The conventions behind the restoration tables"). So the two axes are resized here by
    weight matrices computed in numpy (static shapes) and applied with einsum at full float32 precision.
    """
    if method not in _KERNELS:
        raise ConfigError(f"unknown imresize method {method!r}; valid: {', '.join(sorted(_KERNELS))}")
    if scale <= 0:
        raise ConfigError(f"imresize scale must be positive, got {scale}")
    _, height, width, _ = images.shape
    rows = _resize_matrix(height, math.ceil(height * scale), float(scale), method)
    cols = _resize_matrix(width, math.ceil(width * scale), float(scale), method)
    highest = jax.lax.Precision.HIGHEST
    images = jnp.einsum("oh,bhwc->bowc", rows, images, precision=highest)
    return jnp.einsum("pw,bhwc->bhpc", cols, images, precision=highest)
