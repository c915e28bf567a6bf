"""SRResNet (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network"), the restorer `srresnet`: (B, h, w, in_channels) -> (B, scale*h, scale*w, out_channels), width w.
Conventions (dtypes, batch norm): ganjax/models/restorers.py.

    x -> conv9x9 -> PReLU -> s  (B, h, w, w)
    r = s -> `depth` x residual block (16 in the paper) -> conv3x3 -> BN -> + s
    log2(scale) x (conv3x3 to 4w -> depth-to-space x2 -> PReLU)     (scale 3: one conv to 9w, depth-to-space x3)
    -> conv9x9 -> (B, scale*h, scale*w, out_channels)

Residual block: conv3x3-BN-PReLU-conv3x3-BN, plus the identity. The first and last convolutions are 9x9, as in the
paper. PReLU has one learned slope per layer, starting at 0.25 (PyTorch's default). scale is 1, 2, 3, 4 or 8
(`SRRESNET_SCALES`); at scale 1 there are no upsampling stages. There is no skip from the input to the output.

Parameters, grey images, x4: 1.53M at the paper's width 64 and depth 16; 163K at width 32, depth 4.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from ganjax.models.base import compute_dtype
from ganjax.models.restorers import (
    HE_INIT,
    RESTORERS,
    Restorer,
    conv3x3,
    depth_to_space,
    optional_batch_norm,
    require_at_least,
    require_scale,
    upsampling_factors,
)

SRRESNET_SCALES = (1, 2, 3, 4, 8)


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
        norm = functools.partial(optional_batch_norm, enabled=self.batch_norm, train=train, dtype=self.dtype)
        conv = functools.partial(conv3x3, kernel_init=HE_INIT, dtype=self.dtype)
        prelu = functools.partial(nn.PReLU, negative_slope_init=0.25)
        first = nn.Conv(self.width, (9, 9), kernel_init=HE_INIT, dtype=self.dtype)
        skip = prelu()(first(x.astype(self.dtype)))
        h = skip
        for _ in range(self.depth):
            r = prelu()(norm(conv(self.width, use_bias=not self.batch_norm)(h)))
            h = h + norm(conv(self.width, use_bias=not self.batch_norm)(r))
        h = skip + norm(conv(self.width, use_bias=not self.batch_norm)(h))
        for factor in upsampling_factors(self.scale):
            h = prelu()(depth_to_space(conv(self.width * factor**2)(h), factor))
        last = nn.Conv(self.out_channels, (9, 9), kernel_init=HE_INIT, dtype=jnp.float32)
        return last(h.astype(jnp.float32))


@RESTORERS.register("srresnet")
def srresnet(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm and dtype."""
    del in_channels  # any number of input channels
    require_scale("srresnet", scale, SRRESNET_SCALES)
    require_at_least("depth", model_config.depth, 0, "srresnet")
    module = SRResNet(
        out_channels,
        scale,
        model_config.width,
        model_config.depth,
        model_config.batch_norm,
        compute_dtype(model_config.dtype),
    )
    return Restorer(module, size_multiple=1, scale=scale)
