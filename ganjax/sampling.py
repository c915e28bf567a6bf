"""Drawing samples from a generator and turning them into pictures.

Samples come from the EMA generator in inference mode (batch norm uses its running statistics). Image samples
(N, H, W, C) become a grid; samples in the plane (N, 2) become a density picture.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from ganjax.data.sources import model_range_to_uint8
from ganjax.models import Networks
from ganjax.state import PyTree, TrainState

# Latents for sample grids and evaluations are drawn from seeds offset by these, away from the training keys.
GRID_SEED_OFFSET = 1_000_003
EVAL_SEED_OFFSET = 2_000_003


def normal_latents(seed: int, num: int, latent_dim: int) -> jax.Array:
    """(num, latent_dim) standard-normal latents, a pure function of the seed."""
    return jax.random.normal(jax.random.PRNGKey(seed), (num, latent_dim), jnp.float32)


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation between latents a and b (each (D,)) at fractions t (T,): (T, D).

    Interpolating on the sphere keeps the intermediate latents at the typical norm of a Gaussian, where the
    generator was trained, rather than cutting through the low-norm interior as a straight line would.
    """
    a_unit, b_unit = a / jnp.linalg.norm(a), b / jnp.linalg.norm(b)
    omega = jnp.arccos(jnp.clip(jnp.dot(a_unit, b_unit), -1.0, 1.0))
    t = t[:, None]
    return (jnp.sin((1 - t) * omega) * a + jnp.sin(t * omega) * b) / jnp.sin(omega)


def interpolation_latents(seed: int, num_strips: int, frames: int, latent_dim: int) -> jax.Array:
    """(num_strips * frames, latent_dim): each strip slerps from one random latent to another."""
    ends = normal_latents(seed, 2 * num_strips, latent_dim).reshape(num_strips, 2, latent_dim)
    t = jnp.linspace(0.0, 1.0, frames)
    return jnp.concatenate([slerp(start, end, t) for start, end in ends])


def class_rows(seed: int, num_classes: int, per_class: int, latent_dim: int) -> tuple[jax.Array, jax.Array]:
    """Inputs for a grid with one row per class: latents (num_classes * per_class, D) and labels 0, 0, ..., 1, ..."""
    labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), per_class)
    return normal_latents(seed, num_classes * per_class, latent_dim), labels


def grid_inputs(seed: int, num: int, networks: Networks) -> tuple[jax.Array, jax.Array | None, int | None]:
    """Fixed inputs of a sample grid of about `num` images: (latents, labels or None, columns or None for a square).

    A conditional model's grid has one row per class.
    """
    if not networks.num_classes:
        return normal_latents(seed, num, networks.latent_dim), None, None
    per_class = max(1, num // networks.num_classes)
    return *class_rows(seed, networks.num_classes, per_class, networks.latent_dim), per_class


def random_labels(seed: int, num: int, num_classes: int) -> jax.Array | None:
    """(num,) int32 labels drawn uniformly from a seed, or None for an unconditional model (num_classes 0)."""
    if not num_classes:
        return None
    return jax.random.randint(jax.random.PRNGKey(seed), (num,), 0, num_classes, jnp.int32)


Generate = Callable[[PyTree, PyTree, jax.Array, jax.Array | None], jax.Array]


def make_generate(networks: Networks, sharding: jax.sharding.Sharding | None = None) -> Generate:
    """A jitted generate(params, collections, z (N, latent_dim), labels (N,) or None) -> samples (N, ...).

    Inference mode: batch norm uses its running statistics, spectral norm its stored estimate. `sharding` places the
    samples (replicated over a multi-process mesh, every process can read them); None leaves that to XLA.
    """

    def generate(params: PyTree, collections: PyTree, z: jax.Array, labels: jax.Array | None) -> jax.Array:
        return networks.generator.apply({"params": params, **collections}, z, labels, train=False)

    return jax.jit(generate) if sharding is None else jax.jit(generate, out_shardings=sharding)


def generate_ema(
    generate: Generate, state: TrainState, z: jax.Array, labels: jax.Array | None = None, chunk: int = 256
) -> np.ndarray:
    """Samples from the EMA generator for latents z (N, D) [and labels (N,)], in chunks of at most `chunk`."""
    parts = []
    for start in range(0, len(z), chunk):
        part_labels = None if labels is None else labels[start : start + chunk]
        parts.append(generate(state.ema_params, state.generator.collections, z[start : start + chunk], part_labels))
    return np.concatenate([np.asarray(jax.device_get(part)) for part in parts])


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
