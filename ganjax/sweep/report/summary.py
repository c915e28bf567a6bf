"""A sweep's runs gathered into configurations: each run's values of the metric, each configuration's over its seeds.

A run's final value is the metric at its last evaluated step, its best value the best over its evaluations; rows
without a finite number for the metric count as missing. A configuration's statistics are over its completed runs
(status "done") that have a value: diverged and failed runs stopped early, so their last evaluation is from another
point of training; they are counted and listed, never averaged in. Deviations are sample standard deviations over
seeds (ddof=1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# The level of a factor a configuration does not set.
UNSET = "(unset)"


@dataclasses.dataclass
class RunValues:
    """One run's evaluations of the metric: (step, value) pairs in step order, and its final and best value."""

    curve: list[tuple[int, float]]
    final: float
    final_step: int
    best: float
    best_step: int


def _mean(values: np.ndarray) -> float:
    """The mean of (n,) values; NaN for none."""
    return float(values.mean()) if len(values) else math.nan


def _std(values: np.ndarray) -> float:
    """The sample standard deviation (ddof=1) of (n,) values; NaN for fewer than two."""
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


@dataclasses.dataclass
class Configuration:
    """One configuration over its seeds.

    `finals` and `bests` hold one value per completed run with a value, in seed order, (n,) each; `runs` all of its
    runs, whatever their status.
    """

    label: str
    factors: dict[str, Any]
    runs: list[dict]
    values: dict[str, RunValues]
    finals: np.ndarray
    bests: np.ndarray

    @property
    def n(self) -> int:
        return len(self.finals)

    @property
    def mean(self) -> float:
        return _mean(self.finals)

    @property
    def std(self) -> float:
        return _std(self.finals)

    @property
    def low(self) -> float:
        return float(self.finals.min()) if self.n else math.nan

    @property
    def high(self) -> float:
        return float(self.finals.max()) if self.n else math.nan

    @property
    def best_mean(self) -> float:
        return _mean(self.bests)

    @property
    def best_std(self) -> float:
        return _std(self.bests)

    def stopped(self, status: str) -> list[int | None]:
        """The steps at which this configuration's runs of `status` ("diverged", "failed") stopped."""
        return [run["stopped_step"] for run in self.runs if run["status"] == status]

    def unfinished(self) -> int:
        return sum(run["status"] in ("pending", "running") for run in self.runs)

    def completed_runs(self) -> list[dict]:
        """Its completed runs with a value, in seed order (the runs `finals` and `bests` come from)."""
        return [run for run in self.runs if run["status"] == "done" and run["run"] in self.values]


def finite_number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, a string such as "nan", a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def run_values(rows: Sequence[dict], metric: str, higher_is_better: bool) -> dict[str, RunValues]:
    """Each run's evaluations of `metric` (runs without any are left out); a step logged twice keeps its last row."""
    steps: dict[str, dict[int, float]] = {}
    for row in rows:
        value = finite_number(row.get("metrics", {}).get(metric))
        if value is not None:
            steps.setdefault(row["run"], {})[int(row["step"])] = value
    values = {}
    for run, by_step in steps.items():
        curve = sorted(by_step.items())
        best_step, best = (max if higher_is_better else min)(curve, key=lambda pair: pair[1])
        values[run] = RunValues(curve, curve[-1][1], curve[-1][0], best, best_step)
    return values


def summarise(
    runs: Sequence[dict], rows: Sequence[dict], *, metric: str, higher_is_better: bool
) -> list[Configuration]:
    """The configurations of a sweep, best first by mean final metric; those without any value come last."""
    values = run_values(rows, metric, higher_is_better)
    grouped: dict[str, list[dict]] = {}
    for run in runs:
        grouped.setdefault(run["configuration"], []).append(run)
    configurations = []
    for label, members in grouped.items():
        members = sorted(members, key=lambda run: run["seed"])
        completed = [values[run["run"]] for run in members if run["status"] == "done" and run["run"] in values]
        configurations.append(
            Configuration(
                label=label,
                factors=members[0]["factors"],
                runs=members,
                values={run["run"]: values[run["run"]] for run in members if run["run"] in values},
                finals=np.array([value.final for value in completed]),
                bests=np.array([value.best for value in completed]),
            )
        )
    sign = -1.0 if higher_is_better else 1.0
    return sorted(configurations, key=lambda c: (c.n == 0, sign * c.mean if c.n else 0.0, c.label))


def level(factors: dict[str, Any], key: str) -> str:
    """The value of factor `key` in `factors` as text, or UNSET."""
    return str(factors[key]) if key in factors else UNSET


def sorted_levels(configurations: Sequence[Configuration], key: str) -> list[str]:
    """The values a factor takes, as text: numbers in numeric order, anything else in text order."""
    raw = {level(c.factors, key): c.factors.get(key) for c in configurations}
    if all(finite_number(value) is not None for value in raw.values()):
        return sorted(raw, key=lambda text: float(raw[text]))
    return sorted(raw)


def varying_factors(configurations: Sequence[Configuration]) -> list[str]:
    """The factor keys whose value differs between configurations, in the order they first appear."""
    keys = list(dict.fromkeys(key for c in configurations for key in c.factors))
    return [key for key in keys if len({level(c.factors, key) for c in configurations}) > 1]
