"""Checkpoints: exact round trip, retention, and a clear refusal to restore into an incompatible config."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from helpers import tiny_dcgan_config

from ganjax.checkpoint import Checkpoints
from ganjax.errors import ConfigError
from ganjax.state import build_gan, init_state


def _abstract(gan, seed):
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.eval_shape(functools.partial(init_state, gan), seed)
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract)


def test_round_trip_is_exact(tmp_path):
    config = tiny_dcgan_config()
    gan = build_gan(config)
    state = jax.device_get(init_state(gan, seed=3))
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(7, state, config.to_dict())
    checkpoints.close()

    reopened = Checkpoints(tmp_path)
    assert reopened.latest_step() == 7
    restored = reopened.restore(7, _abstract(gan, 3), config.to_dict())
    assert reopened.config(7)["model"]["g_width"] == config.model.g_width
    reopened.close()
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for saved, loaded in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        assert saved.dtype == loaded.dtype
        np.testing.assert_array_equal(saved, np.asarray(loaded))


def test_keeps_only_the_newest(tmp_path):
    config = tiny_dcgan_config()
    state = init_state(build_gan(config), seed=0)
    checkpoints = Checkpoints(tmp_path, keep=2)
    for step in (1, 2, 3):
        checkpoints.save(step, state, config.to_dict())
    checkpoints.close()
    assert Checkpoints(tmp_path).steps() == [2, 3]


def test_incompatible_config_is_refused_with_the_differences(tmp_path):
    saved_config = tiny_dcgan_config()
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(5, init_state(build_gan(saved_config), seed=0), saved_config.to_dict())
    checkpoints.wait()

    wider = tiny_dcgan_config(**{"model.g_width": 16})
    with pytest.raises(ConfigError) as error:
        checkpoints.restore(5, _abstract(build_gan(wider), 0), wider.to_dict())
    checkpoints.close()
    message = str(error.value)
    assert "model.g_width: 8 -> 16" in message
    assert "ema_params/BatchNorm_0/bias: ((16,), 'float32') -> ((32,), 'float32')" in message
    assert "32 arrays differ" in message
