"""ganjax/images.py: the conversions between the model range, uint8 and 0-255 pixel values, the grids and PNG."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from PIL import Image

from ganjax.images import (
    image_grid,
    model_range_to_uint8,
    model_range_to_unrounded_pixels,
    picture,
    pixels_to_model_range,
    pixels_to_uint8,
    round_to_uint8_levels,
    save_png,
    uint8_to_model_range,
)

LEVELS = np.arange(256, dtype=np.uint8)


def test_every_uint8_level_survives_the_model_range_and_its_ends_are_minus_one_and_one():
    model = uint8_to_model_range(LEVELS)
    assert model.dtype == np.float32
    assert (model[0], model[255]) == (-1.0, 1.0)
    np.testing.assert_array_equal(model_range_to_uint8(model), LEVELS)
    np.testing.assert_array_equal(model_range_to_uint8(pixels_to_model_range(LEVELS.astype(np.float32))), LEVELS)


def test_values_between_levels_round_to_the_nearest_and_values_outside_are_clipped():
    # 0.4 and 0.6 of a level above level 100, in the model range: one level is 2/255.
    between = np.array([-1.0 + (100.4 * 2 / 255), -1.0 + (100.6 * 2 / 255), -1.5, 1.5, 3.0], np.float32)
    np.testing.assert_array_equal(model_range_to_uint8(between), [100, 101, 0, 255, 255])
    np.testing.assert_array_equal(pixels_to_uint8(np.array([-3.2, 0.4, 254.6, 300.0])), [0, 0, 255, 255])


def test_unrounded_pixels_keep_the_dtype_and_what_leaves_the_range():
    values = np.array([-1.2, 0.0, 1.0], np.float64)
    pixels = model_range_to_unrounded_pixels(values)
    assert pixels.dtype == np.float64
    np.testing.assert_allclose(pixels, [-25.5, 127.5, 255.0])
    np.testing.assert_allclose(np.asarray(pixels_to_model_range(pixels)), values, atol=1e-6)


def test_rounding_to_uint8_levels_under_jit_is_a_round_trip_through_uint8():
    values = np.random.default_rng(0).normal(0.0, 0.8, (2, 5, 5, 3)).astype(np.float32)
    rounded = np.asarray(jax.jit(round_to_uint8_levels)(values))
    np.testing.assert_array_equal(model_range_to_uint8(rounded), model_range_to_uint8(values))
    # A level v is v / 127.5 - 1 here and v * (2 / 255) - 1 in uint8_to_model_range: they may differ in the last bit.
    np.testing.assert_allclose(rounded, uint8_to_model_range(model_range_to_uint8(values)), rtol=0, atol=1.2e-7)


def test_the_grid_places_images_row_by_row_between_black_padding():
    images = np.stack([np.full((2, 3, 1), value, np.float32) for value in (-1.0, 0.0, 1.0)])  # levels 0, 128, 255
    grid = image_grid(images, columns=2, padding=1)
    assert grid.shape == (2 * 3 + 1, 2 * 4 + 1, 1) and grid.dtype == np.uint8
    expected = np.zeros((7, 9), np.uint8)
    expected[1:3, 1:4], expected[1:3, 5:8], expected[4:6, 1:4] = 0, 128, 255
    np.testing.assert_array_equal(grid[..., 0], expected)
    assert image_grid(np.zeros((5, 2, 2, 3), np.float32)).shape == (2 * 4 + 2, 3 * 4 + 2, 3), "square: 3 columns"


def test_a_picture_of_points_is_a_density_with_y_up():
    points = np.array([[2.999, 2.999]] * 3 + [[-2.999, -2.999]], np.float32)  # 3 at the top right, 1 bottom left
    density = picture(points)
    assert density.shape == (256, 256, 1) and density.dtype == np.uint8
    assert density[0, -1, 0] == 255
    assert 0 < density[-1, 0, 0] < 255
    with pytest.raises(ValueError, match=r"cannot draw samples of shape \(3,\)"):
        picture(np.zeros((4, 3), np.float32))


@pytest.mark.parametrize("channels", [1, 3])
def test_save_png_writes_the_picture_it_is_given(tmp_path, channels):
    image = np.random.default_rng(channels).integers(0, 256, (4, 6, channels), dtype=np.uint8)
    path = save_png(image, tmp_path / "a" / "b.png")
    with Image.open(path) as saved:
        np.testing.assert_array_equal(np.asarray(saved).reshape(image.shape), image)
