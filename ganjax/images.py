"""Images between the ranges ganjax uses, and pictures of them.

- The model range: float32 in [-1, 1], what networks take and make.
- uint8 pixels [0, 255]: what data and saved pictures hold.
- Pixel values: float on the 0-255 scale, what PSNR and SSIM are computed on (uint8 values, or the float luminance of
  RGB images).

Grids of images (N, H, W, C) and density pictures of points (N, 2) become uint8 (H, W, C) pictures, written as PNG.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image


def uint8_to_model_range(images: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """uint8 pixels [0, 255] (any shape, numpy or jax) -> float32 [-1, 1] of the same shape and kind; traceable."""
    return images.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)


def model_range_to_unrounded_pixels(images: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Model-range values (any shape, numpy or jax) -> (x + 1) * 127.5 on the 0-255 scale, in the input's float dtype,
    neither rounded nor clipped (noise may leave [0, 255]); traceable. The inverse of `pixels_to_model_range`."""
    return (images + 1.0) * 127.5


def pixels_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Pixel values on the 0-255 scale (any shape, float) -> uint8 of the same shape, rounded to nearest (half to
    even) and clipped to [0, 255]: what saving them as an 8-bit image keeps."""
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def model_range_to_uint8(images: np.ndarray | jax.Array) -> np.ndarray:
    """float [-1, 1] (any shape) -> uint8 pixels [0, 255], computed in float32, rounded to nearest and clipped: the
    inverse of `uint8_to_model_range` on its outputs, and how generated images become pictures and metric inputs."""
    return pixels_to_uint8(model_range_to_unrounded_pixels(np.asarray(images, np.float32)))


def pixels_to_model_range(pixels: np.ndarray | jax.Array) -> jax.Array:
    """Pixel values on the 0-255 scale (any shape) -> float32 in the model range [-1, 1]."""
    return jnp.asarray(pixels, jnp.float32) / 127.5 - 1.0


def round_to_uint8_levels(images: jax.Array) -> jax.Array:
    """Model-range images (any shape) rounded to the nearest of the 256 levels of a uint8 image and clipped to them,
    still float32 in the model range: an image as saving it to 8 bits and reading it back gives; traceable."""
    levels = jnp.clip(jnp.round(model_range_to_unrounded_pixels(images)), 0.0, 255.0)
    return pixels_to_model_range(levels)


def model_range_to_pixels(images: np.ndarray | jax.Array) -> np.ndarray:
    """Model-range images -> float32 pixel values on the 0-255 scale, clipped and rounded to the 256 levels of a
    saved image."""
    return np.asarray(model_range_to_uint8(np.asarray(images)), np.float32)


def apply_tiled(apply: Callable[[Any], jax.Array], inputs: Any, scale: int, tile: int, overlap: int) -> np.ndarray:
    """apply(inputs) for one image, in tiles: `inputs` is a pytree of arrays (1, h, w, c) of one size (an image and
    its mask), cut into tiles of `tile` pixels with `overlap` pixels of context on each side, each applied alone and
    its context discarded. Returns (1, h * scale, w * scale, C), as apply returns it for the whole; memory does not
    grow with the image."""
    height, width = jax.tree.leaves(inputs)[0].shape[1:3]
    if max(height, width) <= tile:
        return np.asarray(apply(inputs))
    rows = []
    for top in range(0, height, tile):
        row = []
        for left in range(0, width, tile):
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(top + tile + overlap, height), min(left + tile + overlap, width)
            window = jax.tree.map(lambda x, y0=y0, y1=y1, x0=x0, x1=x1: x[:, y0:y1, x0:x1], inputs)
            output = np.asarray(apply(window))
            inner_top, inner_left = (top - y0) * scale, (left - x0) * scale
            inner_height = (min(top + tile, height) - top) * scale
            inner_width = (min(left + tile, width) - left) * scale
            row.append(output[:, inner_top : inner_top + inner_height, inner_left : inner_left + inner_width])
        rows.append(np.concatenate(row, axis=2))
    return np.concatenate(rows, axis=1)


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Images (N, H, W, C) in [-1, 1] -> one uint8 picture (rows * (H + p) + p, columns * (W + p) + p, C).

    `columns` defaults to ceil(sqrt(N)); unused cells and the padding are black.
    """
    num, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(num))
    rows = math.ceil(num / columns)
    pixels = model_range_to_uint8(images)
    grid = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding, channels), np.uint8)
    for index, image in enumerate(pixels):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def points_picture(points: np.ndarray, extent: float = 3.0, size: int = 256) -> np.ndarray:
    """Points (N, 2) -> a uint8 (size, size, 1) density picture of the square [-extent, extent]^2, y up."""
    counts, _, _ = np.histogram2d(points[:, 1], points[:, 0], bins=size, range=[[-extent, extent], [-extent, extent]])
    picture = np.log1p(counts[::-1])
    picture = picture / max(picture.max(), 1e-12)
    return (255 * picture).astype(np.uint8)[..., None]


def picture(samples: np.ndarray, columns: int | None = None) -> np.ndarray:
    """A uint8 (H, W, C) picture of samples: a grid for images (N, H, W, C), a density for points (N, 2)."""
    if samples.ndim == 4:
        return image_grid(samples, columns)
    if samples.ndim == 2 and samples.shape[1] == 2:
        return points_picture(samples)
    raise ValueError(f"cannot draw samples of shape {samples.shape[1:]}: expected (H, W, C) images or (2,) points")


def save_png(image: np.ndarray, path: str | pathlib.Path) -> pathlib.Path:
    """Writes a uint8 (H, W, 1 or 3) picture as PNG, creating parent folders; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
    return path
