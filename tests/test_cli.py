"""train.py and sample.py as a user runs them, in subprocesses: end to end, and stopped at any moment."""

from __future__ import annotations

import pathlib
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import REPO
from helpers import records, train_command, without_timing
from PIL import Image

from ganjax.checkpoint import RECORD_NAME
from ganjax.losses import LOSSES
from ganjax.runs import load_run

pytestmark = pytest.mark.slow

# Long enough that a signal sent at the first logged step, or a kill sent as the first checkpoint completes, lands
# mid-run with 175 steps to spare; 8 checkpoints a run.
NUM_STEPS = 200
CHECKPOINT_EVERY = 25


def _train_command(workdir, npz, **overrides):
    """helpers.train_command for NUM_STEPS steps with a checkpoint every CHECKPOINT_EVERY, `overrides` on top."""
    settings = {"train.num_steps": NUM_STEPS, "train.checkpoint_every": CHECKPOINT_EVERY}
    return train_command(workdir, npz, **{**settings, **overrides})


def _run(command, **kwargs):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, **kwargs)


def _assert_same_state(workdir_a, workdir_b):
    a, b = load_run(workdir_a), load_run(workdir_b)
    assert a.step == b.step == NUM_STEPS
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, npz):
    """A run of NUM_STEPS steps that nothing interrupts: the reference for the resumed runs."""
    workdir = tmp_path_factory.mktemp("straight")
    result = _run(_train_command(workdir, npz))
    assert result.returncode == 0, result.stderr
    return workdir


def _wait_for(predicate, process, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"training ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_train_then_sample_writes_pngs(straight_run):
    result = _run([sys.executable, str(REPO / "sample.py"), f"--workdir={straight_run}", "--num=6", "--seed=3"])
    assert result.returncode == 0, result.stderr
    grid = Image.open(straight_run / "samples" / f"sample_{NUM_STEPS:08d}_seed3.png")
    assert grid.size == (2 + 3 * 30, 2 + 2 * 30)  # 6 samples of 28x28: 3 columns, 2 rows, 2-pixel padding
    out = straight_run / "strip.png"
    result = _run(
        [
            sys.executable,
            str(REPO / "sample.py"),
            f"--workdir={straight_run}",
            "--interpolate",
            "--num=10",
            "--frames=5",
            f"--out={out}",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (2 + 5 * 30, 2 + 2 * 30)  # 2 strips of 5 frames


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_saves_and_the_same_command_resumes_exactly(tmp_path, npz, straight_run, stop_signal):
    workdir = tmp_path / "preempted"
    command = _train_command(workdir, npz)
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = workdir / "metrics.jsonl"
    _wait_for(lambda: metrics.exists() and metrics.stat().st_size > 0, process, "the first logged step")
    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    stopped_at = load_run(workdir).step
    assert 0 < stopped_at < NUM_STEPS, "the signal must land mid-run for this test to mean anything"
    assert f"stopped by {stop_signal.name} at step {stopped_at}; checkpoint saved" in stderr

    result = _run(command)
    assert result.returncode == 0, result.stderr
    assert f"resuming from the checkpoint at step {stopped_at}" in result.stderr
    _assert_same_state(straight_run, workdir)
    assert without_timing(records(workdir)) == without_timing(records(straight_run))


def test_kill_9_loses_only_the_steps_since_the_last_checkpoint(tmp_path, npz, straight_run):
    workdir = tmp_path / "killed"
    command = _train_command(workdir, npz)
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_done = workdir / "checkpoints" / str(CHECKPOINT_EVERY) / RECORD_NAME  # the first checkpoint counts
    _wait_for(first_done.is_file, process, "the first checkpoint")
    process.kill()
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "training must not have ended before the kill"
    logged_before_resume = [record["step"] for record in records(workdir)]
    killed_at = logged_before_resume[-1]
    assert logged_before_resume == list(range(1, killed_at + 1))
    assert CHECKPOINT_EVERY <= killed_at < NUM_STEPS, "the kill must land mid-run for this test to mean anything"

    result = _run(command)
    assert result.returncode == 0, result.stderr
    [resumed_from] = map(int, re.findall(r"resuming from the checkpoint at step (\d+)", result.stderr))
    # The newest checkpoint that was complete at the kill: the steps since then are lost and done again.
    assert resumed_from % CHECKPOINT_EVERY == 0 and CHECKPOINT_EVERY <= resumed_from <= killed_at
    _assert_same_state(straight_run, workdir)
    # Every step logged exactly once and as in the straight run: the lost steps' records were replaced, not repeated.
    assert without_timing(records(workdir)) == without_timing(records(straight_run))


def test_a_bad_flag_is_one_clear_line_and_exit_status_2(tmp_path, npz):
    result = _run(_train_command(tmp_path / "run", npz, loss="hnige"))
    assert result.returncode == 2
    assert f"error: unknown loss 'hnige' (--config.loss); valid: {', '.join(LOSSES.names())}\n" in result.stderr
    assert "Traceback" not in result.stderr


def _overwrite_middle_of_largest_file(checkpoint: pathlib.Path) -> None:
    """Writes 4 KiB of zeros into the middle of the checkpoint's largest file, as a failing disk might."""
    largest = max((path for path in checkpoint.rglob("*") if path.is_file()), key=lambda path: path.stat().st_size)
    with largest.open("r+b") as file:
        file.seek(largest.stat().st_size // 2)
        file.write(bytes(4096))


def test_a_damaged_checkpoint_is_skipped_by_sample_py_and_train_py(tmp_path, npz):
    workdir, checkpoints = tmp_path / "run", tmp_path / "run" / "checkpoints"
    assert _run(train_command(workdir, npz, **{"train.num_steps": 4, "train.checkpoint_every": 2})).returncode == 0
    _overwrite_middle_of_largest_file(checkpoints / "4")

    result = _run([sys.executable, str(REPO / "sample.py"), f"--workdir={workdir}", "--num=4"])
    assert result.returncode == 0, result.stderr
    assert f"checkpoint {checkpoints / '4'} is damaged" in result.stderr
    assert (workdir / "samples" / "sample_00000002_seed0.png").is_file()

    resumed = _run(train_command(workdir, npz, **{"train.num_steps": 6, "train.checkpoint_every": 2}))
    assert resumed.returncode == 0, resumed.stderr
    assert f"checkpoint {checkpoints / '4'} is damaged" in resumed.stderr
    assert "resuming from the checkpoint at step 2" in resumed.stderr and load_run(workdir).step == 6

    for step in (2, 4, 6):
        _overwrite_middle_of_largest_file(checkpoints / str(step))
    result = _run([sys.executable, str(REPO / "sample.py"), f"--workdir={workdir}"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: none of the 3 checkpoints in {checkpoints} is intact" in result.stderr
