"""What every model family provides: a generator and a discriminator, both pure Flax modules."""

from __future__ import annotations

import dataclasses

from flax import linen as nn

from ganjax.registry import Registry


@dataclasses.dataclass(frozen=True)
class Networks:
    """A generator/discriminator pair and the shapes that connect them.

    Attributes:
      generator: `generator.apply(variables, z, train=...)` maps latents (B, latent_dim) to samples
        (B, *sample_shape): images in [-1, 1], or unbounded values for non-image data.
      discriminator: `discriminator.apply(variables, x, train=...)` maps samples (B, *sample_shape) to
        logits (B,) in float32.
      latent_dim: size of the generator's standard-normal input.
      sample_shape: shape of one sample: (height, width, channels) for images, (2,) for points in the plane.
    """

    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int
    sample_shape: tuple[int, ...]


MODELS: Registry = Registry("model", config_key="model.name")
