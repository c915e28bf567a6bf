"""Many processes and sharded state: two train.py processes on loopback (2 CPU devices each) against one process,
checkpoints moving between device counts and meshes, FSDP against replicated parameters, an unreachable
coordinator, and a stop signal to one process of two."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import jax
import ml_collections
import numpy as np
import pytest
from conftest import REPO, SHARED_DATA
from helpers import initial_state, records, tiny_dcgan_config, train_command
from jax.sharding import PartitionSpec

from ganjax import parallel
from ganjax.checkpoint import Checkpoints
from ganjax.config import validate_layout
from ganjax.errors import ConfigError
from ganjax.runs import load_run
from ganjax.tasks import build_task
from ganjax.train import train_and_evaluate

NUM_STEPS = 4
INCEPTION = SHARED_DATA / "inception_fid" / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"
LOSSES = ("d_loss", "g_loss", "d_real_logit", "d_fake_logit")
LAUNCHER_ENV_PREFIXES = ("SLURM_", "OMPI_", "PMI_", "JAX_COORDINATOR", "JAX_NUM_CPU_DEVICES", "TPU_")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any launcher's variables (so nothing is auto-detected by accident)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(LAUNCHER_ENV_PREFIXES)}
    return {**env, **extra}


def _train_command(workdir, npz, **overrides) -> list[str]:
    """helpers.train_command for NUM_STEPS steps that save and sample every other one, reading batches in the main
    thread, with `overrides` on top."""
    settings = {"train.num_steps": NUM_STEPS, "train.checkpoint_every": 2, "train.sample_every": 2}
    return train_command(workdir, npz, **{**settings, "data.num_threads": 0, **overrides})


def _start(command, env) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_running(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _finish(processes, timeout=240.0) -> list[tuple[int, str]]:
    """(exit status, stderr) of each process; kills all of them if any is still running after `timeout` seconds."""
    deadline, results = time.monotonic() + timeout, []
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((process.returncode, stderr))
    finally:
        _kill_running(processes)
    return results


def _launch_two(workdir, npz, **overrides) -> list[subprocess.Popen]:
    """train.py twice, as process 0 and 1 of a job on 127.0.0.1 with 2 CPU devices each (docs/scaled_runs.md)."""
    port = _free_port()
    distributed = {"coordinator_address": f"127.0.0.1:{port}", "num_processes": 2, "local_device_count": 2}
    flags = {f"distributed.{key}": value for key, value in distributed.items()} | overrides
    return [
        _start(_train_command(workdir, npz, **flags, **{"distributed.process_id": index}), _clean_env())
        for index in (0, 1)
    ]


def _flat_params(state, network: str) -> np.ndarray:
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(state.networks[network].params)])


def _assert_same_training(run_a, run_b, start, tolerance: float) -> None:
    """Both runs' networks moved away from `start` alike: the distance between them is at most `tolerance` times the
    distance they travelled. Bitwise equality is out of reach wherever gradients are summed in a different order
    (another all-reduce, another layout): Adam's first steps turn relative differences of 1e-7 in tiny gradients
    into differences of up to a learning rate."""
    for network in ("generator", "discriminator"):
        a, b, origin = (_flat_params(state, network) for state in (run_a, run_b, start))
        assert np.linalg.norm(a - b) <= tolerance * np.linalg.norm(a - origin), network


def _training_records(workdir) -> list[dict]:
    """The run's metric records of training steps (not those of evaluations)."""
    return [record for record in records(workdir) if "fid" not in record]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, npz):
    """Two processes with 2 CPU devices each (4 in all), NUM_STEPS steps, evaluating FID every other step where the
    Inception weights are found: (workdir, stderr of process 0 and 1)."""
    workdir = tmp_path_factory.mktemp("two_processes")
    evaluation = {
        "eval.every": 2,
        "eval.metrics": "('fid',)",
        "eval.num": 16,
        "eval.num_reference": 16,
        "eval.batch_size": 8,
        "eval.inception": str(INCEPTION),
        "eval.cache_dir": str(tmp_path_factory.mktemp("cache")),
    }
    results = _finish(_launch_two(workdir, npz, **(evaluation if INCEPTION.is_file() else {})))
    for index, (status, stderr) in enumerate(results):
        assert status == 0, f"process {index}:\n{stderr}"
    return workdir, [stderr for _, stderr in results]


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory, npz):
    """The same run in one process with 4 CPU devices."""
    workdir = tmp_path_factory.mktemp("one_process")
    [(status, stderr)] = _finish(
        [_start(_train_command(workdir, npz, **{"distributed.local_device_count": 4}), _clean_env())]
    )
    assert status == 0, stderr
    return workdir


