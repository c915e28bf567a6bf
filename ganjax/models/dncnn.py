"""DnCNN (Zhang et al. 2017, "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising"), the
restorer `dncnn`: (B, h, w, in_channels) -> (B, h, w, out_channels), `depth` 3x3 convolutions in all (17 in the
paper). Conventions (dtypes, batch norm): ganjax/models/restorers.py.

    conv3x3-ReLU, (depth - 2) x (conv3x3-BN-ReLU), conv3x3 -> noise (B, h, w, out_channels)
    y = base(x) - noise

Residual learning: the network predicts the noise. base(x) is x itself when in_channels == out_channels, and
otherwise x's channels taken cyclically, base(x)[..., c] = x[..., c % in_channels]: a grey input is repeated into
every colour channel (colourisation 1 -> 3), and an image with extra channels appended (inpainting's image + mask,
image channels first) keeps only its first out_channels. scale must be 1. The noise is subtracted from the input
in float32.

Parameters, grey images: 556K at the paper's width 64 and depth 17; 56K at width 32, depth 8.
"""

from __future__ import annotations

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
    optional_batch_norm,
    require_at_least,
    require_scale,
)


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
        h = nn.relu(conv3x3(self.width, kernel_init=HE_INIT, dtype=self.dtype)(x))
        for _ in range(self.depth - 2):
            h = conv3x3(self.width, use_bias=not self.batch_norm, kernel_init=HE_INIT, dtype=self.dtype)(h)
            h = nn.relu(optional_batch_norm(h, enabled=self.batch_norm, train=train, dtype=self.dtype))
        noise = conv3x3(self.out_channels, kernel_init=HE_INIT, dtype=jnp.float32)(h.astype(jnp.float32))
        base = x.astype(jnp.float32)[..., jnp.arange(self.out_channels) % x.shape[-1]]
        return base - noise


@RESTORERS.register("dncnn")
def dncnn(model_config: ml_collections.ConfigDict, *, in_channels: int, out_channels: int, scale: int) -> Restorer:
    """Reads width, depth, batch_norm and dtype."""
    del in_channels  # the residual repeats the input's channels cyclically to out_channels
    require_scale("dncnn", scale, (1,))
    require_at_least("depth", model_config.depth, 2, "dncnn")
    module = DnCNN(
        out_channels, model_config.width, model_config.depth, model_config.batch_norm, compute_dtype(model_config.dtype)
    )
    return Restorer(module, size_multiple=1, scale=1)
