"""The training loop's bookkeeping: when periodic work is due, how throughput is measured, what a batch job logs."""

from __future__ import annotations

import logging

import jax.numpy as jnp
import pytest
from helpers import tiny_dcgan_config

from ganjax import train as train_lib
from ganjax.errors import NonFiniteError
from ganjax.scoring import Evaluation
from ganjax.train import BestCheckpoint


@pytest.mark.parametrize(
    ("step", "every", "last", "due"),
    [(3, 3, False, True), (4, 3, False, False), (4, 3, True, True), (6, 0, False, False), (6, 0, True, True)],
)
def test_is_due(step, every, last, due):
    assert train_lib.is_due(step, every, last=last) is due


class _Records:
    """Stands in for the Writer: keeps what the reporter writes."""

    def __init__(self):
        self.records: dict[int, dict[str, float]] = {}

    def scalars(self, step, values, text=None):
        self.records[step] = values


def _metrics(d_loss: float = 0.5, nonfinite: int = 0) -> dict[str, jnp.ndarray]:
    values = {"d_loss": d_loss, "g_loss": 1.5, "d_grad_norm": 1.0, "g_grad_norm": 1.0, "d_param_norm": 2.0}
    values |= {"g_param_norm": 2.0, "d_nonfinite": nonfinite, "g_nonfinite": 0}
    return {key: jnp.asarray(value) for key, value in values.items()}


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves by hand: now[0] seconds."""
    now = [0.0]
    monkeypatch.setattr(train_lib.time, "perf_counter", lambda: now[0])
    return now


def test_images_per_sec_counts_only_training(clock, caplog):
    config = tiny_dcgan_config(**{"train.log_every": 2, "train.num_steps": 6, "train.batch_size": 16})
    writer = _Records()
    reporter = train_lib._Reporter(config, 1, writer, start_step=0)
    for step in (1, 2):  # 1 s per step
        clock[0] += 1.0
        reporter.push(step, _metrics())
    with reporter.paused(2):  # a 30 s evaluation after step 2
        clock[0] += 30.0
    for step in (3, 4):
        clock[0] += 1.0
        reporter.push(step, _metrics())
    reporter.flush()
    assert writer.records[2]["images_per_sec"] == 16.0  # 2 steps x 16 images in 2 s
    assert writer.records[4]["images_per_sec"] == 16.0  # and not 32 images in 32 s
    # Not a terminal (pytest captures stderr): a status line per record, with the time left for steps 5 and 6.
    with caplog.at_level(logging.INFO, logger="ganjax.train"):
        clock[0] += 2.0
        reporter.push(6, _metrics())
        reporter.flush()
    assert "step 6/6: 16 img/s, d_loss 0.5000, g_loss 1.5000, ETA 0 min 00 s" in caplog.text
    reporter.close()


def test_a_non_finite_step_is_named(clock):
    reporter = train_lib._Reporter(tiny_dcgan_config(), 1, _Records(), start_step=0)
    reporter.push(1, _metrics(d_loss=float("nan"), nonfinite=1))
    with pytest.raises(NonFiniteError, match="non-finite values in the discriminator at step 1: loss nan"):
        reporter.flush()
    reporter.close()


def test_a_damaged_best_checkpoint_is_replaced_by_the_next_evaluation(tmp_path, caplog):
    state = {"w": jnp.arange(4.0)}
    best = BestCheckpoint(tmp_path / "best", "fid")
    best.offer(1, state, {}, Evaluation({"fid": 5.0}, {}))
    best.offer(2, state, {}, Evaluation({"fid": 9.0}, {}))  # worse: not kept
    best.close()
    assert BestCheckpoint(tmp_path / "best", "fid").best == 5.0
    (tmp_path / "best" / "1" / "metrics" / "metrics").write_text("{}")  # damaged: not what its record says
    with caplog.at_level(logging.WARNING, logger="ganjax.train"):
        best = BestCheckpoint(tmp_path / "best", "fid")
    assert best.best == float("inf") and "is damaged" in caplog.text
    best.offer(3, state, {}, Evaluation({"fid": 7.0}, {}))
    best.close()
    assert best.checkpoints.steps() == [3]
