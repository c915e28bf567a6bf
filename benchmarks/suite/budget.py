"""A section's budget and record, and the timing and memory measures every section uses."""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable


class OutOfBudget(Exception):
    """Raised inside a section when its budget is spent; what it recorded stays."""


class Skip(Exception):
    """The section cannot run here (missing data, weights or package); the message says why."""


class Section:
    """One section's budget and record: rows (one per measurement), notes, and how it ended. `columns` are its
    table's (header, row key) pairs."""

    def __init__(self, name: str, budget: float, columns: list[tuple[str, str]]):
        self.name, self.budget, self.columns = name, budget, columns
        self.started = time.perf_counter()
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.extra: dict = {}
        self.status = "ok"

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def check(self, need: float = 0.0) -> None:
        """OutOfBudget unless more than `need` seconds are left."""
        if self.left() <= need:
            raise OutOfBudget

    def record(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "budget_s": self.budget,
            "elapsed_s": round(time.perf_counter() - self.started, 2),
            "columns": [key for _, key in self.columns],
            "rows": self.rows,
            "notes": self.notes,
            **self.extra,
        }


def run_section(name: str, budget: float, columns: list[tuple[str, str]], body: Callable[[Section], None]) -> dict:
    section = Section(name, budget, columns)
    if budget <= 0:
        section.status = "skipped: out of budget (0 s)"
        return section.record()
    try:
        body(section)
    except OutOfBudget:
        section.status = "out of budget"
    except Skip as skip:
        section.status = f"skipped: {skip}"
    except Exception as error:  # a broken section must not cost the others
        section.status = f"error: {type(error).__name__}: {error}"
        section.notes.append(traceback.format_exc(limit=6))
    print(f"[{name}] {section.status} after {time.perf_counter() - section.started:.1f} s", flush=True)
    return section.record()


def timed_calls(
    run: Callable[[], object],
    sync: Callable[[object], object],
    section: Section,
    *,
    min_time: float,
    repeats: int = 3,
    max_calls: int = 1000,
) -> float:
    """Median over `repeats` of the mean seconds per call, each repeat as many back-to-back calls as fill `min_time`
    (after one more warm-up call); stops early, with what it has, when the section's budget runs out."""
    started = time.perf_counter()
    sync(run())
    once = max(time.perf_counter() - started, 1e-6)
    calls = max(1, min(max_calls, int(min_time / once)))
    means = []
    for _ in range(repeats):
        if means and section.left() < calls * once * 1.5:
            break
        started = time.perf_counter()
        for _ in range(calls):
            result = run()
        sync(result)
        means.append((time.perf_counter() - started) / calls)
    return statistics.median(means)


def cost_flops(compiled) -> float | None:
    """FLOPs of one call of a compiled program, from XLA's cost analysis (None when it gives none)."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:
        return None
    if isinstance(analysis, list | tuple):
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def step_bytes(compiled) -> int | None:
    memory = compiled.memory_analysis()
    if memory is None:
        return None
    return (
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - memory.alias_size_in_bytes
    )


def device_peak_bytes() -> int | None:
    import jax

    stats = jax.devices()[0].memory_stats()
    return None if not stats or "peak_bytes_in_use" not in stats else int(stats["peak_bytes_in_use"])


def mib(value: int | None) -> float | str:
    return "n/a" if value is None else round(value / 2**20, 1)


def on_accelerator() -> bool:
    import jax

    return jax.default_backend() != "cpu"
