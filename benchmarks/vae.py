"""The VAE recipes measured: the flax example's anchor, the conv VAE's IWAE bound, MNIST and CIFAR-10 FID.

    python benchmarks/vae.py --anchor [--seeds 5] [--anchor_iwae_images 0]      # configs/vae_mnist.py as is
    python benchmarks/vae.py --iwae [--iwae_steps 8000] [--iwae_images 200]      # configs/vae_conv_mnist.py
    python benchmarks/vae.py --fid [--fid_num 2000 --fid_reference 2000]         # DCGAN, conv VAE, VAE-GAN on MNIST
    python benchmarks/vae.py --cifar [--fid_num 2000 --fid_reference 2000] [--cifar_vaegan_steps 0]  # CIFAR-10, short

The figures, the exact commands and the budgets they ran with are in benchmarks/RESULTS.md, "VAEs".

Each section runs the commands a user would (printed with its table), one after another in subprocesses, against
the shared data folder ($GANJAX_DATA_DIR, default ../shared/data), in fresh runs under --root:

- `--anchor`: `train.py --config configs/vae_mnist.py --config.seed=S` (the flax VAE example's protocol: MLP of 500
  hidden units, 20 latents, Adam 1e-3, batch 128, 3,900 steps = 10 of its epochs); the test negative ELBO (nats,
  dynamically binarised MNIST test, all 10,000, one fixed binarisation per image) that training evaluates every 390
  steps, read from the run's metrics.jsonl, and the command's wall time. Then the IWAE bound (k = 5,000) of seed 0:
  timed on the first 500 test images, then on --anchor_iwae_images (0: all) if the estimate fits --max_bound_s.
- `--iwae`: `train.py --config configs/vae_conv_mnist.py --config.train.num_steps=S` (KL warm-up scaled with S, 10%
  as in the recipe), its whole-test-set ELBO every 2,000 steps, then the IWAE bound (k = 5,000) and the ELBO on the
  first --iwae_images test images, with the time that took and the time the whole set would take at that rate.
- `--fid`: at 192,000 training images each, configs/default.py (DCGAN, 3,000 steps of 64), configs/vae_conv_mnist.py
  (1,500 steps of 128, KL warm-up 150) and configs/vaegan_cifar10.py on MNIST (28x28x1, 3,000 steps of 64); then
  `python -m ganjax.evaluate --workdir W --metrics fid --num N --num_reference M --out JSON` for each (TF resize).
- `--cifar`: configs/vae_cifar10.py:cpu, configs/vaegan_cifar10.py:cpu and configs/cifar10_dcgan.py for short step
  budgets, then FID (and the VAE's test bounds in nats and bits per dimension) through `python -m ganjax.evaluate`.

`python -m ganjax.evaluate` has no flag for `eval.num_bound_images` or `eval.iwae_samples`, so the bounds on a subset
are computed by this script's `--bound WORKDIR` mode, in a subprocess too: ganjax's Python API as evaluate uses it
(`ganjax.runs.load_run`, then the evaluator of the task built from the saved config with those two fields changed).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine, print_table  # noqa: E402

PYTHON = sys.executable
PREFIX = "GANJAX_DATA_DIR=../shared/data python "
ANCHOR_STEPS = 3_900
ANCHOR_EPOCH = 390  # steps per epoch of the flax example (50,000 training images / batch 128)
IWAE_SAMPLES = 5_000
CONV_RECIPE_STEPS, CONV_RECIPE_WARMUP = 20_000, 2_000
FID_IMAGES = 192_000  # the DCGAN default recipe's training images: 3,000 steps of 64


def data_env() -> dict[str, str]:
    return {**os.environ, "GANJAX_DATA_DIR": os.environ.get("GANJAX_DATA_DIR", str(REPO.parent / "shared" / "data"))}


def run(command: list[str], log: pathlib.Path | None = None) -> float:
    """Runs a command in the repository (output to `log` when given); returns its wall-clock seconds."""
    print("$", " ".join(command[1:] if command[0] == PYTHON else command), file=sys.stderr, flush=True)
    started = time.perf_counter()
    if log is None:
        subprocess.run(command, cwd=REPO, env=data_env(), check=True)
    else:
        with log.open("w") as out:
            result = subprocess.run(command, cwd=REPO, env=data_env(), stdout=out, stderr=subprocess.STDOUT)
        if result.returncode:
            sys.exit(f"{' '.join(command)} failed with status {result.returncode}; see {log}")
    return time.perf_counter() - started


def shown(command: list[str]) -> str:
    """A command as a user types it."""
    return PREFIX + " ".join(command[1:])


def train(workdir: pathlib.Path, config: str, *overrides: str) -> tuple[list[str], float]:
    """A fresh run of train.py (any earlier run in `workdir` is removed first); (command, wall seconds)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    command = [PYTHON, "train.py", f"--config={config}", f"--workdir={workdir}", *overrides]
    return command, run(command, workdir.parent / f"{workdir.name}.train.log")


