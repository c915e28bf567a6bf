"""A sweep's folder: the frozen plan, each run's folder and status, and the results gathered from them.

    <sweep>/plan.json             the runs (id -> overrides and config hash), the units they train in, the spec's
                                  hash, the git commit and the package versions; frozen by the first launch
    <sweep>/runs/<id>/            a normal run folder (config.json, checkpoints/, metrics.jsonl, tensorboard/,
                                  samples/, best/) plus status.json and evaluations.jsonl
    <sweep>/claims/               which launcher trains which unit (ganjax/sweep/claims.py)
    <sweep>/results.jsonl         one row per run and evaluation step, rebuilt from the run folders
    <sweep>/report/               index.html, report.md, summary.csv (ganjax/sweep/report/)

A unit is what one launcher trains at a time: the members of one group (ganjax/sweep/members.py), or a chunk of
them when a group does not fit a device. Units are fixed in the plan, so that every launcher on the folder splits
the work alike. Everything here is written atomically (a temporary file renamed over the old one), so a kill never
leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import pathlib
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections

from ganjax.errors import ConfigError
from ganjax.sweep.members import MemberGroup, group_signature
from ganjax.sweep.spec import Run, configuration, configuration_label

PLAN_FILE = "plan.json"
RESULTS_FILE = "results.jsonl"
RUNS_DIR = "runs"
CLAIMS_DIR = "claims"
STATUS_FILE = "status.json"
EVALUATIONS_FILE = "evaluations.jsonl"
# A run's status.json says one of these; "pending" and "running" are also what no file (or a stale one) means.
PENDING, RUNNING, DONE, FAILED, DIVERGED = "pending", "running", "done", "failed", "diverged"
FINAL = (DONE, DIVERGED)  # never trained again; failed runs are retried by the next launch
_PACKAGES = ("ganjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "ml_collections")


def write_atomically(path: pathlib.Path, text: str) -> None:
    """Writes `text` to `path` through a temporary file renamed over it: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def config_sha256(config: ml_collections.ConfigDict) -> str:
    """The hash of a run's whole resolved config: what says that a planned run has changed."""
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True, default=repr).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in _PACKAGES}


def git_commit() -> str | None:
    """The commit of the ganjax checkout in use, with "-dirty" when it has uncommitted changes; None outside git."""
    root = pathlib.Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit


@dataclasses.dataclass(frozen=True)
class Unit:
    """Runs trained together as one program, in member order; `id` is a hash of their ids."""

    id: str
    runs: tuple[str, ...]

    @classmethod
    def of(cls, runs: Sequence[str]) -> Unit:
        return cls("u" + hashlib.sha256(",".join(runs).encode()).hexdigest()[:10], tuple(runs))


