"""FIR up- and down-sampling of image batches, and convolutions that resample (StyleGAN2's `upfirdn2d` and
`conv2d_resample`, Karras et al. 2020), in ganjax's layout: images (B, H, W, C), kernels (kh, kw, in, out).

`upfirdn2d` upsamples by inserting zeros, pads (or crops), convolves every channel with one 2-D FIR filter and keeps
every `down`-th pixel, the sequence of scipy.signal.upfirdn; the official code's definition, with padding given per
axis as JAX gives it, ((top, bottom), (left, right)), instead of its [x0, x1, y0, y1]. `conv2d_resample` is a
convolution preceded by a FIR upsampling or followed by a FIR downsampling, computed as the official code computes it
(a transposed convolution then the filter; the filter then a strided convolution), so that weights imported from it
give the same images; `tests/test_resampling.py` checks both fast paths against the plain composition.

Both are pure functions of arrays, differentiable by JAX, in any float dtype (the filter is cast to the input's).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Padding = tuple[tuple[int, int], tuple[int, int]]
NO_PADDING: Padding = ((0, 0), (0, 0))
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def fir_filter(taps: Sequence[float], *, normalize: bool = True) -> np.ndarray:
    """The 2-D filter (K, K) float32 of 1-D `taps` (K,): their outer product, scaled to sum to 1 when `normalize`
    (a constant image keeps its value). StyleGAN2's is `fir_filter([1, 3, 3, 1])`."""
    taps = np.asarray(taps, np.float64)
    if taps.ndim != 1 or taps.size == 0:
        raise ValueError(f"FIR taps must be a non-empty 1-D sequence, got shape {taps.shape}")
    kernel = np.outer(taps, taps)
    if normalize:
        kernel /= kernel.sum()
    return kernel.astype(np.float32)


def upfirdn2d(
    x: jax.Array, fir: np.ndarray | jax.Array, *, up: int = 1, down: int = 1, padding: Padding = NO_PADDING,
    gain: float = 1.0,
) -> jax.Array:  # fmt: skip
    """Upsample, pad, filter, downsample: (B, H, W, C) -> (B, H', W', C) with
    H' = (H * up + top + bottom - kh) // down + 1 (W' alike).

    1. upsample by inserting `up` - 1 zeros after each pixel (along both axes);
    2. pad with zeros by `padding` = ((top, bottom), (left, right)), pixels of the upsampled image; negative crops;
    3. convolve each channel with `fir` (kh, kw) times `gain` (a convolution: the filter is flipped), keeping only
       outputs whose footprint lies inside the padded image;
    4. keep every `down`-th pixel, starting with the first.
    """
    (top, bottom), (left, right) = padding
    kernel_height, kernel_width = fir.shape
    zero = jnp.zeros((), x.dtype)
    x = jax.lax.pad(x, zero, ((0, 0, 0), (top, bottom + up - 1, up - 1), (left, right + up - 1, up - 1), (0, 0, 0)))
    channels = x.shape[-1]
    flipped = jnp.asarray(fir, jnp.float32)[::-1, ::-1] * gain
    kernel = jnp.broadcast_to(flipped[:, :, None, None], (kernel_height, kernel_width, 1, channels))
    return jax.lax.conv_general_dilated(
        x, kernel.astype(x.dtype), (down, down), "VALID", dimension_numbers=_DIMENSIONS, feature_group_count=channels
    )


def conv2d_resample(
    x: jax.Array, kernel: jax.Array, fir: np.ndarray | jax.Array | None = None, *, up: int = 1, down: int = 1,
    padding: int = 0,
) -> jax.Array:  # fmt: skip
    """A convolution (a cross-correlation, as flax's) of x (B, H, W, in) with `kernel` (kh, kw, in, out), with FIR
    upsampling by `up` before it or FIR downsampling by `down` after it (one of them, or neither): (B, H * up // down,
    W * up // down, out) for a square kernel and `padding` = (kh - 1) // 2, StyleGAN2's choice.

    `padding` pads the input (with respect to the upsampled image when up > 1) by that many zeros on every side, once,
    before any of the operations; the filter's own padding is added as the official code adds it, so that the
    sampling grid stays centred. Upsampling filters with gain up**2, so that a constant image keeps its value.
    """
    if up > 1 and down > 1:
        raise ValueError(f"conv2d_resample upsamples or downsamples, not both (up={up}, down={down})")
    kernel_height, kernel_width = kernel.shape[:2]
    if up == 1 and down == 1:
        pads = ((padding, padding), (padding, padding))
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), pads, dimension_numbers=_DIMENSIONS)
    # The convolution's padding and the filter's own, which keeps the sampling grid centred (the official code's).
    if up > 1:
        pads = [(padding + (size + up - 1) // 2, padding + (size - up) // 2) for size in fir.shape]
    else:
        pads = [(padding + (size - down + 1) // 2, padding + (size - down) // 2) for size in fir.shape]
    pointwise = kernel_height == kernel_width == 1
    if down > 1:
        # The filter, then a strided convolution; a 1x1 convolution commutes with subsampling, so it comes after.
        if pointwise:
            return _convolve(upfirdn2d(x, fir, down=down, padding=tuple(pads)), kernel)
        return _convolve(upfirdn2d(x, fir, padding=tuple(pads)), kernel, stride=down)
    if pointwise:  # a 1x1 convolution commutes with zero insertion: convolve at the low resolution first
        return upfirdn2d(_convolve(x, kernel), fir, up=up, padding=tuple(pads), gain=up**2)
    # A transposed convolution of stride `up` (zero insertion folded into the convolution), then the filter with
    # gain up**2; the padding split between them as the official code splits it: what both sides would crop is the
    # transposed convolution's padding, the rest the filter's.
    pads = [(low - (size - 1), high - (size - up)) for (low, high), size in zip(pads, kernel.shape[:2], strict=True)]
    crops = [max(min(-low, -high), 0) for low, high in pads]
    transposed = jax.lax.conv_general_dilated(
        x,
        kernel,
        (1, 1),
        [(size - 1 - crop, size - 1 - crop) for size, crop in zip((kernel_height, kernel_width), crops, strict=True)],
        lhs_dilation=(up, up),
        dimension_numbers=_DIMENSIONS,
    )
    fir_pads = tuple((low + crop, high + crop) for (low, high), crop in zip(pads, crops, strict=True))
    return upfirdn2d(transposed, fir, padding=fir_pads, gain=up**2)


def _convolve(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """Cross-correlation without padding: (B, H, W, in) x (kh, kw, in, out) -> (B, (H - kh) // stride + 1, ...)."""
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), "VALID", dimension_numbers=_DIMENSIONS)
