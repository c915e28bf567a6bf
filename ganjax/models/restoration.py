"""Image-to-image networks: restoration (denoising, super-resolution, inpainting, colourisation) and translation.

A restorer maps a degraded image to a restored one, or an image of one domain to another (CycleGAN's generators); a
PatchGAN discriminator judges images, or (image, condition) pairs, patch by patch. All are pure Flax modules used
through init/apply, with float32 parameters, computation in `dtype` (float32 or bfloat16) and float32 outputs. Every
restorer's output is linear (no tanh) except cyclegan_resnet's, which goes through tanh into (-1, 1): residual and
clipping conventions belong to the caller. Batch norm uses the batch's statistics when `train` and running averages
otherwise, kept in the "batch_stats" collection (momentum 0.9, epsilon 1e-5: PyTorch's defaults). Instance norm
normalises each image's channels over its pixels, in training and evaluation alike, with no learned scale or bias
(epsilon 1e-5: PyTorch's `InstanceNorm2d`, as CycleGAN uses it); it has no state.

Restorers (`RESTORERS`, selected by --config.model.name), for inputs (B, h, w, in_channels) and outputs
(B, scale*h, scale*w, out_channels):

  unet: the U-Net of pix2pix (Isola et al. 2017). With `depth` levels and width w, level i has w * 2**min(i, 3)
    channels (w, 2w, 4w, 8w, 8w, ...):

        x -> conv4x4/2 -> e0 -> [LReLU-conv4x4/2-BN] -> e1 -> ... -> e_{depth-1}       (h, w halve at each level)
        d = e_{depth-1};  for i = depth-1 .. 1:  d = concat(e_{i-1}, BN(up(ReLU(d))))   (channels of e_{i-1} each)
        y = up(ReLU(d)) -> (B, h, w, out_channels)

    LeakyReLU has slope 0.2; the innermost level has no BN (as in pix2pix); `up` is `ConvTranspose2x`, pix2pix's 4x4
    stride-2 transposed convolution, with a hand-written gradient that is fast on XLA:CPU. h and w must be
    multiples of 2**depth (`Restorer.size_multiple`); scale must be 1.

  dncnn: DnCNN (Zhang et al. 2017, "Beyond a Gaussian Denoiser"), `depth` 3x3 convolutions in all (17 in the paper):

        conv3x3-ReLU, (depth - 2) x (conv3x3-BN-ReLU), conv3x3 -> noise (B, h, w, out_channels)
        y = base(x) - noise

    Residual learning: the network predicts the noise. base(x) is x itself when in_channels == out_channels, and
    otherwise x's channels taken cyclically, base(x)[..., c] = x[..., c % in_channels]: a grey input is repeated
    into every colour channel (colourisation 1 -> 3), and an image with extra channels appended (inpainting's
    image + mask, image channels first) keeps only its first out_channels. scale must be 1.

  srresnet: SRResNet (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a GAN"), width w:

        x -> conv9x9 -> PReLU -> s  (B, h, w, w)
        r = s -> `depth` x residual block (16 in the paper) -> conv3x3 -> BN -> + s
        log2(scale) x (conv3x3 to 4w -> depth-to-space x2 -> PReLU)     (scale 3: one conv to 9w, depth-to-space x3)
        -> conv9x9 -> (B, scale*h, scale*w, out_channels)

    Residual block: conv3x3-BN-PReLU-conv3x3-BN, plus the identity. The first and last convolutions are 9x9, as in
    the paper. PReLU has one learned slope per layer, starting at 0.25 (PyTorch's default). scale is 1, 2, 3, 4 or
    8; at scale 1 there are no upsampling stages. There is no skip from the input to the output.

  cyclegan_resnet: CycleGAN's generator (Zhu et al. 2017, after Johnson et al. 2016), width w (64 in CycleGAN), all
    normalisation instance norm (IN), every convolution with a bias:

        x -> reflect-pad 3 -> conv7x7 (w) -> IN -> ReLU                                 (B, h, w, w)
          -> conv3x3/2 (2w) -> IN -> ReLU -> conv3x3/2 (4w) -> IN -> ReLU                (B, h/4, w/4, 4w)
          -> `depth` x residual block (9 in CycleGAN at 256x256, 6 at 128x128)
          -> up3x3 (2w) -> IN -> ReLU -> up3x3 (w) -> IN -> ReLU                         (B, h, w, w)
          -> reflect-pad 3 -> conv7x7 -> tanh -> (B, h, w, out_channels)

    Residual block: reflect-pad 1 - conv3x3 - IN - ReLU - reflect-pad 1 - conv3x3 - IN, plus the identity (no
    dropout). The stride-2 convolutions pad with zeros, 1 pixel on each side; `up3x3` is `ConvTranspose2x` with
    kernel_size 3: PyTorch's ConvTranspose2d(kernel_size=3, stride=2, padding=1, output_padding=1), with a
    hand-written gradient that is fast on XLA:CPU. Kernels start from N(0, 0.02) and biases at 0, as CycleGAN's.
    h and w must be multiples of 4 (`Restorer.size_multiple`); scale must be 1. batch_norm is not read.

With batch_norm False every BN above is left out (and the convolutions before them get biases). The last layer of
every restorer computes in float32, so that bfloat16 computation does not round the output to bfloat16's 8-bit
significand; dncnn also subtracts the noise from the input in float32.

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

Parameters, grey images unless said: dncnn at the paper's width 64 and depth 17, 556K; width 32, depth 8, 56K.
srresnet x4 at the paper's width 64 and depth 16, 1.53M; width 32, depth 4, 163K. unet width 32, depth 4, RGB +
mask -> RGB, 1.55M (width 16: 388K). cyclegan_resnet on RGB at CycleGAN's width 64 and depth 9, 11.38M (the official
11.378M); width 32, depth 6, 1.97M. PatchGAN d_width 32 on RGB with an RGB + mask condition: 170K with d_layers 2,
696K with 3.

Config fields: see `build_restorer` and `build_patch_discriminator`.
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
from ganjax.layers import ConvTranspose2x, spectrally_normalized
from ganjax.models.base import compute_dtype
from ganjax.registry import Registry

# pix2pix initialises every convolution from N(0, 0.02).
_PIX2PIX_INIT = nn.initializers.normal(0.02)
# DnCNN and SRResNet use He initialisation (fan-in, for ReLU/PReLU).
_HE_INIT = nn.initializers.he_normal()
# Their 3x3 convolutions are XLA's own: at full resolution and without a penalty's second derivative, ganjax's
# `Conv3x3` is slower and needs more memory on XLA:CPU (benchmarks/conv_layers.py, "3x3 convolutions of restorers").
_conv3x3 = functools.partial(nn.Conv, kernel_size=(3, 3), padding=1)

SRRESNET_SCALES = (1, 2, 3, 4, 8)


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


RESTORERS: Registry = Registry("restoration model", config_key="model.name")


def _batch_norm(x: jax.Array, *, enabled: bool, train: bool, dtype: jnp.dtype) -> jax.Array:
    """Batch norm over (B, H, W) when `enabled`, else `x`; call it inside a compact method."""
    if not enabled:
        return x
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype)(x)


def depth_to_space(x: jax.Array, factor: int) -> jax.Array:
    """(B, H, W, C * factor**2) -> (B, H * factor, W * factor, C): sub-pixel rearrangement (Shi et al. 2016).

    Channel c * factor**2 + i * factor + j of pixel (h, w) becomes channel c of pixel (h * factor + i,
    w * factor + j): the ordering of PyTorch's `PixelShuffle`, so ported weights keep their meaning.
    """
    batch, height, width, channels = x.shape
    features = channels // factor**2
    x = x.reshape(batch, height, width, features, factor, factor)
    return x.transpose(0, 1, 4, 2, 5, 3).reshape(batch, height * factor, width * factor, features)


def _instance_norm(x: jax.Array, *, dtype: jnp.dtype) -> jax.Array:
    """Each image's channels normalised over its pixels, no scale or bias; call it inside a compact method.

    The variance is computed in two passes, as PyTorch's: the one-pass E[x^2] - E[x]^2 loses precision when a
    channel's mean is large against its spread, and two passes cost no measurable time in the cyclegan_resnet generator.
    """
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, use_fast_variance=False, dtype=dtype)(x)


def _reflect_pad(x: jax.Array, pixels: int) -> jax.Array:
    """(B, H, W, C) -> (B, H + 2p, W + 2p, C), mirrored about the border pixels (PyTorch's `ReflectionPad2d`)."""
    return jnp.pad(x, ((0, 0), (pixels, pixels), (pixels, pixels), (0, 0)), mode="reflect")


def _check_multiple(family: str, x: jax.Array, multiple: int) -> None:
    height, width = x.shape[1:3]
    if height % multiple or width % multiple:
        raise ConfigError(
            f"{family} needs an input whose height and width are multiples of {multiple} (Restorer.size_multiple), "
            f"got {height}x{width}; pad it up and crop the output back"
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
        _check_multiple("unet", x, 2**self.depth)
        norm = functools.partial(_batch_norm, enabled=self.batch_norm, train=train, dtype=self.dtype)
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
                kernel_init=_PIX2PIX_INIT,
                dtype=self.dtype,
            )
            h = norm(conv(h)) if normalized else conv(h)
            skips.append(h)
        skips.pop()  # the innermost level's output is where the decoder starts
        for features, skip in zip(widths[-2::-1], reversed(skips), strict=True):
            up = ConvTranspose2x(features, use_bias=not self.batch_norm, kernel_init=_PIX2PIX_INIT, dtype=self.dtype)
            h = jnp.concatenate([skip, norm(up(nn.relu(h)))], axis=-1)
        out = ConvTranspose2x(self.out_channels, kernel_init=_PIX2PIX_INIT, dtype=jnp.float32)
        return out(nn.relu(h).astype(jnp.float32))


class DnCNN(nn.Module):
    """DnCNN: (B, h, w, in_channels) -> (B, h, w, out_channels) float32, the input minus the predicted noise.

    Attributes:
      out_channels: channels of the output; the input's channels are repeated cyclically to match (module docstring).
      width: channels of every hidden convolution (64 in the paper).
      depth: number of convolutions, at least 2 (17 in the paper).
      batch_norm: BN in the depth - 2 middle layers.
      dtype: computation dtype; parameters are float32.
    """

    out_channels: int
    width: int = 64
    depth: int = 17
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        h = nn.relu(_conv3x3(self.width, kernel_init=_HE_INIT, dtype=self.dtype)(x))
        for _ in range(self.depth - 2):
            h = _conv3x3(self.width, use_bias=not self.batch_norm, kernel_init=_HE_INIT, dtype=self.dtype)(h)
            h = nn.relu(_batch_norm(h, enabled=self.batch_norm, train=train, dtype=self.dtype))
        noise = _conv3x3(self.out_channels, kernel_init=_HE_INIT, dtype=jnp.float32)(h.astype(jnp.float32))
        base = x.astype(jnp.float32)[..., jnp.arange(self.out_channels) % x.shape[-1]]
        return base - noise


class SRResNet(nn.Module):
    """SRResNet: (B, h, w, in_channels) -> (B, scale * h, scale * w, out_channels) float32.

    Attributes:
      out_channels: channels of the output.
      scale: 1, 2, 3, 4 or 8 (`SRRESNET_SCALES`).
      width: channels of the trunk (64 in the paper).
      depth: number of residual blocks (16 in the paper).
      batch_norm: BN in the residual blocks and after the trunk (SRResNet has it; EDSR-style networks leave it out).
      dtype: computation dtype; parameters are float32.
    """

    out_channels: int
    scale: int = 4
    width: int = 64
    depth: int = 16
    batch_norm: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        norm = functools.partial(_batch_norm, enabled=self.batch_norm, train=train, dtype=self.dtype)
        conv3x3 = functools.partial(_conv3x3, kernel_init=_HE_INIT, dtype=self.dtype)
        prelu = functools.partial(nn.PReLU, negative_slope_init=0.25)
        first = nn.Conv(self.width, (9, 9), kernel_init=_HE_INIT, dtype=self.dtype)
        skip = prelu()(first(x.astype(self.dtype)))
        h = skip
        for _ in range(self.depth):
            r = prelu()(norm(conv3x3(self.width, use_bias=not self.batch_norm)(h)))
            h = h + norm(conv3x3(self.width, use_bias=not self.batch_norm)(r))
        h = skip + norm(conv3x3(self.width, use_bias=not self.batch_norm)(h))
        factors = [3] if self.scale == 3 else [2] * int(math.log2(self.scale))
        for factor in factors:
            h = prelu()(depth_to_space(conv3x3(self.width * factor**2)(h), factor))
        last = nn.Conv(self.out_channels, (9, 9), kernel_init=_HE_INIT, dtype=jnp.float32)
        return last(h.astype(jnp.float32))


class CycleGANResNet(nn.Module):
    """CycleGAN's ResNet generator: (B, h, w, in_channels) -> (B, h, w, out_channels) float32 in (-1, 1).

    h and w must be multiples of 4. The layers and parameters of `ResnetGenerator` in CycleGAN's PyTorch code, with
    instance norm and no dropout (module docstring), and its outputs given its weights: a convolution's weight
    (Cout, Cin, k, k) ports transposed by (2, 3, 1, 0), a transposed convolution's (Cin, Cout, 3, 3) by
    (2, 3, 0, 1), biases as they are. `train` changes nothing: instance norm has no running statistics.

    Attributes:
      out_channels: channels of the output.
      width: channels of the first convolution (ngf, 64 in CycleGAN); the residual blocks have 4 * width.
      depth: number of residual blocks (9 in CycleGAN at 256x256, 6 at 128x128).
      dtype: computation dtype; parameters are float32.
    """

    out_channels: int
    width: int = 64
    depth: int = 9
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        del train  # instance norm behaves alike in training and evaluation
        _check_multiple("cyclegan_resnet", x, 4)
        norm = functools.partial(_instance_norm, dtype=self.dtype)
        conv = functools.partial(nn.Conv, kernel_init=_PIX2PIX_INIT, dtype=self.dtype)
        h = nn.relu(norm(conv(self.width, (7, 7), padding="VALID")(_reflect_pad(x.astype(self.dtype), 3))))
        for features in (2 * self.width, 4 * self.width):
            h = nn.relu(norm(conv(features, (3, 3), (2, 2), ((1, 1), (1, 1)))(h)))
        for _ in range(self.depth):
            r = nn.relu(norm(conv(4 * self.width, (3, 3), padding="VALID")(_reflect_pad(h, 1))))
            h = h + norm(conv(4 * self.width, (3, 3), padding="VALID")(_reflect_pad(r, 1)))
        for features in (2 * self.width, self.width):
            up = ConvTranspose2x(features, kernel_size=3, kernel_init=_PIX2PIX_INIT, dtype=self.dtype)
            h = nn.relu(norm(up(h)))
        last = nn.Conv(self.out_channels, (7, 7), padding="VALID", kernel_init=_PIX2PIX_INIT, dtype=jnp.float32)
        return jnp.tanh(last(_reflect_pad(h.astype(jnp.float32), 3)))


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
                kernel_init=_PIX2PIX_INIT,
                dtype=self.dtype,
            )
            h = spectrally_normalized(conv, h, enabled=self.spectral_norm, update_stats=train)
            h = _batch_norm(h, enabled=batch_normalized, train=train, dtype=self.dtype)
            if self.instance_norm and index > 0:
                h = _instance_norm(h, dtype=self.dtype)
            h = nn.leaky_relu(h, 0.2)
        head = nn.Conv(1, (4, 4), padding=((1, 1), (1, 1)), kernel_init=_PIX2PIX_INIT, dtype=jnp.float32)
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