@pytest.mark.slow
def test_two_processes_train_like_one_process_with_as_many_devices(two_process_run, one_process_run):
    workdir, (chief_log, other_log) = two_process_run
    assert "devices: 4 x cpu" in chief_log
    assert Checkpoints(workdir / "checkpoints").steps() == [2, 4]
    # Only process 0 writes records, samples and the config, and only it logs below warnings.
    assert [record["step"] for record in _training_records(workdir)] == list(range(1, NUM_STEPS + 1))
    assert sorted(path.name for path in (workdir / "samples").iterdir()) == [
        "samples_00000002.png",
        "samples_00000004.png",
    ]
    assert (workdir / "config.json").exists()
    assert "devices:" not in other_log and "parameters:" not in other_log

    # The same global batches, initialisation and randomness (evaluating in between changes none of them): the
    # losses agree to float rounding at every step.
    for two, one in zip(_training_records(workdir), records(one_process_run), strict=True):
        np.testing.assert_allclose([two[key] for key in LOSSES], [one[key] for key in LOSSES], rtol=1e-5, atol=1e-6)
    two, one = load_run(workdir), load_run(one_process_run)
    assert two.step == one.step == NUM_STEPS
    _assert_same_training(two.state, one.state, initial_state(one.task, one.config.seed), tolerance=0.02)


@pytest.mark.slow
def test_a_two_process_checkpoint_continues_in_one_process_on_another_mesh(
    two_process_run, one_process_run, tmp_path, npz
):
    """2 processes x 2 devices -> 1 process x 8 devices with FSDP; the 4-device run continues replicated alongside."""
    resumed, reference = tmp_path / "resumed", tmp_path / "reference"
    shutil.copytree(two_process_run[0], resumed)
    shutil.copytree(one_process_run, reference)
    config = tiny_dcgan_config(
        **{
            "data.name": "npz",
            "data.path": str(npz),
            "train.num_steps": NUM_STEPS + 2,
            "train.checkpoint_every": 2,
        }
    )
    reference_state = train_and_evaluate(config, reference)

    config.mesh.update({"data": 2, "fsdp": 4})
    config.sharding.fsdp_min_size = 256
    state = train_and_evaluate(config, resumed)
    assert int(state.step) == NUM_STEPS + 2
    assert state.networks["generator"].params["Dense_0"]["kernel"].sharding.spec == PartitionSpec(
        None, parallel.FSDP_AXIS
    )
    assert Checkpoints(resumed / "checkpoints").steps() == [2, 4, 6]
    assert [record["step"] for record in _training_records(resumed)] == list(range(1, NUM_STEPS + 3))
    _assert_same_training(state, reference_state, initial_state(build_task(config), config.seed), tolerance=0.02)


@pytest.mark.slow
@pytest.mark.skipif(not INCEPTION.is_file(), reason=f"the Inception weights are not at {INCEPTION}")
def test_two_processes_evaluate_fid_together_and_keep_one_best_checkpoint(two_process_run):
    workdir, stderrs = two_process_run
    fids = {record["step"]: record["fid"] for record in records(workdir) if "fid" in record}
    assert sorted(fids) == [2, 4] and all(np.isfinite(list(fids.values())))
    best = Checkpoints(workdir / "best")
    assert best.steps() == [min(fids, key=fids.get)]
    assert best.metrics(best.steps()[0])["fid"] == fids[best.steps()[0]]  # the same float64, bit for bit
    best.close()
    assert "Inception features" in stderrs[0] and "Inception features" not in stderrs[1]  # one progress bar


def test_fsdp_gives_the_results_of_replicated_parameters(tmp_path, npz):
    config = tiny_dcgan_config(**{"data.name": "npz", "data.path": str(npz), "train.num_steps": 3})
    replicated = train_and_evaluate(config, tmp_path / "replicated")
    config.mesh.update({"data": 2, "fsdp": 4})
    config.sharding.fsdp_min_size = 256
    sharded = train_and_evaluate(config, tmp_path / "fsdp")

    kernel = sharded.networks["generator"].params["Dense_0"]["kernel"]  # (16, 784): 784 columns split over 4 devices
    assert kernel.sharding.spec == PartitionSpec(None, parallel.FSDP_AXIS)
    assert {shard.data.shape for shard in kernel.addressable_shards} == {(16, 196)}
    adam_mu = sharded.networks["generator"].opt_state[0].mu["Dense_0"]["kernel"]
    assert adam_mu.sharding.spec == kernel.sharding.spec
    for a, b in zip(jax.tree.leaves(replicated), jax.tree.leaves(sharded), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    for a, b in zip(records(tmp_path / "replicated"), records(tmp_path / "fsdp"), strict=True):
        np.testing.assert_allclose([a[key] for key in LOSSES], [b[key] for key in LOSSES], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "spec"),
    [
        ((16, 784), (None, "fsdp")),  # the largest dimension
        ((4, 4, 16, 16), (None, None, None, "fsdp")),  # equal ones: the last (output features)
        ((4, 4, 6, 32), (None, None, None, "fsdp")),  # 6 is not divisible by 4
        ((3, 5, 7, 9), ()),  # no dimension divisible: replicated
        ((128,), ()),  # fewer than min_size elements: replicated
    ],
)
def test_the_fsdp_rule(shape, spec):
    assert parallel.fsdp_spec(shape, fsdp_size=4, min_size=256) == PartitionSpec(*spec)
    assert parallel.fsdp_spec(shape, fsdp_size=1, min_size=256) == PartitionSpec()


