"""StyleGAN2's networks (ganjax/models/stylegan2.py), tiny: shapes and the style count, every style read, the tracked
mean w and truncation towards it, the three noise modes, class conditioning, bfloat16 resolutions and bad configs."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ganjax.errors import ConfigError
from ganjax.models import build_networks
from ganjax.models.stylegan2 import Generator, num_ws

TINY = dict(resolution=16, channels=3, w_dim=8, mapping_layers=2, d_mapping_layers=1, channel_base=128, channel_max=16)


def _config(**overrides) -> ml_collections.ConfigDict:
    fields = dict(name="stylegan2", latent_dim=8, num_classes=0, mbstd_group_size=2, d_architecture="resnet",
                  conv_clamp=0.0, bfloat16_resolutions=0, w_avg_beta=0.9, style_mixing_prob=0.0, **TINY)  # fmt: skip
    fields.pop("name")
    fields.update(overrides)
    return ml_collections.ConfigDict({"name": "stylegan2", **fields})


@functools.cache
def _initialised(num_classes: int = 0):
    networks = build_networks(_config(num_classes=num_classes))
    z = jax.random.normal(jax.random.PRNGKey(1), (4, 8))
    labels = jnp.arange(4) % num_classes if num_classes else None
    g_variables = networks.generator.init({"params": jax.random.PRNGKey(0)}, z, labels, train=False)
    images = jnp.zeros((4, 16, 16, 3))
    d_variables = networks.discriminator.init(jax.random.PRNGKey(2), images, labels, train=False)
    return networks, g_variables, d_variables, z, labels


def test_shapes_and_the_number_of_styles():
    networks, g_variables, d_variables, z, labels = _initialised()
    assert num_ws(16) == 6 and num_ws(32) == 8 and num_ws(1024) == 18
    images = jax.jit(functools.partial(networks.generator.apply, train=False))(g_variables, z, labels)
    assert images.shape == (4, 16, 16, 3) and images.dtype == jnp.float32
    logits = jax.jit(functools.partial(networks.discriminator.apply, train=False))(d_variables, images, labels)
    assert logits.shape == (4,) and logits.dtype == jnp.float32
    assert set(g_variables) == {"params", "stats", "noise_const"} and set(d_variables) == {"params"}


def test_every_style_is_read_by_its_layer():
    networks, g_variables, *_ = _initialised()
    generator: Generator = networks.generator
    ws = jax.random.normal(jax.random.PRNGKey(3), (2, 6, 8))

    @jax.jit
    def synthesise(ws):
        return generator.apply(g_variables, ws, method=Generator.synthesis)

    base = synthesise(ws)
    for layer in range(6):
        changed = synthesise(ws.at[:, layer].add(1.0))
        assert float(jnp.max(jnp.abs(changed - base))) > 1e-4, f"style {layer} is not read"


def test_training_tracks_the_mean_w_and_truncation_draws_towards_it():
    networks, g_variables, _, z, labels = _initialised()
    generator: Generator = networks.generator
    mapped = generator.apply(g_variables, z, labels, train=False, method=Generator.mapping)
    _, updated = generator.apply(
        g_variables,
        z,
        labels,
        train=True,
        method=Generator.mapping,
        mutable=["stats"],
        rngs={"noise": jax.random.PRNGKey(0)},
    )
    # From zero, one batch with decay 0.9: w_avg = mean(w) + 0.9 (0 - mean(w)).
    w_avg = updated["stats"]["mapping_network"]["w_avg"]
    np.testing.assert_allclose(w_avg, 0.1 * np.mean(mapped[:, 0], axis=0), rtol=1e-5, atol=1e-7)
    variables = {**g_variables, **updated}

    def mapping(psi, cutoff=None):
        return generator.apply(variables, z, labels, train=False, method=Generator.mapping, psi=psi, cutoff=cutoff)

    np.testing.assert_allclose(mapping(0.0), np.broadcast_to(w_avg, mapped.shape), rtol=1e-6)
    np.testing.assert_allclose(mapping(1.0), mapped)
    half = mapping(0.5, cutoff=2)
    np.testing.assert_allclose(half[:, :2], w_avg + 0.5 * (mapped[:, :2] - w_avg), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(half[:, 2:], mapped[:, 2:])


def test_noise_modes():
    networks, g_variables, *_ = _initialised()
    generator: Generator = networks.generator
    # Give every layer's noise a strength (they start at 0, so noise has no effect at initialisation).
    params = jax.tree_util.tree_map_with_path(
        lambda path, leaf: jnp.ones_like(leaf) if "noise_strength" in jax.tree_util.keystr(path) else leaf,
        g_variables["params"],
    )
    variables = {**g_variables, "params": params}
    ws = jax.random.normal(jax.random.PRNGKey(3), (2, 6, 8))

    def synthesise(noise, key=0):
        rngs = {"noise": jax.random.PRNGKey(key)}
        return generator.apply(variables, ws, method=Generator.synthesis, noise=noise, rngs=rngs)

    np.testing.assert_array_equal(synthesise("const", 0), synthesise("const", 1))  # the fixed buffers
    assert not np.allclose(synthesise("random", 0), synthesise("random", 1))
    assert not np.allclose(synthesise("const"), synthesise("none"))
    np.testing.assert_array_equal(synthesise("random", 5), synthesise("random", 5))


def test_class_conditioning_reaches_both_networks():
    networks, g_variables, d_variables, z, labels = _initialised(num_classes=3)
    generate = jax.jit(functools.partial(networks.generator.apply, train=False))
    discriminate = jax.jit(functools.partial(networks.discriminator.apply, train=False))
    images = generate(g_variables, z, labels)
    assert not np.allclose(images, generate(g_variables, z, (labels + 1) % 3))
    assert not np.allclose(
        discriminate(d_variables, images, labels), discriminate(d_variables, images, (labels + 1) % 3)
    )


def test_bfloat16_resolutions_keep_float32_parameters_and_outputs():
    plain = _initialised()
    networks = build_networks(_config(bfloat16_resolutions=2))
    _, g_variables, d_variables, z, _ = plain
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(g_variables["params"]))
    images = jax.jit(functools.partial(networks.generator.apply, train=False))(g_variables, z, None)
    reference = jax.jit(functools.partial(plain[0].generator.apply, train=False))(g_variables, z, None)
    assert images.dtype == jnp.float32
    # bfloat16's 8 bits of mantissa, through four layers: a few per cent.
    np.testing.assert_allclose(images, reference, rtol=0.05, atol=0.05 * float(jnp.std(reference)))
    logits = jax.jit(functools.partial(networks.discriminator.apply, train=False))(d_variables, images, None)
    assert logits.dtype == jnp.float32 and logits.shape == (4,)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"resolution": 48}, "power-of-two --config.model.resolution of at least 8, got 48"),
        ({"d_architecture": "skip"}, "unknown --config.model.d_architecture 'skip'; valid: resnet, orig"),
        ({"bfloat16_resolutions": 5}, "bfloat16_resolutions=5 is not between 0 and 3"),
    ],
)
def test_bad_configs_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_networks(_config(**overrides))


def test_style_mixing_switches_to_another_latent_at_a_cutoff():
    networks = build_networks(_config(style_mixing_prob=0.5))
    _, g_variables, _, z, labels = _initialised()
    generator: Generator = networks.generator
    ws = generator.apply(g_variables, z, labels, train=False, method=Generator.mapping)

    @jax.jit
    def mixed(key):
        return generator.apply(g_variables, ws, z, labels, method=Generator.mixed_styles, rngs={"noise": key})

    cutoffs = []
    for seed in range(40):
        styles = np.asarray(mixed(jax.random.PRNGKey(seed)))
        changed = np.any(styles != np.asarray(ws), axis=(0, 2))  # (num_ws,): layers that took other styles
        cutoff = int(np.argmax(changed)) if changed.any() else 6
        assert not changed[:cutoff].any() and changed[cutoff:].all()  # one cutoff, every layer from it on
        # The other latents' styles: the same w in every mixed layer.
        np.testing.assert_array_equal(styles[:, cutoff:], np.broadcast_to(styles[:, -1:], styles[:, cutoff:].shape))
        cutoffs.append(cutoff)
    assert 10 <= cutoffs.count(6) <= 30  # unmixed about half the time
    assert set(cutoffs) - {6} == {1, 2, 3, 4, 5}  # the cutoff is uniform in [1, num_ws)