def evaluate(workdir: pathlib.Path, *flags: str) -> tuple[list[str], float, dict]:
    """`python -m ganjax.evaluate --workdir ... --out JSON`; (command, wall seconds, results)."""
    out = workdir / f"evaluate_{len(list(workdir.glob('evaluate_*.json')))}.json"
    command = [PYTHON, "-m", "ganjax.evaluate", f"--workdir={workdir}", *flags, f"--out={out}"]
    seconds = run(command, workdir.parent / f"{workdir.name}.{out.stem}.log")
    return command, seconds, json.loads(out.read_text())


def bound(workdir: pathlib.Path, metrics: str, images: int, samples: int) -> tuple[list[str], float, dict]:
    """This script's --bound mode on a run: (command, wall seconds, results with the evaluator's own seconds)."""
    out = workdir / f"bound_{metrics.replace(',', '_')}_{images}_{samples}.json"
    command = [
        PYTHON,
        "benchmarks/vae.py",
        f"--bound={workdir}",
        f"--bound_metrics={metrics}",
        f"--bound_images={images}",
        f"--bound_samples={samples}",
        f"--out={out}",
    ]
    seconds = run(command, workdir.parent / f"{workdir.name}.{out.stem}.log")
    return command, seconds, json.loads(out.read_text())


def eval_records(workdir: pathlib.Path, key: str) -> dict[int, float]:
    """step -> value of `key` in the run's metrics.jsonl (its evaluations)."""
    records = {}
    for line in (workdir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if key in record:
            records[record["step"]] = record[key]
    return records


def median_rate(workdir: pathlib.Path) -> float:
    """The median training throughput, images/s, of the run's log records."""
    return statistics.median(eval_records(workdir, "images_per_sec").values())


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"


# ------------------------------------------------------------------------------------------------------ the bounds


def compute_bound(args: argparse.Namespace) -> None:
    """--bound: the run's test bounds on its first --bound_images images with --bound_samples importance samples."""
    from ganjax.cli import configure_logging, enable_compilation_cache, use_fast_cpu_convolutions

    configure_logging()
    use_fast_cpu_convolutions()  # as the command-line tools do, before JAX creates its backend
    enable_compilation_cache()
    import jax
    import ml_collections

    from ganjax import parallel
    from ganjax.runs import load_run
    from ganjax.tasks import build_task

    saved = load_run(args.bound)
    config = ml_collections.ConfigDict(saved.config.to_dict())
    config.eval.update(
        metrics=tuple(args.bound_metrics.split(",")),
        num_bound_images=args.bound_images,
        iwae_samples=args.bound_samples,
    )
    mesh = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}))
    state = jax.device_put(saved.state, parallel.replicated(mesh))
    started = time.perf_counter()
    evaluation = build_task(config).evaluator(mesh)(state)
    seconds = time.perf_counter() - started
    results = {**evaluation.scores, **evaluation.protocol, "step": saved.step, "seconds": seconds}
    print(json.dumps(results, indent=2))
    pathlib.Path(args.out).write_text(json.dumps(results, indent=2))


# ------------------------------------------------------------------------------------------------------ sections


