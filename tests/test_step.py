"""The train step: it learns something, it is deterministic, and it gives the same result on 1 or 8 devices."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from helpers import tiny_dcgan_config

from ganjax import parallel
from ganjax.compile import create_state, jit_train_step, state_shardings
from ganjax.tasks import build_task


def _batches(config, num_steps: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shape = (config.optim.d_steps, config.train.batch_size, 28, 28, 1)
    return [{"image": rng.uniform(-1, 1, shape).astype(np.float32)} for _ in range(num_steps)]


def _train(config, batches, devices):
    """Runs the step over `batches` on a mesh of `devices`; returns the final state and the metrics of each step."""
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": len(devices)}), devices)
    task = build_task(config)
    shardings = state_shardings(task, config.seed, mesh)
    state = create_state(task, config.seed, shardings)
    step = jit_train_step(task, mesh, shardings)
    history = []
    for batch in batches:
        state, metrics = step(state, parallel.global_batch(batch, parallel.step_batch_sharding(mesh)))
        history.append(jax.device_get(metrics))
    return jax.device_get(state), history


def _leaves(tree):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_one_step_updates_every_parameter_and_stays_finite():
    config = tiny_dcgan_config(**{"ema.rampup": 0.0})
    before = jax.device_get(build_task(config).init_state(config.seed))
    after, (metrics,) = _train(config, _batches(config, 1), jax.devices()[:1])
    assert int(after.step) == 1
    for network in ("generator", "discriminator"):
        old, new = before.networks[network].params, after.networks[network].params
        for leaf_before, leaf_after in zip(_leaves(old), _leaves(new), strict=True):
            assert np.all(np.isfinite(leaf_after))
            assert not np.array_equal(leaf_before, leaf_after)
    # Without ramp-up the EMA moved (1 - decay) of the way from its start (the initial parameters) to the new ones.
    decay = config.ema.decay
    for p0, p1, ema in zip(
        _leaves(before.networks["generator"].params),
        _leaves(after.networks["generator"].params),
        _leaves(after.ema["generator"]),
        strict=True,
    ):
        np.testing.assert_allclose(ema, decay * p0 + (1 - decay) * p1, rtol=1e-6, atol=1e-7)
    # Batch statistics are state too, and the step updated them.
    assert not np.array_equal(
        _leaves(before.networks["generator"].collections)[0], _leaves(after.networks["generator"].collections)[0]
    )
    assert metrics["d_nonfinite"] == 0 and metrics["g_nonfinite"] == 0
    for key in ("d_loss", "g_loss", "d_real_logit", "d_fake_logit", "d_grad_norm", "g_grad_norm", "g_param_norm"):
        assert np.isfinite(metrics[key]), key


def test_same_seed_same_result_and_another_seed_differs():
    config = tiny_dcgan_config()
    batches = _batches(config, 2)
    first, _ = _train(config, batches, jax.devices()[:1])
    again, _ = _train(config, batches, jax.devices()[:1])
    other, _ = _train(tiny_dcgan_config(seed=1), batches, jax.devices()[:1])
    for a, b in zip(_leaves(first), _leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(
            _leaves(first.networks["generator"].params), _leaves(other.networks["generator"].params), strict=True
        )
    )


@pytest.mark.parametrize("d_steps", [1, 2])
def test_eight_devices_match_one_device(d_steps):
    assert jax.device_count() == 8, "conftest.py forces 8 CPU devices"
    config = tiny_dcgan_config(**{"optim.d_steps": d_steps})
    batches = _batches(config, 3)
    one, one_history = _train(config, batches, jax.devices()[:1])
    eight, eight_history = _train(config, batches, jax.devices())
    for a, b in zip(_leaves(one), _leaves(eight), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(one_history, eight_history, strict=True):
        np.testing.assert_allclose(a["d_loss"], b["d_loss"], rtol=1e-5)
        np.testing.assert_allclose(a["g_loss"], b["g_loss"], rtol=1e-5)


def test_each_discriminator_update_uses_its_own_real_batch():
    config = tiny_dcgan_config(**{"optim.d_steps": 2})
    batches = _batches(config, 1)
    swapped = [{"image": batch["image"][::-1].copy()} for batch in batches]
    once, _ = _train(config, batches, jax.devices()[:1])
    reversed_order, _ = _train(config, swapped, jax.devices()[:1])
    duplicated = [{"image": np.stack([batch["image"][0]] * 2)} for batch in batches]
    same_twice, _ = _train(config, duplicated, jax.devices()[:1])
    d_params = lambda state: _leaves(state.networks["discriminator"].params)  # noqa: E731
    assert not all(np.array_equal(a, b) for a, b in zip(d_params(once), d_params(reversed_order), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(d_params(once), d_params(same_twice), strict=True))


def test_ema_ramp_up_limits_the_half_life_to_a_fraction_of_the_steps():
    gan = build_task(tiny_dcgan_config(**{"ema.decay": 0.999, "ema.rampup": 0.05}))
    # After s steps the half-life is at most 0.05 s steps: decay <= 0.5 ** (1 / (0.05 s)).
    expected = {1: 0.5**20, 100: 0.5**0.2, 10_000: 0.5 ** (1 / 500), 100_000: 0.999}  # 9.5e-7, 0.8706, 0.998615
    for steps_done, decay in expected.items():
        np.testing.assert_allclose(gan.ema.decay_at(jnp.int32(steps_done - 1)), decay, rtol=1e-5)
    no_rampup = build_task(tiny_dcgan_config(**{"ema.decay": 0.999, "ema.rampup": 0.0}))
    np.testing.assert_allclose(no_rampup.ema.decay_at(jnp.int32(0)), 0.999, rtol=1e-6)
