"""Test set-up: 8 CPU devices (so sharded code paths run), a persistent compilation cache, and the small datasets
that tests only read.

JAX must be configured before its backend starts, so this runs before any test module touches a device.
"""

from __future__ import annotations

import importlib.metadata
import os
import pathlib

# One BLAS thread per process, in this one and the train.py/evaluate.py subprocesses: on the 2-core machines two
# xdist workers already fill the cores, and OpenBLAS's spinning threads then make a 2048x2048 eigh (each FID) take
# 5-15 s instead of 1 s. Set before numpy loads (jax imports it).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# XLA:CPU's older elementwise emitters instead of its MLIR fusion emitters, in this process and the subprocesses: XLA
# compiles each small program about 40% sooner with them (the thousands that op-by-op code in the tests compiles;
# benchmarks/RESULTS.md, "The test suite after issue 22"). Only on the jaxlib it was measured on: an XLA that does not
# know a flag in XLA_FLAGS refuses to start. Set before the backend starts (XLA reads $XLA_FLAGS then).
if importlib.metadata.version("jaxlib") == "0.10.2" and "xla_cpu_use_fusion_emitters" not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_use_fusion_emitters=false".strip()

import jax
import pytest
from helpers import write_digit_npz

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
COMPILATION_CACHE = REPO / ".pytest_cache" / "jax-compilation-cache"

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_compilation_cache_dir", str(COMPILATION_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
# The tests' models are tiny: compiling them costs far more than running them, so XLA skips most of its optimisation
# passes (the same programs, less optimised; benchmarks/RESULTS.md, "The test suite after issue 22", has the time it
# saves). Speed is measured by benchmarks/, never here.
jax.config.update("jax_disable_most_optimizations", True)
# Subprocesses (train.py, sample.py) share the cache and the setting through the environment.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(COMPILATION_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")


@pytest.fixture(scope="session")
def npz(tmp_path_factory) -> pathlib.Path:
    """256 labelled 28x28 grey images in an .npz file (helpers.write_digit_npz); tests read it, none writes it."""
    return write_digit_npz(tmp_path_factory.mktemp("data") / "digits.npz")


@pytest.fixture(scope="session")
def rgb32_npz(tmp_path_factory) -> pathlib.Path:
    """256 labelled 32x32 RGB images, CIFAR-10's shape, in an .npz file; tests read it, none writes it."""
    return write_digit_npz(tmp_path_factory.mktemp("data") / "rgb32.npz", size=32, channels=3)


# The costliest files, costliest first, by their worker-seconds with a cold compilation cache (benchmarks/RESULTS.md,
# "The test suite after issue 22"); every other file costs less.
COSTLIEST_FILES = (
    "test_recipes.py",
    "test_sweep.py",
    "test_cyclegan.py",
    "test_cli.py",
    "test_distributed.py",
    "test_evaluation.py",
    "test_image2image.py",
    "test_vae.py",
    "test_architectures.py",
    "test_perceptual.py",
    "test_device_suite.py",
    "test_regularization.py",
    "test_step.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The costliest files first, costliest first, then the others in their order: pytest-xdist hands whole files to
    the workers in this order, so the long ones start early and the workers finish close together instead of one
    finishing a long file alone."""
    rank = {name: index for index, name in enumerate(COSTLIEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than the cores. Many tests wait on a subprocess, a signal or a timeout (train.py,
    the sweep's kills, the two-process runs), and the extra worker fills those waits (the idle CPU at two and three
    workers: benchmarks/RESULTS.md, "The test suite after issue 22")."""
    del config
    return len(os.sched_getaffinity(0)) + 1
