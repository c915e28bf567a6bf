"""StyleGAN2 (Karras et al. 2020) as the ADA code defines it (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"), for square images whose side is a power of two from 8 up; layers in
ganjax/models/stylegan2_layers.py.

Widths: a resolution r has min(channel_base // r, channel_max) channels.

Generator = mapping, then synthesis:

    z (B, latent_dim) -> unit mean square [, class embedding (one-hot -> dense, unit mean square) concatenated]
      -> mapping_layers dense layers (leaky ReLU, learning rate x 0.01) -> w (B, w_dim), broadcast to the
      num_ws = 2 log2(resolution) - 2 layers that read a style: ws (B, num_ws, w_dim)
    ws -> a learned constant (4, 4, C4) -> per resolution r = 4, 8, ..., resolution:
      [modulated 3x3 conv with FIR 2x upsampling (r > 4)] -> modulated 3x3 conv; each conv adds per-pixel noise
      times a learned strength, a bias, leaky ReLU x sqrt(2) (clamped to +-conv_clamp when set)
      -> toRGB (modulated 1x1 conv, not demodulated) added to the FIR-upsampled image so far ("skip" generator)
    -> images (B, resolution, resolution, channels), not squashed (as the official networks; pixels are clipped
      when written).

Layer i of synthesis reads ws[:, i]; a block's toRGB reads the style its next block's first conv reads. The mapping
tracks the mean w of training batches (`w_avg`, decay w_avg_beta, in the "stats" collection, updated when train and
the collection is mutable); truncation draws ws towards it: w_avg + psi (w - w_avg) for the first `cutoff` layers.
Noise: drawn from the "noise" RNG stream when `noise` is "random" (training's), fixed buffers drawn at init
(collection "noise_const") when "const" (sampling's), none when "none".

Discriminator ("resnet", the default; "orig" without the residual skips, the ADA code's cifar setting):

    images -> 1x1 conv (fromRGB) -> per resolution r = resolution, ..., 8: 3x3 conv -> 3x3 conv with FIR 2x
      downsampling, plus a 1x1 FIR-downsampled skip, both halves x sqrt(1/2) ("resnet")
    -> at 4x4: minibatch std (groups of mbstd_group_size, one channel) -> 3x3 conv -> dense -> dense to 1, or, with
      classes, to cmap_dim features projected on the class's mapped embedding (a mapping network of
      mapping_layers layers from the one-hot label): logits (B,)

Every convolution and dense layer has an equalised learning rate. The highest `bfloat16_resolutions` resolutions
compute in bfloat16 (the official code uses float16 there), never the 4x4 block, the rest in float32.

Config fields (`config.model`): resolution, channels, latent_dim, w_dim, mapping_layers, channel_base, channel_max,
d_mapping_layers (the discriminator's label mapping: 8 in the official code whatever the generator's), num_classes,
mbstd_group_size, d_architecture ("resnet" or "orig"), conv_clamp (0 for none), bfloat16_resolutions,
w_avg_beta, style_mixing_prob (0 turns style mixing off).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.models.base import MODELS, Networks
from ganjax.models.stylegan2_layers import (
    STYLEGAN2_FIR,
    EqualizedConv,
    EqualizedDense,
    bias_act,
    minibatch_std,
    modulated_conv2d,
    normalize_2nd_moment,
)
from ganjax.resampling import upfirdn2d

NOISE_MODES = ("random", "const", "none")
D_ARCHITECTURES = ("resnet", "orig")


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """The width of the layers at `resolution`: min(channel_base // resolution, channel_max)."""
    return min(channel_base // resolution, channel_max)


def num_ws(resolution: int) -> int:
    """How many styles the synthesis network reads at `resolution`: 2 log2(resolution) - 2."""
    return 2 * int(math.log2(resolution)) - 2


def bfloat16_from(resolution: int, bfloat16_resolutions: int) -> int:
    """The lowest resolution computed in bfloat16: the highest `bfloat16_resolutions` ones are, but never 4x4 (the
    official code's rule for its float16 layers)."""
    return max(2 ** (int(math.log2(resolution)) + 1 - bfloat16_resolutions), 8)


def _one_hot(labels: jax.Array | None, num_classes: int) -> jax.Array | None:
    return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) if num_classes else None


class Mapping(nn.Module):
    """z (B, latent_dim) or None, c (B, num_classes) one-hot or None -> w (B, w_dim) float32 (module docstring).
    With `w_avg_beta`, keeps the mean w in `stats/w_avg` (w_dim,), updated by training batches."""

    w_dim: int
    num_layers: int
    num_classes: int = 0
    lr_multiplier: float = 0.01
    w_avg_beta: float | None = 0.995

    @nn.compact
    def __call__(self, z: jax.Array | None, c: jax.Array | None, *, train: bool) -> jax.Array:
        parts = [] if z is None else [normalize_2nd_moment(z.astype(jnp.float32))]
        if self.num_classes:
            parts.append(normalize_2nd_moment(EqualizedDense(self.w_dim, name="embed")(c)))
        x = jnp.concatenate(parts, axis=-1)
        for index in range(self.num_layers):
            x = EqualizedDense(self.w_dim, "lrelu", self.lr_multiplier, name=f"fc{index}")(x)
        if self.w_avg_beta is not None:
            w_avg = self.variable("stats", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)
            if train and self.is_mutable_collection("stats"):
                batch_mean = jnp.mean(jax.lax.stop_gradient(x), axis=0)
                w_avg.value = batch_mean + self.w_avg_beta * (w_avg.value - batch_mean)
        return x


class SynthesisLayer(nn.Module):
    """(B, h, w, in) and w (B, w_dim) -> (B, h * up, w * up, features): a modulated 3x3 convolution, noise, bias,
    leaky ReLU x sqrt(2), clamp."""

    features: int
    resolution: int
    up: int = 1
    conv_clamp: float | None = None
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array, noise_mode: str) -> jax.Array:
        styles = EqualizedDense(x.shape[-1], bias_init=1.0, name="affine")(w)
        kernel = self.param("kernel", nn.initializers.normal(1.0), (3, 3, x.shape[-1], self.features))
        x = modulated_conv2d(x.astype(self.dtype), kernel, styles, up=self.up, padding=1)
        side = self.resolution
        noise_const = self.variable(
            "noise_const", "noise", lambda: jax.random.normal(self.make_rng("params"), (side, side, 1))
        )
        strength = self.param("noise_strength", nn.initializers.zeros, ())
        if noise_mode == "random":
            x = x + (jax.random.normal(self.make_rng("noise"), (x.shape[0], side, side, 1)) * strength).astype(x.dtype)
        elif noise_mode == "const":
            x = x + (noise_const.value * strength).astype(x.dtype)
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return bias_act(x, bias, "lrelu", clamp=self.conv_clamp)


