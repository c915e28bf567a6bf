"""CycleGAN's ResNet generator (Zhu et al. 2017, after Johnson et al. 2016), the restorer `cyclegan_resnet`:
(B, h, w, in_channels) -> (B, h, w, out_channels) in (-1, 1), width w (64 in CycleGAN), all normalisation instance
norm (IN), every convolution with a bias. Conventions (dtypes, instance norm): ganjax/models/restorers.py.

    x -> reflect-pad 3 -> conv7x7 (w) -> IN -> ReLU                                 (B, h, w, w)
      -> conv3x3/2 (2w) -> IN -> ReLU -> conv3x3/2 (4w) -> IN -> ReLU                (B, h/4, w/4, 4w)
      -> `depth` x residual block (9 in CycleGAN at 256x256, 6 at 128x128)
      -> up3x3 (2w) -> IN -> ReLU -> up3x3 (w) -> IN -> ReLU                         (B, h, w, w)
      -> reflect-pad 3 -> conv7x7 -> tanh -> (B, h, w, out_channels)

Residual block: reflect-pad 1 - conv3x3 - IN - ReLU - reflect-pad 1 - conv3x3 - IN, plus the identity (no dropout).
The stride-2 convolutions pad with zeros, 1 pixel on each side; `up3x3` is `ConvTranspose2x` with kernel_size 3:
PyTorch's ConvTranspose2d(kernel_size=3, stride=2, padding=1, output_padding=1), with a hand-written gradient that
is fast on XLA:CPU. Kernels start from N(0, 0.02) and biases at 0, as CycleGAN's. h and w must be multiples of 4
(`Restorer.size_multiple`); scale must be 1. batch_norm is not read. Its discriminator is the PatchGAN of
ganjax/models/pix2pix.py with d_instance_norm.

Parameters on RGB: 11.38M at CycleGAN's width 64 and depth 9 (the official 11.378M); 1.97M at width 32, depth 6.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.layers import ConvTranspose2x
from ganjax.models.base import compute_dtype
from ganjax.models.restorers import (
    PIX2PIX_INIT,
    RESTORERS,
    Restorer,
    check_multiple,
    instance_norm,
    require_at_least,
    require_scale,
)


def _reflect_pad(x: jax.Array, pixels: int) -> jax.Array:
    """(B, H, W, C) -> (B, H + 2p, W + 2p, C), mirrored about the border pixels (PyTorch's `ReflectionPad2d`)."""
    return jnp.pad(x, ((0, 0), (pixels, pixels), (pixels, pixels), (0, 0)), mode="reflect")


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
        check_multiple("cyclegan_resnet", x, 4)
        norm = functools.partial(instance_norm, dtype=self.dtype)
        conv = functools.partial(nn.Conv, kernel_init=PIX2PIX_INIT, dtype=self.dtype)
        h = nn.relu(norm(conv(self.width, (7, 7), padding="VALID")(_reflect_pad(x.astype(self.dtype), 3))))
        for features in (2 * self.width, 4 * self.width):
            h = nn.relu(norm(conv(features, (3, 3), (2, 2), ((1, 1), (1, 1)))(h)))
        for _ in range(self.depth):
            r = nn.relu(norm(conv(4 * self.width, (3, 3), padding="VALID")(_reflect_pad(h, 1))))
            h = h + norm(conv(4 * self.width, (3, 3), padding="VALID")(_reflect_pad(r, 1)))
        for features in (2 * self.width, self.width):
            up = ConvTranspose2x(features, kernel_size=3, kernel_init=PIX2PIX_INIT, dtype=self.dtype)
            h = nn.relu(norm(up(h)))
        last = nn.Conv(self.out_channels, (7, 7), padding="VALID", kernel_init=PIX2PIX_INIT, dtype=jnp.float32)
        return jnp.tanh(last(_reflect_pad(h.astype(jnp.float32), 3)))


@RESTORERS.register("cyclegan_resnet")
def cyclegan_resnet(
    model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int
) -> Restorer:
    """Reads width, depth and dtype (the normalisation is always instance norm)."""
    del in_channels  # any number of input channels
    require_scale("cyclegan_resnet", scale, (1,))
    require_at_least("depth", model_config.depth, 0, "cyclegan_resnet")
    module = CycleGANResNet(out_channels, model_config.width, model_config.depth, compute_dtype(model_config.dtype))
    return Restorer(module, size_multiple=4, scale=1)
