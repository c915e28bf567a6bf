"""Edge maps and edge-map SSIM (ganjax/metrics/translation.py): hand-worked Sobel values, scipy as a reference for
the smoothed maps, and the invariances the metric is built on."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from ganjax.metrics.fidelity import rgb_to_y
from ganjax.metrics.translation import EDGE_SMOOTHING_SIGMA, edge_map, edge_ssim


def _photos(shape=(2, 16, 16, 3), seed: int = 0) -> jax.Array:
    """Smooth random images on the 0-255 scale: noise blurred so that they have edges of every strength."""
    noise = np.random.default_rng(seed).uniform(0, 255, shape)
    return jnp.asarray(scipy.ndimage.gaussian_filter(noise, (0, 1, 1, 0)) * 3 - 255, jnp.float32)


def _vertical_step(channels: int = 1) -> jax.Array:
    """(1, 16, 16, C): 20 on columns 0-7, 180 on columns 8-15."""
    image = np.full((1, 16, 16, channels), 20.0, np.float32)
    image[:, :, 8:] = 180.0
    return jnp.asarray(image)


def test_an_image_with_itself_scores_exactly_one():
    for images in (_photos(), _photos((3, 12, 20, 1), seed=1)):
        np.testing.assert_array_equal(np.asarray(edge_ssim(images, images)), 1.0)


def test_a_vertical_step_has_its_edge_on_the_two_columns_beside_it():
    # Without smoothing: Sobel gx = (1 + 2 + 1) * 160 on columns 7 and 8, 0 elsewhere, so 255 there and 0 elsewhere.
    expected = np.zeros((1, 16, 16, 1), np.float32)
    expected[:, :, 7:9] = 255.0
    np.testing.assert_array_equal(np.asarray(edge_map(_vertical_step(), smoothing_sigma=0)), expected)
    # With it (radius 3 pixels): the two edge columns stay the maximum, 255 exactly; columns more than 3 + 1 pixels
    # from the step are untouched by the blur and the Sobel operator, so exactly 0.
    smoothed = np.asarray(edge_map(_vertical_step()))[0, :, :, 0]
    assert smoothed.max() == 255.0
    np.testing.assert_allclose(smoothed[:, 7:9], 255.0, rtol=1e-6)
    np.testing.assert_array_equal(smoothed[:, :4], 0.0)
    np.testing.assert_array_equal(smoothed[:, 12:], 0.0)
    assert np.all(np.diff(smoothed[:, 3:8], axis=1) > 0) and np.all(np.diff(smoothed[:, 8:13], axis=1) < 0)
    # Grey replicated to RGB: its luma is 16 + (219 / 255) * grey, which has the same edge map.
    np.testing.assert_allclose(np.asarray(edge_map(_vertical_step(3)))[0, :, :, 0], smoothed, atol=1e-4)


def test_sobel_magnitude_of_a_plane_by_hand():
    # I = 3 x + 4 y on 5 rows x 6 columns. Inside: gx = (1 + 2 + 1) * 2 * 3 = 24, gy = 4 * 2 * 4 = 32, |g| = 40.
    # Mirrored borders cancel the derivative across them: gx = 0 on the first and last columns (|g| = 32), gy = 0 on
    # the first and last rows (|g| = 24), both at the corners (0). Scaled by 255 / 40.
    rows, columns = np.mgrid[0:5, 0:6]
    plane = jnp.asarray((3.0 * columns + 4.0 * rows)[None, :, :, None], jnp.float32)
    expected = np.full((5, 6), 40.0)
    expected[:, [0, -1]] = 32.0
    expected[[0, -1], :] = 24.0
    expected[[0, 0, -1, -1], [0, -1, 0, -1]] = 0.0
    np.testing.assert_allclose(
        np.asarray(edge_map(plane, smoothing_sigma=0))[0, :, :, 0], expected * 255 / 40, rtol=1e-6
    )


def test_smoothed_edge_map_matches_scipy():
    # scipy's 'mirror' is the same reflection; its Gaussian radius, int(3 sigma + 0.5), equals ours, ceil(3 sigma),
    # at sigma 1. scipy's Sobel smooths along every other axis, so it is given one 2-D image at a time.
    assert EDGE_SMOOTHING_SIGMA == 1.0
    images = np.asarray(_photos((2, 14, 17, 1)), np.float64)
    for image, ours in zip(images[..., 0], np.asarray(edge_map(jnp.asarray(images, jnp.float32)))[..., 0], strict=True):
        smoothed = scipy.ndimage.gaussian_filter(image, 1.0, mode="mirror", truncate=3.0)
        magnitude = np.hypot(*(scipy.ndimage.sobel(smoothed, axis=axis, mode="mirror") for axis in (0, 1)))
        np.testing.assert_allclose(ours, 255 * magnitude / magnitude.max(), atol=2e-3)


def test_edge_maps_ignore_brightness_and_contrast():
    images = _photos()
    for changed in (0.5 * images + 40, 255 - images):
        np.testing.assert_allclose(np.asarray(edge_map(changed)), np.asarray(edge_map(images)), atol=1e-3)
        np.testing.assert_allclose(np.asarray(edge_ssim(images, changed)), 1.0, atol=1e-6)


def test_a_flat_output_scores_the_documented_value():
    flat = jnp.full((1, 16, 32, 3), 77.0)
    np.testing.assert_array_equal(np.asarray(edge_map(flat)), 0.0)
    np.testing.assert_array_equal(np.asarray(edge_ssim(flat, flat)), 1.0)
    # Against a step at column 16: the mean over the valid 11x11 windows of C1 C2 / ((mu^2 + C1)(sigma^2 + C2)), mu
    # and sigma the input edge map's. Its edges cover columns 12-19, so the windows centred on columns 5, 6, 25 and 26
    # (of 5-26) see none and score 1; the others score less, the more so the nearer the step is to their centre.
    step = np.full((1, 16, 32, 1), 20.0, np.float32)
    step[:, :, 16:] = 180.0
    edges = np.asarray(edge_map(jnp.asarray(step)), np.float64)[0, :, :, 0]
    window = {"sigma": 1.5, "mode": "constant", "truncate": 5 / 1.5}  # radius 5: 11x11
    mean = scipy.ndimage.gaussian_filter(edges, **window)[5:-5, 5:-5]
    variance = scipy.ndimage.gaussian_filter(edges**2, **window)[5:-5, 5:-5] - mean**2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = np.mean(c1 * c2 / ((mean**2 + c1) * (variance + c2)))
    score = float(edge_ssim(jnp.asarray(step), flat[..., :1])[0])
    assert score == pytest.approx(expected, rel=1e-5)
    assert 4 / 22 < score < 1


def test_an_rgb_input_and_its_grey_output_compare():
    images = _photos()
    grey = rgb_to_y(images)
    np.testing.assert_allclose(np.asarray(edge_ssim(images, grey)), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(edge_ssim(grey, images)), 1.0, atol=1e-6)
    other = _photos(seed=7)
    scores = np.asarray(jax.jit(edge_ssim)(images, rgb_to_y(other)))
    assert scores.shape == (2,) and np.all(scores < 0.5)
    np.testing.assert_allclose(scores, np.asarray(edge_ssim(images, rgb_to_y(other))), atol=1e-6)


def test_clear_errors():
    with pytest.raises(ValueError, match=r"grey \(C = 1\) or RGB \(C = 3\) images; these have C = 2"):
        edge_map(jnp.zeros((1, 16, 16, 2)))
    with pytest.raises(ValueError, match=r"one batch size and image size \(N, H, W\); got \(2, 16, 16\) and"):
        edge_ssim(jnp.zeros((2, 16, 16, 3)), jnp.zeros((2, 16, 15, 3)))
    with pytest.raises(ValueError, match="standard deviation in pixels, >= 0; got -1"):
        edge_map(jnp.zeros((1, 16, 16, 1)), smoothing_sigma=-1)
