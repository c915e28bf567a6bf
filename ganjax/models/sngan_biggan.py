"""SNGAN and BigGAN: residual generators and discriminators for 32x32 and 64x64 images.

SNGAN is the ResNet of the CIFAR-10 experiments of Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks", made class-conditional as in Miyato & Koyama 2018, "cGANs with Projection Discriminator".
BigGAN is the CIFAR-10 network of Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis". Both share the skeleton below; they differ in how G is conditioned and in BigGAN's self-attention.

Generator, at resolution 32 with width w (every block has w channels):

    z (B, latent_dim) -> linear -> (B, 4, 4, w)
      -> up block -> (B, 8, 8, w) -> up block -> (B, 16, 16, w) -> up block -> (B, 32, 32, w)
      -> BN -> ReLU -> conv3x3 -> (B, 32, 32, C) -> tanh

  Up block: BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus the shortcut upsample-conv1x1 (nearest-neighbour
  upsampling). At 64 a fourth up block doubles 32x32 to 64x64.

Discriminator, at resolution 32 with width w:

    x (B, 32, 32, C) -> optimised block -> (B, 16, 16, w) -> down block -> (B, 8, 8, w) -> block -> block
      -> ReLU -> sum over the 8x8 pixels -> (B, w) -> projection head -> logits (B,)

  Optimised block (the first, on pixels): conv3x3-ReLU-conv3x3-avgpool, plus the shortcut avgpool-conv1x1. Down
  block: ReLU-conv3x3-ReLU-conv3x3-avgpool, plus avgpool-conv1x1. The two blocks at 8x8 keep the resolution and
  have identity shortcuts. At 64 a second down block comes before them (64 -> 32 -> 16 -> 8).

Class-conditional (num_classes > 0): every BN inside G's up blocks is a `ConditionalBatchNorm`. SNGAN takes its gains
and biases from per-class tables that start at gain 1 and bias 0; BigGAN from linear maps of one class embedding of
size embedding_dim, shared by all blocks. D ends in the projection head w.h + b + embed(y).h. With num_classes 0,
G has plain BN with a learned affine and D the linear term alone.

BigGAN has one self-attention layer (`SelfAttention`, SAGAN) in G after the up block that produces
attention_resolution, and in D after the block that reaches it (attention_resolution 0: none).

Spectral norm covers every convolution and linear layer of D (with the class embedding) when d_spectral_norm, and
of G when g_spectral_norm: for BigGAN that includes the conditional BNs' linear maps, but never the class embedding
or SNGAN's per-class tables. Weights start Glorot-uniform, with gain sqrt(2) inside residual branches (the SNGAN
code's initialisation).

Parameters at 32x32 RGB with latent_dim 128, unconditional: g_width 256 -> G 4.28M; d_width 128 -> D 1.05M,
d_width 256 -> D 4.20M. Conditional on 10 classes: SNGAN adds 28K to G, BigGAN (embedding_dim 128) 392K; D adds
10 x d_width. Self-attention at width 256 adds 82K to each network.

Config fields (`config.model`):
  sngan: resolution (32 or 64), channels, latent_dim, g_width, d_width, num_classes, dtype, g_spectral_norm,
    d_spectral_norm.
  biggan: the same, and embedding_dim (size of the shared class embedding; used when num_classes > 0) and
    attention_resolution (0, or a resolution from 8 to resolution / 2; g_width and d_width must then be multiples
    of 8).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.layers import (
    ConditionalBatchNorm,
    Conv3x3,
    ProjectionHead,
    SelfAttention,
    avg_pool_2x,
    spectrally_normalized,
    upsample_nearest_2x,
)
from ganjax.models.base import MODELS, Networks, compute_dtype

RESOLUTIONS = (32, 64)

_INIT = nn.initializers.xavier_uniform()
_RESIDUAL_INIT = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")  # Glorot uniform with gain sqrt(2)
# BigGAN's class embedding starts small (N(0, 0.02), as in its CIFAR-10 code), so every class starts near gain 1.
_EMBEDDING_INIT = nn.initializers.normal(0.02)


def _conv(
    x: jax.Array,
    features: int,
    kernel_size: int,
    kernel_init: nn.initializers.Initializer,
    *,
    spectral_norm: bool,
    train: bool,
    dtype: jnp.dtype,
) -> jax.Array:
    """A "SAME" 3x3 or 1x1 convolution with a bias, spectrally normalised when `spectral_norm`.

    Call it inside a compact method. The 1x1 convolution is a Dense layer on the channel axis: the same map and
    kernel, with gradients that are plain matrix products instead of XLA:CPU's convolution gradients.
    """
    if kernel_size == 3:
        conv = Conv3x3(features, kernel_init=kernel_init, dtype=dtype)
    else:
        conv = nn.Dense(features, kernel_init=kernel_init, dtype=dtype)
    return spectrally_normalized(conv, x, enabled=spectral_norm, update_stats=train)


class GeneratorBlock(nn.Module):
    """(B, H, W, Cin) and a condition -> (B, 2H, 2W, features).

    BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus the shortcut conv1x1-upsample. `norm()` makes each BN; it is
    called as `norm()(x, condition, train=train)` (a `ConditionalBatchNorm`, conditional or not).
    """

    features: int
    norm: Callable[[], nn.Module]
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, condition: jax.Array | None, *, train: bool) -> jax.Array:
        conv = functools.partial(_conv, spectral_norm=self.spectral_norm, train=train, dtype=self.dtype)
        h = nn.relu(self.norm()(x, condition, train=train))
        h = conv(upsample_nearest_2x(h), self.features, 3, _RESIDUAL_INIT)
        h = nn.relu(self.norm()(h, condition, train=train))
        h = conv(h, self.features, 3, _RESIDUAL_INIT)
        # A 1x1 convolution commutes with nearest-neighbour upsampling; convolving first is 4x cheaper.
        return h + upsample_nearest_2x(conv(x, self.features, 1, _INIT))


class DiscriminatorBlock(nn.Module):
    """(B, H, W, Cin) -> (B, H/2, W/2, features) when `downsample`, else (B, H, W, features).

    [ReLU]-conv3x3-ReLU-conv3x3-[avgpool], plus the shortcut [avgpool]-conv1x1, which is the identity when the block
    neither downsamples nor changes the width. The first block of D sees pixels and has no leading ReLU
    (`preactivation` False: SNGAN's "optimised block").
    """

    features: int
    downsample: bool
    preactivation: bool = True
    spectral_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        conv = functools.partial(_conv, spectral_norm=self.spectral_norm, train=train, dtype=self.dtype)
        h = nn.relu(x) if self.preactivation else x
        h = conv(h, self.features, 3, _RESIDUAL_INIT)
        h = conv(nn.relu(h), self.features, 3, _RESIDUAL_INIT)
        shortcut = x
        if self.downsample:
            h, shortcut = avg_pool_2x(h), avg_pool_2x(shortcut)
        if self.downsample or x.shape[-1] != self.features:
            # Average pooling commutes with a 1x1 convolution; pooling first is 4x cheaper.
            shortcut = conv(shortcut, self.features, 1, _INIT)
        return h + shortcut


class Generator(nn.Module):
    """Latents (B, latent_dim) and labels (B,) int32 (None when unconditional) -> images (B, R, R, C) in [-1, 1].

    Attributes:
      resolution: R, 32 or 64.
      channels: C.
      width: channels of every block.
      num_classes: classes to condition on; 0: unconditional.
      embedding_dim: 0: SNGAN's per-class BN tables; > 0: BigGAN's shared class embedding of this size.
      attention_resolution: a self-attention layer follows the up block that produces this resolution; 0: none.
      spectral_norm: on every convolution and linear layer, and on BigGAN's conditional BN maps.
      dtype: computation dtype; parameters are float32.
    """

    resolution: int
    channels: int
    width: int
    num_classes: int = 0
    embedding_dim: int = 0
    attention_resolution: int = 0
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None, *, train: bool) -> jax.Array:
        linear = nn.Dense(4 * 4 * self.width, kernel_init=_INIT, dtype=self.dtype)
        x = spectrally_normalized(linear, z.astype(self.dtype), enabled=self.spectral_norm, update_stats=train)
        x = x.reshape(-1, 4, 4, self.width)
        condition, norm = self._conditioning(labels)
        for _ in range(int(math.log2(self.resolution // 4))):  # 4x4 -> R x R
            x = GeneratorBlock(self.width, norm, self.spectral_norm, self.dtype)(x, condition, train=train)
            if x.shape[1] == self.attention_resolution:
                x = SelfAttention(self.spectral_norm, dtype=self.dtype)(x, train=train)
        x = nn.relu(ConditionalBatchNorm(dtype=self.dtype)(x, None, train=train))
        x = _conv(x, self.channels, 3, _INIT, spectral_norm=self.spectral_norm, train=train, dtype=self.dtype)
        return jnp.tanh(x).astype(jnp.float32)

    def _conditioning(self, labels: jax.Array | None) -> tuple[jax.Array | None, Callable[[], nn.Module]]:
        """The condition (B, E) of the blocks' batch norms (None when unconditional), and the maker of those norms."""
        if not self.num_classes:
            return None, functools.partial(ConditionalBatchNorm, dtype=self.dtype)
        if not self.embedding_dim:  # SNGAN: one-hot labels pick rows of zero-initialised per-class tables
            one_hot = jax.nn.one_hot(labels, self.num_classes, dtype=self.dtype)
            return one_hot, functools.partial(ConditionalBatchNorm, dtype=self.dtype)
        embed = nn.Embed(self.num_classes, self.embedding_dim, embedding_init=_EMBEDDING_INIT, dtype=self.dtype)
        norm = functools.partial(
            ConditionalBatchNorm, spectral_norm=self.spectral_norm, kernel_init=_INIT, dtype=self.dtype
        )
        return embed(labels), norm


class Discriminator(nn.Module):
    """Images (B, R, R, C) and labels (B,) int32 (None when unconditional) -> logits (B,) float32.

    Attributes:
      resolution: R, 32 or 64.
      width: channels of every block.
      num_classes: classes of the projection head; 0: unconditional.
      attention_resolution: a self-attention layer follows the block that reaches this resolution; 0: none.
      spectral_norm: on every convolution and linear layer and on the class embedding.
      dtype: computation dtype; parameters are float32.
    """

    resolution: int
    width: int
    num_classes: int = 0
    attention_resolution: int = 0
    spectral_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None, *, train: bool) -> jax.Array:
        x = x.astype(self.dtype)
        halvings = int(math.log2(self.resolution // 8))  # R x R -> 8x8, then two blocks at 8x8
        for index in range(halvings + 2):
            downsample = index < halvings
            block = DiscriminatorBlock(self.width, downsample, index > 0, self.spectral_norm, self.dtype)
            x = block(x, train=train)
            if downsample and x.shape[1] == self.attention_resolution:
                x = SelfAttention(self.spectral_norm, dtype=self.dtype)(x, train=train)
        # The pooled sum and the head run in float32: bfloat16 keeps 3 significant digits, too few for a logit.
        features = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))
        head = ProjectionHead(self.num_classes, self.spectral_norm, _INIT, dtype=jnp.float32)
        return head(features, labels, train=train)


