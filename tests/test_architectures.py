"""The residual families (sngan, biggan, r3gan) and their building blocks, at their CIFAR-10 recipes' tiny widths."""

from __future__ import annotations

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from jax import lax

from ganjax import layers
from ganjax.errors import ConfigError
from ganjax.layers import ConditionalBatchNorm, SelfAttention, conv_3x3, spectrally_normalized
from ganjax.models import build_networks

BATCH = 3


def _config(family: str, resolution: int = 32, channels: int = 3, num_classes: int = 0, **overrides):
    """config.model of configs/cifar10_<family>.py:tiny (family: sngan, biggan, r3gan or dcgan) at `resolution`,
    `channels` and `num_classes`, with `overrides` on top."""
    model = importlib.import_module(f"configs.cifar10_{family}").get_config("tiny").model
    model.update(resolution=resolution, channels=channels, num_classes=num_classes)
    if family == "r3gan":  # one width per stage, from 4x4 up: above 32x32, more of the last width
        stages = int(math.log2(resolution)) - 1
        model.widths += (model.widths[-1],) * (stages - len(model.widths))
    model.update(overrides)
    return model


def _inputs(networks, seed: int = 0):
    z = jax.random.normal(jax.random.PRNGKey(seed), (BATCH, networks.latent_dim))
    labels = jnp.arange(BATCH, dtype=jnp.int32) % networks.num_classes if networks.num_classes else None
    return z, labels


def _init(networks, z, labels):
    g_vars = networks.generator.init(jax.random.PRNGKey(1), z, labels, train=False)
    x = jnp.zeros((BATCH, *networks.sample_shape))
    d_vars = networks.discriminator.init(jax.random.PRNGKey(2), x, labels, train=False)
    return g_vars, d_vars


def _apply(module, variables, inputs, labels):
    """A training-mode forward pass; the updated batch statistics are dropped."""
    outputs, _ = module.apply(variables, inputs, labels, train=True, mutable=["batch_stats"])
    return outputs


def _perturbed(variables, scale: float = 0.3):
    """`variables` with noise added to every parameter (SNGAN's class tables start at zero: no label effect yet)."""
    leaves, treedef = jax.tree.flatten(variables["params"])
    keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
    noisy = [leaf + scale * jax.random.normal(key, leaf.shape) for leaf, key in zip(leaves, keys, strict=True)]
    return {**variables, "params": jax.tree.unflatten(treedef, noisy)}


# (family, resolution, channels, num_classes): every family unconditional and conditional at 32x32 and 64x64 in
# RGB, and grey images once.
CASES = [
    (family, resolution, 3, num_classes)
    for family in ("sngan", "biggan", "r3gan")
    for resolution in (32, 64)
    for num_classes in (0, 5)
] + [("sngan", 32, 1, 0)]


@pytest.mark.parametrize("family,resolution,channels,num_classes", CASES)
def test_shapes_and_labels(family, resolution, channels, num_classes):
    networks = build_networks(_config(family, resolution, channels, num_classes))
    assert networks.sample_shape == (resolution, resolution, channels)
    assert networks.num_classes == num_classes
    z, labels = _inputs(networks)
    g_vars, d_vars = _init(networks, z, labels)

    images = _apply(networks.generator, g_vars, z, labels)
    assert images.shape == (BATCH, resolution, resolution, channels) and images.dtype == jnp.float32
    assert jnp.all(jnp.isfinite(images))
    logits = _apply(networks.discriminator, d_vars, images, labels)
    assert logits.shape == (BATCH,) and logits.dtype == jnp.float32
    assert jnp.all(jnp.isfinite(logits))

    if num_classes:
        other_labels = (labels + 1) % num_classes
        g_vars = _perturbed(g_vars)
        changed = _apply(networks.generator, g_vars, z, other_labels) - _apply(networks.generator, g_vars, z, labels)
        assert jnp.all(jnp.max(jnp.abs(changed), axis=(1, 2, 3)) > 1e-3), "every image should depend on its label"
        changed = _apply(networks.discriminator, d_vars, images, other_labels) - logits
        assert jnp.all(jnp.abs(changed) > 1e-4), "every logit should depend on its label"


@pytest.mark.parametrize("family", ["sngan", "biggan", "r3gan"])
def test_bfloat16_compute_keeps_float32_parameters_and_outputs(family):
    networks = build_networks(_config(family, num_classes=5, dtype="bfloat16"))
    reference = build_networks(_config(family, num_classes=5))
    z, labels = _inputs(networks)
    g_vars, d_vars = _init(networks, z, labels)
    for variables in (g_vars, d_vars):
        assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}

    images = _apply(networks.generator, g_vars, z, labels)
    assert images.dtype == jnp.float32 and jnp.all(jnp.isfinite(images))
    logits = _apply(networks.discriminator, d_vars, images, labels)
    assert logits.dtype == jnp.float32 and jnp.all(jnp.isfinite(logits))
    # The same parameters in float32 compute the same functions, to bfloat16's precision.
    np.testing.assert_allclose(images, _apply(reference.generator, g_vars, z, labels), atol=0.15)
    reference_logits = _apply(reference.discriminator, d_vars, images, labels)
    np.testing.assert_allclose(logits, reference_logits, atol=0.05 * float(jnp.max(jnp.abs(reference_logits))))