def anchor(args: argparse.Namespace, root: pathlib.Path) -> list[str]:
    commands, rows, finals = [], [], []
    for seed in range(args.seeds):
        workdir = root / f"anchor_seed{seed}"
        command, seconds = train(workdir, "configs/vae_mnist.py", f"--config.seed={seed}")
        commands.append(shown(command))
        curve = eval_records(workdir, "nelbo")
        finals.append(curve[ANCHOR_STEPS])
        epochs = [curve[ANCHOR_EPOCH * epoch] for epoch in (1, 5, 10)]
        rows.append([seed, *(f"{value:.2f}" for value in epochs), f"{seconds:.0f}", f"{median_rate(workdir):.0f}"])
    print(f"\nAnchor: configs/vae_mnist.py as is, {args.seeds} seed(s). Machine: {machine()}\n")
    print("Test negative ELBO, nats, dynamically binarised MNIST test (10,000), after epochs of 390 steps of 128:\n")
    print_table(["seed", "epoch 1", "epoch 5", "epoch 10", "train.py wall s", "train img/s"], rows)
    if len(finals) > 1:
        print(f"\nepoch 10 over {len(finals)} seeds: {statistics.mean(finals):.2f} +- {statistics.stdev(finals):.2f}")
    if not args.anchor_estimate_images:
        return commands
    workdir = root / "anchor_seed0"
    command, wall, estimate = bound(workdir, "elbo,iwae", args.anchor_estimate_images, IWAE_SAMPLES)
    commands.append(shown(command))
    rows = [iwae_row(estimate, args.anchor_estimate_images, wall)]
    whole = estimate["seconds"] * 10_000 / args.anchor_estimate_images
    if args.anchor_iwae_images != args.anchor_estimate_images:
        count = args.anchor_iwae_images or 10_000
        if whole * count / 10_000 <= args.max_bound_s:
            command, wall, result = bound(workdir, "elbo,iwae", args.anchor_iwae_images, IWAE_SAMPLES)
            commands.append(shown(command))
            rows.append(iwae_row(result, count, wall))
        else:
            print(f"\n(skipped the bound on {count} images: estimated {whole * count / 10_000:.0f} s)")
    print(f"\nIWAE bound (k = {IWAE_SAMPLES}) of seed 0, dynamically binarised MNIST test:\n")
    print_table(IWAE_HEADERS, rows)
    return commands


IWAE_HEADERS = ["test images", "-ELBO same images", "IWAE k=5000", "bound s", "whole test set s (at that rate)"]


def iwae_row(result: dict, images: int, wall: float) -> list[str]:
    whole = result["seconds"] * 10_000 / images
    return [
        images,
        f"{result['nelbo']:.2f}",
        f"{result['iwae_nll']:.2f}",
        f"{result['seconds']:.0f} (command {wall:.0f})",
        minutes(whole),
    ]


def iwae(args: argparse.Namespace, root: pathlib.Path) -> list[str]:
    steps = args.iwae_steps
    warmup = round(CONV_RECIPE_WARMUP * steps / CONV_RECIPE_STEPS)
    workdir = root / f"conv_{steps}"
    command, seconds = train(
        workdir,
        "configs/vae_conv_mnist.py",
        f"--config.train.num_steps={steps}",
        f"--config.objective.kl_warmup_steps={warmup}",
    )
    commands = [shown(command)]
    curve = eval_records(workdir, "nelbo")
    print(f"\nConv VAE: configs/vae_conv_mnist.py, {steps} steps of 128, KL warm-up {warmup}. Machine: {machine()}\n")
    print(f"train.py wall: {minutes(seconds)}, {median_rate(workdir):.0f} train img/s (median)\n")
    print("Test negative ELBO, nats, dynamically binarised MNIST test (10,000):\n")
    print_table(["step", "-ELBO"], [[step, f"{value:.2f}"] for step, value in sorted(curve.items())])
    command, wall, result = bound(workdir, "elbo,iwae", args.iwae_images, IWAE_SAMPLES)
    commands.append(shown(command))
    print(f"\nIWAE bound (k = {IWAE_SAMPLES}), dynamically binarised MNIST test, first {args.iwae_images} images:\n")
    print_table(IWAE_HEADERS, [iwae_row(result, args.iwae_images, wall)])
    gap = result["nelbo"] - result["iwae_nll"]
    print(f"\nELBO - IWAE gap on those images: {gap:.2f} nats; whole-set -ELBO {curve[steps]:.2f}, so the whole-set")
    print(f"IWAE is about {curve[steps] - gap:.2f} if the gap is the same on all 10,000 (an estimate, not a bound)")
    return commands


