"""The accelerator suite: every speed figure ganjax claims, each beside its reference, in one budgeted command.

    python benchmarks/device_suite.py --out report/                     # on the accelerator: all four sections
    python benchmarks/device_suite.py --tiny --out /tmp/suite           # the same code paths in under a minute on CPU
    python benchmarks/device_suite.py --sections conv,inception --budget_conv 30 --out report/

Sections (--sections, in this order), each with its own budget in seconds (--budget_<name>; 0 skips it): when a
budget runs out the section records what it has measured, says "out of budget", and the next one starts.
1. train: the compiled train step of every recipe (DCGAN MNIST and CIFAR-10, SNGAN, BigGAN, R3GAN, the VAE, conv-VAE
   and VAE-GAN, the DnCNN denoiser), bfloat16 and float32 (config.model.dtype), at the recipe's batch and at
   --large_batch: ms/step, images/s (real images a step consumes: batch x D steps), compile seconds, memory, FLOPs
   per step from the compiled step's cost analysis and model FLOPs utilisation against --peak_flops. Beside each GAN
   recipe the same architecture and step in PyTorch (benchmarks/torch_models.py), eager and torch.compile, and the
   ratio torch ms / ganjax ms (above 1: ganjax faster).
2. conv: the convolutions ganjax writes gradients for (ganjax/layers.py) against XLA's own gradients of the same
   lax convolution, at the recipes' shapes, forward + backward (and R1's gradient of a gradient for the 3x3): which
   is faster here, and which one ganjax picks on this platform (lax.platform_dependent).
3. inception: pool3 features of the 50,000 CIFAR-10 training images, ganjax's FIDInceptionV3 against torch.jit.load
   of the same archive on the same device, and the full FID of the 50k train against the 10k test images.
4. speedrun: configs/cifar10_speedrun.py trained for --speedrun_seconds of wall clock (compilation included), FID of
   10,000 EMA samples against the 10,000 test images every --speedrun_eval_every seconds and at the end, the
   evaluations off the clock (benchmarks/SPEEDRUN.md has the rules).
Memory: "step MiB" is the compiled step's own (arguments + outputs + temporaries - aliased, memory_analysis);
"process peak MiB" is the device's peak_bytes_in_use so far in this process (memory_stats; a high-water mark over
everything run before, so it only grows), "n/a" where the backend has no such counter (CPU).

The report prints as Markdown and is written to --out as report.md and report.json. --tiny: tiny variants, batch 8
(large 16), a few images, a 10-second speedrun (at least 3 steps) with an FID of 16 images; its numbers mean nothing.

On the H200 (/work/.library/device/README.md). The device lacks ml_collections, grain (and array_record,
portpicker) and tensorboardX: `bash benchmarks/device_wheels.sh` downloads their wheels (4.5 MB) into .whl/ here.
CIFAR-10 (98 MB of WebP) and the Inception archive (84 MB) exceed one call's 64 MiB, so, here,

    python benchmarks/device_suite.py --pack

tars them with a SHA256SUMS manifest of every file and splits the tar into 48 MiB parts .parts/data.tar.00 to .03
(.parts/ is ignored through .git/info/exclude), with SHA256SUMS.parts of the parts. Each call carries one part, which
the machine keeps in /tmp/parts while it stays warm (30 s after a call: make the calls back to back; a fresh machine
has lost them and --unpack says which are missing). Calls 1 to 3, carry [".parts/data.tar.00"] (then .01, .02):

    mkdir -p /tmp/parts && cp .parts/data.tar.* /tmp/parts/ && ls -l /tmp/parts

Call 4, carry [".whl", ".parts/data.tar.03", ".parts/SHA256SUMS.parts"], checks each part, joins and extracts them,
checks each file, installs the wheels and runs the first three sections (about 3.5 minutes):

    mkdir -p /tmp/parts && cp .parts/data.tar.* /tmp/parts/ && python3 benchmarks/device_suite.py --unpack /tmp/parts \
    --parts_manifest .parts/SHA256SUMS.parts --to /tmp/data || exit; python3 -m pip install -q --no-index --no-deps \
    --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; \
    PYTHONUNBUFFERED=1 python3 benchmarks/device_suite.py --data /tmp/data --sections train,conv,inception \
    --out $OUT 2>&1 | tee $OUT/log

Call 5, carry [".whl"], right after it: the speedrun (300 s of clock, its evaluations and the test set's features,
about 6.5 minutes):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl && export PYTHONPATH=/tmp/site || exit; PYTHONUNBUFFERED=1 python3 benchmarks/device_suite.py \
    --data /tmp/data --sections speedrun --out $OUT 2>&1 | tee $OUT/log

(--unpack needs only the standard library: it runs before the wheels are installed.) The default budgets are train
120, conv 20, inception 50 and speedrun --speedrun_seconds + 90 s: all four in one call come to about 10 minutes,
one call's limit, hence the two calls. The issue's 6-minute bound holds for each call, not for the four sections
together with a 300-s speedrun.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib
import inspect
import json
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tarfile
import time
import traceback
from collections.abc import Callable, Iterator

# JAX takes 75% of a GPU's memory at start by default; PyTorch runs beside it in this process, so JAX takes 60%.
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.6")

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SECTIONS = ("train", "conv", "inception", "speedrun")
DEFAULT_BUDGETS = {"train": 120.0, "conv": 20.0, "inception": 50.0, "speedrun": 390.0}
TINY_BUDGETS = {"train": 10.0, "conv": 4.0, "inception": 12.0, "speedrun": 35.0}
# The H200's bf16 dense matrix rate measured on random data (/work/.library/device/KINDS.md: 769 to 798 TFLOP/s).
H200_PEAK_FLOPS = 790e12
INCEPTION_NAME = "fid_inception_v3_2015-12-05_pool3_torchscript.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
PART_BYTES = 48 * 2**20

# (name, config module, GAN?): every recipe whose train step the suite times. configs/default.py takes no variant.
RECIPES = (
    ("dcgan_mnist", "default", True),
    ("cifar10_dcgan", "cifar10_dcgan", True),
    ("cifar10_sngan", "cifar10_sngan", True),
    ("cifar10_biggan", "cifar10_biggan", True),
    ("cifar10_r3gan", "cifar10_r3gan", True),
    ("vae_mnist", "vae_mnist", False),
    ("vae_cifar10", "vae_cifar10", False),
    ("vaegan_cifar10", "vaegan_cifar10", False),
    ("restore_denoise", "restore_denoise", False),
)

# The columns of each section's Markdown table: (header, row key).
COLUMNS = {
    "train": [
        ("recipe", "recipe"),
        ("dtype", "dtype"),
        ("batch", "batch"),
        ("ms/step", "ms_per_step"),
        ("images/s", "images_per_s"),
        ("compile s", "compile_s"),
        ("step MiB", "step_mib"),
        ("process peak MiB", "peak_mib"),
        ("GFLOP/step", "gflop_per_step"),
        ("MFU", "mfu"),
        ("torch eager ms", "torch_eager_ms"),
        ("torch.compile ms", "torch_compile_ms"),
        ("eager/ganjax", "ratio_eager"),
        ("compile/ganjax", "ratio_compile"),
    ],
    "conv": [
        ("layer", "layer"),
        ("shape", "shape"),
        ("dtype", "dtype"),
        ("measure", "measure"),
        ("hand-written ms", "hand_ms"),
        ("XLA ms", "xla_ms"),
        ("faster", "faster"),
        ("ganjax uses here", "chosen"),
        ("max |diff|", "max_diff"),
    ],
    "inception": [
        ("what", "what"),
        ("images", "images"),
        ("seconds", "seconds"),
        ("images/s", "images_per_s"),
        ("compile s", "compile_s"),
        ("note", "note"),
    ],
    "speedrun": [
        ("train clock s", "clock_s"),
        ("steps", "steps"),
        ("images seen", "images_seen"),
        ("FID", "fid"),
        ("eval s (off the clock)", "eval_s"),
        ("samples", "samples"),
    ],
}


class OutOfBudget(Exception):
    """Raised inside a section when its budget is spent; what it recorded stays."""


class Section:
    """One section's budget and record: rows (one per measurement), notes, and how it ended."""

    def __init__(self, name: str, budget: float):
        self.name, self.budget = name, budget
        self.started = time.perf_counter()
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.extra: dict = {}
        self.status = "ok"

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def check(self, need: float = 0.0) -> None:
        """OutOfBudget unless more than `need` seconds are left."""
        if self.left() <= need:
            raise OutOfBudget

    def record(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "budget_s": self.budget,
            "elapsed_s": round(time.perf_counter() - self.started, 2),
            "columns": [key for _, key in COLUMNS[self.name]],
            "rows": self.rows,
            "notes": self.notes,
            **self.extra,
        }


