"""Discriminator penalties: exact values on linear discriminators, and checks every registered penalty must pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.penalties import PENALTIES, Inputs

KEY = jax.random.PRNGKey(0)


def _linear(w: jax.Array):
    """D(x) = w . x for images x of any shape (flattened); labels ignored. Its input gradient is w everywhere."""
    return lambda images, labels: images.reshape(images.shape[0], -1) @ w


def _batch(seed: int, shape=(4, 3, 3, 2)) -> Inputs:
    return Inputs(jax.random.normal(jax.random.PRNGKey(seed), shape), None)


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_zero_centred_penalties_of_a_linear_discriminator_are_its_squared_norm(name):
    w = jnp.arange(18, dtype=jnp.float32) / 10  # |w|^2 = sum(k^2 for k < 18) / 100 = 1785 / 100
    value = PENALTIES.get(name)(_linear(w), _batch(1), _batch(2), KEY)
    np.testing.assert_allclose(value, 17.85, rtol=1e-6)


def test_wgan_gp_vanishes_for_a_unit_norm_linear_discriminator_and_not_otherwise():
    w = jnp.ones(18) / jnp.sqrt(18.0)
    np.testing.assert_allclose(PENALTIES.get("wgan_gp")(_linear(w), _batch(1), _batch(2), KEY), 0.0, atol=1e-10)
    # |w| = 3: every interpolate has gradient norm 3, so the penalty is (3 - 1)^2 = 4.
    np.testing.assert_allclose(PENALTIES.get("wgan_gp")(_linear(3 * w), _batch(1), _batch(2), KEY), 4.0, rtol=1e-5)


def _small_discriminator(num_inputs: int = 18):
    """A non-linear D(x) of images with `num_inputs` values, with parameters to differentiate penalties by."""
    params = {
        "w1": jax.random.normal(jax.random.PRNGKey(3), (num_inputs, 8)) / 4,
        "w2": jax.random.normal(jax.random.PRNGKey(4), (8,)),
    }

    def bind(params):
        return lambda images, labels: jnp.tanh(images.reshape(images.shape[0], -1) @ params["w1"]) @ params["w2"]

    return params, bind


# Every registered penalty, including any a user adds, must pass the checks below.
@pytest.mark.parametrize("name", PENALTIES.names())
def test_every_penalty_is_a_finite_non_negative_differentiable_scalar(name):
    penalty = PENALTIES.get(name)
    params, bind = _small_discriminator()
    value = penalty(bind(params), _batch(1), _batch(2), KEY)
    assert value.shape == () and value.dtype == jnp.float32
    assert jnp.isfinite(value) and value >= 0
    grads = jax.grad(lambda p: penalty(bind(p), _batch(1), _batch(2), KEY))(params)
    leaves = jax.tree.leaves(grads)
    assert all(jnp.all(jnp.isfinite(g)) for g in leaves)
    assert any(jnp.any(g != 0) for g in leaves), "a penalty must give D's parameters a training signal"


# The penalties that sample with their key: wgan_gp its interpolation weights, bcr its translations (of images of at
# least 4 pixels a side: 1/8 of the size, rounded). A new penalty that samples belongs here; one that does not must
# ignore its key.
SAMPLING_PENALTIES = ("bcr", "wgan_gp")


def test_the_sampling_penalties_are_registered():
    assert set(SAMPLING_PENALTIES) <= set(PENALTIES.names())


@pytest.mark.parametrize("name", PENALTIES.names())
def test_every_penalty_depends_on_its_key_exactly_when_it_samples(name):
    shape = (4, 8, 8, 3)
    params, bind = _small_discriminator(num_inputs=8 * 8 * 3)

    def value(key):
        return PENALTIES.get(name)(bind(params), _batch(1, shape), _batch(2, shape), key)

    assert value(KEY) == value(KEY)
    if name in SAMPLING_PENALTIES:
        assert value(jax.random.PRNGKey(1)) != value(KEY), "another key must draw other samples"
    else:
        assert value(jax.random.PRNGKey(1)) == value(KEY), f"{name} samples nothing, so its key must not matter"


@pytest.mark.parametrize("name", ["r1", "r2", "bcr"])
def test_zero_centred_penalties_vanish_for_a_constant_discriminator(name):
    constant = lambda images, labels: jnp.zeros(images.shape[0]) + 0.7  # noqa: E731
    assert PENALTIES.get(name)(constant, _batch(1, (4, 8, 8, 3)), _batch(2, (4, 8, 8, 3)), KEY) == 0.0