class ToRGB(nn.Module):
    """(B, h, w, in) and w (B, w_dim) -> (B, h, w, channels) float32: a modulated 1x1 convolution without
    demodulation (the style scaled by 1 / sqrt(in)), bias, clamp."""

    channels: int
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
        styles = EqualizedDense(x.shape[-1], bias_init=1.0, name="affine")(w) / np.sqrt(x.shape[-1])
        kernel = self.param("kernel", nn.initializers.normal(1.0), (1, 1, x.shape[-1], self.channels))
        y = modulated_conv2d(x, kernel, styles, demodulate=False, fir=None)
        bias = self.param("bias", nn.initializers.zeros, (self.channels,))
        return bias_act(y.astype(jnp.float32), bias, clamp=self.conv_clamp)


class Synthesis(nn.Module):
    """ws (B, num_ws, w_dim) -> images (B, resolution, resolution, channels) float32 (module docstring)."""

    resolution: int
    channels: int
    channel_base: int
    channel_max: int
    conv_clamp: float | None = None
    bfloat16_resolutions: int = 0

    @nn.compact
    def __call__(self, ws: jax.Array, noise_mode: str) -> jax.Array:
        levels = int(math.log2(self.resolution))
        first_bfloat16 = bfloat16_from(self.resolution, self.bfloat16_resolutions)
        x = image = None
        index = 0
        for level in range(2, levels + 1):
            side = 2**level
            width = channels_at(side, self.channel_base, self.channel_max)
            dtype = jnp.bfloat16 if side >= first_bfloat16 else jnp.float32
            layer = dict(resolution=side, conv_clamp=self.conv_clamp, dtype=dtype)
            if x is None:
                constant = self.param("const", nn.initializers.normal(1.0), (side, side, width))
                x = jnp.broadcast_to(constant, (ws.shape[0], side, side, width))
                x = SynthesisLayer(width, name=f"b{side}_conv1", **layer)(x, ws[:, index], noise_mode)
                index += 1
            else:
                x = SynthesisLayer(width, up=2, name=f"b{side}_conv0", **layer)(x, ws[:, index], noise_mode)
                x = SynthesisLayer(width, name=f"b{side}_conv1", **layer)(x, ws[:, index + 1], noise_mode)
                index += 2
                pads = ((2, 1), (2, 1))  # StyleGAN2's filter of 4 taps, upsampled twice, centred
                image = upfirdn2d(image, STYLEGAN2_FIR, up=2, padding=pads, gain=4.0)
            rgb = ToRGB(self.channels, self.conv_clamp, name=f"b{side}_torgb")(x, ws[:, index])
            image = rgb if image is None else image + rgb
        return image


