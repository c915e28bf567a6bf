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


def time_train_step(config, steps: int, repeats: int) -> dict:
    """Times the full training step `config` describes on all devices, on random data of the dataset's shape.

    Returns {"seconds": median over `repeats` of the mean seconds per step over `steps` steps (after one warm-up
    step), "compile": seconds to compile, "params": parameters of G and D}. JAX is imported here, so that callers
    can configure it (for example its device count) first.
    """
    import jax
    import numpy as np

    from ganjax import parallel
    from ganjax.compile import create_state, jit_train_step, state_shardings
    from ganjax.state import parameter_counts
    from ganjax.tasks import build_task

    mesh = parallel.make_mesh(config.mesh)
    task = build_task(config)
    shardings = state_shardings(task, config.seed, mesh, config.sharding.fsdp_min_size)
    state = create_state(task, config.seed, shardings)
    sharding = parallel.step_batch_sharding(mesh)
    spec = task.batch_spec(config.train.batch_size, sharding)
    rng = np.random.default_rng(0)
    local = {"image": rng.uniform(-1, 1, spec["image"].shape).astype(np.float32)}
    if "label" in spec:
        local["label"] = rng.integers(0, task.networks.num_classes, spec["label"].shape).astype(np.int32)
    batch = parallel.global_batch(local, sharding)
    started = time.perf_counter()
    step = jit_train_step(task, mesh, shardings).lower(state, batch).compile()
    compile_seconds = time.perf_counter() - started
    state, metrics = step(state, batch)  # warm-up
    jax.block_until_ready(metrics)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        timings.append((time.perf_counter() - started) / steps)
    params = sum(parameter_counts(state).values())
    return {"seconds": statistics.median(timings), "compile": compile_seconds, "params": params}


def lpips_metrics(networks_flag: str) -> tuple[str, ...]:
    """The registered LPIPS metrics ("lpips", "lpips_vgg") that a --lpips flag's comma-separated networks ("alex,vgg")
    name: the flag's argparse `type`, so that an unknown network is argparse's one-line error (exit status 2)."""
    import argparse

    from ganjax.metrics import lpips

    by_network = {network: name for name, network in lpips.METRIC_NETWORKS.items()}
    networks = [network for network in networks_flag.split(",") if network]
    unknown = [network for network in networks if network not in by_network]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown network {', '.join(unknown)}; valid: {', '.join(by_network)}")
    return tuple(by_network[network] for network in networks)
