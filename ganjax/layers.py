"""Shared building blocks for the model families."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv_transpose_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """(B, H, W, Cin), (k, k, Cin, Cout) -> (B, 2H, 2W, Cout): y[2i + t - 1] += x[i] @ kernel[t] on each axis."""
    # PyTorch's padding 1 and output_padding 4 - k: k - 2 pixels of padding before the dilated input and 2 after.
    before = kernel.shape[0] - 2
    return lax.conv_transpose(
        x,
        kernel.swapaxes(2, 3),
        (2, 2),
        ((before, 2), (before, 2)),
        dimension_numbers=_NHWC,
        transpose_kernel=True,
    )


def _conv_transpose_fwd(x, kernel):
    return _conv_transpose_s2(x, kernel), (x, kernel)


def _conv_transpose_bwd(residuals, dy):
    x, kernel = residuals
    _, height, width, in_features = x.shape
    size, out_features = kernel.shape[0], kernel.shape[-1]
    # dx[i] = sum_t kernel[t] @ dy[2i + t - 1]: the k x k, stride-2, padding-1 convolution of dy.
    dx = lax.conv_general_dilated(dy, kernel.swapaxes(2, 3), (2, 2), ((1, 1), (1, 1)), dimension_numbers=_NHWC)
    # dkernel[t, u] = sum_{b,i,j} x[b, i, j]^T dy[b, 2i + t - 1, 2j + u - 1]: one matmul of x against the k * k
    # stride-2 views of the padded dy, one view per kernel tap.
    dy_padded = jnp.pad(dy, ((0, 0), (1, 1), (1, 1), (0, 0)))
    views = jnp.stack(
        [dy_padded[:, t : t + 2 * height : 2, u : u + 2 * width : 2] for t in range(size) for u in range(size)],
        axis=3,
    )  # (B, H, W, k * k, Cout)
    dkernel = x.reshape(-1, in_features).T @ views.reshape(-1, size * size * out_features)  # (Cin, k * k * Cout)
    dkernel = dkernel.reshape(in_features, size, size, out_features).transpose(1, 2, 0, 3)
    return dx, dkernel


@jax.custom_vjp
def conv_transpose_4x4_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """PyTorch's `conv_transpose2d(x, w, stride=2, padding=1)` with a 4x4 kernel, in NHWC.

    Args:
      x: (B, H, W, Cin) inputs.
      kernel: (4, 4, Cin, Cout); PyTorch's weight (Cin, Cout, 4, 4) transposed by (2, 3, 0, 1).

    Returns:
      (B, 2H, 2W, Cout), where output pixel 2i + t - 1 receives x[i] @ kernel[t] along each spatial axis.

    The gradient is written out by hand because XLA:CPU's own gradient of a transposed convolution is slow (its
    weight gradient is a convolution with a huge "kernel"). Here the input gradient is an ordinary 4x4 stride-2
    convolution and the weight gradient one matrix product, both fast paths of XLA (benchmarks/RESULTS.md, "The
    convolutions with hand-written gradients", compares it with Flax's layer and PyTorch's).
    """
    return _conv_transpose_s2(x, kernel)


@jax.custom_vjp
def conv_transpose_3x3_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """PyTorch's `conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)` with a 3x3 kernel, in NHWC.

    Args:
      x: (B, H, W, Cin) inputs.
      kernel: (3, 3, Cin, Cout); PyTorch's weight (Cin, Cout, 3, 3) transposed by (2, 3, 0, 1).

    Returns:
      (B, 2H, 2W, Cout), where output pixel 2i + t - 1 receives x[i] @ kernel[t] along each spatial axis (so even
      pixels 2i see only x[i], through tap 1; odd pixels 2i + 1 see x[i] through tap 2 and x[i + 1] through tap 0).

    The gradient is hand-written as `conv_transpose_4x4_s2`'s, a 3x3 stride-2 convolution and one matrix product.
    On XLA:CPU this is faster than XLA's own gradient by an order of magnitude, and faster than two exact
    re-expressions that JAX differentiates itself: matrix products per output phase (even/odd row and column), and
    one 2x2 convolution to 4 * Cout channels followed by a depth-to-space (benchmarks/RESULTS.md, "CycleGAN's 3x3
    transposed convolution").
    """
    return _conv_transpose_s2(x, kernel)


conv_transpose_4x4_s2.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)
conv_transpose_3x3_s2.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)
_CONV_TRANSPOSE_2X = {3: conv_transpose_3x3_s2, 4: conv_transpose_4x4_s2}


def conv_transpose_2x(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The stride-2 transposed convolution of a 3x3 or 4x4 kernel (`conv_transpose_3x3_s2`, `conv_transpose_4x4_s2`),
    with the hand-written gradient on CPU, where it was measured faster, and XLA's own elsewhere: on GPUs XLA hands
    both gradients to cuDNN, while the hand-written kernel gradient stacks k * k copies of the output gradient. The
    choice is made when the program is compiled; `benchmarks/device_suite.py` (section "conv") times both on an
    accelerator, and its figures, once measured, are in benchmarks/RESULTS.md."""
    return lax.platform_dependent(x, kernel, cpu=_CONV_TRANSPOSE_2X[kernel.shape[0]], default=_conv_transpose_s2)


class ConvTranspose2x(nn.Module):
    """The stride-2 transposed convolution that doubles the grid: (B, H, W, Cin) -> (B, 2H, 2W, features).

    Same parameters and same outputs as PyTorch's `ConvTranspose2d(Cin, features, kernel_size, stride=2, padding=1,
    output_padding=4 - kernel_size)`, with the kernel stored as (kernel_size, kernel_size, Cin, features), PyTorch's
    weight transposed by (2, 3, 0, 1). kernel_size 4 is DCGAN's and pix2pix's upsampling (`conv_transpose_4x4_s2`),
    3 that of CycleGAN's ResNet generator (`conv_transpose_3x3_s2`).
    """

    features: int
    kernel_size: int = 4  # 3 or 4
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    dtype: jnp.dtype = jnp.float32  # computation; parameters are float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.kernel_size not in _CONV_TRANSPOSE_2X:
            raise ValueError(f"ConvTranspose2x takes kernel_size 3 or 4, got {self.kernel_size}")
        shape = (self.kernel_size, self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape)
        y = conv_transpose_2x(x.astype(self.dtype), kernel.astype(self.dtype))
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


def upsample_nearest_2x(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, 2H, 2W, C): every pixel repeated over a 2x2 square."""
    batch, height, width, features = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (batch, height, 2, width, 2, features))
    return x.reshape(batch, 2 * height, 2 * width, features)


def avg_pool_2x(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H/2, W/2, C): the mean of every non-overlapping 2x2 square."""
    batch, height, width, features = x.shape
    return x.reshape(batch, height // 2, 2, width // 2, 2, features).mean(axis=(2, 4))


def max_pool_2x(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H/2, W/2, C): the maximum of every non-overlapping 2x2 square."""
    batch, height, width, features = x.shape
    return x.reshape(batch, height // 2, 2, width // 2, 2, features).max(axis=(2, 4))


def upsample_bilinear_2x(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, 2H, 2W, C) by bilinear interpolation (pixel centres at half-integers, edges clamped)."""
    batch, height, width, features = x.shape
    return jax.image.resize(x, (batch, 2 * height, 2 * width, features), "linear")


def downsample_bilinear_2x(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H/2, W/2, C) by antialiased bilinear resampling.

    Along each axis an output pixel is (x[2i - 1] + 3 x[2i] + 3 x[2i + 1] + x[2i + 2]) / 8, renormalised at the
    borders: the low-pass filter that is the transpose of `upsample_bilinear_2x`, up to a factor of 2 per axis.
    """
    batch, height, width, features = x.shape
    return jax.image.resize(x, (batch, height // 2, width // 2, features), "linear", antialias=True)


def _conv_3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(
        x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC, feature_group_count=x.shape[-1] // kernel.shape[2]
    )


def _input_gradient_kernel(kernel: jax.Array, groups: int) -> jax.Array:
    """The kernel of a 3x3 "SAME" convolution's input gradient: dx = conv_3x3(dy, this).

    (3, 3, Cin / G, Cout) -> (3, 3, Cout / G, Cin): flipped in space, each group's input and output channels swapped.
    """
    _, _, group_size, out_features = kernel.shape
    per_group = kernel.reshape(3, 3, group_size, groups, out_features // groups)[::-1, ::-1]
    return per_group.transpose(0, 1, 4, 3, 2).reshape(3, 3, out_features // groups, groups * group_size)


@jax.custom_vjp
def _conv_3x3_fast_gradient(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`_conv_3x3` with its kernel gradient written out as one matrix product per kernel tap (and group).

    XLA:CPU computes a convolution's kernel gradient more slowly than its forward pass; these products do as many
    multiply-adds as the forward pass (benchmarks/RESULTS.md, "The convolutions with hand-written gradients", measures
    the difference). The input gradient is a convolution of the same kind, through this same function, so
    gradients of gradients (R1, R2, WGAN-GP) also take the fast path.
    """
    return _conv_3x3(x, kernel)


def _conv_3x3_fwd(x, kernel):
    return _conv_3x3(x, kernel), (x, kernel)


def _conv_3x3_bwd(residuals, dy):
    x, kernel = residuals
    batch, height, width, in_features = x.shape
    group_size, out_features = kernel.shape[2], kernel.shape[3]
    groups = in_features // group_size
    dx = _conv_3x3_fast_gradient(dy, _input_gradient_kernel(kernel, groups))
    # dkernel[t, u, i, (g, o)] = sum_{b,h,w} x_padded[b, h + t, w + u, (g, i)] dy[b, h, w, (g, o)].
    x_padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(batch, height + 2, width + 2, groups, group_size)
    dy = dy.reshape(batch, height, width, groups, out_features // groups)
    taps = [
        jnp.einsum(
            "bhwgi,bhwgo->igo", x_padded[:, t : t + height, u : u + width], dy, preferred_element_type=jnp.float32
        )
        for t in range(3)
        for u in range(3)
    ]  # 9 x (group_size, G, Cout / G)
    dkernel = jnp.stack(taps).reshape(3, 3, group_size, out_features).astype(kernel.dtype)
    return dx, dkernel


_conv_3x3_fast_gradient.defvjp(_conv_3x3_fwd, _conv_3x3_bwd)


def _grouped_conv_3x3_by_taps(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A grouped 3x3 "SAME" convolution as a sum over the 9 kernel taps of per-group matrix products.

    Exactly the convolution's multiply-adds, and its derivatives of any order are matrix products too. XLA:CPU
    instead lowers a grouped convolution to a dense one with a block-diagonal kernel, far slower at 512 channels in
    groups of 16 (benchmarks/RESULTS.md, "The convolutions with hand-written gradients").
    """
    batch, height, width, in_features = x.shape
    _, _, group_size, out_features = kernel.shape
    groups = in_features // group_size
    x_padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(batch, height + 2, width + 2, groups, group_size)
    per_group = kernel.reshape(3, 3, group_size, groups, out_features // groups)
    y = sum(
        jnp.einsum("bhwgi,igo->bhwgo", x_padded[:, t : t + height, u : u + width], per_group[t, u])
        for t in range(3)
        for u in range(3)
    )
    return y.reshape(batch, height, width, out_features)


def conv_3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A 3x3, stride-1, zero-padded ("SAME") convolution in NHWC, grouped when the kernel says so.

    Args:
      x: (B, H, W, Cin) inputs, in G = Cin / group_size groups of `group_size = kernel.shape[2]` consecutive channels
        (one group, an ordinary convolution, when group_size is Cin).
      kernel: (3, 3, group_size, Cout), Cout a multiple of G; output channels [g * Cout / G, (g + 1) * Cout / G) see
        only input group g.

    Returns:
      (B, H, W, Cout): `lax.conv_general_dilated(x, kernel, (1, 1), "SAME", feature_group_count=G)`.

    On CPU, ordinary convolutions use XLA's forward pass with a hand-written gradient (`_conv_3x3_fast_gradient`)
    and grouped ones are computed tap by tap (`_grouped_conv_3x3_by_taps`), both measured faster there. Elsewhere
    XLA's convolution and its own gradients run, which the GPU and TPU libraries implement directly, grouped or
    not (as `conv_transpose_2x` chooses; the device suite times both). The choice is made when the program is
    compiled.
    """
    on_cpu = _conv_3x3_fast_gradient if kernel.shape[2] == x.shape[-1] else _grouped_conv_3x3_by_taps
    return lax.platform_dependent(x, kernel, cpu=on_cpu, default=_conv_3x3)


class Conv3x3(nn.Module):
    """3x3 "SAME" convolution, (B, H, W, Cin) -> (B, H, W, features), grouped when `group_size` is set.

    Same parameters and outputs as `nn.Conv(features, (3, 3), feature_group_count=Cin // group_size)` (kernel
    (3, 3, group_size or Cin, features)), with the fast gradient of `conv_3x3`.
    """

    features: int
    group_size: int | None = None  # input channels per group; None: one group
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    dtype: jnp.dtype = jnp.float32  # computation; parameters are float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        group_size = self.group_size or x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (3, 3, group_size, self.features))
        y = conv_3x3(x.astype(self.dtype), kernel.astype(self.dtype))
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,)).astype(self.dtype)
        return y


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain and bias are computed per example from a condition (class-conditional batch norm).

    (B, H, W, C) and a condition (B, E) -> (B, H, W, C): normalize(x) * (1 + condition @ W_gain) + condition @ W_bias,
    with W_gain, W_bias (E, C). `normalize` uses the batch's statistics in training and running averages otherwise
    (momentum 0.9, epsilon 1e-5, kept in "batch_stats") and has no affine parameters of its own. With condition None
    it is ordinary batch norm with a learned per-channel gain and bias.

    A one-hot condition makes W_gain and W_bias per-class tables (SNGAN; zero-initialised, every class starts at
    gain 1 and bias 0); a learned class embedding makes them linear maps of it (BigGAN, spectrally normalised).
    """

    spectral_norm: bool = False
    kernel_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, condition: jax.Array | None, *, train: bool) -> jax.Array:
        affine = condition is None
        # momentum 0.9 here is PyTorch's momentum=0.1: running = 0.9 * running + 0.1 * batch.
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=0.9,
            epsilon=1e-5,
            use_scale=affine,
            use_bias=affine,
            dtype=self.dtype,
        )(x)
        if affine:
            return x

        def per_example(name: str) -> jax.Array:  # (B, 1, 1, C)
            dense = nn.Dense(x.shape[-1], use_bias=False, kernel_init=self.kernel_init, dtype=self.dtype, name=name)
            values = spectrally_normalized(dense, condition, enabled=self.spectral_norm, update_stats=train)
            return values[:, None, None]

        return x * (1 + per_example("gain")) + per_example("bias")


class SelfAttention(nn.Module):
    """Self-attention over the pixels of a feature map (SAGAN, Zhang et al. 2019, as used in BigGAN).

    (B, H, W, C) -> (B, H, W, C), H and W even and C a multiple of 8: x + gamma * o(softmax(f(x) g(x)^T) h(x)), with
    1x1 convolutions (no biases) f (queries) and g (keys) to C/8 channels, h (values) to C/2 and o back to C; keys
    and values are max-pooled 2x2, so each of the H*W queries attends to H*W/4 keys. The scalar gamma starts at 0,
    so the layer starts as the identity. The convolutions are spectrally normalised when `spectral_norm`; the
    softmax is computed in float32.
    """

    spectral_norm: bool = False
    kernel_init: nn.initializers.Initializer = nn.initializers.xavier_uniform()
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        batch, height, width, features = x.shape

        def conv1x1(y: jax.Array, out_features: int) -> jax.Array:  # a Dense layer on the channel axis
            conv = nn.Dense(out_features, use_bias=False, kernel_init=self.kernel_init, dtype=self.dtype)
            return spectrally_normalized(conv, y, enabled=self.spectral_norm, update_stats=train)

        queries = conv1x1(x, features // 8).reshape(batch, height * width, features // 8)
        keys = max_pool_2x(conv1x1(x, features // 8)).reshape(batch, height * width // 4, features // 8)
        values = max_pool_2x(conv1x1(x, features // 2)).reshape(batch, height * width // 4, features // 2)
        scores = jnp.einsum("bqc,bkc->bqk", queries, keys, preferred_element_type=jnp.float32)
        attention = jax.nn.softmax(scores, axis=-1).astype(self.dtype)  # (B, H*W, H*W/4)
        attended = jnp.einsum("bqk,bkc->bqc", attention, values).reshape(batch, height, width, features // 2)
        gamma = self.param("gamma", nn.initializers.zeros_init(), ()).astype(self.dtype)
        return x + gamma * conv1x1(attended, features)


class ProjectionHead(nn.Module):
    """Pooled features (B, F) and labels (B,) int32 -> logits (B,): the projection discriminator's output layer.

    logit = w . h + b + embed(y) . h (Miyato & Koyama 2018), with embed a learned (num_classes, F) table; with
    num_classes 0 (labels None) only the linear term. The linear map and the embedding are spectrally normalised
    when `spectral_norm`.
    """

    num_classes: int = 0
    spectral_norm: bool = False
    kernel_init: nn.initializers.Initializer = nn.initializers.xavier_uniform()
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, features: jax.Array, labels: jax.Array | None, *, train: bool) -> jax.Array:
        linear = nn.Dense(1, kernel_init=self.kernel_init, dtype=self.dtype)
        logits = spectrally_normalized(linear, features, enabled=self.spectral_norm, update_stats=train)[:, 0]
        if not self.num_classes:
            return logits
        embed = nn.Embed(self.num_classes, features.shape[-1], embedding_init=self.kernel_init, dtype=self.dtype)
        class_vectors = spectrally_normalized(embed, labels, enabled=self.spectral_norm, update_stats=train)
        return logits + jnp.sum(class_vectors * features.astype(self.dtype), axis=-1)
