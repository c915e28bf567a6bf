"""The fixed randomness of sampling and evaluation: seeds offset from the training keys, latents drawn from them,
and the latent walks and class rows that sample grids and sample.py show.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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


def random_labels(seed: int, num: int, num_classes: int) -> jax.Array | None:
    """(num,) int32 labels drawn uniformly from a seed, or None for an unconditional model (num_classes 0)."""
    if not num_classes:
        return None
    return jax.random.randint(jax.random.PRNGKey(seed), (num,), 0, num_classes, jnp.int32)