def _require_scale(family: str, scale: int, valid: tuple[int, ...]) -> None:
    if scale not in valid:
        hint = "; for super-resolution use srresnet" if family != "srresnet" else ""
        raise ConfigError(
            f"restoration model {family!r} cannot upscale by {scale}; valid: {', '.join(map(str, valid))}{hint}"
        )


def _require_at_least(field: str, value: int, minimum: int, family: str) -> None:
    if value < minimum:
        raise ConfigError(f"{family} needs --config.model.{field} of at least {minimum}, got {value}")


@RESTORERS.register("unet")
def unet(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm and dtype."""
    del in_channels  # any number of input channels
    _require_scale("unet", scale, (1,))
    _require_at_least("depth", model_config.depth, 1, "unet")
    module = UNet(
        out_channels, model_config.width, model_config.depth, model_config.batch_norm, compute_dtype(model_config.dtype)
    )
    return Restorer(module, size_multiple=2**model_config.depth, scale=1)


@RESTORERS.register("dncnn")
def dncnn(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm and dtype."""
    del in_channels  # the residual repeats the input's channels cyclically to out_channels
    _require_scale("dncnn", scale, (1,))
    _require_at_least("depth", model_config.depth, 2, "dncnn")
    module = DnCNN(
        out_channels, model_config.width, model_config.depth, model_config.batch_norm, compute_dtype(model_config.dtype)
    )
    return Restorer(module, size_multiple=1, scale=1)


@RESTORERS.register("srresnet")
def srresnet(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm and dtype."""
    del in_channels  # any number of input channels
    _require_scale("srresnet", scale, SRRESNET_SCALES)
    _require_at_least("depth", model_config.depth, 0, "srresnet")
    module = SRResNet(
        out_channels,
        scale,
        model_config.width,
        model_config.depth,
        model_config.batch_norm,
        compute_dtype(model_config.dtype),
    )
    return Restorer(module, size_multiple=1, scale=scale)


@RESTORERS.register("cyclegan_resnet")
def cyclegan_resnet(
    model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int
) -> Restorer:
    """Reads width, depth and dtype (the normalisation is always instance norm)."""
    del in_channels  # any number of input channels
    _require_scale("cyclegan_resnet", scale, (1,))
    _require_at_least("depth", model_config.depth, 0, "cyclegan_resnet")
    module = CycleGANResNet(out_channels, model_config.width, model_config.depth, compute_dtype(model_config.dtype))
    return Restorer(module, size_multiple=4, scale=1)


def build_restorer(
    model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int
) -> Restorer:
    """The restorer that `model_config.name` selects (`RESTORERS`), for the given channels and scale.

    Config fields (`config.model`):
      name: unet, dncnn, srresnet or cyclegan_resnet.
      width: base channels (unet: of the outermost level; dncnn and srresnet: of every hidden layer;
        cyclegan_resnet: of the first convolution, 64 in CycleGAN).
      depth: unet: number of down/up levels (size_multiple = 2**depth); dncnn: number of convolutions (17 in the
        paper); srresnet and cyclegan_resnet: number of residual blocks (16 in SRResNet; 9 in CycleGAN at 256x256,
        6 at 128x128).
      batch_norm: batch norm inside the network, its statistics in "batch_stats" (cyclegan_resnet: not read, it
        uses instance norm).
      dtype: "float32" or "bfloat16" computation; parameters and outputs are float32.

    Args:
      in_channels: channels of the input (inpainting: the image's, then the mask).
      out_channels: channels of the output.
      scale: output size / input size; 1 except for srresnet.
    """
    builder = RESTORERS.get(model_config.name)
    return builder(model_config, in_channels=in_channels, out_channels=out_channels, scale=scale)


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
    _require_at_least("d_layers", model_config.d_layers, 1, "the patch discriminator")
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
