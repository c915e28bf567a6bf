"""Learning-rate schedules, against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ganjax.optim import SCHEDULES, learning_rate_schedule


def test_linear_decay_with_warmup():
    schedule = learning_rate_schedule("linear", 1e-3, num_updates=10, warmup=2)
    # Warm-up 0 -> 1e-3 over 2 updates, then 1e-3 -> 0 over the remaining 8.
    expected = [0.0, 0.5e-3, 1e-3, 0.875e-3, 0.75e-3, 0.5e-3, 0.0]
    np.testing.assert_allclose([schedule(k) for k in (0, 1, 2, 3, 4, 6, 10)], expected, atol=1e-12)


def test_cosine_decay_reaches_zero_through_half_the_rate_at_the_middle():
    schedule = learning_rate_schedule("cosine", 2e-4, num_updates=100, warmup=0)
    np.testing.assert_allclose([schedule(0), schedule(50), schedule(100)], [2e-4, 1e-4, 0.0], atol=1e-12)


def test_constant_stays():
    schedule = learning_rate_schedule("constant", 2e-4, num_updates=100, warmup=0)
    assert schedule(0) == schedule(99) == pytest.approx(2e-4)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_starts_at_the_rate_and_never_goes_negative(name):
    schedule = learning_rate_schedule(name, 3e-4, num_updates=20, warmup=0)
    values = np.array([schedule(k) for k in range(21)])
    assert values[0] == pytest.approx(3e-4) and np.all(values >= 0) and np.all(values <= 3e-4 + 1e-12)


def test_hold_then_linear_holds_for_half_the_updates_then_decays_to_zero():
    schedule = learning_rate_schedule("hold_then_linear", 2e-4, num_updates=10, warmup=0)
    expected = [2e-4, 2e-4, 2e-4, 1.6e-4, 0.8e-4, 0.0]  # held for updates 0-5, then 2e-4 * (10 - k) / 5
    np.testing.assert_allclose([schedule(k) for k in (0, 4, 5, 6, 8, 10)], expected, rtol=1e-6, atol=1e-12)
