"""pix2pix's networks (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"): the
U-Net restorer `unet` and the PatchGAN discriminator that every image-to-image task uses. Conventions (dtypes, batch
and instance norm): ganjax/models/restorers.py.

U-Net (`RESTORERS` "unet"), (B, h, w, in_channels) -> (B, h, w, out_channels). With `depth` levels and width w,
level i has w * 2**min(i, 3) channels (w, 2w, 4w, 8w, 8w, ...):

    x -> conv4x4/2 -> e0 -> [LReLU-conv4x4/2-BN] -> e1 -> ... -> e_{depth-1}       (h, w halve at each level)
    d = e_{depth-1};  for i = depth-1 .. 1:  d = concat(e_{i-1}, BN(up(ReLU(d))))   (channels of e_{i-1} each)
    y = up(ReLU(d)) -> (B, h, w, out_channels)

  LeakyReLU has slope 0.2; the innermost level has no BN (as in pix2pix); `up` is `ConvTranspose2x`, pix2pix's 4x4
  stride-2 transposed convolution, with a hand-written gradient that is fast on XLA:CPU. h and w must be
  multiples of 2**depth (`Restorer.size_multiple`); scale must be 1.

Discriminator (`build_patch_discriminator`): pix2pix's PatchGAN, with L = d_layers and width w:

    concat(x, condition) -> conv4x4/2 (w) -> LReLU -> [conv4x4/2 (w * 2**i) -> BN -> LReLU] for i = 1 .. L-1
      -> conv4x4/1 (w * 2**L) -> BN -> LReLU -> conv4x4/1 (1) -> logits (B, H', W')

  Widths are capped at 8w; every convolution pads 1 pixel on each side. For an input of side H,
  H' = floor(H / 2**L) - 2, and each logit sees a square of 9 * 2**L - 2 pixels (L = 3: 70x70, pix2pix's
  "70x70 PatchGAN"; L = 2: 34x34). So 32x32 gives 2x2 logits with L = 3 and 6x6 with L = 2; 40x40 gives 3x3 and
  8x8. BN is there only when d_batch_norm, and instance norm in its place when d_instance_norm (CycleGAN's
  discriminator: d_layers 3, unconditional; not both); the convolutions before BN have no bias, the others have one.
  Every convolution is spectrally normalised when d_spectral_norm, its power-iteration state in "batch_stats",
  advanced when `train`. The last convolution computes in float32.

Parameters: unet width 32, depth 4, RGB + mask -> RGB, 1.55M (width 16: 388K). PatchGAN d_width 32 on RGB with an
RGB + mask condition: 170K with d_layers 2, 696K with 3.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.layers import ConvTranspose2x, spectrally_normalized
from ganjax.models.base import compute_dtype
from ganjax.models.restorers import (
    PIX2PIX_INIT,
    RESTORERS,
    Restorer,
    check_multiple,
    instance_norm,
    optional_batch_norm,
    require_at_least,
    require_scale,
)


class UNet(nn.Module):
    """pix2pix's U-Net: (B, h, w, in_channels) -> (B, h, w, out_channels) float32, h and w multiples of 2**depth.

    Attributes:
      out_channels: channels of the output.
      width: channels of the outermost level; level i has width * 2**min(i, 3).
      depth: number of down (and up) levels, at least 1.
      batch_norm: BN after every convolution but the first, the innermost and the last.
      dtype: computation dtype; parameters are float32.
    """

    out_channels: int
    width: int = 64
    depth: int = 5
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        check_multiple("unet", x, 2**self.depth)
        norm = functools.partial(optional_batch_norm, enabled=self.batch_norm, train=train, dtype=self.dtype)
        widths = [self.width * 2 ** min(level, 3) for level in range(self.depth)]
        innermost = self.depth - 1
        skips = []
        h = x.astype(self.dtype)
        for level, features in enumerate(widths):
            normalized = self.batch_norm and 0 < level < innermost
            if level > 0:
                h = nn.leaky_relu(h, 0.2)
            conv = nn.Conv(
                features,
                (4, 4),
                (2, 2),
                ((1, 1), (1, 1)),
                use_bias=not normalized,
                kernel_init=PIX2PIX_INIT,
                dtype=self.dtype,
            )
            h = norm(conv(h)) if normalized else conv(h)
            skips.append(h)
        skips.pop()  # the innermost level's output is where the decoder starts
        for features, skip in zip(widths[-2::-1], reversed(skips), strict=True):
            up = ConvTranspose2x(features, use_bias=not self.batch_norm, kernel_init=PIX2PIX_INIT, dtype=self.dtype)
            h = jnp.concatenate([skip, norm(up(nn.relu(h)))], axis=-1)
        out = ConvTranspose2x(self.out_channels, kernel_init=PIX2PIX_INIT, dtype=jnp.float32)
        return out(nn.relu(h).astype(jnp.float32))


class PatchDiscriminator(nn.Module):
    """pix2pix's conditional PatchGAN, or CycleGAN's: images and conditions -> patch logits (B, H', W') float32.

    `apply(variables, x, condition, train=...)` with x (B, H, W, C) and condition (B, H, W, condition_channels),
    None when condition_channels is 0 (an unconditional PatchGAN). H' = floor(H / 2**layers) - 2, likewise W'; each
    logit sees 9 * 2**layers - 2 pixels square (module docstring).

    Attributes:
      channels: C, channels of the judged images.
      condition_channels: channels of the condition concatenated to x; 0: none.
      width: channels of the first convolution; the i-th has width * 2**min(i, 3).
      layers: number of stride-2 convolutions (3 in pix2pix's 70x70 PatchGAN).
      spectral_norm: on every convolution.
      batch_norm: BN after every convolution but the first and the last (pix2pix's).
      instance_norm: instance norm in the same places (CycleGAN's); not together with batch_norm.
      dtype: computation dtype; parameters are float32.
    """

    channels: int
    condition_channels: int = 0
    width: int = 64
    layers: int = 3
    spectral_norm: bool = False
    batch_norm: bool = True
    instance_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self) -> None:
        if self.batch_norm and self.instance_norm:
            raise ConfigError(
                "the patch discriminator normalises by batch or by instance, not both: set --config.model.d_batch_norm "
                "or --config.model.d_instance_norm to False"
            )
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, condition: jax.Array | None, *, train: bool) -> jax.Array:
        self._check_inputs(x, condition)
        h = x if condition is None else jnp.concatenate([x, condition.astype(x.dtype)], axis=-1)
        h = h.astype(self.dtype)
        for index in range(self.layers + 1):
            batch_normalized = self.batch_norm and index > 0
            stride = 2 if index < self.layers else 1
            conv = nn.Conv(
                self.width * 2 ** min(index, 3),
                (4, 4),
                (stride, stride),
                ((1, 1), (1, 1)),
                use_bias=not batch_normalized,
                kernel_init=PIX2PIX_INIT,
                dtype=self.dtype,
            )
            h = spectrally_normalized(conv, h, enabled=self.spectral_norm, update_stats=train)
            h = optional_batch_norm(h, enabled=batch_normalized, train=train, dtype=self.dtype)
            if self.instance_norm and index > 0:
                h = instance_norm(h, dtype=self.dtype)
            h = nn.leaky_relu(h, 0.2)
        head = nn.Conv(1, (4, 4), padding=((1, 1), (1, 1)), kernel_init=PIX2PIX_INIT, dtype=jnp.float32)
        logits = spectrally_normalized(head, h.astype(jnp.float32), enabled=self.spectral_norm, update_stats=train)
        return logits[..., 0]

    def _check_inputs(self, x: jax.Array, condition: jax.Array | None) -> None:
        if x.shape[-1] != self.channels:
            raise ConfigError(
                f"the patch discriminator was built for images of {self.channels} channels, got {x.shape[-1]}"
            )
        given = 0 if condition is None else condition.shape[-1]
        if given != self.condition_channels:
            raise ConfigError(
                f"the patch discriminator was built for conditions of {self.condition_channels} channels, got "
                f"{'none' if condition is None else given}"
            )
        if condition is not None and condition.shape[:3] != x.shape[:3]:
            raise ConfigError(
                f"the condition's batch and size {condition.shape[:3]} differ from the image's {x.shape[:3]}"
            )
        smallest = 3 * 2**self.layers
        if min(x.shape[1:3]) < smallest:
            raise ConfigError(
                f"a patch discriminator with {self.layers} stride-2 layers (--config.model.d_layers) needs images of "
                f"at least {smallest}x{smallest} pixels, got {x.shape[1]}x{x.shape[2]}; use fewer layers"
            )


@RESTORERS.register("unet")
def unet(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm and dtype."""
    del in_channels  # any number of input channels
    require_scale("unet", scale, (1,))
    require_at_least("depth", model_config.depth, 1, "unet")
    module = UNet(
        out_channels, model_config.width, model_config.depth, model_config.batch_norm, compute_dtype(model_config.dtype)
    )
    return Restorer(module, size_multiple=2**model_config.depth, scale=1)


def build_patch_discriminator(
    model_config: ml_collections.ConfigDict, *, channels: int, condition_channels: int
) -> PatchDiscriminator:
    """The PatchGAN for images of `channels` channels, judged together with a condition if condition_channels.

    Config fields (`config.model`):
      d_width: channels of the first convolution (64 in pix2pix).
      d_layers: number of stride-2 convolutions, at least 1 (3 in pix2pix's 70x70 PatchGAN); images must be at least
        3 * 2**d_layers pixels on each side.
      d_spectral_norm: spectral norm on every convolution.
      d_batch_norm: batch norm after every convolution but the first and the last (pix2pix has it; leave it off
        with spectral norm).
      d_instance_norm: instance norm in the same places instead (CycleGAN has it); optional, default False; not
        with d_batch_norm.
      dtype: "float32" or "bfloat16" computation.

    Args:
      channels: channels of the judged images.
      condition_channels: channels of the condition; 0 for an unconditional PatchGAN (condition None).
    """
    require_at_least("d_layers", model_config.d_layers, 1, "the patch discriminator")
    return PatchDiscriminator(
        channels,
        condition_channels,
        model_config.d_width,
        model_config.d_layers,
        model_config.d_spectral_norm,
        model_config.d_batch_norm,
        model_config.get("d_instance_norm", False),
        compute_dtype(model_config.dtype),
    )
