"""Scaling on simulated CPU devices: step time against device count, and memory per device with FSDP.

    python benchmarks/scaling.py                                     # 1, 2, 4, 8 devices; BigGAN memory on 8
    python benchmarks/scaling.py --devices 1 2 4 8 --per-device-batch 8 --steps 3 --repeats 3

Speed (weak scaling): the train step of --recipe (the default DCGAN on MNIST) at a fixed batch per device, so the
global batch grows with the devices. JAX fixes the number of CPU devices when it starts, so each device count runs in
its own subprocess. On a CPU the "devices" share the machine's cores: the table shows what splitting the step over a
mesh costs (collectives, per-device overhead), not the speed-up real accelerators give.

Memory: the train step of --memory-recipe (BigGAN's CIFAR-10 generator and discriminator) compiled, not run, for 8
devices, with the state replicated ({"data": 8}) and split over an fsdp axis ({"data": 8 / f, "fsdp": f}), from
`compiled.memory_analysis()`: per device, the step's arguments (state and batch), its temporaries, and their sum
less the donated state, which the outputs reuse. One D step per G step keeps compilation short; the state does not
depend on it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table, time_train_step  # noqa: E402

MIB = 2**20


def _config(recipe: str, batch_size: int, mesh: dict[str, int], d_steps: int | None = None):
    config = importlib.import_module(f"configs.{recipe}").get_config()
    config.train.batch_size = batch_size
    config.mesh.update(mesh)
    if d_steps is not None:
        config.optim.d_steps = d_steps
    return config


def measure_speed(args) -> dict[str, float]:
    """Seconds per step (median of repeats) and compile seconds on all of this process's devices."""
    import jax

    config = _config(args.recipe, args.per_device_batch * jax.device_count(), {"data": -1})
    return time_train_step(config, args.steps, args.repeats) | {"batch": config.train.batch_size}


def measure_memory(args) -> list[dict[str, float]]:
    """Per-device memory of the compiled step, replicated and with each --fsdp size (compiled, never run)."""
    import jax

    from ganjax import parallel
    from ganjax.compile import abstract_state, jit_train_step, state_shardings
    from ganjax.state import parameter_counts
    from ganjax.tasks import build_task

    results = []
    for fsdp in (1, *args.fsdp):
        config = _config(args.memory_recipe, args.memory_batch, {"data": jax.device_count() // fsdp, "fsdp": fsdp}, 1)
        mesh = parallel.make_mesh(config.mesh)
        task = build_task(config)
        shardings = state_shardings(task, config.seed, mesh, config.sharding.fsdp_min_size)
        abstract = abstract_state(task, config.seed)
        state = abstract_state(task, config.seed, shardings)
        batch = task.batch_spec(config.train.batch_size, parallel.step_batch_sharding(mesh))
        started = time.perf_counter()
        memory = jit_train_step(task, mesh, shardings).lower(state, batch).compile().memory_analysis()
        params = sum(parameter_counts(abstract).values())
        results.append(
            {
                "mesh": dict(mesh.shape),
                "params": params,
                "compile": time.perf_counter() - started,
                "state": sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(abstract)) / MIB,
                "arguments": memory.argument_size_in_bytes / MIB,
                "temporaries": memory.temp_size_in_bytes / MIB,
                "peak": (
                    memory.argument_size_in_bytes
                    + memory.output_size_in_bytes
                    - memory.alias_size_in_bytes
                    + memory.temp_size_in_bytes
                )
                / MIB,
            }
        )
    return results


def _in_subprocess(mode: str, devices: int, argv: list[str]):
    """Runs this script with `devices` CPU devices in a fresh process and returns what it printed (JSON)."""
    command = [sys.executable, __file__, *argv, f"--worker={mode}", f"--worker-devices={devices}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--recipe", default="default", help="config for the speed table (configs/<name>.py)")
    parser.add_argument("--per-device-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-recipe", default="cifar10_biggan", help="config for the memory table; '' skips it")
    parser.add_argument("--memory-batch", type=int, default=64)
    parser.add_argument("--memory-devices", type=int, default=8)
    parser.add_argument("--fsdp", type=int, nargs="+", default=[4, 8], help="fsdp axis sizes to compare")
    parser.add_argument("--worker", choices=("speed", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-devices", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        import jax

        jax.config.update("jax_num_cpu_devices", args.worker_devices)
        print(json.dumps(measure_speed(args) if args.worker == "speed" else measure_memory(args)))
        return

    argv = sys.argv[1:]
    print(f"Machine: {machine()}\n")
    print(f"Train step of {args.recipe}, {args.per_device_batch} images per device (weak scaling):\n")
    rows, baseline = [], None
    for devices in args.devices:
        result = _in_subprocess("speed", devices, argv)
        images_per_sec = result["batch"] / result["seconds"]
        baseline = baseline or images_per_sec
        rows.append(
            [
                devices,
                result["batch"],
                f"{result['seconds'] * 1e3:.0f}",
                f"{images_per_sec:.0f}",
                f"{images_per_sec / baseline:.2f}",
                f"{result['compile']:.1f}",
            ]
        )
        print(f"measured {devices} devices: {rows[-1]}", file=sys.stderr, flush=True)
    print_table(["devices", "global batch", "ms/step", "img/s", f"img/s vs {args.devices[0]}", "compile s"], rows)

    if not args.memory_recipe:
        return
    print(
        f"\nPer-device memory of {args.memory_recipe}'s train step on {args.memory_devices} devices, batch "
        f"{args.memory_batch}, 1 D step (compiled, not run):\n"
    )
    results = _in_subprocess("memory", args.memory_devices, argv)
    print_table(
        ["mesh", "G+D params", "state MiB", "arguments MiB", "temporaries MiB", "peak MiB", "compile s"],
        [
            [
                ", ".join(f"{k} {v}" for k, v in r["mesh"].items()),
                f"{r['params'] / 1e6:.2f}M",
                f"{r['state']:.0f}",
                f"{r['arguments']:.0f}",
                f"{r['temporaries']:.0f}",
                f"{r['peak']:.0f}",
                f"{r['compile']:.0f}",
            ]
            for r in results
        ],
    )


if __name__ == "__main__":
    main()
