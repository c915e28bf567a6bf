"""CycleGAN's networks: the ResNet generator, its 3x3 transposed convolution, and the PatchGAN with instance norm."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import linen as nn

from ganjax.errors import ConfigError
from ganjax.layers import ConvTranspose2x, conv_transpose_3x3_s2
from ganjax.models.pix2pix import build_patch_discriminator
from ganjax.models.restorers import RESTORERS, build_restorer


def _model_config(**fields):
    config = dict(
        name="cyclegan_resnet",
        width=4,
        depth=2,
        batch_norm=False,
        dtype="float32",
        d_width=4,
        d_layers=3,
        d_spectral_norm=False,
        d_batch_norm=False,
        d_instance_norm=True,
    )
    return ml_collections.ConfigDict({**config, **fields})


def _generator(in_channels=3, out_channels=3, **fields):
    return build_restorer(_model_config(**fields), in_channels=in_channels, out_channels=out_channels, scale=1)


def _init(module, *inputs):
    """`module.init(key, *inputs, train=False)`, compiled (an RBG key: threefry initialisations compile slowly)."""
    return jax.jit(functools.partial(module.init, train=False))(jax.random.key(0, impl="rbg"), *inputs)


def _images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1.0, 1.0, shape), jnp.float32)


def _parameter_count(module, *inputs) -> int:
    variables = jax.eval_shape(functools.partial(module.init, train=False), jax.random.key(0), *inputs)
    return sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))


def test_cyclegan_resnet_is_registered():
    assert "cyclegan_resnet" in RESTORERS.names()


@pytest.mark.parametrize(
    "in_channels,out_channels,size,dtype", [(3, 3, (16, 12), "float32"), (1, 3, (8, 20), "bfloat16")]
)
def test_cyclegan_resnet_shapes_range_and_no_state(in_channels, out_channels, size, dtype):
    generator = _generator(in_channels, out_channels, dtype=dtype)
    assert generator.size_multiple == 4 and generator.scale == 1
    x = _images((2, *size, in_channels))
    variables = _init(generator.module, x)
    assert set(variables) == {"params"}, "instance norm keeps no statistics"
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables["params"]))
    apply = functools.partial(generator.module.apply, variables, x)
    y, y_eval = jax.jit(lambda: (apply(train=True), apply(train=False)))()
    assert y.shape == (2, *size, out_channels) and y.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(y_eval), np.asarray(y))
    # The output is tanh of the last convolution: with its kernel zero, each channel is tanh of its bias everywhere.
    params = variables["params"]
    last = max((name for name in params if name.startswith("Conv_")), key=lambda name: int(name.split("_")[1]))
    bias = np.linspace(-2.0, 1.5, out_channels, dtype=np.float32)
    flat_last = {"kernel": jnp.zeros_like(params[last]["kernel"]), "bias": jnp.asarray(bias)}
    y_flat = generator.module.apply({"params": {**params, last: flat_last}}, x, train=False)
    np.testing.assert_allclose(np.asarray(y_flat), np.broadcast_to(np.tanh(bias), y.shape), rtol=1e-6)


def _conv_parameters(kernel: int, in_features: int, out_features: int) -> int:
    return kernel * kernel * in_features * out_features + out_features  # every convolution has a bias


def _official_parameter_count(in_channels: int, out_channels: int, ngf: int, n_blocks: int) -> int:
    """CycleGAN's ResnetGenerator with instance norm (affine=False: no parameters), layer by layer."""
    return (
        _conv_parameters(7, in_channels, ngf)  # ReflectionPad2d(3), Conv2d(kernel_size=7)
        + _conv_parameters(3, ngf, 2 * ngf)  # Conv2d(kernel_size=3, stride=2, padding=1)
        + _conv_parameters(3, 2 * ngf, 4 * ngf)
        + n_blocks * 2 * _conv_parameters(3, 4 * ngf, 4 * ngf)  # ResnetBlock: two 3x3 convolutions
        + _conv_parameters(3, 4 * ngf, 2 * ngf)  # ConvTranspose2d(kernel_size=3, stride=2, padding=1, output_padding=1)
        + _conv_parameters(3, 2 * ngf, ngf)
        + _conv_parameters(7, ngf, out_channels)  # ReflectionPad2d(3), Conv2d(kernel_size=7), Tanh
    )


