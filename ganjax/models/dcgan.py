"""DCGAN (Radford et al. 2016): all-convolutional generator and discriminator for small images.

For a resolution r the spatial layout halves r until it is at most 7 (28 -> 14 -> 7; 32 -> 16 -> 8 -> 4;
64 -> ... -> 4). The generator projects the latent to that base grid and doubles it with 4x4 stride-2 transposed
convolutions, halving the channels each time; the discriminator mirrors it with 4x4 stride-2 convolutions. With
width w at resolution 32: G is 100 -> 4x4x4w -> 8x8x2w -> 16x16xw -> 32x32xC, D is 32x32xC -> 16x16xw -> 8x8x2w ->
4x4x4w -> 1.

Config fields (`config.model`): resolution, channels, latent_dim, g_width, d_width, g_batch_norm, d_spectral_norm,
dtype. DCGAN is unconditional (num_classes must be 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.layers import ConvTranspose2x, spectrally_normalized
from ganjax.models.base import MODELS, Networks, compute_dtype, require_unconditional

# The DCGAN paper initialises every weight from N(0, 0.02).
_INIT = nn.initializers.normal(0.02)


def spatial_layout(resolution: int) -> tuple[int, int]:
    """(base, doublings): the resolution is base * 2**doublings with 3 <= base <= 7 and doublings >= 1."""
    base, doublings = resolution, 0
    while base > 7 and base % 2 == 0:
        base, doublings = base // 2, doublings + 1
    if not 3 <= base <= 7 or doublings == 0:
        raise ConfigError(
            f"DCGAN cannot build resolution {resolution} (--config.model.resolution): it must be a base of 3 to 7 "
            "pixels doubled at least once, such as 28, 32 or 64"
        )
    return base, doublings


class Generator(nn.Module):
    """Latents (B, latent_dim) -> images (B, resolution, resolution, channels) in [-1, 1] (tanh output)."""

    resolution: int
    channels: int
    width: int = 64
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, labels: None = None, *, train: bool) -> jax.Array:
        del labels  # unconditional
        base, doublings = spatial_layout(self.resolution)
        features = self.width * 2 ** (doublings - 1)
        x = nn.Dense(base * base * features, use_bias=not self.batch_norm, kernel_init=_INIT, dtype=self.dtype)(z)
        x = self._normalize_and_activate(x.reshape(-1, base, base, features), train)
        for _ in range(doublings - 1):
            features //= 2
            x = ConvTranspose2x(features, use_bias=not self.batch_norm, kernel_init=_INIT, dtype=self.dtype)(x)
            x = self._normalize_and_activate(x, train)
        x = ConvTranspose2x(self.channels, kernel_init=_INIT, dtype=self.dtype)(x)
        return jnp.tanh(x).astype(jnp.float32)

    def _normalize_and_activate(self, x: jax.Array, train: bool) -> jax.Array:
        if self.batch_norm:
            # momentum 0.9 here is PyTorch's momentum=0.1: running = 0.9 * running + 0.1 * batch.
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype)(x)
        return nn.relu(x)


class Discriminator(nn.Module):
    """Images (B, resolution, resolution, C) -> logits (B,); applied with mutable=["intermediates"] it also records
    the last convolution's activations as intermediates["features"]."""

    resolution: int
    width: int = 64
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, labels: None = None, *, train: bool) -> jax.Array:
        del labels  # unconditional
        _, doublings = spatial_layout(self.resolution)
        features = self.width
        x = x.astype(self.dtype)
        for _ in range(doublings):
            conv = nn.Conv(features, (4, 4), (2, 2), ((1, 1), (1, 1)), kernel_init=_INIT, dtype=self.dtype)
            x = nn.leaky_relu(spectrally_normalized(conv, x, enabled=self.spectral_norm, update_stats=train), 0.2)
            features *= 2
        # The last convolution's activations: the VAE-GAN measures reconstructions there (ganjax/tasks/vae.py).
        self.sow("intermediates", "features", x)
        head = nn.Dense(1, kernel_init=_INIT, dtype=self.dtype)
        logits = spectrally_normalized(head, x.reshape(x.shape[0], -1), enabled=self.spectral_norm, update_stats=train)
        return logits[:, 0].astype(jnp.float32)


@MODELS.register("dcgan")
def dcgan(config: ml_collections.ConfigDict) -> Networks:
    spatial_layout(config.resolution)  # fail on an unsupported resolution before anything is built
    require_unconditional("dcgan", config.num_classes)
    dtype = compute_dtype(config.dtype)
    return Networks(
        generator=Generator(config.resolution, config.channels, config.g_width, config.g_batch_norm, dtype),
        discriminator=Discriminator(config.resolution, config.d_width, config.d_spectral_norm, dtype),
        latent_dim=config.latent_dim,
        sample_shape=(config.resolution, config.resolution, config.channels),
    )