def test_spectral_norm_brings_the_top_singular_value_to_one():
    kernel = jax.random.normal(jax.random.PRNGKey(0), (16, 32))
    layer = nn.Dense(32, use_bias=False, kernel_init=lambda *_: kernel)

    class Normalized(nn.Module):
        @nn.compact
        def __call__(self, x, *, train):
            return spectrally_normalized(layer, x, enabled=True, update_stats=train)

    model = Normalized()
    identity = jnp.eye(16)
    variables = model.init(jax.random.PRNGKey(1), identity, train=False)

    @jax.jit
    def power_iteration_step(variables):
        _, updates = model.apply(variables, identity, train=True, mutable=["batch_stats"])
        return {**variables, **updates}

    for _ in range(200):
        variables = power_iteration_step(variables)
    normalized_kernel = model.apply(variables, identity, train=False)  # identity @ kernel / sigma
    assert np.linalg.svd(np.asarray(kernel), compute_uv=False)[0] > 2  # far from 1 before normalisation
    np.testing.assert_allclose(np.linalg.svd(np.asarray(normalized_kernel), compute_uv=False)[0], 1.0, atol=1e-3)


# conv_3x3 picks one of these by group count and platform; each must match XLA's convolution to second order.
IMPLEMENTATIONS = {
    "conv_3x3": conv_3x3,
    "fast_gradient": layers._conv_3x3_fast_gradient,
    "by_taps": layers._grouped_conv_3x3_by_taps,
}


@pytest.mark.parametrize("implementation", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_3x3_implementations_match_autodiff(groups, implementation):
    conv_3x3 = IMPLEMENTATIONS[implementation]
    rng = np.random.default_rng(groups)
    x = jnp.asarray(rng.normal(size=(2, 5, 6, 8)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, 8 // groups, 6)), jnp.float32)
    weights = jnp.asarray(rng.normal(size=(2, 5, 6, 6)), jnp.float32)

    def autodiff_reference(x, kernel):  # XLA's own convolution, differentiated by JAX
        return lax.conv_general_dilated(
            x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups
        )

    def objective(conv):
        return lambda x, kernel: jnp.sum(weights * conv(x, kernel) ** 2)

    def input_gradient_penalty(conv):  # as in R1: the kernel gradient of a squared input gradient
        return lambda x, kernel: jnp.sum(jax.grad(objective(conv))(x, kernel) ** 2)

    np.testing.assert_allclose(conv_3x3(x, kernel), autodiff_reference(x, kernel), rtol=1e-5, atol=1e-4)
    for loss in (objective, input_gradient_penalty):
        ours = jax.grad(loss(conv_3x3), argnums=(0, 1))(x, kernel)
        reference = jax.grad(loss(autodiff_reference), argnums=(0, 1))(x, kernel)
        for got, want in zip(ours, reference, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3 * float(jnp.max(jnp.abs(want))))


def test_conditional_batch_norm_starts_as_plain_normalisation_and_self_attention_as_identity():
    x = jax.random.normal(jax.random.PRNGKey(0), (BATCH, 16, 16, 16)) * 3 + 1  # shapes the models use too
    condition = jax.nn.one_hot(jnp.arange(BATCH) % 2, 5)
    norm = ConditionalBatchNorm()
    variables = norm.init(jax.random.PRNGKey(1), x, condition, train=False)
    y, _ = norm.apply(variables, x, condition, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1.0, atol=1e-3)

    attention = SelfAttention(spectral_norm=True)
    variables = attention.init(jax.random.PRNGKey(2), x, train=False)
    np.testing.assert_array_equal(attention.apply(variables, x, train=False), x)


@pytest.mark.parametrize(
    "config,field",
    [
        (_config("sngan", resolution=48), "resolution"),
        (_config("biggan", resolution=128), "resolution"),
        (_config("r3gan", resolution=48, widths=(8, 8, 8, 8)), "resolution"),
        (_config("r3gan", widths=(8, 8, 8)), "widths"),
        (_config("r3gan", group_size=3), "group_size"),
        (_config("biggan", attention_resolution=32), "attention_resolution"),
        (_config("biggan", g_width=12), "g_width"),
        (_config("biggan", num_classes=10, embedding_dim=0), "embedding_dim"),
        (_config("sngan", dtype="float16"), "dtype"),
        (_config("dcgan", num_classes=10), "num_classes"),  # an unconditional-only family
    ],
)
def test_config_errors_name_the_field(config, field):
    with pytest.raises(ConfigError, match=rf"--config\.model\.{field}\b"):
        build_networks(config)
