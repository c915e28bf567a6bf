"""What `python -m ganjax.sweep` does: plan a sweep folder from a spec, work through its units, gather the results.

`prepare` checks every run (the spec's keys and types, each resolved config, the memory a unit needs) before
anything is compiled, and freezes the plan; `work` trains units one after another, each claimed so that several
launchers (or `--workers`) share the folder without training a unit twice; `gather` rebuilds results.jsonl and the
report from the folder's files alone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import pathlib
import shutil
import time
from collections.abc import Sequence
from typing import Any

import jax
import ml_collections

from ganjax import config as config_lib
from ganjax.errors import ConfigError
from ganjax.metrics import HIGHER_IS_BETTER
from ganjax.sweep import plan as plan_lib
from ganjax.sweep import report as report_lib
from ganjax.sweep.claims import Claims
from ganjax.sweep.members import MemberGroup, device_memory_bytes, group_signature, member_bytes
from ganjax.sweep.spec import Run, load_spec, parse_overrides, resolve_runs
from ganjax.sweep.training import FINISHED, LOST, STOPPED, train_unit
from ganjax.tasks import build_task
from ganjax.train import CONFIG_FILE

log = logging.getLogger(__name__)

# The share of a device's memory a unit may plan to use; the rest is left for activations and XLA's own buffers.
MEMORY_FRACTION = 0.5


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A planned sweep: its plan, every run's config by id, and the runs this launch added to the plan."""

    plan: plan_lib.Plan
    configs: dict[str, ml_collections.ConfigDict]
    added: tuple[str, ...]


def members_per_unit(
    group: MemberGroup, devices: Sequence[jax.Device], max_members: int | None, memory_bytes: int | None
) -> int:
    """How many members of `group` one unit may hold on `devices`: as many as fit MEMORY_FRACTION of each
    device's memory (`member_bytes` apiece), at most `max_members`. Without `max_members`, on CPU one: XLA:CPU runs
    vmapped convolutions several times slower than the same runs one after another (benchmarks/RESULTS.md,
    "Sweeps"), and units of one member of a group still share one compiled program.

    Raises:
      ConfigError: not even one member fits a device.
    """
    needed = member_bytes(group)
    available = MEMORY_FRACTION * (memory_bytes or device_memory_bytes(devices[0]))
    per_device = math.floor(available / needed)
    if per_device < 1:
        raise ConfigError(
            f"one run of this sweep needs about {needed / 2**20:.0f} MiB on a device (its state twice and its "
            f"batches; activations come on top) but {MEMORY_FRACTION:.0%} of a device's memory is "
            f"{available / 2**20:.0f} MiB: shrink the model or the batch (--config.train.batch_size)"
        )
    if max_members is None and devices[0].platform == "cpu":
        return 1
    return min(per_device * len(devices), max_members or math.inf)


def default_metric(config: ml_collections.ConfigDict) -> str:
    """The score a report ranks by when the spec names none: the base config's eval.best_metric."""
    if config.eval.best_metric and config.eval.best_metric in config.eval.metrics:
        return config.eval.best_metric
    raise ConfigError(
        f"the spec names no METRIC and the base config's eval.best_metric ({config.eval.best_metric!r}) is not "
        f"among its eval.metrics {tuple(config.eval.metrics)}: set METRIC = '<score>' in the spec (e.g. "
        "'high_quality_share' for the ring metric)"
    )


def _check_runs(runs: Sequence[Run]) -> None:
    """Every run's resolved config is valid and builds, so that nothing is compiled for a sweep that would fail."""
    for run in runs:
        try:
            config_lib.validate_config(run.config)
            build_task(run.config)
        except ConfigError as error:
            raise ConfigError(f"run {run.id} ({run.overrides}): {error}") from None