@pytest.mark.parametrize("in_channels,out_channels,width,depth", [(3, 3, 64, 9), (3, 3, 32, 6), (1, 3, 4, 0)])
def test_cyclegan_resnet_has_the_official_architectures_parameter_count(in_channels, out_channels, width, depth):
    generator = _generator(in_channels, out_channels, width=width, depth=depth)
    count = _parameter_count(generator.module, jnp.zeros((1, 8, 8, in_channels)))
    assert count == _official_parameter_count(in_channels, out_channels, width, depth)
    if (width, depth) == (64, 9):
        assert count == 11_378_179  # "Total number of parameters : 11.378 M", as CycleGAN's code prints it


def _scatter_definition(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """PyTorch's ConvTranspose2d(kernel_size=3, stride=2, padding=1, output_padding=1), pixel by pixel.

    Input pixel i adds x[i] @ kernel[t] to output pixel 2i + t - padding along each axis; the output has
    (H - 1) * 2 - 2 * padding + 3 + output_padding = 2H rows (likewise columns). Computed on a canvas shifted by the
    padding, then cropped.
    """
    batch, height, width, _ = x.shape
    canvas = np.zeros((batch, 2 * height + 1, 2 * width + 1, kernel.shape[-1]))
    for i, j, t, u in itertools.product(range(height), range(width), range(3), range(3)):
        canvas[:, 2 * i + t, 2 * j + u] += x[:, i, j] @ kernel[t, u]
    return canvas[:, 1:, 1:]


def _scatter_gradients(x: np.ndarray, kernel: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradients of sum(dy * y) for `_scatter_definition`'s y: each term x[i] @ kernel[t] sent to pixel o
    contributes kernel[t] @ dy[o] to dx[i] and outer(x[i], dy[o]) to dkernel[t]."""
    batch, height, width, _ = x.shape
    dy_canvas = np.zeros((batch, 2 * height + 1, 2 * width + 1, dy.shape[-1]))
    dy_canvas[:, 1:, 1:] = dy
    dx, dkernel = np.zeros_like(x), np.zeros_like(kernel)
    for i, j, t, u in itertools.product(range(height), range(width), range(3), range(3)):
        received = dy_canvas[:, 2 * i + t, 2 * j + u]  # (B, Cout)
        dx[:, i, j] += received @ kernel[t, u].T
        dkernel[t, u] += x[:, i, j].T @ received
    return dx, dkernel


def test_conv_transpose_3x3_is_pytorchs_in_value_and_gradient():
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(3, 3, 5, 6))
    dy = rng.normal(size=(2, 6, 8, 6))
    y, vjp = jax.vjp(conv_transpose_3x3_s2, jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32))
    np.testing.assert_allclose(y, _scatter_definition(x, kernel), rtol=1e-5, atol=1e-5)
    for got, want in zip(vjp(jnp.asarray(dy, jnp.float32)), _scatter_gradients(x, kernel, dy), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)

    # Flax's own layer with the same semantics: PyTorch's padding 1 and output_padding 1 are 1 and 2 pixels of
    # padding on the dilated input, and its kernel is stored (3, 3, Cout, Cin).
    flax_layer = nn.ConvTranspose(6, (3, 3), (2, 2), ((1, 2), (1, 2)), transpose_kernel=True, use_bias=False)
    flax_y = flax_layer.apply({"params": {"kernel": jnp.asarray(kernel.swapaxes(2, 3), jnp.float32)}}, x)
    np.testing.assert_allclose(flax_y, y, rtol=1e-5, atol=1e-5)


def test_conv_transpose_layer_of_kernel_size_3_doubles_the_grid():
    layer = ConvTranspose2x(7, kernel_size=3)
    variables = jax.eval_shape(layer.init, jax.random.key(0), jnp.zeros((1, 4, 5, 3)))
    assert jax.tree.map(jnp.shape, variables["params"]) == {"kernel": (3, 3, 3, 7), "bias": (7,)}
    assert jax.eval_shape(layer.apply, variables, jnp.ones((2, 4, 5, 3))).shape == (2, 8, 10, 7)
    with pytest.raises(ValueError, match=r"ConvTranspose2x takes kernel_size 3 or 4, got 5"):
        jax.eval_shape(ConvTranspose2x(7, kernel_size=5).init, jax.random.key(0), jnp.zeros((1, 4, 5, 3)))


def test_cyclegan_resnet_output_ignores_each_images_brightness_offset():
    """Instance norm right after the first convolution removes anything constant over an image's pixels: an offset
    added to an image (per channel) changes the output only by rounding. A gain is removed only up to instance
    norm's epsilon (1e-5 against the variance), so it changes the output a little."""
    generator = _generator(width=4, depth=1)
    x = _images((2, 8, 12, 3))
    variables = _init(generator.module, x)
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda p: jnp.asarray(rng.normal(0.0, 0.2, p.shape), jnp.float32), variables["params"])
    apply = jax.jit(functools.partial(generator.module.apply, {"params": params}, train=False))
    offset = jnp.asarray([[0.3, -0.5, 0.7], [-0.8, 0.1, 0.4]])[:, None, None, :]  # (B, 1, 1, C)
    y = np.asarray(apply(x))
    assert np.std(y) > 0.1, "random parameters: the output is not flat"
    np.testing.assert_allclose(apply(x + offset), y, atol=1e-5)
    changed_by_gain = np.max(np.abs(np.asarray(apply(0.5 * x)) - y))
    assert 0 < changed_by_gain < 1e-2


def test_cyclegan_resnet_refuses_sizes_that_are_not_multiples_of_4_and_scales_other_than_1():
    generator = _generator()
    with pytest.raises(
        ConfigError, match=r"cyclegan_resnet needs .* multiples of 4 \(Restorer.size_multiple\), got 18x16"
    ):
        generator.module.init(jax.random.key(0), jnp.zeros((1, 18, 16, 3)), train=False)
    with pytest.raises(
        ConfigError, match=r"'cyclegan_resnet' cannot upscale by 2; valid: 1; for super-resolution use srresnet"
    ):
        build_restorer(_model_config(), in_channels=3, out_channels=3, scale=2)


def test_patch_discriminator_with_instance_norm_has_no_state_and_biases_everywhere():
    discriminator = build_patch_discriminator(_model_config(), channels=3, condition_channels=0)
    x = _images((2, 32, 32, 3))
    variables = _init(discriminator, x, None)
    assert set(variables) == {"params"}, "instance norm keeps no statistics"
    assert all("bias" in layer for layer in variables["params"].values())
    logits = jax.jit(functools.partial(discriminator.apply, train=True))(variables, x, None)
    assert logits.shape == (2, 2, 2) and logits.dtype == jnp.float32  # floor(32 / 2**3) - 2 = 2
    without_norm = build_patch_discriminator(_model_config(d_instance_norm=False), channels=3, condition_channels=0)
    unnormalized = jax.jit(functools.partial(without_norm.apply, train=True))(variables, x, None)
    assert not np.allclose(unnormalized, logits), "the same parameters without instance norm give other logits"


def test_patch_discriminator_with_instance_norm_has_cyclegans_parameter_count():
    discriminator = build_patch_discriminator(_model_config(d_width=64), channels=3, condition_channels=0)
    # "Total number of parameters : 2.765 M": NLayerDiscriminator(ndf=64, n_layers=3) with InstanceNorm2d.
    assert _parameter_count(discriminator, jnp.zeros((1, 32, 32, 3)), None) == 2_764_737


def test_patch_discriminator_refuses_batch_norm_with_instance_norm():
    with pytest.raises(ConfigError, match=r"batch or by instance, not both: set --config.model.d_batch_norm or"):
        build_patch_discriminator(_model_config(d_batch_norm=True), channels=3, condition_channels=0)
