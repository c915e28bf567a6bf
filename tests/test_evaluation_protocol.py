"""What an evaluation depends on (its own seed, not the training seed) and how a stop request meets one."""

import logging
import os
import signal

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SHARED_DATA
from helpers import tiny_dcgan_config

from configs import restore_denoise
from ganjax import train as train_lib
from ganjax.runs import load_run
from ganjax.tasks import build_task
from ganjax.tasks.gan import Gan


def degraded_inputs(**overrides) -> np.ndarray:
    """The noisy Set12 images a tiny denoising run's evaluation restores, (N, H, W, 1) in the model range."""
    config = restore_denoise.get_config("tiny")
    config.update_from_flattened_dict(overrides)
    batches, _ = build_task(config).evaluation_set()
    return np.concatenate([np.asarray(batch.degraded.image).ravel() for batch in batches])


@pytest.mark.skipif(not (SHARED_DATA / "restoration" / "Set12").is_dir(), reason=f"Set12 is not under {SHARED_DATA}")
def test_the_evaluation_noise_follows_eval_seed_not_the_training_seed(monkeypatch):
    monkeypatch.setenv("GANJAX_DATA_DIR", str(SHARED_DATA))
    reference = degraded_inputs(**{"seed": 0, "eval.seed": 0})
    np.testing.assert_array_equal(degraded_inputs(**{"seed": 1, "eval.seed": 0}), reference)
    other = degraded_inputs(**{"seed": 0, "eval.seed": 1})
    assert other.shape == reference.shape and np.mean(other != reference) > 0.9


def test_a_stop_during_an_evaluation_ends_it_between_batches_with_the_step_saved(tmp_path, npz, monkeypatch, caplog):
    batches_evaluated = []

    def evaluator(self, mesh):
        del self, mesh

        def evaluate(state):
            del state
            os.kill(os.getpid(), signal.SIGTERM)  # what a preempting scheduler sends, in the evaluation's first batch
            for batch in range(5):
                jnp.ones((64, 64)).sum().block_until_ready()  # an evaluation batch on the device
                batches_evaluated.append(batch)
            raise AssertionError("the evaluation ran to its end despite the stop request")

        return evaluate

    monkeypatch.setattr(Gan, "evaluator", evaluator)
    overrides = {"data.name": "npz", "data.path": str(npz), "train.num_steps": 6, "eval.every": 2}
    config = tiny_dcgan_config(**overrides)
    with caplog.at_level(logging.WARNING, logger="ganjax"):
        train_lib.train_and_evaluate(config, tmp_path)
    assert batches_evaluated == []  # stopped before the next batch: Python runs the handler at once
    assert load_run(tmp_path).step == 2  # saved although no checkpoint was due at step 2
    assert "stopped by SIGTERM during the evaluation after step 2" in caplog.text