def run_section(name: str, budget: float, body: Callable[[Section], None]) -> dict:
    section = Section(name, budget)
    if budget <= 0:
        section.status = "skipped: out of budget (0 s)"
        return section.record()
    try:
        body(section)
    except OutOfBudget:
        section.status = "out of budget"
    except Skip as skip:
        section.status = f"skipped: {skip}"
    except Exception as error:  # a broken section must not cost the others
        section.status = f"error: {type(error).__name__}: {error}"
        section.notes.append(traceback.format_exc(limit=6))
    print(f"[{name}] {section.status} after {time.perf_counter() - section.started:.1f} s", flush=True)
    return section.record()


class Skip(Exception):
    """The section cannot run here (missing data, weights or package); the message says why."""


def timed_calls(
    run: Callable[[], object],
    sync: Callable[[object], object],
    section: Section,
    *,
    min_time: float,
    repeats: int = 3,
    max_calls: int = 1000,
) -> float:
    """Median over `repeats` of the mean seconds per call, each repeat as many back-to-back calls as fill `min_time`
    (after one more warm-up call); stops early, with what it has, when the section's budget runs out."""
    started = time.perf_counter()
    sync(run())
    once = max(time.perf_counter() - started, 1e-6)
    calls = max(1, min(max_calls, int(min_time / once)))
    means = []
    for _ in range(repeats):
        if means and section.left() < calls * once * 1.5:
            break
        started = time.perf_counter()
        for _ in range(calls):
            result = run()
        sync(result)
        means.append((time.perf_counter() - started) / calls)
    return statistics.median(means)


def cost_flops(compiled) -> float | None:
    """FLOPs of one call of a compiled program, from XLA's cost analysis (None when it gives none)."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:
        return None
    if isinstance(analysis, list | tuple):
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def step_bytes(compiled) -> int | None:
    memory = compiled.memory_analysis()
    if memory is None:
        return None
    return (
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - memory.alias_size_in_bytes
    )


def device_peak_bytes() -> int | None:
    import jax

    stats = jax.devices()[0].memory_stats()
    return None if not stats or "peak_bytes_in_use" not in stats else int(stats["peak_bytes_in_use"])


def mib(value: int | None) -> float | str:
    return "n/a" if value is None else round(value / 2**20, 1)


def on_accelerator() -> bool:
    import jax

    return jax.default_backend() != "cpu"


# ----------------------------------------------------------------------------------------------------------- train


def recipe_config(module: str, tiny: bool):
    config_module = importlib.import_module(f"configs.{module}")
    if module == "default":
        config = config_module.get_config()
        if tiny:
            config.model.update(g_width=8, d_width=8, latent_dim=16)
            config.train.batch_size = 8
        return config
    return config_module.get_config("tiny" if tiny else "")


def ganjax_step(config, batch_size: int):
    """(run, sync, compiled, compile seconds, (g params, d params), images per step) of the recipe's compiled
    train step on the first device, on random data of the batch's shape."""
    import jax
    import ml_collections
    import numpy as np

    from ganjax import parallel
    from ganjax.state import create_state, state_shardings
    from ganjax.step import compile_train_steps
    from ganjax.tasks import build_task

    config.train.batch_size = batch_size
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 1}), jax.devices()[:1])
    task = build_task(config)
    shardings = state_shardings(task, config.seed, mesh)
    state = create_state(task, config.seed, shardings)
    sharding = parallel.step_batch_sharding(mesh)
    spec = task.batch_spec(batch_size, sharding)
    rng = np.random.default_rng(0)
    local = {}
    for key, leaf in spec.items():
        if np.issubdtype(leaf.dtype, np.integer):
            local[key] = rng.integers(0, max(1, config.model.get("num_classes", 1)), leaf.shape).astype(leaf.dtype)
        else:
            local[key] = rng.uniform(-1, 1, leaf.shape).astype(leaf.dtype)
    batch = parallel.global_batch(local, sharding)
    started = time.perf_counter()
    compiled = compile_train_steps(task, mesh, shardings, state, batch)[True]
    compile_seconds = time.perf_counter() - started
    params = tuple(
        int(sum(x.size for x in jax.tree.leaves(net.params))) for net in (state.generator, state.discriminator)
    )
    holder = {"state": state}

    def run():
        holder["state"], metrics = compiled(holder["state"], batch)
        return metrics

    images = task.batches_per_step * batch_size
    return run, jax.block_until_ready, compiled, compile_seconds, params, images