def _check_resolution(family: str, resolution: int) -> None:
    if resolution not in RESOLUTIONS:
        raise ConfigError(
            f"{family} cannot build resolution {resolution} (--config.model.resolution); valid: "
            f"{', '.join(map(str, RESOLUTIONS))}"
        )


def _networks(config: ml_collections.ConfigDict, generator: Generator, discriminator: Discriminator) -> Networks:
    return Networks(
        generator=generator,
        discriminator=discriminator,
        latent_dim=config.latent_dim,
        sample_shape=(config.resolution, config.resolution, config.channels),
        num_classes=config.num_classes,
    )


@MODELS.register("sngan")
def sngan(config: ml_collections.ConfigDict) -> Networks:
    _check_resolution("sngan", config.resolution)
    dtype = compute_dtype(config.dtype)
    generator = Generator(
        config.resolution,
        config.channels,
        config.g_width,
        config.num_classes,
        spectral_norm=config.g_spectral_norm,
        dtype=dtype,
    )
    discriminator = Discriminator(
        config.resolution, config.d_width, config.num_classes, spectral_norm=config.d_spectral_norm, dtype=dtype
    )
    return _networks(config, generator, discriminator)


@MODELS.register("biggan")
def biggan(config: ml_collections.ConfigDict) -> Networks:
    _check_resolution("biggan", config.resolution)
    attention_resolutions = [8 * 2**i for i in range(int(math.log2(config.resolution // 16)) + 1)]  # 8 .. R/2
    if config.attention_resolution not in (0, *attention_resolutions):
        raise ConfigError(
            f"biggan cannot place self-attention at resolution {config.attention_resolution} "
            f"(--config.model.attention_resolution) in a {config.resolution}x{config.resolution} network; valid: "
            f"0 (none), {', '.join(map(str, attention_resolutions))}"
        )
    if config.attention_resolution:
        for field in ("g_width", "d_width"):
            if config[field] % 8:
                raise ConfigError(
                    f"self-attention needs --config.model.{field} to be a multiple of 8, got {config[field]}; or "
                    "set --config.model.attention_resolution=0"
                )
    if config.num_classes and config.embedding_dim < 1:
        raise ConfigError(
            f"a class-conditional biggan needs a class embedding: --config.model.embedding_dim must be at least 1, "
            f"got {config.embedding_dim}"
        )
    dtype = compute_dtype(config.dtype)
    generator = Generator(
        config.resolution,
        config.channels,
        config.g_width,
        config.num_classes,
        embedding_dim=config.embedding_dim,
        attention_resolution=config.attention_resolution,
        spectral_norm=config.g_spectral_norm,
        dtype=dtype,
    )
    discriminator = Discriminator(
        config.resolution,
        config.d_width,
        config.num_classes,
        attention_resolution=config.attention_resolution,
        spectral_norm=config.d_spectral_norm,
        dtype=dtype,
    )
    return _networks(config, generator, discriminator)
