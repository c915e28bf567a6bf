"""Training speed of the CycleGAN step: ganjax against the official PyTorch CycleGAN's step, in one run.

    python benchmarks/translation_speed.py                        # the cpu and full recipes' sizes, 32x32
    python benchmarks/translation_speed.py --rows full --steps 3 --repeats 5
    python benchmarks/translation_speed.py --rows cpu --parts     # also where each side spends its step

Needs PyTorch for the reference (`pip install torch==2.13.0`, a CPU wheel); without it only ganjax is timed. The
sizes are configs/translate_cifar_to_clipart.py's: `cpu` (batch 8, ResNet generators of width 32 with 4 blocks,
PatchGANs of width 64) and the full recipe (batch 16, width 64, 6 blocks, PatchGANs of width 64), both with 2
stride-2 PatchGAN layers at 32x32 RGB, float32. The PyTorch side is written here from the description of the
official code (pytorch-CycleGAN-and-pix2pix, `ResnetGenerator`, `NLayerDiscriminator` with instance norm,
`CycleGANModel.optimize_parameters`, `ImagePool`), not copied from it; the script checks that both sides have the
same number of parameters. Both steps do the same work: the two generators forward (a2b(a), b2a(a2b(a)), b2a(b),
a2b(b2a(b)) and the identities a2b(b), b2a(a)), the least-squares adversarial loss through the frozen
discriminators, the cycle (10) and identity (5) L1 losses, backward and one Adam over both generators; then the
pools of 50 generated images and both discriminators' losses 0.5 * (MSE(D(real), 1) + MSE(D(pool(fake)), 0)),
backward and one Adam over both. ganjax's step also updates the generators' EMA and computes gradient and
parameter norms and non-finite flags, which the official step does not.

Each figure is the median over --repeats of the mean step time over --steps steps, after warm-up; the two
frameworks take turns, repeat by repeat, so that a drifting machine affects both alike. ganjax runs as the trainer
does (train.py): its jitted step over a one-device mesh, with XLA:CPU's convolutions on the Eigen path
(`ganjax.cli.use_fast_cpu_convolutions`, unless GANJAX_CPU_FLAGS=0). PyTorch runs eagerly in NCHW with as many
threads as the process may use cores, which XLA:CPU uses too. Run it on a quiet machine (the header and footer
show the load average): with other processes on the cores, PyTorch's OpenMP threads spin at their barriers while
descheduled and its step slows several-fold, far more than XLA's, which would flatter ganjax. With --parts a
second table splits each step into the generators' forward and backward (with the frozen discriminators), the
discriminators' forward and backward, and the rest (optimizers, pools, EMA, metrics: the full step minus the two
parts; negative when the parts, compiled alone, take longer than inside the step).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from ganjax.cli import use_fast_cpu_convolutions  # noqa: E402

use_fast_cpu_convolutions()  # before anything creates JAX's backend, as train.py does

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
from common import interleaved_seconds_per_call, machine, print_table  # noqa: E402

from configs import translate_cifar_to_clipart  # noqa: E402
from ganjax import parallel  # noqa: E402
from ganjax.compile import create_state, jit_train_step, state_shardings  # noqa: E402
from ganjax.data.domains import DOMAINS, batch_key  # noqa: E402
from ganjax.penalties import Inputs  # noqa: E402
from ganjax.state import parameter_counts  # noqa: E402
from ganjax.tasks import build_task  # noqa: E402
from ganjax.tasks.cyclegan import DIRECTIONS, DISCRIMINATORS  # noqa: E402

ROWS = {"cpu": "cpu", "full": ""}  # row name -> variant of configs/translate_cifar_to_clipart.py
WARMUP = 2  # steps of each side before timing (the first PyTorch steps allocate)


def recipe_config(row: str) -> ml_collections.ConfigDict:
    return translate_cifar_to_clipart.get_config(ROWS[row])


def random_batch(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """{"a": (B, H, W, C_a), "b": (B, H, W, C_b)} float32 uniform in [-1, 1], the same for both sides."""
    rng = np.random.default_rng(0)
    model, batch = config.model, config.train.batch_size
    side = model.resolution
    return {
        domain: rng.uniform(-1, 1, (batch, side, side, model[f"channels_{domain}"])).astype(np.float32)
        for domain in DOMAINS
    }


# ------------------------------------------------------------------------------------------------------ ganjax


def ganjax_runners(config: ml_collections.ConfigDict, images: dict[str, np.ndarray], parts: bool):
    """({"step": (run, sync), and with `parts` "generators" and "discriminators"}, parameter count) for ganjax's
    compiled CycleGAN step on the first device, and for the two parts of it."""
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 1}), jax.devices()[:1])
    task = build_task(config)
    shardings = state_shardings(task, config.seed, mesh)
    state = create_state(task, config.seed, shardings)
    sharding = parallel.step_batch_sharding(mesh)
    local = {batch_key(domain, "image"): images[domain][None] for domain in DOMAINS}
    spec = task.batch_spec(config.train.batch_size, sharding)
    assert all(spec[key].shape == value.shape for key, value in local.items()), (spec, local)
    batch = parallel.global_batch(local, sharding)
    num_params = sum(parameter_counts(state).values())
    runners = {}
    if parts:
        # a state of their own: the step donates its state
        runners.update(ganjax_part_runners(task, create_state(task, config.seed, shardings), batch))
    step = jit_train_step(task, mesh, shardings)
    holder = {"state": state}

    def run():
        holder["state"], metrics = step(holder["state"], batch)
        return metrics

    runners["step"] = (run, jax.block_until_ready)
    return runners, num_params


def ganjax_part_runners(task, state, batch):
    """(run, sync) of the generators' objective with its gradient, and of the discriminators' (on the newest
    generated images, as a full pool shows about half of them), each jitted alone as the step computes it."""
    real = {domain: batch[batch_key(domain, "image")][0] for domain in DOMAINS}
    g_params = {direction: state.networks[direction].params for direction in DIRECTIONS}
    g_collections = {direction: state.networks[direction].collections for direction in DIRECTIONS}
    d = {domain: state.networks[name] for domain, name in DISCRIMINATORS.items()}
    d_params = {domain: net.params for domain, net in d.items()}

    @jax.jit
    def generators(g_params, d_params):
        def objective(params):
            discriminators = {domain: net.replace(params=d_params[domain]) for domain, net in d.items()}
            return task.generator_objective(params, g_collections, discriminators, real["a"], real["b"])

        (loss, (_, fakes, _)), grads = jax.value_and_grad(objective, has_aux=True)(g_params)
        return loss, grads, fakes

    _, _, fakes = generators(g_params, d_params)
    fakes = jax.lax.stop_gradient(fakes)
    key = jax.random.PRNGKey(0)

    @jax.jit
    def discriminators(d_params):
        def objective(params):
            results = [
                task.adversary(domain).objective(
                    params[domain],
                    d[domain].collections,
                    Inputs(real[domain], None),
                    Inputs(fakes[domain], None),
                    key,
                    regularize=False,
                )[0]
                for domain in DOMAINS
            ]
            return sum(results)

        return jax.value_and_grad(objective)(d_params)

    return {
        "generators": (lambda: generators(g_params, d_params), jax.block_until_ready),
        "discriminators": (lambda: discriminators(d_params), jax.block_until_ready),
    }


# ----------------------------------------------------------------------------------------------------- PyTorch


def torch_networks(model: ml_collections.ConfigDict):
    """(G_A, G_B, D_A, D_B) of the official CycleGAN, in PyTorch (NCHW): G_A translates A to B and D_A judges
    images of B, as the official code names them; weights from N(0, 0.02), biases 0 (its init_type "normal")."""
    import torch.nn as nn

    def norm(features: int) -> nn.Module:
        return nn.InstanceNorm2d(features, affine=False, track_running_stats=False)

    class ResnetBlock(nn.Module):
        def __init__(self, features: int):
            super().__init__()
            self.body = nn.Sequential(
                nn.ReflectionPad2d(1),
                nn.Conv2d(features, features, 3, bias=True),
                norm(features),
                nn.ReLU(True),
                nn.ReflectionPad2d(1),
                nn.Conv2d(features, features, 3, bias=True),
                norm(features),
            )

        def forward(self, x):
            return x + self.body(x)

    def generator(in_channels: int, out_channels: int) -> nn.Module:
        ngf = model.width
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=True), norm(ngf), nn.ReLU(True)]
        for factor in (1, 2):
            layers += [nn.Conv2d(ngf * factor, ngf * factor * 2, 3, 2, 1, bias=True), norm(ngf * factor * 2)]
            layers += [nn.ReLU(True)]
        layers += [ResnetBlock(4 * ngf) for _ in range(model.depth)]
        for factor in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * factor, ngf * factor // 2, 3, 2, 1, output_padding=1, bias=True)]
            layers += [norm(ngf * factor // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        return nn.Sequential(*layers)

    def discriminator(in_channels: int) -> nn.Module:
        ndf, n_layers = model.d_width, model.d_layers
        layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        multiple = 1
        for n in range(1, n_layers):
            previous, multiple = multiple, min(2**n, 8)
            layers += [nn.Conv2d(ndf * previous, ndf * multiple, 4, 2, 1, bias=True), norm(ndf * multiple)]
            layers += [nn.LeakyReLU(0.2, True)]
        previous, multiple = multiple, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * previous, ndf * multiple, 4, 1, 1, bias=True), norm(ndf * multiple)]
        layers += [nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * multiple, 1, 4, 1, 1)]
        return nn.Sequential(*layers)

    networks = (
        generator(model.channels_a, model.channels_b),
        generator(model.channels_b, model.channels_a),
        discriminator(model.channels_b),
        discriminator(model.channels_a),
    )
    for network in networks:
        for module in network.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
                nn.init.zeros_(module.bias)
    return networks


class TorchImagePool:
    """The official `ImagePool`: up to `size` generated images; while not full each new image is stored and shown,
    then with probability 1/2 a random stored one is shown and replaced by it, else the new one is shown."""

    def __init__(self, size: int):
        self.size, self.images = size, []
        self.random = random.Random(0)

    def query(self, images):
        import torch

        if self.size == 0:
            return images
        shown = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                shown.append(image)
            elif self.random.uniform(0, 1) > 0.5:
                index = self.random.randint(0, self.size - 1)
                shown.append(self.images[index].clone())
                self.images[index] = image
            else:
                shown.append(image)
        return torch.cat(shown, 0)


def torch_runners(config: ml_collections.ConfigDict, images: dict[str, np.ndarray], parts: bool):
    """({"step": (run, sync), and with `parts` "generators" and "discriminators"}, parameter count) for the same
    step in eager PyTorch, in the official `optimize_parameters` order."""
    import itertools

    import torch

    torch.manual_seed(0)
    g_a, g_b, d_a, d_b = torch_networks(config.model)
    optim, objective = config.optim, config.objective
    g_opt = torch.optim.Adam(itertools.chain(g_a.parameters(), g_b.parameters()), optim.g_lr, (optim.b1, optim.b2))
    d_opt = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), optim.d_lr, (optim.b1, optim.b2))
    pools = {"a": TorchImagePool(objective.pool_size), "b": TorchImagePool(objective.pool_size)}
    real_a, real_b = (torch.from_numpy(images[domain].transpose(0, 3, 1, 2).copy()) for domain in DOMAINS)
    mse, l1 = torch.nn.MSELoss(), torch.nn.L1Loss()
    cycle_weight = objective.cycle_weight
    identity_weight = objective.identity_weight * cycle_weight  # the official lambda_identity * lambda_A

    def gan_loss(prediction, target: bool):
        return mse(prediction, torch.full_like(prediction, float(target)))

    def set_requires_grad(networks, flag: bool) -> None:
        for network in networks:
            network.requires_grad_(flag)

    def generators_backward():
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)
        set_requires_grad((d_a, d_b), False)
        g_opt.zero_grad(set_to_none=True)
        loss = gan_loss(d_a(fake_b), True) + gan_loss(d_b(fake_a), True)
        loss = loss + cycle_weight * (l1(rec_a, real_a) + l1(rec_b, real_b))
        if identity_weight:
            loss = loss + identity_weight * (l1(g_a(real_b), real_b) + l1(g_b(real_a), real_a))
        loss.backward()
        return loss, fake_a, fake_b

    def discriminators_backward(fake_a, fake_b):
        set_requires_grad((d_a, d_b), True)
        d_opt.zero_grad(set_to_none=True)
        losses = []
        for network, real, fake in ((d_a, real_b, fake_b), (d_b, real_a, fake_a)):
            loss = 0.5 * (gan_loss(network(real), True) + gan_loss(network(fake.detach()), False))
            loss.backward()
            losses.append(loss)
        return losses

    def run():
        g_loss, fake_a, fake_b = generators_backward()
        g_opt.step()
        discriminators_backward(pools["a"].query(fake_a), pools["b"].query(fake_b))
        d_opt.step()
        return g_loss

    runners = {}
    if parts:
        with torch.no_grad():
            newest_a, newest_b = g_b(real_b), g_a(real_a)
        runners["generators"] = (lambda: generators_backward()[0], lambda _: None)
        runners["discriminators"] = (lambda: discriminators_backward(newest_a, newest_b), lambda _: None)
    runners["step"] = (run, lambda _: None)
    num_params = sum(p.numel() for network in (g_a, g_b, d_a, d_b) for p in network.parameters())
    return runners, num_params


# ------------------------------------------------------------------------------------------------------- the run


def describe(config: ml_collections.ConfigDict) -> str:
    model = config.model
    side = model.resolution
    return (
        f"{side}x{side}, batch {config.train.batch_size}, G {model.name} w{model.width} x{model.depth}, "
        f"D w{model.d_width} L{model.d_layers}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="cpu,full", help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--steps", type=int, default=2, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", action="store_true", help="also time the generators' and discriminators' parts")
    args = parser.parse_args()
    rows_asked = [row.strip() for row in args.rows.split(",") if row.strip()]
    unknown = [row for row in rows_asked if row not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; valid: {', '.join(ROWS)}")
    try:
        import torch
    except ImportError:
        torch = None
    devices = f"jax {jax.__version__} on {jax.devices()[0].device_kind}"
    if torch is not None:
        torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores XLA:CPU's thread pool uses
        devices += f"; torch {torch.__version__} ({torch.get_num_threads()} threads)"
    print(f"CycleGAN training step, float32. Machine: {machine()}; {devices}")
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; load average {os.getloadavg()[0]:.2f} at the start\n")
    rows, part_rows = [], []
    for name in rows_asked:
        config = recipe_config(name)
        images = random_batch(config)
        batch = config.train.batch_size
        runners = {}
        ours, ours_params = ganjax_runners(config, images, args.parts)
        runners.update({f"ganjax {part}": runner for part, runner in ours.items()})
        if torch is not None:
            theirs, their_params = torch_runners(config, images, args.parts)
            assert their_params == ours_params, f"architectures differ: {their_params} vs {ours_params} parameters"
            runners.update({f"torch {part}": runner for part, runner in theirs.items()})
        print(f"{name}: {describe(config)}; {ours_params:,} parameters", file=sys.stderr, flush=True)
        seconds = interleaved_seconds_per_call(runners, warmup=WARMUP, calls=args.steps, repeats=args.repeats)
        row = [name, describe(config), f"{ours_params:,}", f"{their_params:,}" if torch is not None else "-"]
        row += [
            f"{seconds[f'{side} step'] * 1e3:.0f}" if f"{side} step" in seconds else "-" for side in ("ganjax", "torch")
        ]
        row.append(f"{seconds['torch step'] / seconds['ganjax step']:.2f}x" if "torch step" in seconds else "-")
        row += [
            f"{batch / seconds[f'{side} step']:.1f}" if f"{side} step" in seconds else "-"
            for side in ("ganjax", "torch")
        ]
        rows.append(row)
        if args.parts:
            for side in ("ganjax", "torch"):
                if f"{side} step" not in seconds:
                    continue
                step, g, d = (seconds[f"{side} {part}"] for part in ("step", "generators", "discriminators"))
                part_rows.append(
                    [name, side, f"{step * 1e3:.0f}", f"{g * 1e3:.0f}", f"{d * 1e3:.0f}", f"{(step - g - d) * 1e3:.0f}"]
                )
    print_table(
        [
            "row",
            "sizes",
            "ganjax params",
            "torch params",
            "ganjax ms/step",
            "torch ms/step",
            "ganjax speed-up",
            "ganjax img/s",
            "torch img/s",
        ],
        rows,
    )
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    if part_rows:
        print()
        print_table(["row", "side", "step ms", "G fwd+bwd ms", "D fwd+bwd ms", "rest ms"], part_rows)


if __name__ == "__main__":
    main()
