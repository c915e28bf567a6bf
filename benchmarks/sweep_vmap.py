"""The vmapped sweep program against its runs trained one after another: M members of a group (seeds and learning
rates differing) as one `jit(vmap(step))` (ganjax/sweep/members.py), against one run's step M times.

    python benchmarks/sweep_vmap.py                          # toy ring and MNIST DCGAN, 1, 8 and 32 members
    python benchmarks/sweep_vmap.py --models dcgan --members 1 8

Each figure is the median over --repeats of the mean seconds per step over --steps steps after a warm-up step, on
random data of the model's shape, on this process's devices. "speed-up" = M x (one run's step) / (the group's
step): how much faster the group trains its M runs than training them one after another.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table, time_train_step  # noqa: E402

from configs import default, toy_ring  # noqa: E402

MODELS = {"ring": toy_ring.get_config, "dcgan": default.get_config}


def time_members(config, members: int, steps: int, repeats: int) -> dict:
    """Seconds per step of `members` copies of `config` (seeds 0.., d_lr spread by 10%) as one program."""
    import jax
    import numpy as np

    from ganjax.sweep.members import MemberGroup, compile_members, member_mesh, pad, slots

    configs = []
    for index in range(members):
        member = config.copy_and_resolve_references()
        member.seed = index
        member.optim.d_lr = config.optim.d_lr * (1 + 0.1 * index)
        configs.append(member)
    group = MemberGroup.of(configs)
    mesh = member_mesh(members, jax.devices())
    length = slots(members, mesh)
    started = time.perf_counter()
    programs = compile_members(group, mesh, length)
    compile_seconds = time.perf_counter() - started
    sharding = programs.state_sharding
    values = jax.device_put(pad(group.values(), length), sharding)
    state = programs.init(values)
    alive = jax.device_put(np.ones(length, bool), sharding)
    spec = group.member_task({"seed": 0}).batch_spec(config.train.batch_size, sharding)
    rng = np.random.default_rng(0)
    batch = {
        key: jax.device_put(rng.uniform(-1, 1, (length, *value.shape)).astype(np.float32), sharding)
        for key, value in spec.items()
    }
    step = programs.steps[True]
    state, metrics, alive = step(values, alive, state, batch)  # warm-up
    jax.block_until_ready(metrics)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            state, metrics, alive = step(values, alive, state, batch)
        jax.block_until_ready(metrics)
        timings.append((time.perf_counter() - started) / steps)
    return {"seconds": statistics.median(timings), "compile": compile_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["ring", "dcgan"])
    parser.add_argument("--members", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    import jax

    rows = []
    for name in arguments.models:
        config = MODELS[name]()
        alone = time_train_step(config, arguments.steps, arguments.repeats)["seconds"]
        for members in arguments.members:
            group = time_members(config, members, arguments.steps, arguments.repeats)
            rows.append(
                [
                    name,
                    members,
                    f"{alone * 1000:.1f}",
                    f"{group['seconds'] * 1000:.1f}",
                    f"{members * alone / group['seconds']:.2f}x",
                    f"{group['compile']:.1f}",
                ]
            )
    print(f"{machine()}; {jax.device_count()} x {jax.devices()[0].platform}")
    headers = ["model", "members", "one run ms/step", "group ms/step", "speed-up", "group compile s"]
    print_table(headers, rows)


if __name__ == "__main__":
    main()
