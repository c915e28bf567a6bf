"""Restorers that learn a correction: each starts from a cheap estimate of the answer and spends its convolutions
where the pixels are, for the budgets a CPU can run (what each reaches: benchmarks/RESULTS.md, "recipes that win on
a CPU budget"). Inputs (B, h, w, in_channels), outputs (B, scale*h, scale*w, out_channels) float32, registered in
`RESTORERS` (ganjax/models/restorers.py) beside the classical architectures:

  ffdnet: FFDNet's layout (Zhang, Zuo & Zhang 2018, "FFDNet: Toward a Fast and Flexible Solution for CNN based
    Image Denoising"): the image is pixel-unshuffled 2x2 into (B, h/2, w/2, 4 in_channels), a DnCNN body of `depth`
    3x3 convolutions of `width` channels works at that quarter of the pixels, and its output is shuffled back:

        x -> space-to-depth 2 -> conv3x3-ReLU, (depth - 2) x (conv3x3-BN-ReLU), conv3x3 (4 out_channels)
          -> depth-to-space 2 -> noise (B, h, w, out_channels);   y = x - noise

    At equal width a layer costs a quarter of DnCNN's and sees twice as far. Unlike the paper it has no noise-level
    map among its inputs (a model for one sigma, where the map would be a constant) and learns the residual, as
    DnCNN does. h and w must be even; in_channels must equal out_channels.

  fill_unet: inpainting from a classical fill. The holes of the input (image channels, then the mask, 1 = missing)
    are first filled by `membrane_fill` (a harmonic interpolation from the hole's border, as OpenCV's diffusion
    methods do), then a U-Net (ganjax/models/pix2pix.py) of `depth` levels sees the filled image and the mask,
    and a head of two 3x3 convolutions at full resolution turns its features, beside the filled image and the mask,
    into a correction:

        f = membrane_fill(x);  u = UNet(concat(f, mask)) (B, h, w, width)
        y = f + conv3x3(ReLU(conv3x3(concat(u, f, mask))))          (the last convolution starts at zero)

    So the model starts as the classical fill and learns what it gets wrong; the task keeps the known pixels.
    h and w must be multiples of 2**depth.

  edsr: super-resolution as a correction of bicubic upscaling. An EDSR-baseline trunk (Lim et al. 2017: residual
    blocks conv3x3-ReLU-conv3x3 without batch norm) at the low resolution, sub-pixel upsampling, and the bicubic
    upscale of the input (MATLAB's imresize, ganjax/imresize.py) added to the output:

        s = conv3x3(x) (B, h, w, width);  r = s + conv3x3(`depth` x residual block (s))
        y = imresize(x, scale) + conv3x3(log2(scale) x (conv3x3 to 4 width -> depth-to-space 2 -> ReLU)(r))

    The last convolution starts at zero, so the untrained model is bicubic upscaling. scale is 2, 4 or 8 (3:
    one depth-to-space of 3).

Config fields: name, width, depth, batch_norm (ffdnet and fill_unet's U-Net), fill_sweeps (fill_unet), dtype.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.imresize import imresize
from ganjax.models.base import compute_dtype
from ganjax.models.dncnn import DnCNN
from ganjax.models.pix2pix import UNet
from ganjax.models.restorers import (
    HE_INIT,
    RESTORERS,
    Restorer,
    check_multiple,
    conv3x3,
    depth_to_space,
    require_at_least,
    require_scale,
    space_to_depth,
    upsampling_factors,
)

DEFAULT_FILL_SWEEPS = 16


def _relax(start: jax.Array, image: jax.Array, known: jax.Array, sweeps: int) -> jax.Array:
    """`sweeps` Jacobi sweeps of Laplace's equation in the unknown pixels: each takes the mean of its 4 neighbours
    (edges replicated), the known pixels stay as in `image`. All (B, H, W, C) but known (B, H, W, 1) in {0, 1}."""

    def sweep(_, x: jax.Array) -> jax.Array:
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        mean = (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]) / 4.0
        return known * image + (1.0 - known) * mean

    return jax.lax.fori_loop(0, sweeps, sweep, start)


def _membrane(image: jax.Array, known: jax.Array, sweeps: int) -> jax.Array:
    """Coarse to fine: the fill of the image halved (a halved pixel is known when any of its four is, with their
    mean), doubled into the unknown pixels, then relaxed; below the last even side, the mean of the known pixels."""
    batch, height, width, _ = image.shape
    if height % 2 or width % 2:
        total = jnp.sum(known * image, axis=(1, 2), keepdims=True)
        start = total / jnp.maximum(jnp.sum(known, axis=(1, 2), keepdims=True), 1.0)
    else:

        def pooled(x: jax.Array) -> jax.Array:
            return x.reshape(batch, height // 2, 2, width // 2, 2, x.shape[-1]).sum(axis=(2, 4))

        weight = pooled(known)
        coarse = _membrane(pooled(known * image) / jnp.maximum(weight, 1.0), (weight > 0).astype(image.dtype), sweeps)
        start = jnp.repeat(jnp.repeat(coarse, 2, axis=1), 2, axis=2)
    return _relax(known * image + (1.0 - known) * start, image, known, sweeps)


@functools.partial(jax.jit, static_argnames="sweeps")
def membrane_fill(image: jax.Array, hole: jax.Array, sweeps: int = DEFAULT_FILL_SWEEPS) -> jax.Array:
    """The holes of `image` filled with a membrane stretched over their border: Laplace's equation inside the holes
    with the known pixels as boundary values (a harmonic interpolation, which OpenCV's Navier-Stokes inpainting
    approaches in smooth regions), solved coarse to fine with `sweeps` Jacobi sweeps at every halving of the image.

    image (B, H, W, C), hole (B, H, W, 1) with 1 = missing -> (B, H, W, C), equal to image where hole is 0. No
    gradient flows through it: it is the classical estimate a model corrects.
    """
    image, hole = jax.lax.stop_gradient(image), jax.lax.stop_gradient(hole)
    return _membrane(image, 1.0 - hole, sweeps)


class FFDNet(nn.Module):
    """FFDNet's layout without the noise map: (B, h, w, C) -> (B, h, w, C) float32, h and w even (module docstring).

    Attributes:
      out_channels: C, the channels of input and output.
      width: channels of every hidden convolution (64 in the paper for grey images).
      depth: number of convolutions, at least 2 (15 in the paper for grey images).
      batch_norm: BN in the depth - 2 middle layers.
      dtype: computation dtype; parameters are float32.
    """

    out_channels: int
    width: int = 64
    depth: int = 15
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        check_multiple("ffdnet", x, 2)
        # DnCNN on the unshuffled image returns unshuffle(x) - noise; shuffled back, that is x - noise.
        body = DnCNN(4 * self.out_channels, self.width, self.depth, self.batch_norm, self.dtype)
        return depth_to_space(body(space_to_depth(x, 2), train=train), 2)


class FillUNet(nn.Module):
    """A U-Net's correction of a membrane fill: (B, h, w, C + 1) image and mask -> (B, h, w, C) float32.

    Attributes:
      out_channels: C, the image's channels (the input has the mask after them).
      width: channels of the U-Net's outermost level and of the full-resolution head.
      depth: the U-Net's levels; h and w must be multiples of 2**depth.
      batch_norm: in the U-Net.
      fill_sweeps: Jacobi sweeps of `membrane_fill`.
      dtype: computation dtype; parameters are float32.
    """

    out_channels: int
    width: int = 64
    depth: int = 3
    batch_norm: bool = True
    fill_sweeps: int = DEFAULT_FILL_SWEEPS
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        image, hole = x[..., :-1].astype(jnp.float32), x[..., -1:].astype(jnp.float32)
        filled = membrane_fill(image, hole, self.fill_sweeps)
        inputs = jnp.concatenate([filled, hole], axis=-1)
        features = UNet(self.width, self.width, self.depth, self.batch_norm, self.dtype)(inputs, train=train)
        h = jnp.concatenate([features, inputs], axis=-1).astype(self.dtype)
        h = nn.relu(conv3x3(self.width, kernel_init=HE_INIT, dtype=self.dtype)(h))
        last = conv3x3(self.out_channels, kernel_init=nn.initializers.zeros, dtype=jnp.float32)
        return filled + last(h.astype(jnp.float32))


class EDSR(nn.Module):
    """An EDSR-baseline trunk correcting bicubic upscaling: (B, h, w, C) -> (B, scale h, scale w, C) float32.

    Attributes:
      out_channels: C, the channels of input and output.
      scale: 2, 3, 4 or 8.
      width: channels of the trunk (64 in EDSR-baseline).
      depth: residual blocks (16 in EDSR-baseline).
      dtype: computation dtype; parameters are float32.
    """

    out_channels: int
    scale: int = 4
    width: int = 64
    depth: int = 16
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        del train  # no batch norm: training and inference are the same function
        conv = functools.partial(conv3x3, kernel_init=HE_INIT, dtype=self.dtype)
        skip = conv(self.width)(x.astype(self.dtype))
        h = skip
        for _ in range(self.depth):
            h = h + conv(self.width)(nn.relu(conv(self.width)(h)))
        h = skip + conv(self.width)(h)
        for factor in upsampling_factors(self.scale):
            h = nn.relu(depth_to_space(conv(self.width * factor**2)(h), factor))
        last = conv3x3(self.out_channels, kernel_init=nn.initializers.zeros, dtype=jnp.float32)
        return imresize(x.astype(jnp.float32), self.scale) + last(h.astype(jnp.float32))


@RESTORERS.register("ffdnet")
def ffdnet(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm and dtype."""
    require_scale("ffdnet", scale, (1,))
    require_at_least("depth", model_config.depth, 2, "ffdnet")
    if in_channels != out_channels:
        raise ConfigError(f"ffdnet restores images of the channels it is given: {in_channels} in, {out_channels} out")
    module = FFDNet(
        out_channels, model_config.width, model_config.depth, model_config.batch_norm, compute_dtype(model_config.dtype)
    )
    return Restorer(module, size_multiple=2, scale=1)


