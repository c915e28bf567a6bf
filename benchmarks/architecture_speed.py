"""Training speed of every architecture's CIFAR-10 recipe: images/second of one full training step.

    python benchmarks/architecture_speed.py                    # all recipes, batch 64
    python benchmarks/architecture_speed.py --recipes cifar10_sngan --batch 128 --dtype bfloat16

A step is the recipe's whole update: d_steps discriminator updates (with its penalties and augmentation), one
generator update, the EMA. Images/second counts real images consumed, batch x d_steps per step. The model sizes are
the recipes'; the batch is --batch for all, so that the rows compare (each recipe's own batch is shown beside it).
Each time is the median of --repeats timings of --steps steps after one warm-up step; compilation is timed apart.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys

import jax

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table, time_train_step  # noqa: E402

RECIPES = ("cifar10_dcgan", "cifar10_sngan", "cifar10_biggan", "cifar10_r3gan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--steps", type=int, default=2, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
    print(
        f"Training step per recipe, batch {args.batch}, {args.dtype}. Machine: {machine()}; jax {jax.__version__} "
        f"on {devices}\n"
    )
    headers = ["recipe", "model", "G+D params", "D steps", "penalties", "recipe batch", "s/step", "img/s", "compile s"]
    rows = []
    for name in args.recipes:
        config = importlib.import_module(f"configs.{name}").get_config()
        recipe_batch = config.train.batch_size
        config.train.batch_size, config.model.dtype = args.batch, args.dtype
        result = time_train_step(config, args.steps, args.repeats)
        result["images_per_sec"] = config.train.batch_size * config.optim.d_steps / result["seconds"]
        penalties = "+".join(n for n, w in config.penalties.items() if w) or "-"
        rows.append(
            [
                name,
                config.model.name,
                f"{result['params'] / 1e6:.2f}M",
                config.optim.d_steps,
                penalties,
                recipe_batch,
                f"{result['seconds']:.2f}",
                f"{result['images_per_sec']:.1f}",
                f"{result['compile']:.0f}",
            ]
        )
        print(f"measured {name}: {rows[-1]}", file=sys.stderr, flush=True)
    print_table(headers, rows)


if __name__ == "__main__":
    main()
