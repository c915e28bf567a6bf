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
import statistics
import sys
import time

import jax
import ml_collections
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table  # noqa: E402

from ganjax import parallel  # noqa: E402
from ganjax.state import build_gan, init_state  # noqa: E402
from ganjax.train import batch_spec, jit_train_step, state_shardings  # noqa: E402

RECIPES = ("cifar10_dcgan", "cifar10_sngan", "cifar10_biggan", "cifar10_r3gan")


def measure(config: ml_collections.ConfigDict, args) -> dict[str, float]:
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": -1}))
    gan = build_gan(config)
    shardings = state_shardings(gan, config.seed, mesh)
    state = jax.jit(init_state, static_argnums=0, out_shardings=shardings)(gan, config.seed)
    sharding = parallel.step_batch_sharding(mesh)
    spec = batch_spec(gan, config.train.batch_size, sharding)
    rng = np.random.default_rng(0)
    local = {"image": rng.uniform(-1, 1, spec["image"].shape).astype(np.float32)}
    if "label" in spec:
        local["label"] = rng.integers(0, gan.networks.num_classes, spec["label"].shape).astype(np.int32)
    batch = parallel.global_batch(local, sharding)
    started = time.perf_counter()
    step = jit_train_step(gan, mesh, shardings).lower(state, batch).compile()
    compile_seconds = time.perf_counter() - started
    state, metrics = step(state, batch)  # warm-up
    jax.block_until_ready(metrics)
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        for _ in range(args.steps):
            state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        timings.append((time.perf_counter() - started) / args.steps)
    seconds = statistics.median(timings)
    params = sum(x.size for x in jax.tree.leaves((state.generator.params, state.discriminator.params)))
    return {"seconds": seconds, "compile": compile_seconds, "params": params,
            "images_per_sec": config.train.batch_size * gan.d_steps / seconds}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--steps", type=int, default=2, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
    print(f"Training step per recipe, batch {args.batch}, {args.dtype}. Machine: {machine()}; jax {jax.__version__} "
          f"on {devices}\n")  # fmt: skip
    headers = ["recipe", "model", "G+D params", "D steps", "penalties", "recipe batch", "s/step", "img/s", "compile s"]
    rows = []
    for name in args.recipes:
        config = importlib.import_module(f"configs.{name}").get_config()
        recipe_batch = config.train.batch_size
        config.train.batch_size, config.model.dtype = args.batch, args.dtype
        result = measure(config, args)
        penalties = "+".join(n for n, w in config.penalties.items() if w) or "-"
        rows.append([name, config.model.name, f"{result['params'] / 1e6:.2f}M", config.optim.d_steps, penalties,
                     recipe_batch, f"{result['seconds']:.2f}", f"{result['images_per_sec']:.1f}",
                     f"{result['compile']:.0f}"])  # fmt: skip
        print(f"measured {name}: {rows[-1]}", file=sys.stderr, flush=True)
    print_table(headers, rows)


if __name__ == "__main__":
    main()