def fid_flags(args: argparse.Namespace, metrics: str = "fid") -> list[str]:
    return [f"--metrics={metrics}", f"--num={args.fid_num}", f"--num_reference={args.fid_reference}"]


def fid(args: argparse.Namespace, root: pathlib.Path) -> list[str]:
    vaegan = [
        "--config.data.name=mnist",
        "--config.model.resolution=28",
        "--config.model.channels=1",
        "--config.train.num_steps=3000",
        "--config.train.sample_every=1000",
        "--config.train.checkpoint_every=1000",
        "--config.eval.metrics=()",  # FID once, below, with the others' protocol
        "--config.eval.best_metric=",
    ]
    if args.vaegan_feature_weight is not None:
        vaegan.append(f"--config.objective.feature_weight={args.vaegan_feature_weight}")
    models = [
        ("DCGAN (configs/default.py)", "dcgan", "configs/default.py", [], 3000, 64),
        (
            "conv VAE (configs/vae_conv_mnist.py)",
            "conv_1500",
            "configs/vae_conv_mnist.py",
            ["--config.train.num_steps=1500", "--config.objective.kl_warmup_steps=150"],
            1500,
            128,
        ),
        ("VAE-GAN (configs/vaegan_cifar10.py on MNIST)", "vaegan_mnist", "configs/vaegan_cifar10.py", vaegan, 3000, 64),
    ]
    commands, rows = [], []
    for label, name, config, overrides, steps, batch in models:
        workdir = root / f"fid_{name}"
        command, seconds = train(workdir, config, *overrides)
        flags = fid_flags(args, "fid,elbo" if name.startswith("conv") else "fid")
        eval_command, eval_seconds, scores = evaluate(workdir, *flags)
        commands += [shown(command), shown(eval_command)]
        nelbo = f"{scores['nelbo']:.2f}" if "nelbo" in scores else "-"
        rows.append(
            [
                label,
                f"{steps * batch:,} ({steps} x {batch})",
                minutes(seconds),
                f"{scores['fid']:.2f}",
                nelbo,
                f"{eval_seconds:.0f}",
            ]
        )
    reference = args.fid_reference or 10_000
    print(f"\nMNIST FID at equal training images. Machine: {machine()}\n")
    print(f"FID of {args.fid_num:,} generated (decoded prior) images vs the first {reference:,} MNIST test images, TF")
    print("resize; -ELBO: nats, dynamically binarised MNIST test (10,000)\n")
    print_table(["model", "training images", "train.py wall", "FID", "-ELBO", "evaluate s"], rows)
    return commands


