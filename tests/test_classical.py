"""The classical restoration and translation baselines (benchmarks/classical.py): exact cases by hand, shapes and
dtypes.

OpenCV and bm3d come with the `benchmarks` extra only; the tests that need them are skipped without them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import classical

needs_cv2 = pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="OpenCV (the benchmarks extra) missing")
needs_bm3d = pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="bm3d (the benchmarks extra) missing")


def _textured(height: int, width: int, channels: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, channels), dtype=np.uint8)


def _square_hole(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[height // 2 - 1 : height // 2 + 2, width // 2 - 1 : width // 2 + 2] = True
    return mask


def test_mean_fill_by_hand():
    image = np.array([[[10, 0, 255], [20, 1, 255]], [[40, 2, 0], [99, 99, 99]]], np.uint8)
    mask = np.array([[False, False], [False, True]])
    filled = classical.mean_fill(image, mask)
    expected = image.copy()
    expected[1, 1] = [23, 1, 170]  # means (10+20+40)/3, (0+1+2)/3, (255+255+0)/3, rounded
    np.testing.assert_array_equal(filled, expected)
    with pytest.raises(ValueError, match="at least one known pixel"):
        classical.mean_fill(image, np.ones((2, 2), bool))


def test_median_3x3_removes_an_isolated_impulse_exactly():
    noisy = np.full((7, 7, 1), 100.0)
    noisy[3, 3] = 255.0
    np.testing.assert_array_equal(classical.median_filter(noisy, 3), np.full((7, 7, 1), 100, np.uint8))


def test_denoisers_take_unclipped_floats_and_keep_constants():
    constant = np.full((9, 9, 3), 300.0)  # beyond 255, as unclipped noisy inputs are
    for restored in (classical.median_filter(constant, 5), classical.gaussian_filter(constant, 1.0)):
        np.testing.assert_array_equal(restored, np.full((9, 9, 3), 255, np.uint8))
    np.testing.assert_array_equal(classical.gaussian_filter(np.full((9, 9, 1), 77.2), 1.0), 77)


def test_upscaling():
    lr = _textured(4, 5, 3)
    nearest = classical.nearest_upscale(lr, 3)
    assert nearest.shape == (12, 15, 3) and nearest.dtype == np.uint8
    np.testing.assert_array_equal(nearest[::3, ::3], lr)
    np.testing.assert_array_equal(nearest[2::3, 1::3], lr)
    bicubic = classical.bicubic_upscale(np.full((4, 5, 1), 123, np.uint8), 2)
    np.testing.assert_array_equal(bicubic, np.full((8, 10, 1), 123, np.uint8))


@needs_cv2
@pytest.mark.parametrize("inpaint", [classical.telea_inpaint, classical.navier_stokes_inpaint])
@pytest.mark.parametrize("channels", [1, 3])
def test_opencv_inpainting_keeps_known_pixels_and_fills_a_constant(inpaint, channels):
    mask = _square_hole(12, 10)
    image = _textured(12, 10, channels)
    filled = inpaint(np.where(mask[..., None], 0, image).astype(np.uint8), mask)
    assert filled.shape == image.shape and filled.dtype == np.uint8
    np.testing.assert_array_equal(filled[~mask], image[~mask])
    constant = np.full((12, 10, channels), 90, np.uint8)
    filled = inpaint(np.where(mask[..., None], 0, constant).astype(np.uint8), mask)
    # OpenCV's Telea lands within one level of the constant (91 and 89 seen in this hole); Navier-Stokes exactly on it.
    np.testing.assert_allclose(filled.astype(int), constant, atol=1 if inpaint is classical.telea_inpaint else 0)


@needs_bm3d
@pytest.mark.parametrize("channels", [1, 3])
def test_bm3d_denoises(channels):
    clean = np.full((32, 32, channels), 128.0)
    noisy = clean + np.random.default_rng(0).normal(0, 25, clean.shape)
    restored = classical.bm3d_denoise(noisy, 25)
    assert restored.shape == clean.shape and restored.dtype == np.uint8
    assert np.abs(restored - clean).mean() < np.abs(noisy - clean).mean() / 4


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    def missing(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(ImportError, match=r"needs bm3d \(bm3d\); install it with pip install -e '\.\[benchmarks\]'"):
        classical.bm3d_denoise(np.zeros((8, 8, 1)), 25)


@pytest.mark.parametrize("channels", [1, 3])
def test_every_baseline_keeps_the_shape_and_returns_uint8(channels):
    degraded = {
        "denoise": (np.random.default_rng(0).normal(128, 25, (32, 32, channels)), classical.Context(sigma=25)),
        "sr": (_textured(8, 6, channels), classical.Context(scale=4)),
        "inpaint": (_textured(12, 10, channels), classical.Context(mask=_square_hole(12, 10))),
        "translate": (_textured(32, 32, 3), classical.Context()),  # RGB photos only
    }
    needs = {
        "bm3d": "bm3d",
        "telea": "cv2",
        "navier-stokes": "cv2",
        "biharmonic (scikit-image)": "skimage",
        "cartoon": "cv2",
        "stylization": "cv2",
    }
    assert set(classical.BASELINES) == set(degraded)
    for task, baselines in classical.BASELINES.items():
        image, context = degraded[task]
        for name, baseline in baselines.items():
            if name in needs and importlib.util.find_spec(needs[name]) is None:
                continue
            restored = baseline(image, context)
            expected = (32, 24, channels) if task == "sr" else image.shape
            assert restored.shape == expected and restored.dtype == np.uint8, (task, name)


@needs_cv2
@pytest.mark.parametrize("translate", [classical.cartoon_filter, classical.stylization])
def test_translation_baselines_outline_edges_and_keep_flat_images(translate):
    photo = _textured(32, 32, 3)
    drawn = translate(photo)
    assert drawn.shape == photo.shape and drawn.dtype == np.uint8
    left, right = (200, 120, 40), (40, 120, 200)
    flat = np.full((32, 32, 3), left, np.uint8)
    np.testing.assert_array_equal(translate(flat), flat)  # no outlines, no darkening
    # Two flat halves: a black outline along the edge between them (in every row, within 2 pixels of it), each
    # colour kept 3 pixels away.
    halves = np.concatenate([flat[:, :16], np.full((32, 16, 3), right, np.uint8)], axis=1)
    drawn = translate(halves)
    assert np.all(np.any(np.all(drawn[:, 14:18] == 0, axis=-1), axis=1))
    np.testing.assert_array_equal(drawn[:, :13], halves[:, :13])
    np.testing.assert_array_equal(drawn[:, 19:], halves[:, 19:])
    with pytest.raises(ValueError, match=r"takes uint8 RGB images \(H, W, 3\); got uint8 \(32, 32, 1\)"):
        translate(photo[..., :1])


@needs_cv2
def test_the_cartoon_filter_does_not_depend_on_opencvs_random_state():
    import cv2

    photo = _textured(32, 32, 3)
    drawn = classical.cartoon_filter(photo)
    # k-means starts from random centres: another seed gives other colours, and the filter's own seed makes it
    # repeat whatever OpenCV's generator has drawn before.
    assert not np.array_equal(classical.cartoon_filter(photo, seed=1), drawn)
    cv2.setRNGSeed(12345)
    cv2.randu(np.zeros((8, 8), np.float32), 0.0, 1.0)
    np.testing.assert_array_equal(classical.cartoon_filter(photo), drawn)


@needs_cv2
@pytest.mark.parametrize("colours", [3, 8])
def test_cartoon_filter_has_at_most_k_colours_besides_black(colours):
    drawn = classical.cartoon_filter(_textured(32, 32, 3), colours=colours)
    painted = drawn[(drawn != 0).any(axis=-1)]
    assert 1 <= len(np.unique(painted, axis=0)) <= colours
    with pytest.raises(ValueError, match=r"needs at least 8 pixels for 8 colours; got \(2, 3, 3\)"):
        classical.cartoon_filter(_textured(2, 3, 3))


@needs_cv2
def test_cartoon_filter_outlines_a_dark_square_by_hand():
    # A square of 40 on 200. The 5x5 mean of a pixel 1 (2) pixels inside the square's side holds 10 (5) bright
    # pixels: 104 (72), more than 12 above 40, so it is outlined; 3 pixels inside, the mean is 40: not outlined. The
    # 3x3 median rounds the square's corners off to 200 first, so they are not outlined. Bilateral weights across
    # a step of 160 levels at sigma 30 are e^-14, so both colours survive the smoothing and the quantisation exactly.
    photo = np.full((32, 32, 3), 200, np.uint8)
    photo[10:22, 10:22] = 40
    outline = np.zeros((32, 32), bool)
    outline[10:22, 10:22] = True
    outline[12:20, 12:20] = False
    outline[[10, 10, 21, 21], [10, 21, 10, 21]] = False
    drawn = classical.cartoon_filter(photo)
    np.testing.assert_array_equal((drawn == 0).all(axis=-1), outline)
    np.testing.assert_array_equal(drawn[~outline], photo[~outline])
