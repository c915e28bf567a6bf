"""The training loop in-process: what it writes, exact resume, divergence handling, and a GAN that learns."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from helpers import records, tiny_dcgan_config, toy_ring_config, train_alone, without_timing
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganjax.checkpoint import Checkpoints
from ganjax.errors import NonFiniteError
from ganjax.runs import load_run
from ganjax.train import train_and_evaluate


@pytest.fixture
def npz_config(npz):
    return lambda **overrides: tiny_dcgan_config(**{"data.name": "npz", "data.path": str(npz), **overrides})


def test_a_run_writes_checkpoints_metrics_events_and_samples(tmp_path, npz_config):
    workdir = tmp_path / "run"
    config = npz_config(**{"train.num_steps": 4, "train.checkpoint_every": 2, "train.sample_every": 2})
    train_and_evaluate(config, workdir)

    assert json.loads((workdir / "config.json").read_text())["model"]["g_width"] == 8
    assert Checkpoints(workdir / "checkpoints").steps() == [2, 4]
    run_records = records(workdir)
    assert [record["step"] for record in run_records] == [1, 2, 3, 4]
    for record in run_records:
        assert {"d_loss", "g_loss", "images_per_sec", "d_grad_norm", "g_param_norm"} <= record.keys()
        assert record["images_per_sec"] > 0
    events = EventAccumulator(str(workdir / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("g_loss")] == [1, 2, 3, 4]
    assert "samples" in events.Tags()["images"]
    grid = Image.open(workdir / "samples" / "samples_00000004.png")
    assert grid.size == (2 + 2 * 30, 2 + 2 * 30)  # 4 samples of 28x28 in a 2x2 grid with 2-pixel padding


def test_resuming_continues_exactly(tmp_path, npz_config):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train_and_evaluate(npz_config(**{"train.num_steps": 6}), straight)
    train_and_evaluate(npz_config(**{"train.num_steps": 3}), stopped)
    train_and_evaluate(npz_config(**{"train.num_steps": 6}), stopped)
    a, b = load_run(straight), load_run(stopped)
    assert a.step == b.step == 6
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert without_timing(records(straight)) == without_timing(records(stopped))


def test_divergence_stops_with_the_network_and_step_and_keeps_the_last_checkpoint(tmp_path, npz_config):
    workdir = tmp_path / "run"
    train_and_evaluate(npz_config(**{"train.num_steps": 2}), workdir)
    with pytest.raises(
        NonFiniteError, match=r"non-finite values in the discriminator at step 3: .*Nothing after step 2"
    ):
        train_and_evaluate(npz_config(**{"train.num_steps": 6, "optim.d_lr": 1e38}), workdir)
    assert Checkpoints(workdir / "checkpoints").steps() == [2]
    run = load_run(workdir)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(run.state))


@pytest.mark.slow
def test_toy_ring_covers_the_modes(tmp_path):
    train_alone("toy_ring.py", tmp_path / "ring", optimized=True, **{"train.sample_every": 0, "eval.every": 0})
    final = records(tmp_path / "ring")[-1]
    assert final["step"] == toy_ring_config().train.num_steps
    assert final["modes_covered"] >= 7, final
    assert final["high_quality_share"] >= 0.5, final