def cifar(args: argparse.Namespace, root: pathlib.Path) -> list[str]:
    models = [
        (
            "VAE (configs/vae_cifar10.py:cpu)",
            "vae",
            "configs/vae_cifar10.py:cpu",
            [
                f"--config.train.num_steps={args.cifar_vae_steps}",
                "--config.eval.metrics=('elbo',)",  # FID once, below
                "--config.eval.best_metric=nelbo",
            ],
            args.cifar_vae_steps,
            "elbo,fid",
        ),
        (
            "VAE-GAN (configs/vaegan_cifar10.py:cpu)",
            "vaegan",
            "configs/vaegan_cifar10.py:cpu",
            [
                f"--config.train.num_steps={args.cifar_vaegan_steps}",
                "--config.eval.metrics=()",
                "--config.eval.best_metric=",
            ],
            args.cifar_vaegan_steps,
            "fid",
        ),
        (
            "DCGAN (configs/cifar10_dcgan.py)",
            "dcgan",
            "configs/cifar10_dcgan.py",
            [f"--config.train.num_steps={args.cifar_dcgan_steps}"],
            args.cifar_dcgan_steps,
            "fid",
        ),
    ]
    commands, rows = [], []
    for label, name, config, overrides, steps, metrics in models:
        if not steps:
            continue
        workdir = root / f"cifar_{name}"
        command, seconds = train(workdir, config, *overrides)
        eval_command, eval_seconds, scores = evaluate(workdir, *fid_flags(args, metrics))
        commands += [shown(command), shown(eval_command)]
        bounds = f"{scores['nelbo']:.0f} / {scores['nelbo_bpd']:.3f}" if "nelbo" in scores else "-"
        rows.append(
            [
                label,
                f"{steps * 64:,} ({steps} x 64)",
                minutes(seconds),
                f"{scores['fid']:.2f}",
                bounds,
                f"{eval_seconds:.0f}",
            ]
        )
    reference = args.fid_reference or 10_000
    print(f"\nCIFAR-10, CPU short runs (not the recipes' budgets; no accelerator). Machine: {machine()}\n")
    print(f"FID of {args.fid_num:,} generated images vs the first {reference:,} CIFAR-10 test images, TF resize;")
    print("-ELBO on the whole test set (10,000), nats per image / bits per dimension, 256 levels\n")
    print_table(["model", "training images", "train.py wall", "FID", "-ELBO nats / bpd", "evaluate s"], rows)
    return commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anchor", action="store_true", help="configs/vae_mnist.py against the flax example")
    parser.add_argument("--iwae", action="store_true", help="the conv VAE's IWAE bound")
    parser.add_argument("--fid", action="store_true", help="MNIST FID of DCGAN, conv VAE, VAE-GAN")
    parser.add_argument("--cifar", action="store_true", help="the CIFAR-10 cpu variants, short runs")
    parser.add_argument("--root", default="/tmp/ganjax_vae_benchmark", help="the runs' parent folder")
    parser.add_argument("--seeds", type=int, default=1, help="--anchor: seeds 0..N-1")
    parser.add_argument("--anchor_estimate_images", type=int, default=500, help="--anchor: IWAE timed on (0: none)")
    parser.add_argument("--anchor_iwae_images", type=int, default=0, help="--anchor: IWAE images (0: all 10,000)")
    parser.add_argument("--max_bound_s", type=float, default=900, help="--anchor: skip a longer IWAE bound")
    parser.add_argument("--iwae_steps", type=int, default=10_000, help="--iwae: training steps of the conv VAE")
    parser.add_argument("--iwae_images", type=int, default=200, help="--iwae: test images of the IWAE bound")
    parser.add_argument("--fid_num", type=int, default=10_000, help="--fid, --cifar: generated images")
    parser.add_argument("--fid_reference", type=int, default=0, help="--fid, --cifar: test images (0: all)")
    parser.add_argument("--vaegan_feature_weight", type=float, default=None, help="--fid: override the recipe's")
    parser.add_argument("--cifar_vae_steps", type=int, default=2000, help="--cifar: VAE steps (the cpu variant's)")
    parser.add_argument("--cifar_vaegan_steps", type=int, default=2000, help="--cifar: VAE-GAN steps (0: skip)")
    parser.add_argument("--cifar_dcgan_steps", type=int, default=2000, help="--cifar: DCGAN steps (0: skip)")
    parser.add_argument("--bound", default=None, help=argparse.SUPPRESS)  # the subprocess mode, see the docstring
    parser.add_argument("--bound_metrics", default="elbo,iwae", help=argparse.SUPPRESS)
    parser.add_argument("--bound_images", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bound_samples", type=int, default=IWAE_SAMPLES, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bound:
        compute_bound(args)
        return
    sections = [("anchor", anchor), ("iwae", iwae), ("fid", fid), ("cifar", cifar)]
    chosen = [(flag, section) for flag, section in sections if getattr(args, flag)]
    if not chosen:
        parser.error("choose at least one of --anchor, --iwae, --fid, --cifar")
    root = pathlib.Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    for flag, section in chosen:
        started = time.perf_counter()
        commands = section(args, root)
        print(f"\n--{flag}: {minutes(time.perf_counter() - started)} in all. Commands:")
        for command in commands:
            print(f"  {command}")
        print(flush=True)


if __name__ == "__main__":
    main()
