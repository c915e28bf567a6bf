"""How long the sweep report takes, and how large its HTML file is, for a sweep of 40 configurations x 5 seeds.

    python benchmarks/sweep_report.py [--configurations 40] [--seeds 5] [--evaluations 20]

Synthesises a seeded sweep (no training): two factors (loss x penalties.r1) in a full grid, so the heatmap is drawn
too; each run's FID falls from about 150 towards its configuration's level plus seed noise, and one run in 20
diverges halfway. Times `build_report` twice (the first call includes importing matplotlib) and `write_hparams`,
each into a fresh temporary folder.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table  # noqa: E402

from ganjax.sweep.report import build_report, write_hparams  # noqa: E402

LOSSES = ("ns", "hinge", "wgan", "lsgan", "rpgan")


def synthetic_sweep(configurations: int, seeds: int, evaluations: int) -> tuple[list[dict], list[dict]]:
    """(runs, rows) in the sweep runner's format: `configurations` loss x r1 combinations, every 500 steps."""
    rng = np.random.default_rng(0)
    r1_values = [0.1 * 2**i for i in range(-(-configurations // len(LOSSES)))]
    grid = [(loss, r1) for loss in LOSSES for r1 in r1_values][:configurations]
    runs, rows = [], []
    for index, (loss, r1) in enumerate(grid):
        level = rng.uniform(20.0, 60.0)
        for seed in range(seeds):
            run_id = f"{index * seeds + seed:010x}"
            diverged = rng.uniform() < 0.05
            stopped = 500 * (evaluations // 2) + 120 if diverged else None
            runs.append(
                {
                    "run": run_id,
                    "configuration": f"loss={loss}, penalties.r1={r1}",
                    "factors": {"loss": loss, "penalties.r1": r1},
                    "seed": seed,
                    "status": "diverged" if diverged else "done",
                    "stopped_step": stopped,
                    "error": f"NonFiniteError: the discriminator became NaN at step {stopped}" if diverged else None,
                }
            )
            final = level + rng.normal(0.0, 2.0)
            for evaluation in range(1, evaluations + 1):
                step = 500 * evaluation
                if stopped is not None and step > stopped:
                    break
                fid = final + (150.0 - final) * np.exp(-3.0 * evaluation / evaluations) + rng.normal(0.0, 1.0)
                metrics = {"fid": float(fid), "kid": float(fid) / 1000.0}
                rows.append({"run": run_id, "step": step, "metrics": metrics, "wall_time_s": 2.5 * step / 500})
    return runs, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configurations", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evaluations", type=int, default=20)
    args = parser.parse_args()
    runs, rows = synthetic_sweep(args.configurations, args.seeds, args.evaluations)
    print(f"Sweep report of a synthetic sweep. Machine: {machine()}\n")
    table = []
    for call in ("build_report (first call, imports matplotlib)", "build_report (again)", "write_hparams"):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            if call == "write_hparams":
                write_hparams(pathlib.Path(folder), runs, rows, metric="fid", higher_is_better=False)
                size = ""
            else:
                paths = build_report(
                    pathlib.Path(folder),
                    runs,
                    rows,
                    metric="fid",
                    higher_is_better=False,
                    protocol="synthetic values (benchmarks/sweep_report.py)",
                )
                size = f"{paths['html'].stat().st_size / 2**20:.2f}"
            seconds = time.perf_counter() - started
        table.append([call, len(runs), len(rows), f"{seconds:.2f}", size])
    print_table(["call", "runs", "evaluations", "seconds", "index.html MiB"], table)


if __name__ == "__main__":
    main()