@RESTORERS.register("fill_unet")
def fill_unet(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm, fill_sweeps (optional, default 16) and dtype."""
    require_scale("fill_unet", scale, (1,))
    require_at_least("depth", model_config.depth, 1, "fill_unet")
    if in_channels != out_channels + 1:
        raise ConfigError(
            f"fill_unet is for inpainting: it takes the image and its mask ({out_channels} + 1 channels), got "
            f"{in_channels}; use it with --config.degradation.name=inpaint"
        )
    module = FillUNet(
        out_channels,
        model_config.width,
        model_config.depth,
        model_config.batch_norm,
        model_config.get("fill_sweeps", DEFAULT_FILL_SWEEPS),
        compute_dtype(model_config.dtype),
    )
    return Restorer(module, size_multiple=2**model_config.depth, scale=1)


@RESTORERS.register("edsr")
def edsr(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth and dtype (EDSR has no batch norm)."""
    require_scale("edsr", scale, (2, 3, 4, 8))
    require_at_least("depth", model_config.depth, 0, "edsr")
    if in_channels != out_channels:
        raise ConfigError(f"edsr upscales images of the channels it is given: {in_channels} in, {out_channels} out")
    module = EDSR(out_channels, scale, model_config.width, model_config.depth, compute_dtype(model_config.dtype))
    return Restorer(module, size_multiple=1, scale=scale)
