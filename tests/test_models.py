"""Model shapes, and the transposed convolution against its definition."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax import lax

from ganjax.errors import ConfigError
from ganjax.layers import ConvTranspose2x, conv_transpose_4x4_s2
from ganjax.models import build_networks


def _dcgan_config(resolution, channels, batch_norm=True, **fields):
    config = dict(
        name="dcgan",
        resolution=resolution,
        channels=channels,
        latent_dim=12,
        g_width=4,
        d_width=4,
        g_batch_norm=batch_norm,
        d_spectral_norm=False,
        num_classes=0,
        dtype="float32",
    )
    return ml_collections.ConfigDict({**config, **fields})


@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 3), (32, 1), (64, 3)])
def test_dcgan_shapes(resolution, channels):
    networks = build_networks(_dcgan_config(resolution, channels))
    assert networks.sample_shape == (resolution, resolution, channels)
    z = jax.random.normal(jax.random.PRNGKey(0), (3, 12))
    g_vars = networks.generator.init(jax.random.PRNGKey(1), z, train=False)
    images, _ = networks.generator.apply(g_vars, z, train=True, mutable=["batch_stats"])
    assert images.shape == (3, resolution, resolution, channels)
    d_vars = networks.discriminator.init(jax.random.PRNGKey(2), images, train=False)
    logits = networks.discriminator.apply(d_vars, images, train=True)
    assert logits.shape == (3,) and logits.dtype == jnp.float32


def test_generator_batch_norm_statistics_are_a_collection_only_when_asked_for():
    z = jnp.zeros((2, 12))
    with_bn = build_networks(_dcgan_config(28, 1, batch_norm=True)).generator.init(
        jax.random.PRNGKey(0), z, train=False
    )
    without = build_networks(_dcgan_config(28, 1, batch_norm=False)).generator.init(
        jax.random.PRNGKey(0), z, train=False
    )
    assert set(with_bn) == {"params", "batch_stats"}
    assert set(without) == {"params"}


def test_dcgan_rejects_a_resolution_it_cannot_build_and_conditioning():
    with pytest.raises(ConfigError, match=r"cannot build resolution 30 \(--config.model.resolution\)"):
        build_networks(_dcgan_config(30, 1))
    with pytest.raises(ConfigError, match=r"model 'dcgan' is unconditional, but --config.model.num_classes=10"):
        build_networks(_dcgan_config(28, 1, num_classes=10))


def test_dcgan_spectral_norm_and_bfloat16_compute():
    networks = build_networks(_dcgan_config(32, 3, d_spectral_norm=True, dtype="bfloat16"))
    z = jax.random.normal(jax.random.PRNGKey(0), (2, 12))
    g_vars = networks.generator.init(jax.random.PRNGKey(1), z, None, train=False)
    images, _ = networks.generator.apply(g_vars, z, None, train=True, mutable=["batch_stats"])
    d_vars = networks.discriminator.init(jax.random.PRNGKey(2), images, None, train=False)
    assert "batch_stats" in d_vars, "spectral-norm vectors are discriminator state"
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(d_vars["params"]))
    logits, _ = networks.discriminator.apply(d_vars, images, None, train=True, mutable=["batch_stats"])
    assert images.dtype == logits.dtype == jnp.float32
    assert jnp.all(jnp.isfinite(logits))


def _scatter_definition(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """PyTorch's ConvTranspose2d(k=4, s=2, p=1) by its definition: y[2i + t - 1, 2j + u - 1] += x[i, j] @ w[t, u]."""
    batch, height, width, _ = x.shape
    y = np.zeros((batch, 2 * height + 2, 2 * width + 2, kernel.shape[-1]))
    for i in range(height):
        for j in range(width):
            for t in range(4):
                for u in range(4):
                    y[:, 2 * i + t, 2 * j + u] += x[:, i, j] @ kernel[t, u]
    return y[:, 1:-1, 1:-1]


def test_conv_transpose_matches_its_definition():
    rng = np.random.default_rng(0)
    x, kernel = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(4, 4, 5, 6))
    y = conv_transpose_4x4_s2(jnp.asarray(x, jnp.float32), jnp.asarray(kernel, jnp.float32))
    np.testing.assert_allclose(y, _scatter_definition(x, kernel), rtol=1e-5, atol=1e-5)


def test_conv_transpose_hand_written_gradient_matches_autodiff():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(2, 5, 5, 3)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(4, 4, 3, 4)), jnp.float32)
    weights = jnp.asarray(rng.normal(size=(2, 10, 10, 4)), jnp.float32)

    def autodiff_reference(x, kernel):  # XLA's own transposed convolution, differentiated by JAX
        return lax.conv_transpose(
            x,
            kernel.swapaxes(2, 3),
            (2, 2),
            ((2, 2), (2, 2)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            transpose_kernel=True,
        )

    def objective(conv):
        return lambda x, kernel: jnp.sum(weights * conv(x, kernel) ** 2)

    ours = jax.grad(objective(conv_transpose_4x4_s2), argnums=(0, 1))(x, kernel)
    reference = jax.grad(objective(autodiff_reference), argnums=(0, 1))(x, kernel)
    for got, want in zip(ours, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_conv_transpose_layer_doubles_the_grid():
    layer = ConvTranspose2x(7)
    variables = layer.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 3)))
    assert variables["params"]["kernel"].shape == (4, 4, 3, 7)
    assert layer.apply(variables, jnp.ones((2, 4, 4, 3))).shape == (2, 8, 8, 7)


def test_mlp_shapes():
    config = ml_collections.ConfigDict(dict(name="mlp", latent_dim=5, output_dim=2, hidden=8, depth=2, num_classes=0))
    networks = build_networks(config)
    z = jnp.ones((6, 5))
    points = networks.generator.apply(networks.generator.init(jax.random.PRNGKey(0), z, train=False), z, train=True)
    assert points.shape == (6, 2)
    d_vars = networks.discriminator.init(jax.random.PRNGKey(0), points, train=False)
    assert networks.discriminator.apply(d_vars, points, train=True).shape == (6,)
