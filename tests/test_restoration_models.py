"""Restoration networks: shapes, dtypes, batch statistics, DnCNN's residual, sub-pixel order and the PatchGAN."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ganjax.errors import ConfigError
from ganjax.models.pix2pix import build_patch_discriminator
from ganjax.models.restorers import RESTORERS, build_restorer, depth_to_space


def _model_config(name="unet", **fields):
    config = dict(
        name=name,
        width=4,
        depth=2,
        batch_norm=True,
        dtype="float32",
        d_width=4,
        d_layers=3,
        d_spectral_norm=False,
        d_batch_norm=False,
    )
    return ml_collections.ConfigDict({**config, **fields})


def _init(module, *inputs, seed=0):
    """`module.init(key, *inputs, train=False)`, compiled as one program.

    The key is an RBG key: XLA compiles an initialisation that draws from threefry keys (the default) for seconds.
    """
    init = jax.jit(functools.partial(module.init, train=False))
    return init(jax.random.key(seed, impl="rbg"), *inputs)


def _apply(module, variables, *inputs, train, mutable=False):
    """`module.apply(variables, *inputs, train=train, mutable=mutable)`, compiled as one program (faster)."""
    return jax.jit(functools.partial(module.apply, train=train, mutable=mutable))(variables, *inputs)


def _images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1.0, 1.0, shape), jnp.float32)


# (name, depth, (in_channels, out_channels, scale), input height and width): every restorer with the combinations
# it supports, on non-square inputs that are multiples of its size_multiple.
CASES = [
    ("unet", 3, (1, 1, 1), (16, 24)),
    ("unet", 2, (4, 3, 1), (12, 4)),
    ("dncnn", 4, (1, 1, 1), (9, 13)),
    ("dncnn", 3, (4, 3, 1), (7, 6)),
    ("srresnet", 2, (1, 1, 4), (5, 7)),
    ("srresnet", 1, (3, 3, 3), (4, 5)),
    ("srresnet", 1, (1, 3, 1), (7, 5)),
    ("ffdnet", 3, (1, 1, 1), (6, 10)),
    ("ffdnet", 4, (3, 3, 1), (8, 4)),
    ("fill_unet", 2, (4, 3, 1), (8, 12)),
    ("fill_unet", 3, (2, 1, 1), (8, 16)),
]
# Restorers without batch norm, tested in their own files: cyclegan_resnet (tests/test_translation_models.py) and
# edsr (tests/test_corrective.py).
WITHOUT_BATCH_NORM = {"cyclegan_resnet", "edsr"}
SIZE_MULTIPLES = {"unet": lambda depth: 2**depth, "fill_unet": lambda depth: 2**depth, "ffdnet": lambda depth: 2}


def test_cases_cover_every_registered_restorer():
    assert sorted({name for name, *_ in CASES} | WITHOUT_BATCH_NORM) == RESTORERS.names()


@pytest.mark.parametrize(
    "name,depth,channels,size,dtype",
    [(*case, "float32") for case in CASES] + [(*case, "bfloat16") for case in CASES[1::2]],
)
def test_restorer_shapes_dtypes_and_batch_statistics(name, depth, channels, size, dtype):
    in_channels, out_channels, scale = channels
    restorer = build_restorer(
        _model_config(name, depth=depth, dtype=dtype), in_channels=in_channels, out_channels=out_channels, scale=scale
    )
    assert restorer.scale == scale
    assert restorer.size_multiple == SIZE_MULTIPLES.get(name, lambda depth: 1)(depth)
    assert all(side % restorer.size_multiple == 0 for side in size)
    x = _images((2, *size, in_channels))
    variables = _init(restorer.module, x)
    assert set(variables) == {"params", "batch_stats"}
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables["params"]))

    y, updates = _apply(restorer.module, variables, x, train=True, mutable=["batch_stats"])
    expected = (2, size[0] * scale, size[1] * scale, out_channels)
    assert y.shape == expected and y.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(y)))
    changed = jax.tree.map(lambda old, new: bool(jnp.any(old != new)), variables["batch_stats"], updates["batch_stats"])
    assert all(jax.tree.leaves(changed)), "every batch norm's running statistics move in training"


@pytest.mark.parametrize("name", ["unet", "dncnn", "srresnet", "ffdnet"])
def test_restorers_without_batch_norm_have_no_batch_statistics(name):
    restorer = build_restorer(_model_config(name, batch_norm=False), in_channels=1, out_channels=1, scale=1)
    variables = jax.eval_shape(
        functools.partial(restorer.module.init, train=False), jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1))
    )
    assert set(variables) == {"params"}


@pytest.mark.parametrize(
    "in_channels,out_channels,dtype", [(1, 1, "float32"), (1, 3, "bfloat16"), (4, 3, "float32"), (3, 3, "bfloat16")]
)
def test_dncnn_learns_the_residual(in_channels, out_channels, dtype):
    """With the last convolution zeroed, DnCNN predicts no noise: its output is its input, bit for bit."""
    restorer = build_restorer(
        _model_config("dncnn", depth=3, dtype=dtype), in_channels=in_channels, out_channels=out_channels, scale=1
    )
    x = _images((2, 6, 5, in_channels))
    variables = _init(restorer.module, x)
    last = variables["params"]["Conv_2"]
    assert last["kernel"].shape == (3, 3, 4, out_channels)
    params = {**variables["params"], "Conv_2": jax.tree.map(jnp.zeros_like, last)}
    y = _apply(restorer.module, {**variables, "params": params}, x, train=False)
    # The input's channels repeated cyclically: grey -> RGB copies it, image + mask keeps the image.
    expected = np.asarray(x)[..., [c % in_channels for c in range(out_channels)]]
    np.testing.assert_array_equal(np.asarray(y), expected)


def test_depth_to_space_is_pytorchs_pixel_shuffle():
    np.testing.assert_array_equal(
        np.asarray(depth_to_space(jnp.arange(4.0).reshape(1, 1, 1, 4), 2)), [[[[0.0], [1.0]], [[2.0], [3.0]]]]
    )
    # Channel c * r**2 + i * r + j of pixel (h, w) goes to channel c of pixel (h * r + i, w * r + j).
    for factor in (2, 3):
        x = np.asarray(_images((2, 3, 2, 2 * factor**2)))
        y = np.asarray(depth_to_space(jnp.asarray(x), factor))
        assert y.shape == (2, 3 * factor, 2 * factor, 2)
        for h, w, c, i, j in itertools.product(range(3), range(2), range(2), range(factor), range(factor)):
            np.testing.assert_array_equal(
                y[:, h * factor + i, w * factor + j, c], x[:, h, w, c * factor**2 + i * factor + j]
            )


def test_unet_refuses_a_size_that_is_not_a_multiple_of_its_size_multiple():
    restorer = build_restorer(_model_config("unet", depth=3), in_channels=1, out_channels=1, scale=1)
    assert restorer.size_multiple == 8
    with pytest.raises(ConfigError, match=r"unet needs .* multiples of 8 \(Restorer.size_multiple\), got 20x16"):
        restorer.module.init(jax.random.PRNGKey(0), jnp.zeros((1, 20, 16, 1)), train=False)


@pytest.mark.parametrize("name", ["unet", "dncnn"])
def test_only_srresnet_upscales(name):
    with pytest.raises(ConfigError, match=rf"{name}' cannot upscale by 4; valid: 1; for super-resolution use srresnet"):
        build_restorer(_model_config(name), in_channels=1, out_channels=1, scale=4)
    with pytest.raises(ConfigError, match=r"'srresnet' cannot upscale by 5; valid: 1, 2, 3, 4, 8$"):
        build_restorer(_model_config("srresnet"), in_channels=1, out_channels=1, scale=5)


def test_unknown_restorer_lists_the_valid_names():
    valid = ", ".join(RESTORERS.names())
    with pytest.raises(
        ConfigError, match=rf"unknown restoration model 'vdsr' \(--config.model.name\); valid: {valid}$"
    ):
        build_restorer(_model_config("vdsr"), in_channels=1, out_channels=1, scale=1)


def test_depth_below_what_a_restorer_needs_is_refused():
    with pytest.raises(ConfigError, match=r"dncnn needs --config.model.depth of at least 2, got 1"):
        build_restorer(_model_config("dncnn", depth=1), in_channels=1, out_channels=1, scale=1)


@pytest.mark.parametrize(
    "side,layers,spectral_norm,batch_norm",
    [(32, 3, False, True), (40, 3, True, False), (40, 2, False, False)],
)
def test_patch_discriminator_shapes(side, layers, spectral_norm, batch_norm):
    config = _model_config(d_layers=layers, d_spectral_norm=spectral_norm, d_batch_norm=batch_norm)
    discriminator = build_patch_discriminator(config, channels=3, condition_channels=1)
    x, condition = _images((2, side, side, 3)), _images((2, side, side, 1), seed=1)
    variables = _init(discriminator, x, condition)
    assert ("batch_stats" in variables) == (spectral_norm or batch_norm)
    logits, _ = _apply(discriminator, variables, x, condition, train=True, mutable=["batch_stats"])
    patches = side // 2**layers - 2  # 32: 2x2 (3 layers), 6x6 (2); 40: 3x3 (3), 8x8 (2)
    assert logits.shape == (2, patches, patches) and logits.dtype == jnp.float32


@pytest.mark.parametrize("spectral_norm,dtype", [(False, "float32"), (True, "bfloat16")])
def test_patch_discriminator_sees_the_condition_and_has_finite_input_gradients(spectral_norm, dtype):
    config = _model_config(d_spectral_norm=spectral_norm, dtype=dtype)
    discriminator = build_patch_discriminator(config, channels=1, condition_channels=2)
    x, condition = _images((2, 32, 32, 1)), _images((2, 32, 32, 2), seed=1)
    variables = _init(discriminator, x, condition)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables["params"]))

    @jax.jit
    def logits(x, condition):
        return discriminator.apply(variables, x, condition, train=False)

    other = logits(x, _images((2, 32, 32, 2), seed=3))
    assert logits(x, condition).shape == (2, 2, 2) and logits(x, condition).dtype == jnp.float32
    assert not np.allclose(np.asarray(logits(x, condition)), np.asarray(other))

    gradient = jax.grad(lambda x: jnp.sum(logits(x, condition)))(x)
    assert gradient.shape == x.shape
    assert bool(jnp.all(jnp.isfinite(gradient))) and bool(jnp.any(gradient != 0))


def test_unconditional_patch_discriminator_takes_no_condition():
    discriminator = build_patch_discriminator(_model_config(d_layers=2), channels=3, condition_channels=0)
    x = _images((2, 12, 16, 3))
    variables = _init(discriminator, x, None)
    assert _apply(discriminator, variables, x, None, train=False).shape == (2, 1, 2)
    with pytest.raises(ConfigError, match=r"built for conditions of 0 channels, got 1"):
        discriminator.apply(variables, x, x[..., :1], train=False)


def test_patch_discriminator_refuses_inputs_it_was_not_built_for():
    discriminator = build_patch_discriminator(_model_config(d_layers=3), channels=3, condition_channels=1)
    x, condition = jnp.zeros((1, 16, 32, 3)), jnp.zeros((1, 16, 32, 1))
    with pytest.raises(ConfigError, match=r"built for conditions of 1 channels, got none"):
        discriminator.init(jax.random.PRNGKey(0), x, None, train=False)
    with pytest.raises(ConfigError, match=r"built for images of 3 channels, got 1"):
        discriminator.init(jax.random.PRNGKey(0), condition, condition, train=False)
    with pytest.raises(
        ConfigError, match=r"3 stride-2 layers \(--config.model.d_layers\) needs images of at least 24x24"
    ):
        discriminator.init(jax.random.PRNGKey(0), x, condition, train=False)