def _move_aside(folder: pathlib.Path) -> None:
    if folder.exists():
        aside = folder.with_name(f"{folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        folder.rename(aside)
        log.warning("the changed run's old folder is kept as %s", aside)


def prepare(
    spec_path: str | pathlib.Path,
    directory: pathlib.Path,
    flags: Sequence[str],
    *,
    force: bool = False,
    dry_run: bool = False,
    max_members: int | None = None,
    memory_bytes: int | None = None,
) -> Prepared:
    """Plans the sweep of `spec_path` in `directory` with the command line's `--config.*` overrides `flags`
    (without the prefix), or checks that the folder's plan still holds it: runs new to the plan are added in new
    units (only they will train); changed or removed runs are refused unless `force`. With `dry_run` nothing is
    written.

    Raises:
      ConfigError: a bad spec, run, override or memory need; or changed runs without `force`.
    """
    spec = load_spec(spec_path)
    runs = resolve_runs(spec, parse_overrides(spec.base, list(flags)))
    _check_runs(runs)
    metric = spec.metric or default_metric(spec.base)
    path = directory / plan_lib.PLAN_FILE
    old = plan_lib.Plan.from_json(path.read_text()) if path.is_file() else None
    new_runs, replaced = plan_lib.reconcile(old, runs, force=force)
    devices = jax.local_devices()
    new_units = plan_lib.plan_units(new_runs, lambda group: members_per_unit(group, devices, max_members, memory_bytes))
    kept_units = []
    for unit in old.units if old else []:
        members = [run_id for run_id in unit.runs if run_id not in replaced]
        if members:
            kept_units.append(unit if len(members) == len(unit.runs) else plan_lib.Unit.of(members))
    planned = {
        run.id: {"overrides": run.overrides, "config_sha256": plan_lib.config_sha256(run.config)} for run in runs
    }
    plan = plan_lib.Plan(
        spec=str(spec_path),
        spec_sha256=spec.sha256,
        git_commit=plan_lib.git_commit(),
        packages=plan_lib.package_versions(),
        command_line=parse_overrides(spec.base, list(flags)),
        metric=metric,
        runs=planned,
        units=kept_units + new_units,
    )
    if old is not None and not new_runs and not replaced:
        plan = old  # unchanged: the plan stays as its first launch froze it
    configs = {run.id: run.config for run in runs}
    if not dry_run and plan is not old:
        for run_id in replaced:
            if run_id in planned:
                _move_aside(plan_lib.run_dir(directory, run_id))
        for run in new_runs:
            folder = plan_lib.run_dir(directory, run.id)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / CONFIG_FILE).write_text(run.config.to_json(indent=2) + "\n")
        plan_lib.write_atomically(path, plan.to_json())
        log.info(
            "sweep %s: %d runs in %d units (%d new runs)", directory, len(plan.runs), len(plan.units), len(new_runs)
        )
    return Prepared(plan, configs, tuple(run.id for run in new_runs))


def describe(prepared: Prepared, devices: Sequence[jax.Device], memory_bytes: int | None = None) -> str:
    """--dry-run's text: every run, and the units as the programs they compile to, with the memory each needs."""
    plan, configs = prepared.plan, prepared.configs
    available = MEMORY_FRACTION * (memory_bytes or device_memory_bytes(devices[0]))
    lines = [f"{len(plan.runs)} runs ({len(prepared.added)} new), {len(plan.units)} units:"]
    programs = set()
    for unit in plan.units:
        group = MemberGroup.of([configs[run_id] for run_id in unit.runs])
        programs.add((group_signature(configs[unit.runs[0]]), len(unit.runs)))
        per_device = member_bytes(group) * math.ceil(len(unit.runs) / min(len(unit.runs), len(devices)))
        lines.append(
            f"  unit {unit.id}: {len(unit.runs)} members varying in {', '.join(group.varying) or 'nothing'}; "
            f"{per_device / 2**20:.1f} MiB per device of {available / 2**20:.0f} planned (state twice and batches; "
            "activations on top)"
        )
        lines += [f"    {run_id}  {plan.runs[run_id]['overrides']}" for run_id in unit.runs]
    lines.append(f"{len(programs)} compiled train-step programs")
    return "\n".join(lines)


def _read_configs(directory: pathlib.Path, plan: plan_lib.Plan) -> dict[str, ml_collections.ConfigDict]:
    return {
        run_id: ml_collections.ConfigDict(json.loads((plan_lib.run_dir(directory, run_id) / CONFIG_FILE).read_text()))
        for run_id in plan.runs
    }


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def work(directory: pathlib.Path, devices: Sequence[jax.Device] | None = None) -> str:
    """Trains every unit of the sweep in `directory` that no other launcher holds, one after another, on `devices`
    (this process's by default). Runs resume from their checkpoints; done and diverged runs are never trained
    again; a unit that raises marks its unfinished runs failed and the work goes on.

    Returns FINISHED, or STOPPED when a signal stopped it (checkpoints saved).
    """
    plan = plan_lib.read_plan(directory)
    configs = _read_configs(directory, plan)
    devices = list(devices or jax.local_devices())
    groups: dict[str, list[str]] = {}
    for run_id in plan.runs:
        groups.setdefault(group_signature(configs[run_id]), []).append(run_id)
    with Claims(directory / plan_lib.CLAIMS_DIR) as claims:
        for unit in plan.units:
            if claims.is_finished(unit.id) or not claims.try_claim(unit.id):
                continue
            todo = [
                run_id
                for run_id in unit.runs
                if plan_lib.read_status(plan_lib.run_dir(directory, run_id))["status"] not in plan_lib.FINAL
            ]
            if not todo:
                claims.finish(unit.id)
                continue
            whole = MemberGroup.of([configs[run_id] for run_id in groups[group_signature(configs[todo[0]])]])
            group = dataclasses.replace(whole, configs=tuple(configs[run_id] for run_id in todo))
            try:
                outcome = train_unit(directory, unit, group, todo, devices, lost=lambda unit=unit: claims.lost(unit.id))
            except Exception as error:
                log.exception("unit %s failed", unit.id)
                for run_id in todo:
                    folder = plan_lib.run_dir(directory, run_id)
                    status = plan_lib.read_status(folder)
                    if status["status"] not in plan_lib.FINAL:
                        plan_lib.write_status(folder, plan_lib.FAILED, status["step"], _one_line(error))
                claims.release(unit.id)
                continue
            if outcome == FINISHED:
                claims.finish(unit.id)
            elif outcome == STOPPED:
                claims.release(unit.id)
                return STOPPED
            elif outcome == LOST:
                continue
    return FINISHED


