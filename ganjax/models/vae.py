"""The VAE's networks, registered by name (`--config.model.name`): an encoder images -> (mean, log_var) of q(z|x)
and a decoder latents -> the likelihood's parameters, one Flax module (`Vae`) whose parameters are
{"encoder": ..., "decoder": ...}.

- `mlp`: the flax VAE example's networks (one hidden ReLU layer of `hidden` units each way, 500 there, and 20
  latents), for comparison with that anchor.
- `conv`: sized like DCGAN (ganjax/models/dcgan.py) at the same resolution and width: the encoder is DCGAN's
  discriminator (4x4 stride-2 convolutions, leaky ReLU 0.2) ending in a dense layer to 2 * latent_dim, the decoder
  DCGAN's generator without batch norm (so that a test image's bound does not depend on its batch), ending in the
  likelihood's outputs instead of tanh.

Config fields (`config.model`): name, resolution, channels, latent_dim, hidden (mlp), width (conv), dtype.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.layers import ConvTranspose2x
from ganjax.models.base import compute_dtype
from ganjax.models.dcgan import spatial_layout
from ganjax.registry import Registry

VAE_MODELS: Registry = Registry("VAE model", config_key="model.name")


class Vae(nn.Module):
    """An encoder and a decoder; `init` with (images, latents) creates both.

    `encode`: images (B, H, W, C) in [-1, 1] -> (mean, log_var), each (B, latent_dim) float32.
    `decode`: latents (B, latent_dim) -> decoder outputs (B, H, W, outputs), float32: the likelihood's parameters
    (ganjax/elbo.py), or the image before tanh in a VAE-GAN.
    """

    encoder: nn.Module
    decoder: nn.Module

    def __call__(
        self, images: jax.Array, z: jax.Array, *, train: bool = False
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        del train  # no layer of a VAE behaves differently in training
        return self.encode(images), self.decode(z)

    def encode(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.encoder(images)

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)


def _posterior(x: jax.Array, latent_dim: int, dtype: jnp.dtype) -> tuple[jax.Array, jax.Array]:
    mean = nn.Dense(latent_dim, dtype=dtype, name="mean")(x)
    log_var = nn.Dense(latent_dim, dtype=dtype, name="log_var")(x)
    return mean.astype(jnp.float32), log_var.astype(jnp.float32)


class MLPEncoder(nn.Module):
    latent_dim: int
    hidden: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = images.reshape(images.shape[0], -1).astype(self.dtype)
        return _posterior(nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(x)), self.latent_dim, self.dtype)


class MLPDecoder(nn.Module):
    output_shape: tuple[int, int, int]
    hidden: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(z.astype(self.dtype)))
        size = self.output_shape[0] * self.output_shape[1] * self.output_shape[2]
        return nn.Dense(size, dtype=self.dtype)(x).reshape(-1, *self.output_shape).astype(jnp.float32)


class ConvEncoder(nn.Module):
    latent_dim: int
    resolution: int
    width: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        _, doublings = spatial_layout(self.resolution)
        x, features = images.astype(self.dtype), self.width
        for _ in range(doublings):
            x = nn.leaky_relu(nn.Conv(features, (4, 4), (2, 2), ((1, 1), (1, 1)), dtype=self.dtype)(x), 0.2)
            features *= 2
        return _posterior(x.reshape(x.shape[0], -1), self.latent_dim, self.dtype)


class ConvDecoder(nn.Module):
    resolution: int
    outputs: int
    width: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        base, doublings = spatial_layout(self.resolution)
        features = self.width * 2 ** (doublings - 1)
        x = nn.relu(nn.Dense(base * base * features, dtype=self.dtype)(z.astype(self.dtype)))
        x = x.reshape(-1, base, base, features)
        for _ in range(doublings - 1):
            features //= 2
            x = nn.relu(ConvTranspose2x(features, dtype=self.dtype)(x))
        return ConvTranspose2x(self.outputs, dtype=self.dtype)(x).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class VaeNetworks:
    """A VAE's module and the shapes around it: images (resolution, resolution, channels) and latent_dim latents."""

    module: Vae
    latent_dim: int
    sample_shape: tuple[int, int, int]


@VAE_MODELS.register("mlp")
def mlp_vae(config: ml_collections.ConfigDict, outputs_per_channel: int) -> VaeNetworks:
    shape = (config.resolution, config.resolution, config.channels)
    dtype = compute_dtype(config.dtype)
    output_shape = (*shape[:2], config.channels * outputs_per_channel)
    return VaeNetworks(
        Vae(MLPEncoder(config.latent_dim, config.hidden, dtype), MLPDecoder(output_shape, config.hidden, dtype)),
        config.latent_dim,
        shape,
    )


@VAE_MODELS.register("conv")
def conv_vae(config: ml_collections.ConfigDict, outputs_per_channel: int) -> VaeNetworks:
    spatial_layout(config.resolution)  # fails on an unsupported resolution before anything is built
    dtype = compute_dtype(config.dtype)
    outputs = config.channels * outputs_per_channel
    return VaeNetworks(
        Vae(
            ConvEncoder(config.latent_dim, config.resolution, config.width, dtype),
            ConvDecoder(config.resolution, outputs, config.width, dtype),
        ),
        config.latent_dim,
        (config.resolution, config.resolution, config.channels),
    )


def build_vae_networks(config: ml_collections.ConfigDict, outputs_per_channel: int) -> VaeNetworks:
    """The networks `config.name` (the run's config.model) names, with `outputs_per_channel` decoder outputs per
    image channel."""
    return VAE_MODELS.get(config.name)(config, outputs_per_channel)
