"""The R3GAN baseline (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern GAN Baseline"): a plain
modern ResNet with no normalisation, for square images whose side is a power of two from 32 up.

A stage is a run of `blocks_per_stage` residual blocks at one resolution and width; stages are joined by bilinear
resampling and, where the width changes, a 1x1 "transition" convolution. Outside the residual branches the trunk is
linear: no activation, no normalisation.

Residual block, on C channels with expansion e and group size s:

    x + conv1x1(lrelu(grouped_conv3x3(lrelu(conv1x1(x)))))      C -> eC -> eC (groups of s channels) -> C

  with leaky ReLU of slope 0.2 and biases only before the activations. The last convolution starts at zero, so every
  block starts as the identity; the other two start He-normal with their variance divided by sqrt(L), L the number
  of blocks in the network (R3GAN's fix-up style variance scaling).

Generator, at 32x32 with widths (w0, w1, w2, w3), one per resolution 4, 8, 16, 32:

    z (B, latent_dim) [+ class embedding (B, latent_dim)] -> linear -> (B, w0), a per-channel scale of a learned
      basis (4, 4, w0) -> (B, 4, 4, w0) -> blocks
      -> [conv1x1 to w1] -> bilinear 2x -> (B, 8, 8, w1) -> blocks -> ... -> (B, 32, 32, w3) -> blocks
      -> conv1x1 -> (B, 32, 32, C) -> tanh

Discriminator, the mirror:

    x (B, 32, 32, C) -> conv1x1 -> (B, 32, 32, w3) -> blocks
      -> bilinear 1/2 -> [conv1x1 to w2] -> (B, 16, 16, w2) -> blocks -> ... -> (B, 4, 4, w0) -> blocks
      -> depthwise 4x4 "valid" convolution (the discriminative basis) -> (B, w0) -> projection head -> logits (B,)

The 1x1 convolutions are Dense layers on the channel axis: the same map and kernel, with gradients that are plain
matrix products instead of XLA:CPU's convolution gradients. The grouped 3x3 convolution is `Conv3x3`, whose kernel
gradient is written out by hand (XLA:CPU's own is far slower for grouped convolutions: benchmarks/RESULTS.md, "The
convolutions with hand-written gradients").

Class-conditional (num_classes > 0): G concatenates a learned class embedding of size latent_dim to z; D's head is
the projection w.h + b + embed(y).h. Unlike R3GAN's code, G ends in tanh, so images lie in [-1, 1] like every
ganjax generator's.

Parameters at 32x32 RGB with latent_dim 128, widths (256, 256, 256, 256), blocks_per_stage 2, expansion 2,
group_size 16: G 2.73M, D 2.70M (conditional on 10 classes: +34K in G, +2.6K in D); with blocks_per_stage 1, about
half of that.

Config fields (`config.model`): resolution (32, 64, 128, ...), channels, latent_dim, widths (one per resolution from
4x4 up: 4 entries for 32x32, 5 for 64x64), blocks_per_stage, expansion, group_size (must divide every width times
expansion), num_classes, dtype.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.layers import Conv3x3, ProjectionHead, downsample_bilinear_2x, upsample_bilinear_2x
from ganjax.models.base import MODELS, Networks, compute_dtype

_SLOPE = 0.2  # of every leaky ReLU
_LEAKY_RELU_GAIN_SQUARED = 2 / (1 + _SLOPE**2)  # He initialisation for a leaky ReLU
_INIT = nn.initializers.lecun_normal()  # variance 1 / fan-in: layers followed by no activation
_UNIT_NORMAL = nn.initializers.normal(1.0)


class ResidualBlock(nn.Module):
    """(B, H, W, C) -> (B, H, W, C): x + conv1x1(lrelu(grouped_conv3x3(lrelu(conv1x1(x))))), through C * expansion."""

    expansion: int
    group_size: int
    blocks_in_network: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        features = x.shape[-1]
        expanded = features * self.expansion
        init = nn.initializers.variance_scaling(
            _LEAKY_RELU_GAIN_SQUARED / math.sqrt(self.blocks_in_network), "fan_in", "normal"
        )
        h = nn.Dense(expanded, kernel_init=init, dtype=self.dtype)(x)  # a 1x1 convolution
        h = Conv3x3(expanded, self.group_size, kernel_init=init, dtype=self.dtype)(nn.leaky_relu(h, _SLOPE))
        h = nn.leaky_relu(h, _SLOPE)
        h = nn.Dense(features, use_bias=False, kernel_init=nn.initializers.zeros_init(), dtype=self.dtype)(h)
        return x + h


class Generator(nn.Module):
    """Latents (B, latent_dim) and labels (B,) int32 (None when unconditional) -> images (B, R, R, C) in [-1, 1].

    Attributes:
      channels: C.
      widths: channels of each stage, from 4x4 up to R x R (R = 4 * 2 ** (len(widths) - 1)).
      blocks_per_stage: residual blocks in each stage.
      expansion: channel multiplier inside the residual blocks.
      group_size: channels per group of the grouped 3x3 convolutions.
      num_classes: classes to condition on; 0: unconditional.
      dtype: computation dtype; parameters are float32.
    """

    channels: int
    widths: tuple[int, ...]
    blocks_per_stage: int
    expansion: int
    group_size: int
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None, *, train: bool) -> jax.Array:
        del train  # no layer behaves differently in training
        z = z.astype(self.dtype)
        if self.num_classes:  # a class embedding on the scale of z
            embed = nn.Embed(self.num_classes, z.shape[-1], embedding_init=_UNIT_NORMAL, dtype=self.dtype)
            z = jnp.concatenate([z, embed(labels)], axis=-1)
        basis = self.param("basis", _UNIT_NORMAL, (4, 4, self.widths[0])).astype(self.dtype)
        x = basis * nn.Dense(self.widths[0], use_bias=False, kernel_init=_INIT, dtype=self.dtype)(z)[:, None, None]
        block = functools.partial(
            ResidualBlock,
            self.expansion,
            self.group_size,
            blocks_in_network=self.blocks_per_stage * len(self.widths),
            dtype=self.dtype,
        )
        for stage, width in enumerate(self.widths):
            if stage:
                if width != x.shape[-1]:  # transition; at the lower resolution, where it is 4x cheaper
                    x = nn.Dense(width, use_bias=False, kernel_init=_INIT, dtype=self.dtype)(x)
                x = upsample_bilinear_2x(x)
            for _ in range(self.blocks_per_stage):
                x = block()(x)
        x = nn.Dense(self.channels, use_bias=False, kernel_init=_INIT, dtype=self.dtype)(x)
        return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
    """Images (B, R, R, C) and labels (B,) int32 (None when unconditional) -> logits (B,) float32.

    Attributes as in `Generator`; the stages run from R x R down to 4x4 with widths in reverse.
    """

    widths: tuple[int, ...]
    blocks_per_stage: int
    expansion: int
    group_size: int
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None, *, train: bool) -> jax.Array:
        block = functools.partial(
            ResidualBlock,
            self.expansion,
            self.group_size,
            blocks_in_network=self.blocks_per_stage * len(self.widths),
            dtype=self.dtype,
        )
        x = nn.Dense(self.widths[-1], use_bias=False, kernel_init=_INIT, dtype=self.dtype)(x.astype(self.dtype))
        for stage, width in enumerate(reversed(self.widths)):
            if stage:
                x = downsample_bilinear_2x(x)
                if width != x.shape[-1]:  # transition; at the lower resolution, where it is 4x cheaper
                    x = nn.Dense(width, use_bias=False, kernel_init=_INIT, dtype=self.dtype)(x)
            for _ in range(self.blocks_per_stage):
                x = block()(x)
        # The discriminative basis: one 4x4 filter per channel (std 1/4: each output sums 16 pixels), in float32
        # like the head, since bfloat16 keeps 3 significant digits, too few for a logit.
        basis = self.param("basis", nn.initializers.normal(1 / 4), (4, 4, self.widths[0]))
        features = jnp.sum(x.astype(jnp.float32) * basis, axis=(1, 2))
        head = ProjectionHead(self.num_classes, kernel_init=_INIT, dtype=jnp.float32)
        return head(features, labels, train=train)


def _validate_config(config: ml_collections.ConfigDict) -> None:
    """ConfigError unless the fields describe a network r3gan can build."""
    resolution, widths = config.resolution, tuple(config.widths)
    if resolution < 32 or resolution & (resolution - 1):
        raise ConfigError(
            f"r3gan cannot build resolution {resolution} (--config.model.resolution); valid: a power of two from 32 "
            "up (32, 64, 128, ...)"
        )
    stages = int(math.log2(resolution)) - 1
    if len(widths) != stages:
        raise ConfigError(
            f"--config.model.widths={widths} has {len(widths)} entries, but resolution {resolution} needs {stages}: "
            f"one per resolution {', '.join(str(4 * 2**i) for i in range(stages))}"
        )
    if config.blocks_per_stage < 1:
        raise ConfigError(f"--config.model.blocks_per_stage must be at least 1, got {config.blocks_per_stage}")
    for width in widths:
        if width * config.expansion % config.group_size:
            raise ConfigError(
                f"--config.model.group_size={config.group_size} must divide every width times "
                f"--config.model.expansion={config.expansion}; width {width} gives {width * config.expansion}"
            )


@MODELS.register("r3gan")
def r3gan(config: ml_collections.ConfigDict) -> Networks:
    _validate_config(config)
    dtype = compute_dtype(config.dtype)
    architecture = dict(
        widths=tuple(config.widths),
        blocks_per_stage=config.blocks_per_stage,
        expansion=config.expansion,
        group_size=config.group_size,
        num_classes=config.num_classes,
        dtype=dtype,
    )
    return Networks(
        generator=Generator(config.channels, **architecture),
        discriminator=Discriminator(**architecture),
        latent_dim=config.latent_dim,
        sample_shape=(config.resolution, config.resolution, config.channels),
        num_classes=config.num_classes,
    )
