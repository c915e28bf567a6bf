"""Image-to-image networks: the registry of restorers, `build_restorer`, and the pieces their families share.

A restorer maps a degraded image to a restored one, or an image of one domain to another (CycleGAN's generators):
inputs (B, h, w, in_channels) float32, outputs (B, scale*h, scale*w, out_channels) float32. All are pure Flax
modules used through init/apply, with float32 parameters and computation in `dtype` (float32 or bfloat16); the last
layer of every restorer computes in float32, so that bfloat16 computation does not round the output to bfloat16's
8-bit significand. Every restorer's output is linear (no tanh) except cyclegan_resnet's, which goes through tanh
into (-1, 1): residual and clipping conventions belong to the caller.

Batch norm uses the batch's statistics when `train` and running averages otherwise, kept in the "batch_stats"
collection (momentum 0.9, epsilon 1e-5: PyTorch's defaults); with batch_norm False every BN is left out and the
convolutions before them get biases. Instance norm normalises each image's channels over its pixels, in training
and evaluation alike, with no learned scale or bias (epsilon 1e-5: PyTorch's `InstanceNorm2d`, as CycleGAN uses
it); it has no state.

The families (`RESTORERS`, selected by --config.model.name), each documented in its module:

  unet              pix2pix's U-Net (ganjax/models/pix2pix.py, beside the PatchGAN discriminator)
  dncnn             DnCNN's residual denoiser (ganjax/models/dncnn.py)
  srresnet          SRResNet's sub-pixel super-resolution (ganjax/models/srresnet.py)
  cyclegan_resnet   CycleGAN's ResNet generator (ganjax/models/cyclegan_resnet.py)
  ffdnet, fill_unet, edsr
                    restorers that correct a classical estimate (ganjax/models/corrective.py)

Importing `ganjax.models` registers them all.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.registry import Registry

# pix2pix and CycleGAN initialise every convolution from N(0, 0.02).
PIX2PIX_INIT = nn.initializers.normal(0.02)
# DnCNN, SRResNet and the corrective restorers use He initialisation (fan-in, for ReLU/PReLU).
HE_INIT = nn.initializers.he_normal()
# Their 3x3 convolutions are XLA's own: at full resolution and without a penalty's second derivative, ganjax's
# `Conv3x3` is slower and needs more memory on XLA:CPU (benchmarks/conv_layers.py, "3x3 convolutions of restorers").
conv3x3 = functools.partial(nn.Conv, kernel_size=(3, 3), padding=1)


@dataclasses.dataclass(frozen=True)
class Restorer:
    """A restoration network and the input sizes it accepts.

    Attributes:
      module: `module.apply(variables, x, train=...)` maps inputs (B, h, w, in_channels) float32 to outputs
        (B, h * scale, w * scale, out_channels) float32.
      size_multiple: h and w must be multiples of this (pad larger inputs up to it and crop the output back).
      scale: output size / input size.
    """

    module: nn.Module
    size_multiple: int
    scale: int

    def apply_any_size(self, variables: dict, x: jax.Array) -> jax.Array:
        """The network in inference mode on inputs x (B, h, w, in_channels) of any size: padded at the bottom and
        right, by reflection, to the size multiple, and the output cropped back to (B, h * scale, w * scale,
        out_channels)."""
        height, width = x.shape[1:3]
        padding = ((0, 0), (0, -height % self.size_multiple), (0, -width % self.size_multiple), (0, 0))
        output = self.module.apply(variables, jnp.pad(x, padding, mode="reflect"), train=False)
        return output[:, : height * self.scale, : width * self.scale]


RESTORERS: Registry = Registry("restoration model", config_key="model.name")


def build_restorer(
    model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int
) -> Restorer:
    """The restorer that `model_config.name` selects (`RESTORERS`), for the given channels and scale.

    Config fields (`config.model`):
      name: a registered restorer (module docstring).
      width: base channels (unet: of the outermost level; dncnn, srresnet, ffdnet and edsr: of every hidden layer;
        cyclegan_resnet: of the first convolution, 64 in CycleGAN; fill_unet: of its U-Net and head).
      depth: unet and fill_unet: number of down/up levels (size_multiple = 2**depth); dncnn and ffdnet: number of
        convolutions (17 in DnCNN); srresnet, edsr and cyclegan_resnet: number of residual blocks (16 in SRResNet;
        9 in CycleGAN at 256x256, 6 at 128x128).
      batch_norm: batch norm inside the network, its statistics in "batch_stats" (cyclegan_resnet and edsr: not
        read; cyclegan_resnet uses instance norm).
      dtype: "float32" or "bfloat16" computation; parameters and outputs are float32.

    Args:
      in_channels: channels of the input (inpainting: the image's, then the mask).
      out_channels: channels of the output.
      scale: output size / input size; 1 except for srresnet and edsr.
    """
    builder = RESTORERS.get(model_config.name)
    return builder(model_config, in_channels=in_channels, out_channels=out_channels, scale=scale)


def require_scale(family: str, scale: int, valid: tuple[int, ...]) -> None:
    """A ConfigError unless `family` can upscale by `scale` (one of `valid`)."""
    if scale not in valid:
        hint = "; for super-resolution use srresnet" if family != "srresnet" else ""
        raise ConfigError(
            f"restoration model {family!r} cannot upscale by {scale}; valid: {', '.join(map(str, valid))}{hint}"
        )


def require_at_least(field: str, value: int, minimum: int, family: str) -> None:
    """A ConfigError unless --config.model.<field> (`value`) is at least `minimum`."""
    if value < minimum:
        raise ConfigError(f"{family} needs --config.model.{field} of at least {minimum}, got {value}")


def check_multiple(family: str, x: jax.Array, multiple: int) -> None:
    """A ConfigError unless the height and width of x (B, H, W, C) are multiples of `multiple`."""
    height, width = x.shape[1:3]
    if height % multiple or width % multiple:
        raise ConfigError(
            f"{family} needs an input whose height and width are multiples of {multiple} (Restorer.size_multiple), "
            f"got {height}x{width}; pad it up and crop the output back"
        )


def optional_batch_norm(x: jax.Array, *, enabled: bool, train: bool, dtype: jnp.dtype) -> jax.Array:
    """Batch norm over (B, H, W) when `enabled`, else `x`; call it inside a compact method."""
    if not enabled:
        return x
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype)(x)


def instance_norm(x: jax.Array, *, dtype: jnp.dtype) -> jax.Array:
    """Each image's channels normalised over its pixels, no scale or bias; call it inside a compact method.

    The variance is computed in two passes, as PyTorch's: the one-pass E[x^2] - E[x]^2 loses precision when a
    channel's mean is large against its spread, and two passes cost no measurable time in cyclegan_resnet.
    """
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, use_fast_variance=False, dtype=dtype)(x)


def depth_to_space(x: jax.Array, factor: int) -> jax.Array:
    """(B, H, W, C * factor**2) -> (B, H * factor, W * factor, C): sub-pixel rearrangement (Shi et al. 2016).

    Channel c * factor**2 + i * factor + j of pixel (h, w) becomes channel c of pixel (h * factor + i,
    w * factor + j): the ordering of PyTorch's `PixelShuffle`, so ported weights keep their meaning.
    """
    batch, height, width, channels = x.shape
    features = channels // factor**2
    x = x.reshape(batch, height, width, features, factor, factor)
    return x.transpose(0, 1, 4, 2, 5, 3).reshape(batch, height * factor, width * factor, features)


def space_to_depth(x: jax.Array, factor: int) -> jax.Array:
    """(B, H, W, C) -> (B, H / factor, W / factor, C * factor**2): the inverse of `depth_to_space` (PyTorch's
    `PixelUnshuffle` ordering: channel c * factor**2 + i * factor + j holds pixel (h * factor + i, w * factor + j))."""
    batch, height, width, channels = x.shape
    x = x.reshape(batch, height // factor, factor, width // factor, factor, channels)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(batch, height // factor, width // factor, channels * factor**2)


def upsampling_factors(scale: int) -> list[int]:
    """The depth-to-space factors of a sub-pixel upsampler that enlarges by `scale`: [3] for 3, else log2(scale)
    factors of 2 (scale a power of 2; [] for 1)."""
    return [3] if scale == 3 else [2] * int(math.log2(scale))
