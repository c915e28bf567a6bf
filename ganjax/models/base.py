"""What every model family provides: a generator and a discriminator, both pure Flax modules."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.registry import Registry

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class Networks:
    """A generator/discriminator pair and the shapes that connect them.

    Attributes:
      generator: `generator.apply(variables, z, labels, train=...)` maps latents (B, latent_dim) and labels (B,)
        int32 (None when unconditional) to samples (B, *sample_shape) float32: images in [-1, 1], or unbounded values
        for non-image data.
      discriminator: `discriminator.apply(variables, x, labels, train=...)` maps samples (B, *sample_shape) and labels
        to logits (B,) float32.
      latent_dim: size of the generator's standard-normal input.
      sample_shape: shape of one sample: (height, width, channels) for images, (2,) for points in the plane.
      num_classes: number of classes the networks are conditioned on; 0 when unconditional.

    Both modules compute in their `dtype` (float32 or bfloat16) with float32 parameters, and return float32.
    """

    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int
    sample_shape: tuple[int, ...]
    num_classes: int = 0


MODELS: Registry = Registry("model", config_key="model.name")


def compute_dtype(name: str) -> jnp.dtype:
    """The activation dtype named by --config.model.dtype."""
    if name not in COMPUTE_DTYPES:
        raise ConfigError(f"unknown compute dtype {name!r} (--config.model.dtype); valid: {', '.join(COMPUTE_DTYPES)}")
    return COMPUTE_DTYPES[name]


def require_unconditional(family: str, num_classes: int) -> None:
    """For families that have no conditional variant."""
    if num_classes:
        raise ConfigError(
            f"model {family!r} is unconditional, but --config.model.num_classes={num_classes}; set it to 0 or use a "
            "conditional family (sngan, biggan, r3gan)"
        )
