"""Mode coverage of the toy-ring recipe over several seeds: modes covered and high-quality share, mean and worst.

    python benchmarks/toy_ring.py [--seeds 5]

Trains configs/toy_ring.py once per seed (each in a temporary workdir) and reads the final evaluation from its
metrics.jsonl. The measures are defined in ganjax/data/ring.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table  # noqa: E402

from configs import toy_ring  # noqa: E402
from ganjax.train import train_and_evaluate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("absl").setLevel(logging.WARNING)
    print(f"Toy ring ({toy_ring.get_config().train.num_steps} steps per seed). Machine: {machine()}\n")
    rows, results = [], []
    for seed in range(args.seeds):
        config = toy_ring.get_config()
        config.seed = seed
        config.train.sample_every = 0
        with tempfile.TemporaryDirectory() as workdir:
            started = time.perf_counter()
            train_and_evaluate(config, workdir)
            seconds = time.perf_counter() - started
            final = [json.loads(line) for line in (pathlib.Path(workdir) / "metrics.jsonl").open()][-1]
        results.append(final)
        rows.append([seed, f"{final['modes_covered']:.0f} / 8", f"{final['high_quality_share']:.3f}", f"{seconds:.1f}"])
    modes = [r["modes_covered"] for r in results]
    shares = [r["high_quality_share"] for r in results]
    rows.append(["mean", f"{statistics.mean(modes):.1f} / 8", f"{statistics.mean(shares):.3f}", ""])
    rows.append(["worst", f"{min(modes):.0f} / 8", f"{min(shares):.3f}", ""])
    print_table(["seed", "modes covered", "high-quality share", "seconds (incl. compile)"], rows)


if __name__ == "__main__":
    main()
