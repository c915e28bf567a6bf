"""Training mechanics of issue 3 at the level of the step: lazy penalties, ADA, augmentation, mixed precision."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from helpers import tiny_dcgan_config

from ganjax.tasks import build_task


def _fixed_batches(config, num_steps: int, seed: int = 0):
    """The same real batch every step (so D can overfit it)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (config.optim.d_steps, config.train.batch_size, 28, 28, 1)).astype(np.float32)
    return [{"image": images}] * num_steps


def _run(config, batches, *, regularize=True):
    gan = build_task(config)
    state = gan.init_state(config.seed)
    step = jax.jit(gan.make_step(regularize=regularize))
    history = []
    for batch in batches:
        state, metrics = step(state, batch)
        history.append(jax.device_get(metrics))
    return jax.device_get(state), history


def _same_params(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_lazy_penalty_is_the_penalty_scaled_by_the_interval():
    batches = _fixed_batches(tiny_dcgan_config(), 1)
    lazy, lazy_metrics = _run(tiny_dcgan_config(**{"penalties.r1": 0.5, "penalty_interval": 4}), batches)
    every_step, metrics = _run(tiny_dcgan_config(**{"penalties.r1": 2.0, "penalty_interval": 1}), batches)
    assert _same_params(lazy.networks["discriminator"].params, every_step.networks["discriminator"].params)
    assert lazy_metrics[0]["d_r1"] == metrics[0]["d_r1"] > 0

    skipped, skipped_metrics = _run(
        tiny_dcgan_config(**{"penalties.r1": 0.5, "penalty_interval": 4}), batches, regularize=False
    )
    unregularized, _ = _run(tiny_dcgan_config(), batches)
    assert _same_params(skipped.networks["discriminator"].params, unregularized.networks["discriminator"].params)
    assert "d_r1" not in skipped_metrics[0]


def test_ada_raises_p_while_the_discriminator_overfits_a_fixed_batch():
    config = tiny_dcgan_config(
        **{
            "augment.policy": ("translation",),
            "augment.p": 0.0,
            "augment.ada_target": 0.6,
            "augment.ada_kimg": 0.16,
            "optim.d_lr": 2e-3,
        }
    )
    _, history = _run(config, _fixed_batches(config, 12))
    step_size = config.train.batch_size / 160  # images per step / ADA's speed in images
    p = 0.0
    for metrics in history:
        # The rule, step by step: r = E[sign(D(real))] = 2 * share_positive - 1; p moves by step_size towards it.
        r = 2 * metrics["d_real_positive"] - 1
        p = float(np.clip(p + step_size * np.sign(r - 0.6), 0.0, 1.0))
        np.testing.assert_allclose(metrics["augment_p"], p, atol=1e-6)
    assert history[-1]["d_real_positive"] == 1.0, "D should have overfit the fixed batch"
    assert history[-1]["augment_p"] >= 0.3


def test_augmentation_changes_training_and_gradients_reach_the_generator():
    config = tiny_dcgan_config(**{"augment.policy": ("color", "translation", "cutout"), "augment.p": 1.0})
    augmented, history = _run(config, _fixed_batches(config, 2))
    plain, _ = _run(tiny_dcgan_config(), _fixed_batches(config, 2))
    assert not _same_params(augmented.networks["discriminator"].params, plain.networks["discriminator"].params)
    assert all(np.isfinite(m["g_grad_norm"]) and m["g_grad_norm"] > 0 for m in history)


@pytest.mark.parametrize("penalty", ["r1", "wgan_gp"])
def test_bfloat16_and_float32_steps_agree_loosely(penalty):
    overrides = {f"penalties.{penalty}": 1.0, "model.d_spectral_norm": True}
    f32 = tiny_dcgan_config(**overrides)
    bf16 = tiny_dcgan_config(**overrides, **{"model.dtype": "bfloat16"})
    batches = _fixed_batches(f32, 2)
    state32, history32 = _run(f32, batches)
    state16, history16 = _run(bf16, batches)
    for a, b in zip(history32, history16, strict=True):
        for key in ("d_loss", "g_loss", f"d_{penalty}"):
            assert np.isfinite(b[key])
            np.testing.assert_allclose(b[key], a[key], rtol=0.1, atol=0.02)
    for a, b in zip(
        jax.tree.leaves(state32.networks["generator"].params),
        jax.tree.leaves(state16.networks["generator"].params),
        strict=True,
    ):
        assert b.dtype == np.float32, "parameters stay float32 under mixed precision"
        # Adam moves a parameter by about the learning rate per step, so after 2 steps the two precisions can part
        # by a few learning rates where bfloat16 rounds a gradient's sign differently.
        np.testing.assert_allclose(b, a, atol=10 * f32.optim.g_lr)
