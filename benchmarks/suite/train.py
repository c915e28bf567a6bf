"""Section train: the compiled train step of every recipe, bfloat16 and float32, at the recipe's batch and at
--large_batch, beside the same architecture and step in PyTorch (benchmarks/torch_models.py), eager and compiled."""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable, Iterator

from suite.budget import (
    OutOfBudget,
    Section,
    cost_flops,
    device_peak_bytes,
    mib,
    on_accelerator,
    step_bytes,
    timed_calls,
)

# The H200's bf16 dense matrix rate measured on random data (/work/.library/device/KINDS.md: 769 to 798 TFLOP/s).
H200_PEAK_FLOPS = 790e12

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

# The table's (header, row key) pairs.
COLUMNS = [
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
]


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
    from ganjax.compile import compile_train_steps, create_state, state_shardings
    from ganjax.state import parameter_counts
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
    counts = parameter_counts(state)  # what generates (generator, restorer or VAE), and the discriminator if any
    d_params = counts.pop("discriminator", 0)
    params = (int(sum(counts.values())), int(d_params))
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


def run(section: Section, args) -> None:
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
