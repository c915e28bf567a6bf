"""Timing and table helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence


def interleaved_seconds_per_call(
    runners: dict[str, tuple[Callable[[], object], Callable[[object], object]]],
    *,
    warmup: int,
    calls: int,
    repeats: int,
) -> dict[str, float]:
    """Median over `repeats` of the mean wall-clock seconds per call, for each named (run, sync) pair.

    The runners take turns, one block of `calls` back-to-back calls each per repeat, so that a machine whose speed
    drifts (a shared VM) affects all of them alike. `sync(result)` waits for the last result: block_until_ready
    for JAX, a device synchronisation (or nothing on CPU) for PyTorch.
    """
    for run, sync in runners.values():
        for _ in range(warmup):
            sync(run())
    means: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, (run, sync) in runners.items():
            start = time.perf_counter()
            for _ in range(calls):
                result = run()
            sync(result)
            means[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(values) for name, values in means.items()}


def machine() -> str:
    """One line: processor and cores."""
    model = platform.processor() or "unknown processor"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table, so the output pastes straight into RESULTS.md."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