def torch_step(config, batch_size: int, dtype: str, compile: bool):
    """((run, sync), (g params, d params)) from benchmarks/torch_models.py, or an "n/a (reason)" string."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        return f"n/a (no torch: {error})"
    try:
        torch_models = importlib.import_module("torch_models")
    except ImportError as error:
        return f"n/a (benchmarks/torch_models.py: {error})"
    try:
        return torch_models.torch_runner(config, batch_size, dtype=dtype, compile=compile)
    except Exception as error:  # a family it lacks, a compile failure
        return f"n/a ({type(error).__name__}: {str(error)[:120]})"


def torch_sync(sync: Callable) -> Callable[[object], object]:
    """benchmarks/torch_models.py's sync() takes no argument; common.py's take the last result."""
    try:
        takes_result = len(inspect.signature(sync).parameters) > 0
    except (TypeError, ValueError):
        takes_result = False
    return sync if takes_result else (lambda _: sync())


def train_plan(args) -> Iterator[tuple[str, str, bool, str, str]]:
    """(recipe, module, gan, dtype, batch kind) in the order they are measured, the most telling first: every
    recipe at its batch in bfloat16, then float32, then both at the large batch. --tiny: every recipe once, at its
    batch in float32, and DCGAN CIFAR-10 also in bfloat16 and at the large batch (the same code paths)."""
    if args.tiny:  # the quickest to compile first, so that a CPU's small budget covers the most
        recipes = dict((name, (module, gan)) for name, module, gan in RECIPES)
        yield "cifar10_dcgan", *recipes["cifar10_dcgan"], "float32", "recipe"
        yield "cifar10_dcgan", *recipes["cifar10_dcgan"], "bfloat16", "recipe"
        yield "cifar10_dcgan", *recipes["cifar10_dcgan"], "float32", "large"
        for name in (
            "dcgan_mnist",
            "vae_mnist",
            "restore_denoise",
            "vae_cifar10",
            "vaegan_cifar10",
            "cifar10_sngan",
            "cifar10_biggan",
            "cifar10_r3gan",
        ):
            yield name, *recipes[name], "float32", "recipe"
        return
    for kind in ("recipe", "large"):
        for dtype in args.dtypes:
            for name, module, gan in RECIPES:
                yield name, module, gan, dtype, kind


def section_train(section: Section, args) -> None:
    import jax

    peak = args.peak_flops if on_accelerator() else None
    section.extra["peak_flops"] = peak
    section.notes.append(
        f"MFU = cost-analysis FLOPs per step / step time / {peak:.3g} FLOP/s (the H200's measured bf16 dense rate)"
        if peak
        else "MFU: n/a on CPU (no accelerator peak)"
    )
    section.notes.append(
        "images/s counts the real images one step consumes (batch x D steps); torch ratios are torch ms / ganjax ms"
    )
    min_time = 0.05 if args.tiny else 0.5
    plan = list(train_plan(args))
    for index, (name, module, gan, dtype, kind) in enumerate(plan):
        if section.left() <= 1.0:
            section.extra["not_measured"] = [f"{n} {d} {k} batch" for n, _, _, d, k in plan[index:]]
            raise OutOfBudget
        config = recipe_config(module, args.tiny)
        batch = args.large_batch if kind == "large" else config.train.batch_size
        config.model.dtype = dtype
        row = {"recipe": name, "dtype": dtype, "batch": batch, "batch_kind": kind}
        try:
            run, sync, compiled, compile_s, params, images = ganjax_step(config, batch)
            seconds = timed_calls(run, sync, section, min_time=min_time)
        except OutOfBudget:
            raise
        except Exception as error:
            row["error"] = f"{type(error).__name__}: {str(error)[:200]}"
            section.rows.append(row)
            continue
        flops = cost_flops(compiled)
        row.update(
            ms_per_step=round(seconds * 1e3, 3),
            images_per_s=round(images / seconds, 1),
            compile_s=round(compile_s, 2),
            step_mib=mib(step_bytes(compiled)),
            peak_mib=mib(device_peak_bytes()),
            gflop_per_step=None if flops is None else round(flops / 1e9, 3),
            mfu=(
                "n/a (CPU)"
                if peak is None
                else "n/a (no cost analysis)"
                if flops is None
                else round(flops / seconds / peak, 4)
            ),
            g_params=params[0],
            d_params=params[1],
        )
        del run, compiled
        if not gan:
            row.update(torch_eager_ms="n/a (no PyTorch reference for this task)", torch_compile_ms="n/a")
        else:
            for compile_flag, key in ((False, "torch_eager_ms"), (True, "torch_compile_ms")):
                if compile_flag and str(row.get("torch_eager_ms")).startswith("n/a (no torch"):
                    row[key] = row["torch_eager_ms"]
                    continue
                if compile_flag and (kind != "recipe" or dtype != args.dtypes[0]):
                    row[key] = "n/a (torch.compile only at the recipe's batch in the first dtype, for the budget)"
                    continue
                if compile_flag and section.left() < args.torch_compile_reserve:
                    row[key] = f"n/a (under {args.torch_compile_reserve:.0f} s of budget left to compile)"
                    continue
                started = time.perf_counter()
                runner = torch_step(config, batch, dtype, compile_flag)
                if isinstance(runner, str):
                    row[key] = runner
                    continue
                (torch_run, sync), torch_params = runner
                row[key.replace("_ms", "_params_match")] = tuple(torch_params) == params
                try:
                    torch_seconds = timed_calls(torch_run, torch_sync(sync), section, min_time=min_time)
                except Exception as error:
                    row[key] = f"n/a ({type(error).__name__}: {str(error)[:120]})"
                    continue
                finally:
                    row[key.replace("_ms", "_setup_s")] = round(time.perf_counter() - started, 2)
                row[key] = round(torch_seconds * 1e3, 3)
                row["ratio_" + key.split("_")[1]] = round(torch_seconds / seconds, 3)
        section.rows.append(row)
        print(f"[train] {row}", flush=True)
        jax.clear_caches()


# ------------------------------------------------------------------------------------------------------------ conv


def conv_cases(batch: int, tiny: bool) -> list[tuple[str, str, tuple, tuple]]:
    """(layer, kind, x shape, kernel shape) at the recipes' shapes (benchmarks/conv_layers.py's), or small ones."""
    if tiny:
        return [
            ("conv_transpose_4x4_s2", "transpose", (batch, 4, 4, 16), (4, 4, 16, 8)),
            ("conv_transpose_3x3_s2", "transpose", (batch, 4, 4, 16), (3, 3, 16, 8)),
            ("conv_3x3", "conv", (batch, 8, 8, 16), (3, 3, 16, 16)),
            ("conv_3x3 grouped", "grouped", (batch, 8, 8, 32), (3, 3, 8, 32)),
        ]
    cases = []
    for size, cin, cout in [(7, 128, 64), (14, 64, 1), (4, 256, 128), (8, 128, 64), (16, 64, 3)]:  # DCGAN G
        cases.append(("conv_transpose_4x4_s2", "transpose", (batch, size, size, cin), (4, 4, cin, cout)))
    for b, size, cin, cout in [(1, 32, 128, 64), (8, 32, 128, 64), (1, 64, 128, 64), (8, 64, 128, 64)]:  # CycleGAN
        cases.append(("conv_transpose_3x3_s2", "transpose", (b, size, size, cin), (3, 3, cin, cout)))
    for size, channels in [(32, 256), (16, 256), (8, 256)]:  # SNGAN/BigGAN ResNets at width 256
        cases.append(("conv_3x3", "conv", (batch, size, size, channels), (3, 3, channels, channels)))
    for size, channels in [(40, 64)]:  # DnCNN
        cases.append(("conv_3x3", "conv", (128, size, size, channels), (3, 3, channels, channels)))
    for size in (16, 8):  # R3GAN: width 256 x expansion 2, groups of 16, batch 256
        cases.append(("conv_3x3 grouped", "grouped", (256, size, size, 512), (3, 3, 16, 512)))
    return cases


def section_conv(section: Section, args) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    # The private pieces on either side of lax.platform_dependent in ganjax/layers.py: the hand-written gradients
    # and the plain lax convolutions that JAX differentiates itself.
    from ganjax.layers import (
        _conv_3x3,
        _conv_3x3_fast_gradient,
        _conv_transpose_s2,
        _grouped_conv_3x3_by_taps,
        conv_transpose_3x3_s2,
        conv_transpose_4x4_s2,
    )

    hand = {
        "conv_transpose_4x4_s2": conv_transpose_4x4_s2,
        "conv_transpose_3x3_s2": conv_transpose_3x3_s2,
        "conv_3x3": _conv_3x3_fast_gradient,
        "conv_3x3 grouped": _grouped_conv_3x3_by_taps,
    }
    xla = {"transpose": _conv_transpose_s2, "conv": _conv_3x3, "grouped": _conv_3x3}
    chosen = "hand-written" if jax.default_backend() == "cpu" else "XLA"
    section.notes.append(
        f"backend {jax.default_backend()}: ganjax's layers use the {chosen} path here (lax.platform_dependent)"
    )
    rng = np.random.default_rng(0)
    min_time = 0.02 if args.tiny else 0.2

    def gradients(conv):
        return jax.jit(jax.grad(lambda x, k: jnp.sum(jnp.tanh(conv(x, k).astype(jnp.float32))), argnums=(0, 1)))

    def r1(conv):
        def penalty(k, x):
            inner = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k).astype(jnp.float32))))(x)
            return jnp.sum(inner.astype(jnp.float32) ** 2)

        return jax.jit(jax.grad(penalty))

    for dtype in args.dtypes:
        for layer, kind, x_shape, k_shape in conv_cases(args.conv_batch, args.tiny):
            measures = [("fwd+bwd", gradients)] + ([("R1 grad", r1)] if kind != "transpose" else [])
            for measure, make in measures:
                section.check(0.5)
                x = jnp.asarray(rng.normal(size=x_shape), dtype)
                kernel = jnp.asarray(rng.normal(size=k_shape) * 0.05, dtype)
                ms = {}
                outputs = {}
                for side, conv in (("hand", hand[layer]), ("xla", xla[kind])):
                    fn = make(conv)
                    args_ = (x, kernel) if measure == "fwd+bwd" else (kernel, x)
                    outputs[side] = fn(*args_)
                    ms[side] = (
                        timed_calls(lambda fn=fn, a=args_: fn(*a), jax.block_until_ready, section, min_time=min_time)
                        * 1e3
                    )
                diff = max(
                    float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
                    for a, b in zip(jax.tree.leaves(outputs["hand"]), jax.tree.leaves(outputs["xla"]), strict=True)
                )
                faster = "hand-written" if ms["hand"] < ms["xla"] else "XLA"
                section.rows.append(
                    {
                        "layer": layer,
                        "shape": f"x {'x'.join(map(str, x_shape))}, k {'x'.join(map(str, k_shape))}",
                        "dtype": dtype,
                        "measure": measure,
                        "hand_ms": round(ms["hand"], 4),
                        "xla_ms": round(ms["xla"], 4),
                        "faster": faster,
                        "chosen": chosen,
                        "chosen_is_faster": chosen == faster,
                        "max_diff": float(f"{diff:.3g}"),
                    }
                )


# ------------------------------------------------------------------------------------------------------- inception


def read_cifar10(data: pathlib.Path, split: str, num: int | None = None):
    """CIFAR-10 uint8 images (N, 32, 32, 3) and labels from the WebP grids, only as many grids as `num` needs."""
    import numpy as np

    from ganjax.data import local

    folder = data / "cifar10"
    names = [f"data_batch_{i}.webp" for i in range(1, 6)] if split == "train" else ["test_batch.webp"]
    if num is not None:
        names = names[: -(-num // 10_000)]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise Skip(f"CIFAR-10 not found: {folder}/{missing[0]} (--data)")
    grids = [np.asarray(local.open_image(folder / name).convert("RGB")) for name in names]
    images = np.concatenate(
        [grid.reshape(100, 32, 100, 32, 3).transpose(0, 2, 1, 3, 4).reshape(10_000, 32, 32, 3) for grid in grids]
    )
    labels = np.load(folder / f"{split}_labels.npy")[: len(images)].astype(np.int32)
    return (images, labels) if num is None else (images[:num], labels[:num])


def inception_path(args) -> pathlib.Path:
    if args.inception is None or not args.inception.is_file():
        raise Skip(f"Inception weights not found: {args.inception} (--inception)")
    return args.inception


_EXTRACTORS: dict = {}


def extractor(args):
    import ml_collections

    from ganjax.metrics.inception_metrics import make_extractor

    key = (str(args.inception), args.inception_batch)
    if key not in _EXTRACTORS:
        eval_config = ml_collections.ConfigDict(
            dict(resize="tf", inception=str(inception_path(args)), batch_size=args.inception_batch)
        )
        _EXTRACTORS[key] = make_extractor(eval_config)
    return _EXTRACTORS[key]


def jax_features(extractor) -> Callable:
    """uint8 images -> (N, 2048) features through ganjax's extractor's network and resize, without a progress bar."""
    from ganjax.metrics.features import extract_features

    def features(images):
        return extract_features(
            images,
            extractor.module,
            extractor.variables,
            batch_size=extractor.batch_size,
            resize=extractor.resize,
            progress=False,
        )

    return features


def chunked_features(features: Callable, images, section: Section | None, chunk: int):
    """Features of `images` in chunks of `chunk`, stopping (with what is done) when the section's budget runs out."""
    import numpy as np

    parts = []
    for start in range(0, len(images), chunk):
        if section is not None and section.left() <= 0:
            break
        parts.append(features(images[start : start + chunk]))
    return np.concatenate(parts) if parts else np.zeros((0, 2048), np.float32)


