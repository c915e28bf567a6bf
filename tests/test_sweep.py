"""`python -m ganjax.sweep` end to end on the toy ring: one program for many runs, the report, resume after kill -9,
the spec-edit rule, failure isolation, launchers sharing a folder, and bad specs refused before anything compiles."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from helpers import REPO

from ganjax.checkpoint import RECORD_NAME
from ganjax.errors import ConfigError
from ganjax.runs import load_run
from ganjax.sweep import plan as plan_lib
from ganjax.sweep import runner
from ganjax.sweep import training as training_lib

# The toy ring made tiny: a 32-wide MLP, 20 steps, evaluated at 10 and 20.
TINY = {
    "model.hidden": 32,
    "train.batch_size": 64,
    "train.num_steps": 20,
    "train.log_every": 5,
    "train.checkpoint_every": 10,
    "train.sample_every": 0,
    "eval.every": 10,
}


def _spec(folder: pathlib.Path, sweep: str, name: str = "spec.py") -> pathlib.Path:
    path = folder / name
    path.write_text(f'BASE = "toy_ring"\nMETRIC = "high_quality_share"\n\n\ndef get_sweep(h):\n    return {sweep}\n')
    return path


def _flags(**overrides) -> list[str]:
    return [f"{key}={value}" for key, value in {**TINY, **overrides}.items()]


def _rows_without_timing(directory: pathlib.Path) -> list[dict]:
    rows = [json.loads(line) for line in (directory / plan_lib.RESULTS_FILE).read_text().splitlines()]
    return [{key: value for key, value in row.items() if key != "wall_time_s"} for row in rows]


def _step_lowerings(function):
    """function()'s result and how many times it lowered a member step program (jax.monitoring's events)."""
    count = []

    def listen(event: str, duration: float, **kwargs) -> None:
        del duration
        if event == "/jax/core/compile/jaxpr_to_mlir_module_duration" and "member_steps" in kwargs.get("fun_name", ""):
            count.append(1)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        return function(), len(count)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def _sweep_cli(*arguments: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "GANJAX_CPU_FLAGS": "0"}
    command = [sys.executable, "-m", "ganjax.sweep", *arguments]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def test_a_sweep_trains_as_one_program_reports_resumes_and_exports(tmp_path):
    spec = _spec(
        tmp_path,
        'h.product([h.sweep("loss", ["non_saturating", "hinge"]), h.sweep("optim.d_lr", [1e-3, 3e-4]), h.seeds(3)])',
    )
    directory = tmp_path / "sweep"
    prepared = runner.prepare(spec, directory, _flags(), max_members=12)
    assert len(prepared.plan.runs) == 12 and len(prepared.plan.units) == 1
    outcome, lowerings = _step_lowerings(lambda: runner.work(directory))
    assert outcome == runner.FINISHED and lowerings == 1
    runner.gather(directory)
    rows = _rows_without_timing(directory)
    assert len(rows) == 12 * 2 and {row["step"] for row in rows} == {10, 20}
    assert {row["configuration"] for row in rows} == {
        f"loss={loss}, optim.d_lr={lr}" for loss in ("non_saturating", "hinge") for lr in (0.001, 0.0003)
    }
    assert "12 done" in runner.status_text(directory)

    report = directory / "report"
    html = (report / "index.html").read_text()
    # Curves, budget curve, per-seed strips and, for this two-factor grid, the heatmap.
    assert html.count("data:image/png;base64") == 4 and "heatmap.png" in (report / "report.md").read_text()
    summary = (report / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 4
    finals = {row["run"]: row["metrics"]["high_quality_share"] for row in rows if row["step"] == 20}
    best = max(
        ("non_saturating", "hinge"),
        key=lambda loss: np.mean(
            [v for run, v in finals.items() if prepared.plan.runs[run]["overrides"]["loss"] == loss]
        ),
    )
    assert any(best in line for line in summary[1:])

    # Again: the plan holds, nothing is trained or compiled.
    runner.prepare(spec, directory, _flags(), max_members=12)
    assert _step_lowerings(lambda: runner.work(directory)) == (runner.FINISHED, 0)

    # One member exported is a normal run folder, whose checkpoint is the member's.
    run_id = next(iter(prepared.plan.runs))
    runner.export(directory, run_id, tmp_path / "one")
    exported = load_run(tmp_path / "one")
    assert exported.step == 20 and exported.config.seed == prepared.plan.runs[run_id]["overrides"]["seed"]
    assert not (tmp_path / "one" / plan_lib.STATUS_FILE).exists()

    # The spec-edit rule: added seeds train alone; a changed run is refused unless --force.
    spec = _spec(
        tmp_path,
        'h.product([h.sweep("loss", ["non_saturating", "hinge"]), h.sweep("optim.d_lr", [1e-3, 3e-4]), h.seeds(4)])',
    )
    before = {run: (plan_lib.run_dir(directory, run) / "checkpoints" / "20").stat().st_mtime for run in finals}
    edited = runner.prepare(spec, directory, _flags(), max_members=12)
    assert len(edited.added) == 4 and all(run_id not in finals for run_id in edited.added)
    runner.work(directory)
    assert {run: (plan_lib.run_dir(directory, run) / "checkpoints" / "20").stat().st_mtime for run in finals} == before
    assert "16 done" in runner.status_text(directory)
    with pytest.raises(ConfigError, match="16 changed"):
        runner.prepare(spec, directory, _flags(**{"train.num_steps": 30}))
    forced = runner.prepare(spec, directory, _flags(**{"train.num_steps": 30}), force=True)
    assert len(forced.added) == 16 and len(list((directory / "runs").glob("*.replaced-*"))) == 16


def test_runs_of_several_losses_learning_rates_and_seeds_compile_one_step_program(tmp_path):
    """18 runs (3 losses, 3 learning rates, 2 seeds) as one unit of 18 members, and 4 runs (2 losses, 2 learning
    rates) as units of one (CPU's default): one step program either way. Through the CLI, in its own process: the 18
    members hold 18 checkpoint managers and event writers at once."""
    spec_18 = (
        'h.product([h.sweep("loss", ["non_saturating", "hinge", "least_squares"]), '
        'h.sweep("optim.g_lr", [1e-3, 5e-4, 2e-4]), h.seeds(2)])'
    )
    spec_4 = 'h.product([h.sweep("loss", ["non_saturating", "hinge"]), h.sweep("optim.g_lr", [1e-3, 2e-4])])'
    flags = [f"--config.{flag}" for flag in _flags(**{"train.num_steps": 2, "eval.every": 0, "train.num_samples": 16})]
    for name, spec, limit, runs, units in (
        ("together", spec_18, ["--max-members=18"], 18, 1),
        ("one_by_one", spec_4, [], 4, 4),
    ):
        directory = tmp_path / name
        process = _sweep_cli("run", str(_spec(tmp_path, spec, f"{name}.py")), f"--workdir={directory}", *limit, *flags)
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        plan = plan_lib.read_plan(directory)
        assert len(plan.runs) == runs and len(plan.units) == units
        assert err.count("compiled as one program") == 1, err
        statuses = [plan_lib.read_status(plan_lib.run_dir(directory, run))["status"] for run in plan.runs]
        assert statuses == ["done"] * runs


def test_a_diverging_member_is_recorded_and_the_others_are_bitwise_unchanged(tmp_path, monkeypatch):
    spec = _spec(tmp_path, "h.seeds(5)")

    def sweep(name: str) -> pathlib.Path:
        directory = tmp_path / name
        runner.prepare(spec, directory, _flags(), max_members=5)
        runner.work(directory)
        runner.gather(directory)
        return directory

    clean = sweep("clean")
    real_batches = training_lib.domain_batches

    def poisoned(*args, seed, **kwargs):  # seed 3's real batch of step 7 is NaN
        for step, batch in enumerate(real_batches(*args, seed=seed, **kwargs), start=kwargs["start_step"] + 1):
            yield (
                {key: np.full_like(value, np.nan) for key, value in batch.items()} if seed == 3 and step == 7 else batch
            )

    monkeypatch.setattr(training_lib, "domain_batches", poisoned)
    directory = sweep("poisoned")
    plan = plan_lib.read_plan(directory)
    for run_id, planned in plan.runs.items():
        status = plan_lib.read_status(plan_lib.run_dir(directory, run_id))
        if planned["overrides"]["seed"] == 3:
            assert (status["status"], status["step"]) == ("diverged", 7)
            assert plan_lib.evaluations(plan_lib.run_dir(directory, run_id)) == []
            assert (plan_lib.run_dir(directory, run_id) / "checkpoints" / "10").exists() is False
            continue
        assert status["status"] == "done"
        assert (
            plan_lib.evaluations(plan_lib.run_dir(directory, run_id))[-1]["metrics"]
            == plan_lib.evaluations(plan_lib.run_dir(clean, run_id))[-1]["metrics"]
        )
        ours = load_run(plan_lib.run_dir(directory, run_id)).state
        theirs = load_run(plan_lib.run_dir(clean, run_id)).state
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
            np.testing.assert_array_equal(a, b)
    assert "1/5 diverged at step 7" in (directory / "report" / "report.md").read_text()
    assert runner.failures(directory) == [
        next(line for line in runner.failures(directory) if "diverged at step 7" in line)
    ]


def _statuses(directory: pathlib.Path) -> list[str]:
    """The status of each run of the sweep in `directory`, in the plan's order."""
    runs = plan_lib.read_plan(directory).runs
    return [plan_lib.read_status(plan_lib.run_dir(directory, run))["status"] for run in runs]


def _checkpointed(directory: pathlib.Path, step: int) -> bool:
    """Whether some run of the sweep in `directory` has completed its checkpoint of `step`."""
    return any(
        (plan_lib.run_dir(directory, run) / "checkpoints" / str(step) / RECORD_NAME).is_file()
        for run in plan_lib.read_plan(directory).runs
    )


@pytest.mark.slow
def test_kill_9_at_three_moments_then_rerun_gives_the_uninterrupted_results(tmp_path):
    """Killed once the plan is written (before any step), once the first checkpoint exists (mid-unit), once a run is
    done (between units): moments defined by the sweep's progress, not by the clock, so a loaded machine moves them
    in time but not in what they interrupt."""
    spec = _spec(tmp_path, 'h.product([h.sweep("loss", ["non_saturating", "hinge"]), h.seeds(2)])')
    flags = [
        f"--config.{flag}"
        for flag in _flags(**{"train.num_steps": 200, "train.checkpoint_every": 25, "eval.every": 50})
    ]

    def sweep(directory: pathlib.Path) -> subprocess.CompletedProcess:
        process = _sweep_cli("run", str(spec), f"--workdir={directory}", "--max-members=2", *flags)
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        return subprocess.CompletedProcess(process.args, 0, out, err)

    sweep(tmp_path / "whole")
    interrupted = tmp_path / "interrupted"
    planned = (interrupted / plan_lib.PLAN_FILE).is_file
    moments = {
        "the plan written": planned,
        "a checkpoint written": lambda: planned() and _checkpointed(interrupted, 25),
        "a run done": lambda: planned() and plan_lib.DONE in _statuses(interrupted),
    }
    for moment, reached in moments.items():
        process = _sweep_cli("run", str(spec), f"--workdir={interrupted}", "--max-members=2", *flags)
        deadline = time.monotonic() + 300
        while not reached():
            assert process.poll() is None, f"the sweep ended before {moment}"
            assert time.monotonic() < deadline, f"timed out waiting for {moment}"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.communicate()
    statuses = _statuses(interrupted)
    assert plan_lib.DONE in statuses and statuses.count(plan_lib.DONE) < len(statuses), "killed between units"
    done_before = {
        run: (plan_lib.run_dir(interrupted, run) / "checkpoints").stat().st_mtime
        for run in plan_lib.read_plan(interrupted).runs
        if plan_lib.read_status(plan_lib.run_dir(interrupted, run))["status"] == plan_lib.DONE
    }
    final = sweep(interrupted)
    assert _rows_without_timing(interrupted) == _rows_without_timing(tmp_path / "whole")
    for run, mtime in done_before.items():
        assert (plan_lib.run_dir(interrupted, run) / "checkpoints").stat().st_mtime == mtime
        assert f"unit {plan_lib.read_plan(interrupted).unit_of(run).id} step" not in final.stderr


@pytest.mark.slow
def test_two_launchers_on_one_folder_never_train_a_unit_twice(tmp_path):
    spec = _spec(tmp_path, "h.seeds(20)")
    directory = tmp_path / "sweep"
    prepared = runner.prepare(
        spec, directory, _flags(**{"train.num_steps": 2, "train.log_every": 1, "eval.every": 0}), max_members=1
    )
    assert len(prepared.plan.units) == 20
    launchers = [_sweep_cli("work", str(directory)) for _ in range(2)]
    logs = [launcher.communicate(timeout=600)[1] for launcher in launchers]
    assert [launcher.returncode for launcher in launchers] == [0, 0], logs
    trained = [{unit.id for unit in prepared.plan.units if f"unit {unit.id} step 2/2" in log} for log in logs]
    assert trained[0].isdisjoint(trained[1]) and len(trained[0] | trained[1]) == 20
    assert all(trained), "both launchers took units"


def test_bad_specs_get_one_line_errors_before_anything_compiles(tmp_path):
    cases = {
        'h.sweep("optim.lrr", [1e-3])': "did you mean",
        'h.sweep("optim.g_lr", ["fast"])': "does not fit --config.optim.g_lr",
        "[]": "returned no runs",
    }
    for sweep, message in cases.items():
        with pytest.raises(ConfigError, match=message) as refused:
            runner.prepare(_spec(tmp_path, sweep), tmp_path / "sweep", [], dry_run=True)
        assert "\n" not in str(refused.value)
    # Through the CLI: its one line on stderr and exit status 2.
    spec = _spec(tmp_path, "h.seeds(2)")
    process = _sweep_cli("run", str(spec), f"--workdir={tmp_path / 'sweep'}", "--device-memory-gb=0.00001")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2 and "one run of this sweep needs about" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "sweep").exists()