class Generator(nn.Module):
    """StyleGAN2's generator: `__call__(z, labels, train)` as every ganjax generator (module docstring); `mapping`
    and `synthesis` apart for truncation, style mixing and path-length regularisation."""

    resolution: int
    channels: int
    w_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    num_classes: int = 0
    conv_clamp: float | None = None
    bfloat16_resolutions: int = 0
    w_avg_beta: float = 0.995
    style_mixing_prob: float = 0.0

    def setup(self):
        self.mapping_network = Mapping(self.w_dim, self.mapping_layers, self.num_classes, w_avg_beta=self.w_avg_beta)
        self.synthesis_network = Synthesis(
            self.resolution, self.channels, self.channel_base, self.channel_max, self.conv_clamp,
            self.bfloat16_resolutions,
        )  # fmt: skip

    @property
    def num_ws(self) -> int:
        return num_ws(self.resolution)

    def mapping(
        self, z: jax.Array, labels: jax.Array | None, *, train: bool, psi: float = 1.0, cutoff: int | None = None
    ) -> jax.Array:
        """z (B, latent_dim), labels (B,) int32 or None -> ws (B, num_ws, w_dim); truncated towards `w_avg` with
        `psi` in the first `cutoff` layers (all when None)."""
        w = self.mapping_network(z, _one_hot(labels, self.num_classes), train=train)
        ws = jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, self.w_dim))
        if psi == 1.0:
            return ws
        w_avg = self.mapping_network.variables["stats"]["w_avg"]
        truncated = w_avg + psi * (ws - w_avg)
        layers = self.num_ws if cutoff is None else cutoff
        return jnp.concatenate([truncated[:, :layers], ws[:, layers:]], axis=1)

    def synthesis(self, ws: jax.Array, *, noise: str = "const") -> jax.Array:
        """ws (B, num_ws, w_dim) -> images (B, resolution, resolution, channels) float32; `noise` one of
        NOISE_MODES ("random" draws from the "noise" RNG stream)."""
        if noise not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {noise!r}; valid: {', '.join(NOISE_MODES)}")
        return self.synthesis_network(ws, noise)

    def truncated(self, z: jax.Array, labels: jax.Array | None, psi: float, cutoff: int | None) -> jax.Array:
        """Inference with truncation: `synthesis` (fixed noise) of `mapping` with `psi` and `cutoff`."""
        return self.synthesis(self.mapping(z, labels, train=False, psi=psi, cutoff=cutoff))

    def style_mixing_grid(
        self, z_rows: jax.Array, z_columns: jax.Array, label: int | None, layers: tuple[int, ...]
    ) -> jax.Array:
        """The official style_mixing.py figure, row-major (1 + R) x (1 + C) images (fixed noise): a blank (white)
        corner, then the C columns' own images; then each of the R rows: its own image, then its styles with the
        layers `layers` taken from each column. z_rows (R, latent_dim), z_columns (C, latent_dim); `label` the class
        of every image of a conditional model."""
        rows, columns = len(z_rows), len(z_columns)
        z = jnp.concatenate([z_rows, z_columns])
        labels = None if label is None else jnp.full((rows + columns,), label, jnp.int32)
        ws = self.mapping(z, labels, train=False)
        row_ws, column_ws = ws[:rows, None], ws[None, rows:]
        from_column = jnp.isin(jnp.arange(self.num_ws), jnp.asarray(layers))[None, None, :, None]
        mixed = jnp.where(from_column, column_ws, row_ws).reshape(rows * columns, self.num_ws, self.w_dim)
        images = self.synthesis(jnp.concatenate([ws, mixed]))
        own, mixes = images[: rows + columns], images[rows + columns :].reshape(rows, columns, *images.shape[1:])
        header = jnp.concatenate([jnp.ones_like(own[:1]), own[rows:]])
        body = jnp.concatenate([own[:rows, None], mixes], axis=1).reshape(rows * (columns + 1), *images.shape[1:])
        return jnp.concatenate([header, body])

    def mixed_styles(self, ws: jax.Array, z: jax.Array, labels: jax.Array | None) -> jax.Array:
        """Style mixing regularisation: with probability `style_mixing_prob` (one draw for the batch), the layers from
        a cutoff drawn uniformly in [1, num_ws) take the styles of other latents (same labels, `w_avg` not updated).
        ws (B, num_ws, w_dim) of latents z (B, latent_dim) -> the same shape; draws from the "noise" RNG stream."""
        cutoff_key, coin_key, latent_key = jax.random.split(self.make_rng("noise"), 3)
        cutoff = jax.random.randint(cutoff_key, (), 1, self.num_ws)
        cutoff = jnp.where(jax.random.uniform(coin_key, ()) < self.style_mixing_prob, cutoff, self.num_ws)
        other = self.mapping(jax.random.normal(latent_key, z.shape, z.dtype), labels, train=False)
        return jnp.where(jnp.arange(self.num_ws)[None, :, None] < cutoff, ws, other)

    def __call__(self, z: jax.Array, labels: jax.Array | None, *, train: bool) -> jax.Array:
        """Training draws noise from the "noise" RNG stream, updates `w_avg` and mixes styles (`mixed_styles`) when
        `style_mixing_prob` > 0; inference uses the fixed noise and one latent per image."""
        ws = self.mapping(z, labels, train=train)
        if train and self.style_mixing_prob > 0:
            ws = self.mixed_styles(ws, z, labels)
        return self.synthesis(ws, noise="random" if train else "const")


