"""Quality of the default recipe: train configs/default.py (DCGAN on MNIST) for its budget, then its FID.

    python benchmarks/default_quality.py                      # 3,000 steps, FID of 10,000 samples vs MNIST test
    python benchmarks/default_quality.py --steps 1000 --num 2000

Runs the two commands a user would (printed with the table), in subprocesses, against the shared data folder:
`train.py` with the default config, then `python -m ganjax.evaluate --workdir ... --num N` (EMA generator, N
generated images vs the 10,000 MNIST test images, TF resize convention).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table  # noqa: E402


def run(command: list[str], env: dict[str, str]) -> float:
    """Runs a command in the repository; returns its wall-clock seconds."""
    print("$", " ".join(command), file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps (the default config's budget)")
    parser.add_argument("--num", type=int, default=10_000, help="generated images for FID")
    parser.add_argument("--workdir", default=None, help="keep the run here (default: a temporary folder)")
    args = parser.parse_args()
    env = {**os.environ, "GANJAX_DATA_DIR": os.environ.get("GANJAX_DATA_DIR", str(REPO.parent / "shared" / "data"))}
    with tempfile.TemporaryDirectory() as scratch:
        workdir = pathlib.Path(args.workdir or pathlib.Path(scratch) / "mnist_dcgan")
        train = [sys.executable, "train.py", f"--workdir={workdir}", f"--config.train.num_steps={args.steps}"]
        results = workdir / "fid.json"
        evaluate = [
            sys.executable,
            "-m",
            "ganjax.evaluate",
            f"--workdir={workdir}",
            f"--num={args.num}",
            "--metrics=fid,kid,precision_recall",
            f"--out={results}",
        ]
        train_seconds = run(train, env)
        eval_seconds = run(evaluate, env)
        scores = json.loads(results.read_text())
    print(f"Default recipe (configs/default.py), {args.steps} steps. Machine: {machine()}\n")
    print_table(
        ["steps", "train s", "generated", "reference", "resize", "FID", "KID", "precision", "recall", "eval s"],
        [
            [
                args.steps,
                f"{train_seconds:.0f}",
                scores["num_images"],
                f"MNIST {scores['split']} (10,000)",
                scores["resize"],
                f"{scores['fid']:.2f}",
                f"{scores['kid']:.4f}",
                f"{scores['precision']:.3f}",
                f"{scores['recall']:.3f}",
                f"{eval_seconds:.0f}",
            ]
        ],
    )
    prefix = "GANJAX_DATA_DIR=../shared/data python "
    print(f"\nCommands:\n  {prefix}{' '.join(train[1:])}\n  {prefix}{' '.join(evaluate[1:])}")


if __name__ == "__main__":
    main()
