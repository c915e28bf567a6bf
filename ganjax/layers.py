"""Shared building blocks for the model families."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv_transpose_4x4_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """(B, H, W, Cin), (4, 4, Cin, Cout) -> (B, 2H, 2W, Cout): y[2i + t - 1] += x[i] @ kernel[t] on each axis."""
    return lax.conv_transpose(
        x, kernel.swapaxes(2, 3), (2, 2), ((2, 2), (2, 2)), dimension_numbers=_NHWC, transpose_kernel=True
    )


@jax.custom_vjp
def conv_transpose_4x4_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """PyTorch's `conv_transpose2d(x, w, stride=2, padding=1)` with a 4x4 kernel, in NHWC.

    Args:
      x: (B, H, W, Cin) inputs.
      kernel: (4, 4, Cin, Cout); PyTorch's weight (Cin, Cout, 4, 4) transposed by (2, 3, 0, 1).

    Returns:
      (B, 2H, 2W, Cout), where output pixel 2i + t - 1 receives x[i] @ kernel[t] along each spatial axis.

    The gradient is written out by hand because XLA:CPU's own gradient of a transposed convolution is about 10x
    slower than PyTorch's (its weight gradient is a convolution with a huge "kernel"). Here the input gradient is an
    ordinary 4x4 stride-2 convolution and the weight gradient one matrix product, both fast paths of XLA
    (benchmarks/upconv.py measures the difference).
    """
    return _conv_transpose_4x4_s2(x, kernel)


def _conv_transpose_fwd(x, kernel):
    return _conv_transpose_4x4_s2(x, kernel), (x, kernel)


def _conv_transpose_bwd(residuals, dy):
    x, kernel = residuals
    _, height, width, in_features = x.shape
    out_features = kernel.shape[-1]
    # dx[i] = sum_t kernel[t] @ dy[2i + t - 1]: the 4x4, stride-2, padding-1 convolution of dy.
    dx = lax.conv_general_dilated(dy, kernel.swapaxes(2, 3), (2, 2), ((1, 1), (1, 1)), dimension_numbers=_NHWC)
    # dkernel[t, u] = sum_{b,i,j} x[b, i, j]^T dy[b, 2i + t - 1, 2j + u - 1]: one matmul of x against the 16
    # stride-2 views of the padded dy, one view per kernel tap.
    dy_padded = jnp.pad(dy, ((0, 0), (1, 1), (1, 1), (0, 0)))
    views = jnp.stack(
        [dy_padded[:, t : t + 2 * height : 2, u : u + 2 * width : 2] for t in range(4) for u in range(4)], axis=3
    )  # (B, H, W, 16, Cout)
    dkernel = x.reshape(-1, in_features).T @ views.reshape(-1, 16 * out_features)  # (Cin, 16 * Cout)
    dkernel = dkernel.reshape(in_features, 4, 4, out_features).transpose(1, 2, 0, 3)
    return dx, dkernel


conv_transpose_4x4_s2.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


class ConvTranspose2x(nn.Module):
    """The 4x4, stride-2 transposed convolution of DCGAN-style generators: (B, H, W, Cin) -> (B, 2H, 2W, features).

    Same parameters and same outputs as PyTorch's `ConvTranspose2d(Cin, features, kernel_size=4, stride=2,
    padding=1)`, with the kernel stored as (4, 4, Cin, features); see `conv_transpose_4x4_s2`.
    """

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    dtype: jnp.dtype = jnp.float32  # computation; parameters are float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features))
        y = conv_transpose_4x4_s2(x.astype(self.dtype), kernel.astype(self.dtype))
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,)).astype(self.dtype)
        return y


def spectrally_normalized(layer: nn.Module, x: jax.Array, *, enabled: bool, update_stats: bool) -> jax.Array:
    """`layer(x)`, with the layer's kernel divided by its largest singular value when `enabled` (Miyato et al. 2018).

    Uses Flax's `nn.SpectralNorm`: the power-iteration vector and the estimate of the singular value live in the
    "batch_stats" collection, so they are part of the network's state and its checkpoints. Each call with
    `update_stats` (training) advances the power iteration by one step; the estimate is kept in float32.
    """
    if not enabled:
        return layer(x)
    return nn.SpectralNorm(layer, dtype=jnp.float32)(x, update_stats=update_stats)
