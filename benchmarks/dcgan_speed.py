"""Training speed of the DCGAN step: ganjax against the identical model and step in PyTorch, in one run.

    python benchmarks/dcgan_speed.py                 # MNIST (28x28x1) and CIFAR-10 (32x32x3) shapes, batch 64
    python benchmarks/dcgan_speed.py --batch 256 --shapes 32x3
    GANJAX_CPU_FLAGS=0 python benchmarks/dcgan_speed.py    # without the convolution flag train.py sets on CPU

Needs PyTorch for the reference (`pip install torch==2.13.0`, a CPU wheel); without it only ganjax is timed. The
reference is benchmarks/torch_models.py's `torch_runner`, which builds any recipe's step; here the DCGAN one.
Both sides do the same work per step: one discriminator update on a real batch and a batch generated without
gradient, one generator update through the frozen discriminator, Adam for both, an EMA of the generator, batch norm
in the generator. ganjax's step also computes gradient/parameter norms and non-finite flags, which PyTorch's skips.
Each figure is the median over --repeats of the mean step time over --steps steps, after warm-up; the two
frameworks take turns, repeat by repeat, so that a drifting machine affects both alike. ganjax runs with the XLA:CPU
convolution flag that train.py sets (`ganjax.cli.use_fast_cpu_convolutions`), unless GANJAX_CPU_FLAGS=0.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import jax
import ml_collections
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import interleaved_seconds_per_call, machine, print_table  # noqa: E402

from configs import default  # noqa: E402
from ganjax import parallel  # noqa: E402
from ganjax.cli import use_fast_cpu_convolutions  # noqa: E402
from ganjax.compile import create_state, jit_train_step, state_shardings  # noqa: E402
from ganjax.state import parameter_counts  # noqa: E402
from ganjax.tasks import build_task  # noqa: E402


def dcgan_config(resolution: int, channels: int) -> ml_collections.ConfigDict:
    config = default.get_config()
    config.model.resolution, config.model.channels = resolution, channels
    return config


def ganjax_runner(config: ml_collections.ConfigDict, batch_size: int):
    """((run, sync), parameter count) for ganjax's compiled step on the first device."""
    config.train.batch_size = batch_size
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 1}), jax.devices()[:1])
    task = build_task(config)
    shardings = state_shardings(task, config.seed, mesh)
    state = create_state(task, config.seed, shardings)
    step = jit_train_step(task, mesh, shardings)
    shape = (1, batch_size, *task.networks.sample_shape)
    images = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    batch = parallel.global_batch({"image": images}, parallel.step_batch_sharding(mesh))
    num_params = sum(parameter_counts(state).values())
    holder = {"state": state}

    def run():
        holder["state"], metrics = step(holder["state"], batch)
        return metrics

    return (run, jax.block_until_ready), num_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["28x1", "32x3"], help="RESOLUTIONxCHANNELS, e.g. 32x3")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    use_fast_cpu_convolutions()  # before the first device is asked for: XLA reads $XLA_FLAGS then
    try:
        import torch
    except ImportError:
        torch = None
    xla_flags = os.environ.get("XLA_FLAGS", "")
    devices = f"jax {jax.__version__} on {jax.devices()[0].device_kind} (XLA_FLAGS: {xla_flags!r})"
    if torch is not None:
        devices += f"; torch {torch.__version__} ({torch.get_num_threads()} threads)"
    print(f"DCGAN training step, batch {args.batch}. Machine: {machine()}; {devices}\n")
    rows = []
    for shape in args.shapes:
        resolution, channels = (int(x) for x in shape.split("x"))
        config = dcgan_config(resolution, channels)
        runners = {}
        runners["ganjax"], ours_params = ganjax_runner(config, args.batch)
        if torch is not None:
            from torch_models import torch_runner  # the same model and step in PyTorch

            runners["torch"], (g_params, d_params) = torch_runner(config, args.batch, dtype="float32")
            their_params = g_params + d_params
            assert their_params == ours_params, f"architectures differ: {their_params} vs {ours_params} parameters"
        seconds = interleaved_seconds_per_call(runners, warmup=3, calls=args.steps, repeats=args.repeats)
        row = [f"{resolution}x{resolution}x{channels}", f"{ours_params:,}"]
        for name in ("ganjax", "torch"):
            row += (
                [f"{seconds[name] * 1e3:.1f}", f"{args.batch / seconds[name]:,.0f}"] if name in seconds else ["-", "-"]
            )
        row.append(f"{seconds['torch'] / seconds['ganjax']:.2f}x" if "torch" in seconds else "-")
        rows.append(row)
    print_table(
        ["images", "parameters", "ganjax ms/step", "ganjax img/s", "torch ms/step", "torch img/s", "ganjax speed-up"],
        rows,
    )


if __name__ == "__main__":
    main()