def torch_inception(path: pathlib.Path, batch_size: int):
    """features(uint8 NHWC numpy) -> (N, 2048) numpy with torch.jit.load of the archive on the GPU when there is
    one: NVIDIA's shifted grid_sample ("tf" resize), (x - 128) / 128, the network (benchmarks/inception_speed.py)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True  # PyTorch's fastest convolutions for the fixed batch shape
    network = torch.jit.load(str(path), map_location=device).eval()

    def batch_features(batch: torch.Tensor) -> torch.Tensor:
        size, channels, height, width = batch.shape
        theta = torch.eye(2, 3, device=device)
        theta[0, 2] += theta[0, 0] / width - theta[0, 0] / 299
        theta[1, 2] += theta[1, 1] / height - theta[1, 1] / 299
        grid = F.affine_grid(theta.repeat(size, 1, 1), [size, channels, 299, 299], align_corners=False)
        x = F.grid_sample(batch.to(torch.float32), grid, "bilinear", "border", align_corners=False)
        return network((x - 128) / 128)

    def features(images: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                nchw = torch.from_numpy(images[start : start + batch_size].transpose(0, 3, 1, 2).copy()).to(device)
                out.append(batch_features(nchw))
            return torch.cat(out).float().cpu().numpy()

    return features, str(device)


def section_inception(section: Section, args) -> None:
    import numpy as np

    from ganjax.metrics.statistics import fit_gaussian, frechet_distance

    path = inception_path(args)
    num_train = args.inception_images
    train, _ = read_cifar10(args.data, "train", None if num_train >= 50_000 else num_train)
    test, _ = read_cifar10(args.data, "test", None if args.fid_test_images >= 10_000 else args.fid_test_images)
    chunk = max(args.inception_batch, min(5_000, len(train)))
    started = time.perf_counter()
    jax_extractor = extractor(args)
    features = jax_features(jax_extractor)
    features(train[: args.inception_batch])  # compiles the batch's program
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    train_features = chunked_features(features, train, section, chunk)
    seconds = time.perf_counter() - started
    done = len(train_features)
    section.rows.append(
        {
            "what": "ganjax features, CIFAR-10 train",
            "images": done,
            "seconds": round(seconds, 2),
            "images_per_s": round(done / seconds, 1),
            "compile_s": round(compile_s, 2),
            "note": f"batch {args.inception_batch}, tf resize, float32"
            + ("" if done == len(train) else f"; {len(train)} asked, budget ran out"),
        }
    )
    torch_row = {"what": "torch.jit features, CIFAR-10 train", "images": 0, "seconds": "n/a", "images_per_s": "n/a"}
    try:
        torch_features, device = torch_inception(path, args.inception_batch)
    except Exception as error:
        torch_row["note"] = f"n/a ({type(error).__name__}: {str(error)[:120]})"
    else:
        started = time.perf_counter()
        torch_features(train[: args.inception_batch])  # warm-up (cuDNN's algorithm choice)
        warm = time.perf_counter() - started
        torch_budget = section.left() - (10 if not args.tiny else 2)  # keep time for the FID
        started = time.perf_counter()
        parts = []
        for start in range(0, len(train), chunk):
            if time.perf_counter() - started > torch_budget:
                break
            parts.append(torch_features(train[start : start + chunk]))
        seconds = time.perf_counter() - started
        torch_done = sum(len(p) for p in parts)
        if torch_done:
            ours = train_features[: min(torch_done, done, 1000)]
            theirs = np.concatenate(parts)[: len(ours)]
            agreement = float(np.max(np.abs(ours - theirs)))
            torch_row.update(
                images=torch_done,
                seconds=round(seconds, 2),
                images_per_s=round(torch_done / seconds, 1),
                compile_s=round(warm, 2),
                note=f"{device}; max |ganjax - torch| over {len(ours)} images' features: {agreement:.3g}",
            )
            section.extra["ganjax_vs_torch_speed"] = round(section.rows[0]["images_per_s"] / (torch_done / seconds), 3)
    section.rows.append(torch_row)
    section.check()
    started = time.perf_counter()
    test_features = chunked_features(features, test, section, chunk)
    if len(test_features) < len(test) or done < len(train):
        raise OutOfBudget
    fid = frechet_distance(fit_gaussian(train_features), fit_gaussian(test_features))
    seconds = time.perf_counter() - started
    section.rows.append(
        {
            "what": f"FID train {done} vs test {len(test)}",
            "images": len(test),
            "seconds": round(seconds, 2),
            "images_per_s": round(len(test) / seconds, 1),
            "compile_s": 0,
            "note": f"FID {fid:.4f} (test features and the Frechet distance)",
        }
    )
    section.extra["fid_train_vs_test"] = fid
    section.extra["weights_sha256"] = jax_extractor.sha256


# ------------------------------------------------------------------------------------------------------- speedrun


def section_speedrun(section: Section, args) -> None:
    import jax
    import jax.numpy as jnp
    import ml_collections

    from configs import cifar10_speedrun
    from ganjax import parallel
    from ganjax.data.sources import model_range_to_uint8
    from ganjax.metrics.statistics import fit_gaussian, frechet_distance
    from ganjax.sampling import generate_ema, make_generate, normal_latents, random_labels
    from ganjax.state import create_state, state_shardings
    from ganjax.step import compile_train_steps
    from ganjax.tasks import build_task

    config = cifar10_speedrun.get_config("tiny" if args.tiny else "")
    batch_size, d_steps = config.train.batch_size, config.optim.d_steps
    num_samples = args.speedrun_samples
    train, labels = read_cifar10(args.data, "train", None if not args.tiny else 2_000)
    test, _ = read_cifar10(args.data, "test", None if num_samples >= 10_000 else num_samples)
    fid_features = jax_features(extractor(args))
    off_clock = time.perf_counter()
    test_stats = fit_gaussian(fid_features(test))
    reference_s = time.perf_counter() - off_clock
    section.extra.update(
        recipe="configs/cifar10_speedrun.py" + (":tiny" if args.tiny else ""),
        speedrun_seconds=args.speedrun_seconds,
        eval_every_s=args.speedrun_eval_every,
        reference_features_s=round(reference_s, 2),
        data="in-memory sampler: uint8 CIFAR-10 train on the device, uniform indices with replacement, random x-flip",
    )
    section.notes.append(
        f"clock: from building the model (data already decoded in host memory) through the device upload, state "
        f"creation, compilation and every step; off the clock: FID evaluations and the test set's features "
        f"({reference_s:.1f} s)"
    )
    section.check()

    clock_started = time.perf_counter()
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 1}), jax.devices()[:1])
    sharding = parallel.step_batch_sharding(mesh)
    device_images = jax.device_put(train)
    device_labels = jax.device_put(labels)
    conditional = config.model.num_classes > 0

    @jax.jit
    def sample_batch(key):
        index_key, flip_key = jax.random.split(key)
        index = jax.random.randint(index_key, (d_steps, batch_size), 0, device_images.shape[0])
        images = device_images[index].astype(jnp.float32) * (2.0 / 255.0) - 1.0
        flip = jax.random.bernoulli(flip_key, 0.5, (d_steps, batch_size, 1, 1, 1))
        batch = {"image": jnp.where(flip, images[..., ::-1, :], images)}
        if conditional:
            batch["label"] = device_labels[index]
        return jax.lax.with_sharding_constraint(batch, sharding)

    task = build_task(config)
    shardings = state_shardings(task, config.seed, mesh)
    state = create_state(task, config.seed, shardings)
    key = jax.random.PRNGKey(1)
    batch = sample_batch(key)
    step_fn = compile_train_steps(task, mesh, shardings, state, batch)[True]
    section.extra["compile_s"] = round(time.perf_counter() - clock_started, 2)

    generate = make_generate(task.gan.networks)
    latents = normal_latents(12345, num_samples, config.model.latent_dim)
    sample_labels = random_labels(12345, num_samples, config.model.num_classes)

    def evaluate(clock: float, steps: int) -> float:
        started = time.perf_counter()
        samples = generate_ema(generate, state, latents, sample_labels, chunk=1000)
        fid = frechet_distance(fit_gaussian(fid_features(model_range_to_uint8(samples))), test_stats)
        eval_s = time.perf_counter() - started
        row = {
            "clock_s": round(clock, 2),
            "steps": steps,
            "images_seen": steps * batch_size * d_steps,
            "fid": round(float(fid), 3),
            "eval_s": round(eval_s, 2),
            "samples": num_samples,
        }
        section.rows.append(row)
        print(f"[speedrun] {row}", flush=True)
        return eval_s

    clock = time.perf_counter() - clock_started
    steps, next_eval, off, evaluated_at = 0, args.speedrun_eval_every, 0.0, -1
    sync_every = 1 if args.tiny else 20
    # Past the clock only for --speedrun_min_steps (--tiny: a CPU's compilation alone outlasts its 10-s clock).
    while clock < args.speedrun_seconds or steps < args.speedrun_min_steps:
        for _ in range(sync_every):
            key, batch_key = jax.random.split(key)
            state, metrics = step_fn(state, sample_batch(batch_key))
            steps += 1
        jax.block_until_ready(metrics)
        clock = time.perf_counter() - clock_started - off
        if clock >= next_eval:
            off += evaluate(clock, steps)
            evaluated_at = steps
            next_eval = (clock // args.speedrun_eval_every + 1) * args.speedrun_eval_every
        if section.left() <= 0:
            section.extra["stopped"] = f"section budget ran out at {clock:.1f} s of training clock"
            break
    if evaluated_at != steps:
        off += evaluate(clock, steps)
    if clock > args.speedrun_seconds + 5:
        section.notes.append(
            f"the clock ran to {clock:.1f} s, past its {args.speedrun_seconds:g} s, for the minimum "
            f"of {args.speedrun_min_steps} steps"
        )
    section.extra.update(
        final_fid=section.rows[-1]["fid"],
        steps=steps,
        steps_per_s=round(steps / clock, 3),
        images_per_s=round(steps * batch_size * d_steps / clock, 1),
        eval_total_s=round(off, 2),
    )


# --------------------------------------------------------------------------------------------------------- report


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value).replace("|", "/")


def markdown(report: dict) -> str:
    lines = [f"# ganjax device suite ({report['date']})", ""]
    lines += [f"- {key}: {report['machine'][key]}" for key in report["machine"]]
    lines += [f"- command: `{report['command']}`", f"- total: {report['total_s']:.1f} s", ""]
    for section in report["sections"]:
        lines += [
            f"## {section['name']} ({section['status']}; {section['elapsed_s']:.1f} of {section['budget_s']:g} s)",
            "",
        ]
        headers = [header for header, _ in COLUMNS[section["name"]]]
        keys = [key for _, key in COLUMNS[section["name"]]]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---" for _ in headers) + "|")
        for row in section["rows"]:
            cells = [cell(row.get(key)) for key in keys]
            if "error" in row:
                cells[-1] = f"error: {row['error']}"
            lines.append("| " + " | ".join(cells) + " |")
        if not section["rows"]:
            lines.append("| " + " | ".join(["(none)"] + ["-"] * (len(headers) - 1)) + " |")
        lines.append("")
        extra = {
            k: v
            for k, v in section.items()
            if k not in ("name", "status", "budget_s", "elapsed_s", "columns", "rows", "notes")
        }
        lines += [f"- {key}: {value}" for key, value in extra.items()]
        lines += [f"- {note}" if "\n" not in note else f"```\n{note}```" for note in section["notes"]]
        lines.append("")
    return "\n".join(lines)


def machine_description() -> dict:
    import jax

    info = {
        "host": platform.node(),
        "python": platform.python_version(),
        "jax": f"{jax.__version__} ({jax.default_backend()}: {jax.devices()[0].device_kind}, {jax.device_count()} "
        f"device(s))",
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "XLA_PYTHON_CLIENT_MEM_FRACTION": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION", ""),
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
    }
    from importlib import metadata

    # What pyproject.toml's ranges constrain, as installed here (the device's image, or .whl's wheels).
    versions = []
    for name in ("jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "grain", "ml_collections", "tensorboardX"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    info["packages"] = ", ".join(versions)
    try:
        import torch

        info["torch"] = f"{torch.__version__}" + (
            f" (cuda: {torch.cuda.get_device_name(0)}; cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}, "
            f"matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32})"
            if torch.cuda.is_available()
            else " (cpu)"
        )
    except ImportError:
        info["torch"] = "n/a (not installed)"
    return info


# ----------------------------------------------------------------------------------------------- moving the data


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**22), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(data: pathlib.Path, inception: pathlib.Path, out: pathlib.Path) -> None:
    """CIFAR-10's files and the Inception archive in one tar (with SHA256SUMS of each file), split into parts of
    PART_BYTES, and SHA256SUMS.parts of the parts, under `out` (.parts/, ignored through .git/info/exclude)."""
    out.mkdir(parents=True, exist_ok=True)
    exclude = REPO / ".git" / "info" / "exclude"
    relative = out.resolve().relative_to(REPO) if out.resolve().is_relative_to(REPO) else None
    if relative is not None and exclude.parent.is_dir():
        line = f"/{relative}/"
        if not exclude.is_file() or line not in exclude.read_text().splitlines():
            with open(exclude, "a") as file:
                file.write(line + "\n")
    files = {f"cifar10/{p.name}": p for p in sorted((data / "cifar10").iterdir()) if p.is_file()}
    files[f"inception_fid/{INCEPTION_NAME}"] = inception
    sums = "".join(f"{sha256(path)}  {name}\n" for name, path in files.items())
    if f"{INCEPTION_SHA256}  inception_fid/{INCEPTION_NAME}" not in sums:
        raise SystemExit(f"{inception} is not the archive of sha256 {INCEPTION_SHA256}")
    (out / "SHA256SUMS").write_text(sums)
    tar_path = out / "data.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(out / "SHA256SUMS", "SHA256SUMS")
        for name, path in files.items():
            tar.add(path, name)
    for old in out.glob("data.tar.*"):
        old.unlink()
    parts = []
    with open(tar_path, "rb") as source:
        for index in range(1_000):
            block = source.read(PART_BYTES)
            if not block:
                break
            part = out / f"data.tar.{index:02d}"
            part.write_bytes(block)
            parts.append(part)
    tar_path.unlink()
    (out / "SHA256SUMS.parts").write_text("".join(f"{sha256(p)}  {p.name}\n" for p in parts))
    for part in parts:
        print(f"{part}  {part.stat().st_size / 2**20:.1f} MiB")
    print(f"{len(parts)} parts; carry one per call with .whl (and .parts/SHA256SUMS.parts in the last)")


def unpack(parts_dir: pathlib.Path, manifest: pathlib.Path, to: pathlib.Path) -> None:
    """Checks every part against the manifest, joins them, extracts the tar into `to` and checks every file."""
    expected = [line.split() for line in manifest.read_text().splitlines() if line.strip()]
    missing = [name for _, name in expected if not (parts_dir / name).is_file()]
    if missing:
        raise SystemExit(f"parts missing from {parts_dir}: {', '.join(missing)} (carry them first)")
    for digest, name in expected:
        if sha256(parts_dir / name) != digest:
            raise SystemExit(f"{parts_dir / name}: sha256 mismatch")
    to.mkdir(parents=True, exist_ok=True)
    joined = to / "data.tar"
    with open(joined, "wb") as out:
        for _, name in expected:
            with open(parts_dir / name, "rb") as part:
                shutil.copyfileobj(part, out)
    with tarfile.open(joined) as tar:
        tar.extractall(to, filter="data")
    joined.unlink()
    for line in (to / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        if sha256(to / name) != digest:
            raise SystemExit(f"{to / name}: sha256 mismatch after extraction")
    print(f"unpacked and checked {len(expected)} parts into {to}")


# ------------------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = REPO.parent / "shared" / "data"
    data_default = pathlib.Path(os.environ.get("GANJAX_DATA_DIR", shared))
    parser.add_argument("--tiny", action="store_true", help="tiny variants, small batches, few images (CPU)")
    parser.add_argument("--out", type=pathlib.Path, help="folder for report.json and report.md")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    for name in SECTIONS:
        parser.add_argument(f"--budget_{name}", type=float, help=f"seconds for the {name} section (0: skip it)")
    parser.add_argument("--data", type=pathlib.Path, default=data_default, help="folder holding cifar10/")
    parser.add_argument("--inception", type=pathlib.Path, help="the Inception archive (default: <data>/inception_fid/)")
    parser.add_argument("--dtypes", default="bfloat16,float32", help="activation dtypes of the train and conv sections")
    parser.add_argument("--large_batch", type=int, help="the train section's large batch (default 1024; tiny 16)")
    parser.add_argument("--peak_flops", type=float, default=H200_PEAK_FLOPS, help="the MFU's peak, FLOP/s")
    parser.add_argument("--torch_compile_reserve", type=float, help="seconds of budget torch.compile needs to start")
    parser.add_argument("--conv_batch", type=int, help="batch of the conv section's GAN shapes (default 64; tiny 4)")
    parser.add_argument("--inception_images", type=int, help="training images (default 50000; tiny 16)")
    parser.add_argument("--fid_test_images", type=int, help="test images of the full FID (default 10000; tiny 16)")
    parser.add_argument("--inception_batch", type=int, help="images per Inception call (default 500; tiny 16)")
    parser.add_argument("--speedrun_seconds", type=float, help="training clock of the speedrun (default 300; tiny 10)")
    parser.add_argument("--speedrun_eval_every", type=float, help="FID every this many clock seconds (60; tiny 5)")
    parser.add_argument("--speedrun_samples", type=int, help="samples and test images per FID (10000; tiny 16)")
    parser.add_argument("--speedrun_min_steps", type=int, help="steps even past the clock (default 0; tiny 3)")
    parser.add_argument("--pack", action="store_true", help="split CIFAR-10 and the Inception archive into .parts/")
    parser.add_argument("--unpack", type=pathlib.Path, help="a folder of parts to check, join and extract (--to)")
    parser.add_argument("--parts_manifest", type=pathlib.Path, default=REPO / ".parts" / "SHA256SUMS.parts")
    parser.add_argument("--to", type=pathlib.Path, default=pathlib.Path("/tmp/data"))
    args = parser.parse_args(argv)
    tiny = args.tiny
    defaults = {
        "large_batch": (1024, 16),
        "torch_compile_reserve": (30.0, 1.0),
        "conv_batch": (64, 4),
        "inception_images": (50_000, 16),
        "fid_test_images": (10_000, 16),
        "inception_batch": (500, 16),
        "speedrun_seconds": (300.0, 10.0),
        "speedrun_eval_every": (60.0, 5.0),
        "speedrun_samples": (10_000, 16),
        "speedrun_min_steps": (0, 3),
    }
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else full)
    for name in SECTIONS:
        if getattr(args, f"budget_{name}") is None:
            budget = (TINY_BUDGETS if tiny else DEFAULT_BUDGETS)[name]
            if name == "speedrun" and not tiny:  # the clock, its evaluations and the data's upload
                budget = max(budget, args.speedrun_seconds + 90)
            setattr(args, f"budget_{name}", budget)
    if args.inception is None:
        args.inception = args.data / "inception_fid" / INCEPTION_NAME
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; valid: {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.pack:
        pack(args.data, args.inception, REPO / ".parts")
        return None
    if args.unpack:
        unpack(args.unpack, args.parts_manifest, args.to)
        return None
    started = time.perf_counter()
    bodies = {
        "train": section_train,
        "conv": section_conv,
        "inception": section_inception,
        "speedrun": section_speedrun,
    }
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/device_suite.py", *(argv if argv is not None else sys.argv[1:])]),
        "tiny": args.tiny,
        "machine": machine_description(),
        "sections": [],
    }
    for name in SECTIONS:
        if name in args.sections:
            budget = getattr(args, f"budget_{name}")
            report["sections"].append(run_section(name, budget, lambda s, body=bodies[name]: body(s, args)))
    report["total_s"] = round(time.perf_counter() - started, 2)
    text = markdown(report)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        (args.out / "report.md").write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