def test_the_batch_splits_over_data_and_fsdp():
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": -1, "fsdp": 4}))
    assert dict(mesh.shape) == {"data": 2, "fsdp": 4}
    assert parallel.step_batch_sharding(mesh).spec == PartitionSpec(None, ("data", "fsdp"))
    assert parallel.process_batch_block(parallel.step_batch_sharding(mesh), 16) == 0
    with pytest.raises(ConfigError, match=r"batch_size=12 does not divide over the 8 devices .* data and fsdp axes"):
        validate_layout(tiny_dcgan_config(**{"train.batch_size": 12}), mesh, process_count=1)
    with pytest.raises(ConfigError, match=r"unknown mesh axes \['model'\]"):
        parallel.make_mesh(ml_collections.ConfigDict({"data": -1, "model": 2}))


@pytest.mark.slow
@pytest.mark.parametrize("process_id", [0, 1])
def test_a_process_alone_fails_within_the_timeout_naming_the_coordinator(tmp_path, npz, process_id):
    """Process 1 finds no coordinator: a one-line error. Process 0 serves the address but nobody joins: JAX aborts
    after the timeout, after the line that names the address. Neither gets as far as the workdir."""
    address, workdir = f"127.0.0.1:{_free_port()}", tmp_path / "run"
    command = _train_command(
        workdir,
        npz,
        **{
            "distributed.coordinator_address": address,
            "distributed.num_processes": 2,
            "distributed.process_id": process_id,
            "distributed.initialization_timeout": 3,
        },
    )
    started = time.monotonic()
    [(status, stderr)] = _finish([_start(command, _clean_env())], timeout=60)
    assert time.monotonic() - started < 45
    if process_id == 1:
        assert status == 2, stderr
        assert f"error: cannot reach the coordinator at {address}" in stderr
    else:
        assert status != 0, stderr
        assert f"connecting to the coordinator at {address}" in stderr
    assert not workdir.exists()


@pytest.mark.slow
def test_sigterm_to_one_process_stops_both_at_the_same_step_with_a_checkpoint(tmp_path, npz):
    """Launched the way `srun` launches (only SLURM_* variables, no distributed flags): the processes find each
    other by themselves. SIGTERM to process 1; both stop after the same step, with one checkpoint there."""
    workdir, port, num_steps = tmp_path / "run", _free_port(), 100_000
    settings = {"train.num_steps": num_steps, "train.checkpoint_every": num_steps, "train.sample_every": 0}
    command = _train_command(workdir, npz, **settings, **{"distributed.local_device_count": 2})
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "localhost", "SLURM_NTASKS": "2"}
    processes = [
        _start(
            command,
            _clean_env(**slurm, SLURM_PROCID=str(index), SLURM_LOCALID=str(index), JAX_COORDINATOR_PORT=str(port)),
        )
        for index in (0, 1)
    ]
    deadline, metrics = time.monotonic() + 180, workdir / "metrics.jsonl"
    try:
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
            assert all(process.poll() is None for process in processes), "a process ended before training"
            assert time.monotonic() < deadline, "timed out waiting for training to start"
            time.sleep(0.05)
    except BaseException:
        _kill_running(processes)
        raise
    processes[1].send_signal(signal.SIGTERM)
    results = _finish(processes, timeout=120)

    stopped_at = []
    for index, (status, stderr) in enumerate(results):
        assert status == 0, f"process {index}:\n{stderr}"
        [line] = [line for line in stderr.splitlines() if "stopped by" in line]
        stopped_at.append(int(line.split(" at step ")[1].split(";")[0]))
        assert ("stopped by SIGTERM" if index == 1 else "stopped by another process") in line
    assert stopped_at[0] == stopped_at[1] < num_steps
    assert Checkpoints(workdir / "checkpoints").steps() == [stopped_at[0]]
    assert records(workdir)[-1]["step"] == stopped_at[0]
