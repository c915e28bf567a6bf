"""Optimizers and learning-rate schedules from the config: Adam for each network, with an Optax schedule.

`--config.optim.schedule` names the decay over the run (constant, linear to 0, cosine to 0, or CycleGAN's constant
for the first half and linear to 0 over the second) and
`--config.optim.warmup_steps` a linear warm-up from 0 before it. Each network's schedule counts its own updates: the
discriminator makes d_steps updates per train step, the generator one.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import ml_collections
import numpy as np
import optax

from ganjax.registry import Registry

SCHEDULES: Registry = Registry("learning-rate schedule", config_key="optim.schedule")


@SCHEDULES.register("constant")
def constant(learning_rate: float, num_updates: int) -> optax.Schedule:
    """The same rate throughout."""
    del num_updates
    return optax.constant_schedule(learning_rate)


@SCHEDULES.register("linear")
def linear(learning_rate: float, num_updates: int) -> optax.Schedule:
    """Linear decay to 0 at the last update (SNGAN, BigGAN)."""
    return optax.linear_schedule(learning_rate, 0.0, num_updates)


@SCHEDULES.register("cosine")
def cosine(learning_rate: float, num_updates: int) -> optax.Schedule:
    """Half-cosine decay to 0 at the last update."""
    return optax.cosine_decay_schedule(learning_rate, num_updates)


@SCHEDULES.register("hold_then_linear")
def hold_then_linear(learning_rate: float, num_updates: int) -> optax.Schedule:
    """The rate held for the first half of the updates, then linear decay to 0 at the last (CycleGAN's "linear"
    policy with as many decay epochs as constant ones)."""
    hold = num_updates // 2
    return optax.join_schedules(
        [optax.constant_schedule(learning_rate), optax.linear_schedule(learning_rate, 0.0, num_updates - hold)], [hold]
    )


def learning_rate_schedule(name: str, learning_rate: float, num_updates: int, warmup: int) -> optax.Schedule:
    """The named schedule over `num_updates` updates, after `warmup` updates rising linearly from 0."""
    decay: Callable[[float, int], optax.Schedule] = SCHEDULES.get(name)
    main = decay(learning_rate, max(num_updates - warmup, 1))
    if not warmup:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup), main], [warmup])


def _float32(value: float | jax.Array) -> np.float32 | jax.Array:
    return value if isinstance(value, jax.Array) else np.float32(value)


def make_optimizers(
    config: ml_collections.ConfigDict,
) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """(generator optimizer, discriminator optimizer): Adam with each network's learning rate and the schedule."""
    optim, num_steps = config.optim, config.train.num_steps

    def adam(learning_rate: float, updates_per_step: int) -> optax.GradientTransformation:
        schedule = learning_rate_schedule(
            optim.schedule, learning_rate, num_steps * updates_per_step, optim.warmup_steps * updates_per_step
        )
        # The decays as float32, so that 1 - b is rounded as in float32 arithmetic: as it is for a sweep's member,
        # whose decays are traced float32 values (ganjax/sweep/members.py), which then trains exactly as its run alone.
        return optax.adam(schedule, b1=_float32(optim.b1), b2=_float32(optim.b2))

    return adam(optim.g_lr, 1), adam(optim.d_lr, optim.d_steps)
