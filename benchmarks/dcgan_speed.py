"""Training speed of the DCGAN step: ganjax against the identical model and step in PyTorch, in one run.

    python benchmarks/dcgan_speed.py                 # MNIST (28x28x1) and CIFAR-10 (32x32x3) shapes, batch 64
    python benchmarks/dcgan_speed.py --batch 256 --shapes 32x3

Needs PyTorch for the reference (`pip install torch==2.13.0`, a CPU wheel); without it only ganjax is timed.
Both sides do the same work per step: one discriminator update on a real batch and a batch generated without
gradient, one generator update through the frozen discriminator, Adam for both, an EMA of the generator, batch norm
in the generator. ganjax's step also computes gradient/parameter norms and non-finite flags, which PyTorch's skips.
Each figure is the median over --repeats of the mean step time over --steps steps, after warm-up; the two
frameworks take turns, repeat by repeat, so that a drifting machine affects both alike.
"""

from __future__ import annotations

import argparse
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
from ganjax.models.dcgan import spatial_layout  # noqa: E402
from ganjax.state import create_state, state_shardings  # noqa: E402
from ganjax.step import jit_train_step  # noqa: E402
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
    shape = (1, batch_size, *task.gan.networks.sample_shape)
    images = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    batch = parallel.global_batch({"image": images}, parallel.step_batch_sharding(mesh))
    num_params = sum(x.size for x in jax.tree.leaves((state.generator.params, state.discriminator.params)))
    holder = {"state": state}

    def run():
        holder["state"], metrics = step(holder["state"], batch)
        return metrics

    return (run, jax.block_until_ready), num_params


def torch_dcgan(model: ml_collections.ConfigDict):
    """The same generator and discriminator as ganjax.models.dcgan, in PyTorch (NCHW)."""
    import torch.nn as nn

    base, doublings = spatial_layout(model.resolution)
    bn = model.g_batch_norm
    features = model.g_width * 2 ** (doublings - 1)
    layers = [nn.Linear(model.latent_dim, base * base * features, bias=not bn), nn.Unflatten(1, (features, base, base))]
    layers += [nn.BatchNorm2d(features, momentum=0.1, eps=1e-5), nn.ReLU()] if bn else [nn.ReLU()]
    for _ in range(doublings - 1):
        layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=not bn)]
        features //= 2
        layers += [nn.BatchNorm2d(features, momentum=0.1, eps=1e-5), nn.ReLU()] if bn else [nn.ReLU()]
    layers += [nn.ConvTranspose2d(features, model.channels, 4, 2, 1), nn.Tanh()]
    generator = nn.Sequential(*layers)

    layers, in_features, features = [], model.channels, model.d_width
    for _ in range(doublings):
        layers += [nn.Conv2d(in_features, features, 4, 2, 1), nn.LeakyReLU(0.2)]
        in_features, features = features, features * 2
    layers += [nn.Flatten(), nn.Linear(in_features * base * base, 1)]
    return generator, nn.Sequential(*layers)


def torch_runner(config: ml_collections.ConfigDict, batch_size: int):
    """((run, sync), parameter count) for the same step in eager PyTorch."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    generator, discriminator = (net.to(device) for net in torch_dcgan(config.model))
    optim = config.optim
    g_opt = torch.optim.Adam(generator.parameters(), optim.g_lr, betas=(optim.b1, optim.b2))
    d_opt = torch.optim.Adam(discriminator.parameters(), optim.d_lr, betas=(optim.b1, optim.b2))
    ema = [p.detach().clone() for p in generator.parameters()]
    real = (
        torch.rand(batch_size, config.model.channels, config.model.resolution, config.model.resolution, device=device)
        * 2
        - 1
    )
    latent_dim, decay = config.model.latent_dim, config.ema.decay

    def run():
        with torch.no_grad():
            fake = generator(torch.randn(batch_size, latent_dim, device=device))
        d_opt.zero_grad(set_to_none=True)
        d_loss = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake)).mean()
        d_loss.backward()
        d_opt.step()
        discriminator.requires_grad_(False)
        g_opt.zero_grad(set_to_none=True)
        g_loss = F.softplus(-discriminator(generator(torch.randn(batch_size, latent_dim, device=device)))).mean()
        g_loss.backward()
        g_opt.step()
        discriminator.requires_grad_(True)
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(generator.parameters()), 1 - decay)
        return g_loss

    def sync(_):
        if device.type == "cuda":
            torch.cuda.synchronize()

    num_params = sum(p.numel() for net in (generator, discriminator) for p in net.parameters())
    return (run, sync), num_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["28x1", "32x3"], help="RESOLUTIONxCHANNELS, e.g. 32x3")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    devices = f"jax {jax.__version__} on {jax.devices()[0].device_kind}"
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
            runners["torch"], their_params = torch_runner(config, args.batch)
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
