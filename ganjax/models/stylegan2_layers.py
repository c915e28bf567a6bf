"""StyleGAN2's layers (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"; the ADA code's
definitions), in ganjax's layout: images (B, H, W, C), kernels (kh, kw, in, out), dense kernels (in, out).

- Equalised learning rate: parameters are drawn from N(0, 1) (divided by the learning-rate multiplier) and scaled at
  run time by lr_multiplier / sqrt(fan_in), so that Adam's steps are alike for every layer whatever its fan-in.
- `bias_act`: bias, activation, the activation's gain (sqrt(2) for the ReLUs, 1 for linear) times a layer's own, and
  an optional clamp of the result to [-clamp, clamp] (the official code clamps in its float16 layers).
- `modulated_conv2d`: the style scales the kernel's input channels per sample; demodulation rescales each output
  channel so that the sample's effective kernel has unit L2 norm per output channel.
- `minibatch_std`: the standard deviation of each feature over groups of samples, averaged over the features and
  pixels of each of `num_channels` channel groups, appended as new channels.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from ganjax.resampling import conv2d_resample, fir_filter

STYLEGAN2_FIR = fir_filter([1, 3, 3, 1])
# activation -> (function, the gain that keeps a unit-variance input's output at unit variance)
ACTIVATIONS: dict[str, tuple[Callable[[jax.Array], jax.Array], float]] = {
    "linear": (lambda x: x, 1.0),
    "relu": (jax.nn.relu, float(np.sqrt(2))),
    "lrelu": (lambda x: jax.nn.leaky_relu(x, 0.2), float(np.sqrt(2))),
}


def bias_act(
    x: jax.Array, bias: jax.Array | None = None, activation: str = "linear", gain: float = 1.0,
    clamp: float | None = None,
) -> jax.Array:  # fmt: skip
    """activation(x + bias) * (the activation's gain * `gain`), clamped to [-clamp, clamp] when `clamp` is set.
    x (..., C); bias (C,) or None."""
    function, activation_gain = ACTIVATIONS[activation]
    if bias is not None:
        x = x + bias.astype(x.dtype)
    x = function(x) * (activation_gain * gain)
    return x if clamp is None else jnp.clip(x, -clamp, clamp)


def normalize_2nd_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """x (B, D) scaled per row to a unit mean square: x / sqrt(mean(x^2) + eps)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def modulated_conv2d(
    x: jax.Array, kernel: jax.Array, styles: jax.Array, *, demodulate: bool = True, up: int = 1, padding: int = 0,
    fir: np.ndarray | None = STYLEGAN2_FIR,
) -> jax.Array:  # fmt: skip
    """x (B, H, W, in) convolved with each sample's own kernel, `kernel` (kh, kw, in, out) with its input channels
    scaled by the sample's `styles` (B, in) and, with `demodulate`, each output channel then divided by its L2 norm
    (+1e-8): (B, H * up, W * up, out).

    Computed as the official code computes it in training: the activations scaled by the styles, one convolution with
    the shared kernel (`conv2d_resample`, FIR upsampling when up > 1), then each output channel scaled by the
    demodulation coefficient, 1 / sqrt(sum over taps and inputs of (kernel * style)^2): the same as B convolutions
    with the per-sample kernels, as one batched convolution."""
    y = conv2d_resample(x * styles[:, None, None, :].astype(x.dtype), kernel.astype(x.dtype), fir, up=up,
                        padding=padding)  # fmt: skip
    if not demodulate:
        return y
    squared_norms = jnp.square(styles.astype(jnp.float32)) @ jnp.sum(jnp.square(kernel.astype(jnp.float32)), (0, 1))
    return y * jax.lax.rsqrt(squared_norms + 1e-8)[:, None, None, :].astype(y.dtype)


def minibatch_std(x: jax.Array, group_size: int = 4, num_channels: int = 1) -> jax.Array:
    """x (B, H, W, C) -> (B, H, W, C + num_channels).

    The batch is split into groups of G = min(group_size, B) samples, sample i in group i mod (B / G); the C channels
    into `num_channels` blocks of consecutive channels. For each group and block: the standard deviation of every
    feature over the group's samples (sqrt(variance + 1e-8)), averaged over the block's channels and all pixels;
    appended to every sample of the group as a constant channel per block. B must be a multiple of G.
    """
    batch, height, width, channels = x.shape
    group = min(group_size, batch)
    if batch % group:
        raise ValueError(f"minibatch_std: a batch of {batch} does not split into groups of {group}")
    y = x.astype(jnp.float32).reshape(group, batch // group, height, width, num_channels, channels // num_channels)
    y = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)  # (B / G, H, W, blocks, C / blocks)
    y = jnp.mean(y, axis=(1, 2, 4))  # (B / G, blocks)
    y = jnp.tile(y, (group, 1))[:, None, None, :]  # sample i gets group i mod (B / G)
    return jnp.concatenate([x, jnp.broadcast_to(y, (batch, height, width, num_channels)).astype(x.dtype)], axis=-1)


class EqualizedDense(nn.Module):
    """(..., in) -> (..., features): x @ (kernel * lr_multiplier / sqrt(in)) + bias * lr_multiplier, then
    `bias_act`'s activation. Parameters: kernel (in, features) ~ N(0, 1) / lr_multiplier, bias (features,) starting
    at bias_init (as the official layer stores it: the applied bias starts at bias_init * lr_multiplier)."""

    features: int
    activation: str = "linear"
    lr_multiplier: float = 1.0
    bias_init: float = 0.0
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.normal(1.0 / self.lr_multiplier), (fan_in, self.features))
        y = x @ (kernel * (self.lr_multiplier / np.sqrt(fan_in))).astype(x.dtype)
        bias = None
        if self.use_bias:
            bias = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
            bias = bias * self.lr_multiplier
        return bias_act(y, bias, self.activation)


class EqualizedConv(nn.Module):
    """(B, H, W, in) -> (B, H * up / down, W * up / down, features): a k x k convolution ("same" padding) with the
    kernel scaled by 1 / sqrt(in * k * k), FIR resampling (`conv2d_resample`), bias and activation, times `gain`
    (the discriminator's residual branches use sqrt(1/2)), clamped to [-clamp * gain, clamp * gain] when `clamp` is
    set. Parameters: kernel (k, k, in, features) ~ N(0, 1), bias zeros."""

    features: int
    kernel_size: int = 3
    activation: str = "lrelu"
    up: int = 1
    down: int = 1
    use_bias: bool = True
    gain: float = 1.0
    clamp: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        size, fan_in = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", nn.initializers.normal(1.0), (size, size, fan_in, self.features))
        kernel = (kernel / np.sqrt(fan_in * size * size)).astype(x.dtype)
        fir = STYLEGAN2_FIR if self.up > 1 or self.down > 1 else None
        y = conv2d_resample(x, kernel, fir, up=self.up, down=self.down, padding=size // 2)
        bias = self.param("bias", nn.initializers.zeros, (self.features,)) if self.use_bias else None
        clamp = None if self.clamp is None else self.clamp * self.gain
        return bias_act(y, bias, self.activation, self.gain, clamp)
