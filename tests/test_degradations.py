"""Degradations: shapes, statistics, hand-worked resizes and masks, determinism per key, and their config errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ganjax import degradations
from ganjax.degradations import (
    AREA_BUCKETS,
    DEGRADATIONS,
    apply_mask,
    bucket_name,
    build_degradation,
    centre_mask,
    evaluation_masks,
    free_form_mask,
    mask_from_image,
)
from ganjax.errors import ConfigError
from ganjax.imresize import imresize

KEY = jax.random.key(0)


def _config(**fields) -> ml_collections.ConfigDict:
    defaults = {
        "name": "noise",
        "sigma": 25.0,
        "sigma_max": None,
        "scale": 4,
        "mask": "free_form",
        "area_min": 0.1,
        "area_max": 0.5,
        "centre_fraction": 0.5,
        "quantize": True,
    }
    return ml_collections.ConfigDict({**defaults, **fields})


def _clean(shape=(4, 16, 16, 3), seed: int = 0) -> jax.Array:
    return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)


CONFIGS = {
    "noise": _config(),
    "noise_blind": _config(sigma=0.0, sigma_max=55.0),
    "downscale": _config(name="downscale", scale=4),
    "downscale_x3_float": _config(name="downscale", scale=3, quantize=False),
    "inpaint_free_form": _config(name="inpaint"),
    "inpaint_centre": _config(name="inpaint", mask="centre"),
    "grey": _config(name="grey"),
}
RANDOM = ("noise", "noise_blind", "inpaint_free_form")
# What each variant's describe() says, written from its config by hand.
DESCRIPTIONS = {
    "noise": "Gaussian noise sigma 25 (0-255 scale)",
    "noise_blind": "Gaussian noise sigma 0-55 per image, uniform (0-255 scale, blind)",
    "downscale": "x4 bicubic downscaling (MATLAB imresize, antialiased, rounded to 8 bits)",
    "downscale_x3_float": "x3 bicubic downscaling (MATLAB imresize, antialiased)",
    "inpaint_free_form": "free-form masks, hole area 10-50%",
    "inpaint_centre": "centre square holes, side 0.5 of the image's",
    "grey": "greyscale input (ITU-R BT.601 luma)",
}


def test_every_registered_degradation_has_a_variant_here():
    assert {config.name for config in CONFIGS.values()} == set(DEGRADATIONS.names())


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_shapes_dtypes_and_determinism_under_jit(variant):
    degradation = build_degradation(CONFIGS[variant])
    clean = _clean((2, 12, 12, 3))
    traced = []

    @functools.partial(jax.jit, static_argnums=0)
    def degrade(degradation, key: jax.Array, clean: jax.Array) -> degradations.Degraded:
        traced.append(degradation)
        return degradation(key, clean)

    out = degrade(degradation, KEY, clean)
    size = 12 // degradation.scale
    assert out.image.shape == (2, size, size, degradation.input_channels(3)) and out.image.dtype == jnp.float32
    if variant.startswith("inpaint"):
        assert out.mask.shape == (2, 12, 12, 1) and out.mask.dtype == jnp.float32
    else:
        assert out.mask is None
    assert degradation.describe() == DESCRIPTIONS[variant]
    # The output is a function of the key and the images alone: the degradation built again and compiled apart
    # gives it again (a draw at trace time would not), and only the random ones change with the key.
    rebuilt = build_degradation(CONFIGS[variant])
    np.testing.assert_array_equal(np.asarray(jax.jit(rebuilt.__call__)(KEY, clean).image), np.asarray(out.image))
    other_key = np.asarray(degrade(degradation, jax.random.key(1), clean).image)
    assert np.array_equal(other_key, np.asarray(out.image)) == (variant not in RANDOM)
    # Equal configs build equal degradations, so a task holding one is a static argument compiled once for both.
    degrade(rebuilt, KEY, clean)
    assert traced == [degradation]


def test_noise_has_the_asked_std_and_zero_mean_unclipped():
    clean = jnp.zeros((64, 32, 32, 3)) + 0.9
    noisy = jax.jit(build_degradation(_config(sigma=25.0)).__call__)(KEY, clean).image
    error = np.asarray(noisy - clean) * 255 / 2
    assert abs(error.std() / 25.0 - 1) < 0.01 and abs(error.mean()) < 0.25
    assert float(noisy.max()) > 1.0  # not clipped
    assert build_degradation(_config(sigma=25.0)).describe() == "Gaussian noise sigma 25 (0-255 scale)"


def test_blind_noise_draws_each_images_sigma_inside_the_range():
    clean = jnp.zeros((16, 64, 64, 1))
    noisy = jax.jit(build_degradation(_config(sigma=10.0, sigma_max=50.0)).__call__)(KEY, clean).image
    sigmas = np.asarray(noisy).reshape(16, -1).std(axis=1) * 255 / 2
    assert np.all(sigmas > 10.0 * 0.95) and np.all(sigmas < 50.0 * 1.05) and sigmas.std() > 3.0


def _cubic(x: float) -> float:
    """Keys' kernel, a = -0.5, written out again here so that the hand case does not use the module's."""
    a = abs(x)
    if a <= 1:
        return 1.5 * a**3 - 2.5 * a**2 + 1
    return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2 if a <= 2 else 0.0


def _upscale_x2_matrix(n: int) -> np.ndarray:
    """(2n, n): MATLAB's x2 bicubic along one axis, by hand. Output j (0-based) samples u = (j + 0.5) / 2 - 0.5; taps
    floor(u) - 1 .. floor(u) + 2; outside the image the index mirrors with the edge repeated (-1 -> 0, n -> n - 1)."""
    matrix = np.zeros((2 * n, n))
    for j in range(2 * n):
        u = (j + 0.5) / 2 - 0.5
        for tap in range(int(np.floor(u)) - 1, int(np.floor(u)) + 3):
            mirrored = -tap - 1 if tap < 0 else (2 * n - 1 - tap if tap >= n else tap)
            matrix[j, mirrored] += _cubic(u - tap)
    return matrix


def test_imresize_upscales_by_hand():
    # Output 0 samples u = -0.25: weights k(1.75) = -3/128 and k(0.75) = 29/128 on pixels -2 and -1, which mirror to
    # 1 and 0, k(0.25) = 111/128 on 0 and k(1.25) = -9/128 on 1: 140/128 p0 - 12/128 p1.
    row = np.array([10.0, 20.0, 40.0, 80.0], np.float32)
    ours = np.asarray(imresize(jnp.asarray(row).reshape(1, 1, 4, 1), 2.0))[0, 0, :, 0]
    assert ours[0] == pytest.approx(140 / 128 * 10 - 12 / 128 * 20, abs=1e-5)
    np.testing.assert_allclose(ours, _upscale_x2_matrix(4) @ row, atol=1e-4)
    image = np.arange(16, dtype=np.float32).reshape(4, 4) ** 1.5
    expected = _upscale_x2_matrix(4) @ image @ _upscale_x2_matrix(4).T
    ours = np.asarray(imresize(jnp.asarray(image).reshape(1, 4, 4, 1), 2.0))[0, ..., 0]
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_imresize_nearest_repeats_pixels():
    image = jnp.arange(6.0).reshape(1, 2, 3, 1)
    up = np.asarray(imresize(image, 2.0, method="nearest"))[0, ..., 0]
    np.testing.assert_array_equal(up, np.repeat(np.repeat(np.arange(6.0).reshape(2, 3), 2, 0), 2, 1))
    down = np.asarray(imresize(jnp.arange(16.0).reshape(1, 4, 4, 1), 0.5, method="nearest"))[0, ..., 0]
    np.testing.assert_array_equal(down, [[5, 7], [13, 15]])  # samples 0-based u = 0.5 and 2.5, rounded up


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 2, 3, 1.5])
def test_imresize_keeps_a_constant_image_constant(scale):
    out = imresize(jnp.full((1, 13, 11, 2), 0.37), scale)
    assert out.shape == (1, int(np.ceil(13 * scale)), int(np.ceil(11 * scale)), 2)
    np.testing.assert_allclose(np.asarray(out), 0.37, atol=1e-6)


def test_downscale_quantizes_to_uint8_levels():
    clean = _clean((2, 16, 16, 3))
    image = np.asarray(build_degradation(_config(name="downscale", scale=4))(KEY, clean).image)
    levels = (image + 1) * 127.5
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
    exact = np.asarray(build_degradation(_config(name="downscale", scale=4, quantize=False))(KEY, clean).image)
    assert np.abs((image - exact) * 127.5).max() <= 0.5 + 1e-4


@pytest.mark.parametrize("area", [0.0, 0.013, 0.25, 0.5, 0.6])
def test_free_form_mask_hits_the_area(area):
    mask = np.asarray(jax.jit(free_form_mask, static_argnums=(1, 2))(jax.random.key(3), 24, 20, area))
    assert mask.shape == (24, 20, 1) and set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.sum() - area * 24 * 20) <= 1


def test_inpaint_areas_stay_in_the_range_and_holes_are_zero():
    clean = _clean((8, 16, 16, 3))
    out = jax.jit(build_degradation(_config(name="inpaint", area_min=0.2, area_max=0.4)).__call__)(KEY, clean)
    areas = np.asarray(out.mask).mean(axis=(1, 2, 3))
    assert np.all(areas >= 0.2 - 1 / 256) and np.all(areas <= 0.4 + 1 / 256) and areas.std() > 0
    np.testing.assert_array_equal(np.asarray(out.image), np.asarray(clean * (1 - out.mask)))


def test_centre_mask_and_apply_mask_by_hand():
    mask = np.asarray(centre_mask(8, 6, 0.5))[..., 0]
    expected = np.zeros((8, 6))
    expected[2:6, 1:4] = 1.0  # 4 rows, round(3.0) = 3 columns, centred
    np.testing.assert_array_equal(mask, expected)
    clean = jnp.full((2, 8, 6, 3), 0.5)
    out = apply_mask(clean, jnp.asarray(mask[..., None]))
    assert out.mask.shape == (2, 8, 6, 1)
    np.testing.assert_array_equal(np.asarray(out.image)[:, 2:6, 1:4], 0.0)
    np.testing.assert_array_equal(np.asarray(out.image)[:, :2], 0.5)


def test_evaluation_masks_fall_in_their_buckets_and_depend_only_on_the_seed():
    masks, buckets = evaluation_masks(seed=7, num=8, height=16, width=16)
    assert masks.shape == (8, 16, 16, 1) and masks.dtype == np.float32 and buckets.dtype == np.int32
    np.testing.assert_array_equal(buckets, [0, 1, 2, 3, 4, 5, 0, 1])
    for mask, bucket in zip(masks, buckets, strict=True):
        low, high = AREA_BUCKETS[bucket]
        assert low - 1 / 256 <= mask.mean() <= high + 1 / 256
    np.testing.assert_array_equal(evaluation_masks(7, 8, 16, 16)[0], masks)
    assert not np.array_equal(evaluation_masks(8, 8, 16, 16)[0], masks)
    assert [bucket_name(i) for i in (0, 1, 5)] == ["1-10%", "10-20%", "50-60%"]


def test_mask_from_image():
    grey = np.array([[0, 255], [7, 0]], np.uint8)
    np.testing.assert_array_equal(mask_from_image(grey)[..., 0], [[0, 1], [1, 0]])
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 1, 2] = 200
    np.testing.assert_array_equal(mask_from_image(rgb)[..., 0], [[0, 1], [0, 0]])
    with pytest.raises(ConfigError, match="uint8"):
        mask_from_image(grey.astype(np.float32))


def test_grey_is_bt601_luma():
    primaries = jnp.asarray([[[[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]]])
    grey = build_degradation(_config(name="grey"))(KEY, primaries).image
    np.testing.assert_allclose(np.asarray(grey)[0, 0, :, 0], [0.299 * 2 - 1, 0.587 * 2 - 1, 0.114 * 2 - 1], atol=1e-6)
    with pytest.raises(ConfigError, match="3 channels"):
        build_degradation(_config(name="grey")).input_channels(1)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"sigma": -1.0}, "sigma must be >= 0"),
        ({"sigma": 25.0, "sigma_max": 10.0}, "sigma_max 10 is below"),
        ({"name": "downscale", "scale": 5}, "scale must be one of 2, 3, 4, got 5"),
        ({"name": "inpaint", "area_min": 0.0}, "0 < area_min <= area_max < 1"),
        ({"name": "inpaint", "area_max": 1.0}, "0 < area_min <= area_max < 1"),
        ({"name": "inpaint", "area_min": 0.5, "area_max": 0.2}, "0 < area_min <= area_max < 1"),
        ({"name": "inpaint", "mask": "square"}, "unknown degradation.mask 'square'; valid: centre, free_form"),
        (
            {"name": "blur"},
            rf"unknown degradation 'blur' \(--config.degradation.name\); valid: {', '.join(DEGRADATIONS.names())}$",
        ),
    ],
)
def test_bad_configs_are_one_line_errors(fields, match):
    with pytest.raises(ConfigError, match=match) as error:
        build_degradation(_config(**fields))
    assert "\n" not in str(error.value)


def test_imresize_rejects_an_unknown_method():
    with pytest.raises(ConfigError, match="valid: bicubic, nearest"):
        imresize(jnp.zeros((1, 4, 4, 1)), 2.0, method="lanczos")
