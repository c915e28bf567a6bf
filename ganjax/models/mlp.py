"""Small fully connected networks for low-dimensional toy data (the 8-Gaussian ring).

Config fields (`config.model`): latent_dim, output_dim, hidden, depth. Unconditional, float32.
"""

from __future__ import annotations

import jax
import ml_collections
from flax import linen as nn

from ganjax.models.base import MODELS, Networks, require_unconditional


class MLPGenerator(nn.Module):
    """Latents (B, latent_dim) -> points (B, output_dim); `depth` hidden ReLU layers of `hidden` units."""

    output_dim: int
    hidden: int
    depth: int

    @nn.compact
    def __call__(self, z: jax.Array, labels: None = None, *, train: bool) -> jax.Array:
        del labels, train
        x = z
        for _ in range(self.depth):
            x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.output_dim)(x)


class MLPDiscriminator(nn.Module):
    """Points (B, D) -> logits (B,); `depth` hidden leaky-ReLU layers of `hidden` units."""

    hidden: int
    depth: int

    @nn.compact
    def __call__(self, x: jax.Array, labels: None = None, *, train: bool) -> jax.Array:
        del labels, train
        for _ in range(self.depth):
            x = nn.leaky_relu(nn.Dense(self.hidden)(x), 0.2)
        return nn.Dense(1)(x)[:, 0]


@MODELS.register("mlp")
def mlp(config: ml_collections.ConfigDict) -> Networks:
    require_unconditional("mlp", config.num_classes)
    return Networks(
        generator=MLPGenerator(config.output_dim, config.hidden, config.depth),
        discriminator=MLPDiscriminator(config.hidden, config.depth),
        latent_dim=config.latent_dim,
        sample_shape=(config.output_dim,),
    )