class DiscriminatorBlock(nn.Module):
    """(B, r, r, C_r) -> (B, r/2, r/2, C_{r/2}): 3x3 conv, 3x3 conv with FIR downsampling, and with "resnet" a 1x1
    FIR-downsampled skip, the two halves weighted sqrt(1/2)."""

    features: int
    architecture: str
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        gain = float(np.sqrt(0.5)) if self.architecture == "resnet" else 1.0
        y = EqualizedConv(x.shape[-1], clamp=self.conv_clamp, name="conv0")(x)
        y = EqualizedConv(self.features, down=2, gain=gain, clamp=self.conv_clamp, name="conv1")(y)
        if self.architecture != "resnet":
            return y
        skip = EqualizedConv(self.features, 1, "linear", down=2, use_bias=False, gain=gain, name="skip")(x)
        return skip + y


class Discriminator(nn.Module):
    """StyleGAN2's discriminator: images (B, r, r, channels) and labels (B,) or None -> logits (B,) float32
    (module docstring)."""

    resolution: int
    channel_base: int = 32768
    channel_max: int = 512
    num_classes: int = 0
    mapping_layers: int = 8
    architecture: str = "resnet"
    mbstd_group_size: int = 4
    conv_clamp: float | None = None
    bfloat16_resolutions: int = 0

    @nn.compact
    def __call__(self, images: jax.Array, labels: jax.Array | None, *, train: bool) -> jax.Array:
        del train  # no batch statistics, no dropout
        levels = int(math.log2(self.resolution))
        first_bfloat16 = bfloat16_from(self.resolution, self.bfloat16_resolutions)
        width = channels_at(self.resolution, self.channel_base, self.channel_max)
        dtype = jnp.bfloat16 if self.resolution >= first_bfloat16 else jnp.float32
        x = EqualizedConv(width, 1, clamp=self.conv_clamp, name="fromrgb")(images.astype(dtype))
        for level in range(levels, 2, -1):
            side = 2**level
            dtype = jnp.bfloat16 if side >= first_bfloat16 else jnp.float32
            features = channels_at(side // 2, self.channel_base, self.channel_max)
            block = DiscriminatorBlock(features, self.architecture, self.conv_clamp, name=f"b{side}")
            x = block(x.astype(dtype))
        x = minibatch_std(x.astype(jnp.float32), self.mbstd_group_size)
        width = channels_at(4, self.channel_base, self.channel_max)
        x = EqualizedConv(width, clamp=self.conv_clamp, name="b4_conv")(x)
        x = EqualizedDense(width, "lrelu", name="b4_fc")(x.reshape(x.shape[0], -1))
        if not self.num_classes:
            return EqualizedDense(1, name="b4_out")(x)[:, 0]
        cmap_dim = width
        cmap = Mapping(cmap_dim, self.mapping_layers, self.num_classes, w_avg_beta=None, name="mapping")(
            None, _one_hot(labels, self.num_classes), train=False
        )
        x = EqualizedDense(cmap_dim, name="b4_out")(x)
        return jnp.sum(x * cmap, axis=-1) / np.sqrt(cmap_dim)


def _validate_config(config: ml_collections.ConfigDict) -> None:
    resolution = config.resolution
    if resolution < 8 or resolution & (resolution - 1):
        raise ConfigError(f"stylegan2 needs a power-of-two --config.model.resolution of at least 8, got {resolution}")
    if config.d_architecture not in D_ARCHITECTURES:
        raise ConfigError(
            f"unknown --config.model.d_architecture {config.d_architecture!r}; valid: {', '.join(D_ARCHITECTURES)}"
        )
    levels = int(math.log2(resolution)) - 1
    if not 0 <= config.bfloat16_resolutions <= levels:
        raise ConfigError(
            f"--config.model.bfloat16_resolutions={config.bfloat16_resolutions} is not between 0 and {levels}, the "
            f"number of resolutions from 4 to {resolution}"
        )


@MODELS.register("stylegan2")
def stylegan2(config: ml_collections.ConfigDict) -> Networks:
    _validate_config(config)
    shared = dict(
        channel_base=config.channel_base,
        channel_max=config.channel_max,
        num_classes=config.num_classes,
        conv_clamp=config.conv_clamp or None,
        bfloat16_resolutions=config.bfloat16_resolutions,
    )
    generator = Generator(
        config.resolution,
        config.channels,
        config.w_dim,
        config.mapping_layers,
        w_avg_beta=config.w_avg_beta,
        style_mixing_prob=config.style_mixing_prob,
        **shared,
    )
    discriminator = Discriminator(
        config.resolution,
        mapping_layers=config.d_mapping_layers,
        architecture=config.d_architecture,
        mbstd_group_size=config.mbstd_group_size,
        **shared,
    )
    return Networks(
        generator=generator,
        discriminator=discriminator,
        latent_dim=config.latent_dim,
        sample_shape=(config.resolution, config.resolution, config.channels),
        num_classes=config.num_classes,
    )