@dataclasses.dataclass
class Plan:
    """What a sweep folder holds to do (plan.json).

    Attributes:
      spec: the spec file's path as given; spec_sha256: the hash of its bytes at the newest launch that changed
        the plan.
      git_commit, packages: the code that made the plan.
      command_line: the `--config.*` overrides given after the spec, applied to every run.
      metric: the score the report ranks by.
      runs: run id -> {"overrides": the spec's overrides, "config_sha256": the resolved config's hash}, in spec order.
      units: the units, in the order launchers take them.
    """

    spec: str
    spec_sha256: str
    git_commit: str | None
    packages: dict[str, str]
    command_line: dict[str, Any]
    metric: str
    runs: dict[str, dict[str, Any]]
    units: list[Unit]

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        fields["units"] = [{"id": unit.id, "runs": list(unit.runs)} for unit in self.units]
        return json.dumps(fields, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        fields = json.loads(text)
        fields["units"] = [Unit(unit["id"], tuple(unit["runs"])) for unit in fields["units"]]
        return cls(**fields)

    def unit_of(self, run_id: str) -> Unit:
        return next(unit for unit in self.units if run_id in unit.runs)


def read_plan(directory: pathlib.Path) -> Plan:
    """The plan of the sweep in `directory`. ConfigError when there is none."""
    path = directory / PLAN_FILE
    if not path.is_file():
        raise ConfigError(
            f"{directory} is not a sweep folder ({PLAN_FILE} missing): start it with "
            f"`python -m ganjax.sweep run SPEC --workdir {directory}`"
        )
    return Plan.from_json(path.read_text())


def plan_units(runs: Sequence[Run], members_per_unit: Callable[[MemberGroup], int]) -> list[Unit]:
    """The runs grouped (equal `group_signature`, in the order each group first appears) and each group cut into
    units of at most `members_per_unit(group)` members, of as equal sizes as that allows."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(group_signature(run.config), []).append(run)
    units = []
    for members in groups.values():
        limit = members_per_unit(MemberGroup.of([run.config for run in members]))
        count = math.ceil(len(members) / limit)
        size = math.ceil(len(members) / count)
        units += [Unit.of([run.id for run in members[start : start + size]]) for start in range(0, len(members), size)]
    return units


def reconcile(old: Plan | None, runs: Sequence[Run], *, force: bool) -> tuple[list[Run], list[str]]:
    """Which of the spec's `runs` are new to the plan `old` (only they need units), and which planned runs the
    spec replaces: planned runs whose resolved config changed, or that the spec no longer has.

    Raises:
      ConfigError: there are replaced runs and not `force`.
    """
    if old is None:
        return list(runs), []
    wanted = {run.id: run for run in runs}
    changed = [
        run_id
        for run_id, run in wanted.items()
        if run_id in old.runs and old.runs[run_id]["config_sha256"] != config_sha256(run.config)
    ]
    removed = [run_id for run_id in old.runs if run_id not in wanted]
    if (changed or removed) and not force:
        parts = [f"{len(changed)} changed ({', '.join(changed[:5])})"] if changed else []
        parts += [f"{len(removed)} no longer in the spec ({', '.join(removed[:5])})"] if removed else []
        raise ConfigError(
            f"the spec or the --config overrides change runs this sweep already planned: {'; '.join(parts)}. "
            "Run with --force to retrain changed runs from scratch (their folders are moved aside) and drop the "
            "others from the plan, or use a new --workdir"
        )
    return [run for run_id, run in wanted.items() if run_id not in old.runs or run_id in changed], changed + removed


def run_dir(directory: pathlib.Path, run_id: str) -> pathlib.Path:
    return directory / RUNS_DIR / run_id


def write_status(
    folder: pathlib.Path, status: str, step: int, error: str | None = None, wall_time_s: float | None = None
) -> None:
    """Records a run's status (one of PENDING ... DIVERGED), the step it is at (or stopped at) and, at a checkpoint,
    the seconds it has trained up to it (what a resumed run's wall times continue from)."""
    record = {"status": status, "step": step, "error": error, "wall_time_s": wall_time_s}
    write_atomically(folder / STATUS_FILE, json.dumps(record) + "\n")


def read_status(folder: pathlib.Path) -> dict[str, Any]:
    """{"status", "step", "error", "wall_time_s"} of a run; a run never started is pending at step 0."""
    path = folder / STATUS_FILE
    if not path.is_file():
        return {"status": PENDING, "step": 0, "error": None, "wall_time_s": None}
    return json.loads(path.read_text())


def evaluations(folder: pathlib.Path) -> list[dict[str, Any]]:
    """A run's evaluation records, {"step", "metrics", "protocol", "wall_time_s"}, ascending by step."""
    path = folder / EVALUATIONS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_summaries(directory: pathlib.Path, plan: Plan, running: Callable[[str], bool]) -> list[dict[str, Any]]:
    """One dict per planned run, in plan order: {"run", "configuration", "factors", "seed", "status",
    "stopped_step", "error", "step"}. `running(unit_id)` says whether a live launcher holds a unit: an unfinished
    run is running when its unit is held and pending otherwise."""
    summaries = []
    for run_id, planned in plan.runs.items():
        status = read_status(run_dir(directory, run_id))
        state = status["status"]
        if state not in (*FINAL, FAILED):
            state = RUNNING if running(plan.unit_of(run_id).id) else PENDING
        overrides = planned["overrides"]
        summaries.append(
            {
                "run": run_id,
                "configuration": configuration_label(configuration(overrides)),
                "factors": configuration(overrides),
                "seed": overrides.get("seed", 0),
                "status": state,
                "stopped_step": status["step"] if state in (DIVERGED, FAILED) else None,
                "error": status["error"],
                "step": status["step"],
            }
        )
    return summaries


def results_rows(directory: pathlib.Path, plan: Plan) -> list[dict[str, Any]]:
    """results.jsonl's rows: one per run (in plan order) and evaluation step (ascending), with the run's factor
    values and seed, the scores, the evaluation protocol and the training wall time up to it."""
    rows = []
    for run_id, planned in plan.runs.items():
        overrides = planned["overrides"]
        for record in evaluations(run_dir(directory, run_id)):
            rows.append(
                {
                    "run": run_id,
                    "configuration": configuration_label(configuration(overrides)),
                    "factors": configuration(overrides),
                    "seed": overrides.get("seed", 0),
                    **record,
                }
            )
    return rows


def write_results(directory: pathlib.Path, plan: Plan) -> list[dict[str, Any]]:
    """Rebuilds results.jsonl from the run folders; returns its rows."""
    rows = results_rows(directory, plan)
    write_atomically(directory / RESULTS_FILE, "".join(json.dumps(row) + "\n" for row in rows))
    return rows