def summaries(directory: pathlib.Path, plan: plan_lib.Plan) -> list[dict[str, Any]]:
    """`plan_lib.run_summaries` with the claims deciding which unfinished runs are running."""
    claims_dir = directory / plan_lib.CLAIMS_DIR
    if not claims_dir.is_dir():
        return plan_lib.run_summaries(directory, plan, lambda unit: False)
    with Claims(claims_dir) as claims:
        return plan_lib.run_summaries(directory, plan, lambda unit: claims.holder(unit) is not None)


def gather(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """Rebuilds results.jsonl, TensorBoard's HParams view and the report from the sweep folder's files.

    Raises:
      ConfigError: matplotlib, which the report's plots need, is missing (results.jsonl and HParams are written).
    """
    plan = plan_lib.read_plan(directory)
    rows = plan_lib.write_results(directory, plan)
    runs = summaries(directory, plan)
    protocol = next((row["protocol"] for row in reversed(rows) if row.get("protocol")), {})
    protocol_text = "; ".join(f"{key} {value}" for key, value in protocol.items()) or "none recorded"
    report_lib.write_hparams(
        directory / "tensorboard", runs, rows, metric=plan.metric, higher_is_better=plan.metric in HIGHER_IS_BETTER
    )
    outputs = report_lib.build_report(
        directory,
        runs,
        rows,
        metric=plan.metric,
        higher_is_better=plan.metric in HIGHER_IS_BETTER,
        protocol=protocol_text,
    )
    return outputs


def status_text(directory: pathlib.Path) -> str:
    """The status command's table: every run's status and step, and the counts."""
    plan = plan_lib.read_plan(directory)
    runs = summaries(directory, plan)
    counts: dict[str, int] = {}
    lines = [f"{'run':<12} {'status':<9} {'step':>7}  configuration, seed"]
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
        error = f"  ({run['error']})" if run["error"] and run["status"] in (plan_lib.FAILED, plan_lib.DIVERGED) else ""
        lines.append(
            f"{run['run']:<12} {run['status']:<9} {run['step']:>7}  {run['configuration']}, seed {run['seed']}{error}"
        )
    lines.append(", ".join(f"{count} {name}" for name, count in sorted(counts.items())))
    return "\n".join(lines)


def failures(directory: pathlib.Path) -> list[str]:
    """One line per failed or diverged run."""
    plan = plan_lib.read_plan(directory)
    return [
        f"{run['run']} ({run['configuration']}, seed {run['seed']}): {run['status']} at step {run['stopped_step']}"
        + (f": {run['error']}" if run["error"] else "")
        for run in summaries(directory, plan)
        if run["status"] in (plan_lib.FAILED, plan_lib.DIVERGED)
    ]


def export(directory: pathlib.Path, run_id: str, destination: pathlib.Path) -> None:
    """Copies one run of the sweep as a normal run folder (config.json, checkpoints/, metrics.jsonl,
    tensorboard/, samples/, best/), which sample.py and `python -m ganjax.evaluate` read as any run.

    Raises:
      ConfigError: no such run, or `destination` exists.
    """
    plan = plan_lib.read_plan(directory)
    if run_id not in plan.runs:
        raise ConfigError(f"no run {run_id!r} in {directory}; its runs: {', '.join(plan.runs)}")
    if destination.exists():
        raise ConfigError(f"{destination} exists: export into a new folder")
    sweep_only = (plan_lib.STATUS_FILE, plan_lib.EVALUATIONS_FILE)
    shutil.copytree(
        plan_lib.run_dir(directory, run_id), destination, ignore=lambda _, names: [n for n in names if n in sweep_only]
    )
