"""FIR resampling (ganjax/resampling.py): upfirdn2d against its four steps written out in NumPy and SciPy, the
convolutions' fast paths against the plain composition they stand for, and what a user can check by hand: a
constant image keeps its value, an impulse stays centred, the shapes halve and double."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from ganjax.resampling import conv2d_resample, fir_filter, upfirdn2d

STYLEGAN2_FIR = fir_filter([1, 3, 3, 1])


def _upfirdn2d_by_definition(x, fir, up, down, padding, gain):
    """The four steps of upfirdn2d, one channel at a time, in float64."""
    batch, height, width, channels = x.shape
    upsampled = np.zeros((batch, height * up, width * up, channels))
    upsampled[:, ::up, ::up] = x
    (top, bottom), (left, right) = padding
    padded = np.pad(upsampled, ((0, 0), (max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0)), (0, 0)))
    padded = padded[
        :, max(-top, 0) : padded.shape[1] - max(-bottom, 0), max(-left, 0) : padded.shape[2] - max(-right, 0)
    ]
    out = np.stack(
        [
            np.stack([signal.convolve2d(padded[b, :, :, c], fir * gain, mode="valid") for c in range(channels)], -1)
            for b in range(batch)
        ]
    )
    return out[:, ::down, ::down]


@pytest.mark.parametrize(
    "up, down, padding, gain",
    [
        (1, 1, ((1, 2), (0, 1)), 1.0),
        (2, 1, ((2, 1), (2, 1)), 4.0),
        (1, 2, ((1, 1), (1, 1)), 1.0),
        (3, 1, ((-1, 2), (0, -2)), 1.0),
        (2, 2, ((1, 1), (2, 0)), 0.5),
    ],
)
def test_upfirdn2d_is_its_definition(up, down, padding, gain):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, 3)).astype(np.float32)
    fir = rng.normal(size=(3, 4)).astype(np.float32)  # not symmetric: a missing flip would show
    got = np.asarray(upfirdn2d(jnp.asarray(x), fir, up=up, down=down, padding=padding, gain=gain))
    np.testing.assert_allclose(got, _upfirdn2d_by_definition(x, fir, up, down, padding, gain), rtol=1e-5, atol=1e-5)


def test_the_filter_sums_to_one_and_a_constant_image_keeps_its_value():
    np.testing.assert_allclose(STYLEGAN2_FIR, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0)
    constant = jnp.full((1, 8, 8, 2), 0.7)
    upsampled = upfirdn2d(constant, STYLEGAN2_FIR, up=2, padding=((2, 1), (2, 1)), gain=4.0)
    downsampled = upfirdn2d(constant, STYLEGAN2_FIR, down=2, padding=((1, 1), (1, 1)))
    assert upsampled.shape == (1, 16, 16, 2) and downsampled.shape == (1, 4, 4, 2)
    # Away from the zero padding at the borders, exactly the constant.
    np.testing.assert_allclose(upsampled[:, 2:-2, 2:-2], 0.7, rtol=1e-6)
    np.testing.assert_allclose(downsampled[:, 1:-1, 1:-1], 0.7, rtol=1e-6)


def _plain_composition(x, kernel, fir, up, down, padding):
    """conv2d_resample as its definition composes it: FIR-upsample (gain up**2) then the convolution, or the
    convolution then FIR-downsample, with StyleGAN2's centring padding (the official code's generic path)."""
    size = fir.shape[0]
    dimensions = ("NHWC", "HWIO", "NHWC")
    if up > 1:
        pad = ((padding + (size + up - 1) // 2, padding + (size - up) // 2),) * 2
        upsampled = upfirdn2d(x, fir, up=up, padding=pad, gain=up**2)
        return jax.lax.conv_general_dilated(upsampled, kernel, (1, 1), "VALID", dimension_numbers=dimensions)
    pad = ((padding + (size - down + 1) // 2, padding + (size - down) // 2),) * 2
    padded = upfirdn2d(x, np.ones((1, 1), np.float32), padding=pad)
    convolved = jax.lax.conv_general_dilated(padded, kernel, (1, 1), "VALID", dimension_numbers=dimensions)
    return upfirdn2d(convolved, fir, down=down)


@pytest.mark.parametrize("up, down", [(2, 1), (1, 2)])
@pytest.mark.parametrize("kernel_size", [3, 1])
def test_conv2d_resample_computes_the_plain_composition(up, down, kernel_size):
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    x = jax.random.normal(keys[0], (2, 8, 8, 3))
    kernel = jax.random.normal(keys[1], (kernel_size, kernel_size, 3, 5))
    padding = kernel_size // 2
    got = conv2d_resample(x, kernel, STYLEGAN2_FIR, up=up, down=down, padding=padding)
    side = 8 * up // down
    assert got.shape == (2, side, side, 5)
    want = _plain_composition(x, kernel, STYLEGAN2_FIR, up, down, padding)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_upsampling_keeps_an_impulse_centred():
    """A pixel at (3, 4) of an 8x8 image covers (6..7, 8..9) when upsampled twice: the response of a centred 3x3
    identity kernel is symmetric about (6.5, 8.5)."""
    impulse = jnp.zeros((1, 8, 8, 1)).at[0, 3, 4, 0].set(1.0)
    identity = jnp.zeros((3, 3, 1, 1)).at[1, 1, 0, 0].set(1.0)
    response = np.asarray(conv2d_resample(impulse, identity, STYLEGAN2_FIR, up=2, padding=1))[0, :, :, 0]
    rows, columns = np.nonzero(response > 1e-7)
    assert (rows.min() + rows.max()) / 2 == 6.5 and (columns.min() + columns.max()) / 2 == 8.5
    np.testing.assert_allclose(response.sum(), 4.0, rtol=1e-6)  # gain up**2: one pixel becomes four of its value


def test_upsampling_and_downsampling_at_once_is_refused():
    with pytest.raises(ValueError, match="upsamples or downsamples, not both"):
        conv2d_resample(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), STYLEGAN2_FIR, up=2, down=2)
