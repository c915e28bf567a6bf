"""Every restoration method on one published protocol, in one table: the degraded input itself, the classical
baselines (benchmarks/classical.py) and trained ganjax runs, all scored by the training loop's own evaluation code.

    python benchmarks/restoration.py --task denoise --sigma 25 --set BSD68 [--workdir runs/denoise25 ...] [--no-bm3d]
    python benchmarks/restoration.py --task denoise --set Set12 --lpips alex,vgg   # with LPIPS (the lpips extra)
    python benchmarks/restoration.py --task sr --scale 4 --set Set5 [--workdir runs/sr4 ...]
    python benchmarks/restoration.py --task inpaint [--num 1000] [--fid] [--workdir runs/inpaint ...]
    python benchmarks/restoration.py --task colour [--num 1000] [--fid] [--workdir runs/colour]

The protocol is the task's recipe (configs/restore_denoise.py, restore_sr4.py, restore_inpaint.py,
restore_colour.py) with --sigma / --scale / --set / --num overriding degradation.sigma / degradation.scale /
eval.split / eval.num. Its evaluation set is the one training evaluates on, `Image2Image.evaluation_set`
(`evaluation_images` then `prepare_evaluation`, ganjax/tasks/image2image_evaluation.py): the fixed, seeded
degradations (seed EVAL_SEED_OFFSET + the protocol's config.eval.seed) and, for inpainting, the bucketed evaluation
masks. Every row restores those batches:

- the degraded input as it is (noisy image; grey replicated to RGB; holes left mid-grey);
- each classical baseline of the task, per image, on what it takes: the noisy image as floats on the 0-255 scale,
  not clipped; the uint8 low-resolution image (its Y channel when the set is scored on Y); the uint8 masked image
  and its mask;
- each --workdir: the run's EMA restorer from its newest intact checkpoint (`ganjax.runs.load_run`), evaluated with
  the run's own config but the protocol's evaluation settings, on batches checked to equal the protocol's. A run
  trained on another degradation (a sigma-15 model in a sigma-25 table) is refused.

and is scored only as `Image2Image.evaluator` scores it: `restored_samples` (each image's
`ganjax.metrics.fidelity.restoration_scores`, PSNR capped at MAX_PSNR), then `ganjax.scoring.score`: PSNR, SSIM
(inpainting: per hole-area bucket, and PSNR inside the holes), LPIPS with --lpips (`lpips` for alex, `lpips_vgg`
for vgg; lower is better), FID with --fid (CIFAR-10 recipes: the restored test images against the whole clean test
split). Seconds per image are the restoration alone (the classical call per
image; a model's jitted restore, compiled beforehand), on the machine printed with the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import pathlib
import shlex
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import lpips_metrics  # noqa: E402

from ganjax.cli import configure_logging, use_fast_cpu_convolutions  # noqa: E402

RECIPES = {"denoise": "restore_denoise", "sr": "restore_sr4", "inpaint": "restore_inpaint", "colour": "restore_colour"}
# The row of the degraded input, by task (super-resolution has none: its input is smaller than the output).
REPEAT_BELOW_SECONDS = 1.0  # a baseline faster than this per image is timed on the faster of two calls
INPUT_ROWS = {"denoise": "noisy input", "inpaint": "masked input (holes mid-grey)", "colour": "grey input as colour"}


@dataclasses.dataclass
class Row:
    """One method's results: its name, the registered metrics' values, the seconds per image (None: no work) and
    how many images it restored exactly (their PSNR counts as MAX_PSNR in the mean the psnr metric reports)."""

    method: str
    scores: dict[str, float]
    seconds_per_image: float | None
    exact: int = 0
    finite_psnr: float | None = None  # the mean PSNR of the other images, shown when `exact` > 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=sorted(RECIPES))
    parser.add_argument("--sigma", type=float, default=None, help="denoise: noise sigma, 0-255 scale (recipe: 25)")
    parser.add_argument("--scale", type=int, default=None, help="sr: the scale, also the crop border (recipe: 4)")
    parser.add_argument("--set", default=None, help="evaluation set: BSD68, Set12, Set5, Set14; test for CIFAR-10")
    parser.add_argument("--num", type=int, default=None, help="inpaint, colour: first N test images (recipe: all)")
    parser.add_argument("--workdir", action="append", default=[], help="a trained ganjax run (repeatable)")
    parser.add_argument("--no-bm3d", action="store_true", help="denoise: skip BM3D (about 10 s per BSD68 image)")
    parser.add_argument("--fid", action="store_true", help="add FID (image sets of one size: the CIFAR-10 recipes)")
    parser.add_argument(
        "--lpips",
        type=lpips_metrics,
        default="",
        help="add LPIPS with these networks, comma-separated: alex, vgg (pip install -e '.[lpips]')",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the set")
    return parser.parse_args()


def protocol_config(args: argparse.Namespace):
    """The task's recipe with the command line's overrides: the config every row is evaluated under."""
    config = importlib.import_module(f"configs.{RECIPES[args.task]}").get_config()
    if args.sigma is not None:
        config.degradation.sigma = args.sigma
    if args.scale is not None:
        config.degradation.scale = args.scale
        config.eval.crop_border = args.scale
    if args.set is not None:
        config.eval.split = args.set
    if args.num is not None:
        config.eval.num = args.num
    metrics = ["psnr", "ssim"] + (["psnr_hole"] if args.task == "inpaint" else []) + (["fid"] if args.fid else [])
    config.eval.metrics = tuple(metrics) + args.lpips
    return config


def limited(batches: list, limit: int | None) -> list:
    """Only the first `limit` images of the evaluation set (by their position in it, `EvaluationBatch.indices`)."""
    import numpy as np

    from ganjax.degradations import Degraded

    if limit is None:
        return batches
    kept = []
    for batch in batches:
        keep = np.flatnonzero(np.asarray(batch.indices) < limit)
        if len(keep) == 0:
            continue
        mask = batch.degraded.mask
        degraded = Degraded(batch.degraded.image[keep], None if mask is None else mask[keep])
        groups = None if batch.groups is None else [batch.groups[k] for k in keep]
        indices = tuple(batch.indices[k] for k in keep)
        kept.append(
            dataclasses.replace(batch, clean=batch.clean[keep], degraded=degraded, groups=groups, indices=indices)
        )
    return kept


def same_batches(a: list, b: list) -> bool:
    """Whether two evaluation sets hold the same clean images, degraded inputs, masks and groups, in one order."""
    import numpy as np

    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        arrays = [(x.clean, y.clean), (x.degraded.image, y.degraded.image)]
        if (x.degraded.mask is None) != (y.degraded.mask is None) or (x.groups, x.indices) != (y.groups, y.indices):
            return False
        if x.degraded.mask is not None:
            arrays.append((x.degraded.mask, y.degraded.mask))
        if any(np.shape(p) != np.shape(q) or not np.array_equal(np.asarray(p), np.asarray(q)) for p, q in arrays):
            return False
    return True


def comparable_degradation(degradation):
    """What of a degradation fixes the evaluation inputs: free-form inpainting is evaluated on the fixed bucketed
    masks, whatever hole areas the run trained on; centre holes only by their size."""
    from ganjax import degradations

    if isinstance(degradation, degradations.Inpaint):
        return ("free_form",) if degradation.mask == "free_form" else ("centre", degradation.centre_fraction)
    return degradation


def run_config_on_protocol(run_config, protocol):
    """The run's own config with the protocol's evaluation settings: set, number, seed, channel, crop, batching
    (the noise of an image depends on it) and where the evaluation images are read from."""
    import ml_collections

    config = ml_collections.ConfigDict(run_config.to_dict())
    for key in ("split", "num", "path", "seed", "y_channel", "crop_border", "batch_size", "metrics"):
        config.eval[key] = protocol.eval[key]
    for key in ("inception", "resize", "num_reference", "cache_dir"):
        if key in protocol.eval:
            config.eval[key] = protocol.eval[key]
    for key in ("name", "root", "tfds_dir", "path"):
        if key in protocol.data:
            config.data[key] = protocol.data[key]
    return config


def load_runs(workdirs: list[str], protocol, protocol_task) -> list:
    """Each workdir's SavedRun, or SystemExit with one line for a run that cannot join the protocol."""
    from ganjax.runs import load_run
    from ganjax.tasks.image2image import Image2Image

    runs = []
    for workdir in workdirs:
        run = load_run(workdir)
        if not isinstance(run.task, Image2Image):
            sys.exit(f"{workdir}: refused: a {run.config.get('task', 'gan')} run, not an image-to-image one")
        if comparable_degradation(run.task.degradation) != comparable_degradation(protocol_task.degradation):
            sys.exit(
                f"{workdir}: refused: trained on {run.task.degradation.describe()}, but this table's protocol is "
                f"{protocol_task.degradation.describe()}"
            )
        if run.task.channels != protocol_task.channels:
            sys.exit(
                f"{workdir}: refused: a {run.task.channels}-channel model; the protocol scores "
                f"{protocol_task.channels}-channel images"
            )
        runs.append(run)
    return runs


def score_row(batches: list, restored: list, config, mesh):
    """The registered metrics of one row, through Image2Image.evaluator's own scoring (`restored_samples`, then
    `ganjax.scoring.score`); the Inception protocol ({} without an Inception metric); and the per-image scores."""
    from ganjax.scoring import score
    from ganjax.tasks.image2image_evaluation import restored_samples

    samples = restored_samples(batches, restored, config, mesh)
    evaluation = score(samples, config)
    return evaluation.scores, evaluation.protocol, samples.per_image


def input_row(task: str, batches: list) -> list:
    """The degraded inputs as restorations: the noisy or masked image, or the grey image replicated to RGB."""
    import jax.numpy as jnp

    if task == "colour":
        return [jnp.repeat(batch.degraded.image, 3, axis=-1) for batch in batches]
    return [batch.degraded.image for batch in batches]


def classical_row(task: str, baseline, batches: list, context) -> tuple[list, float]:
    """A classical baseline on every image, as it takes them: model range [-1, 1] -> pixels (x + 1) * 127.5 (noise
    kept as unclipped floats; otherwise rounded uint8), masks from the batch; back to the model range. Returns the
    restored batches and the seconds spent in the baseline."""
    import numpy as np

    from ganjax.images import model_range_to_unrounded_pixels, pixels_to_model_range, pixels_to_uint8

    restored, seconds = [], 0.0
    for batch in batches:
        pixels = model_range_to_unrounded_pixels(np.asarray(batch.degraded.image, np.float64))
        if task != "denoise":
            pixels = pixels_to_uint8(pixels)
        masks = None if batch.degraded.mask is None else np.asarray(batch.degraded.mask)[..., 0] > 0.5
        outputs = []
        for index, image in enumerate(pixels):
            image_context = dataclasses.replace(context, mask=None if masks is None else masks[index])
            started = time.perf_counter()
            outputs.append(baseline(image, image_context))
            elapsed = time.perf_counter() - started
            if elapsed < REPEAT_BELOW_SECONDS:  # the first call may include JAX's compilation for a new image size
                started = time.perf_counter()
                baseline(image, image_context)
                elapsed = min(elapsed, time.perf_counter() - started)
            seconds += elapsed
        restored.append(pixels_to_model_range(np.stack(outputs)))
    return restored, seconds


def model_row(run, batches: list) -> tuple[list, float]:
    """The run's EMA restorer on every batch (jit, compiled for each batch shape first); the restore seconds."""
    import jax

    restore = jax.jit(run.task.restore)
    variables = run.state.ema_variables("restorer")
    compiled = {}
    for batch in batches:
        key = jax.tree.map(lambda x: x.shape, batch.degraded)
        if key not in compiled:
            compiled[key] = restore.lower(variables, batch.degraded).compile()
    restored, seconds = [], 0.0
    for batch in batches:
        started = time.perf_counter()
        output = compiled[jax.tree.map(lambda x: x.shape, batch.degraded)](variables, batch.degraded)
        restored.append(jax.block_until_ready(output))
        seconds += time.perf_counter() - started
    return restored, seconds


def fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tables(task: str, rows: list[Row], fid: bool, lpips_names: tuple[str, ...], num_images: int) -> None:
    from common import print_table

    from ganjax import degradations
    from ganjax.metrics import lpips
    from ganjax.tasks.image2image_evaluation import MAX_PSNR

    def seconds(row: Row) -> str:
        value = row.seconds_per_image
        if value is None:
            return "-"
        return f"{value:.2f}" if value >= 0.1 else f"{value:.2e}"

    fid_header = ["FID"] if fid else []
    lpips_header = [f"LPIPS {lpips.METRIC_NETWORKS[name]}" for name in lpips_names]
    if task != "inpaint":
        print_table(
            ["method", "PSNR (dB)", "SSIM", *lpips_header, *fid_header, "s/image"],
            [
                [
                    row.method,
                    fmt(row.scores["psnr"], 2) + (f" ({fmt(row.finite_psnr, 2)}*)" if row.exact else ""),
                    fmt(row.scores["ssim"], 4),
                    *(fmt(row.scores[name], 4) for name in lpips_names),
                    *([fmt(row.scores["fid"], 2)] if fid else []),
                    seconds(row),
                ]
                for row in rows
            ],
        )
        for row in rows:
            if row.exact:
                print(
                    f"\n*{row.method}: {row.exact} of {num_images} images restored exactly (PSNR +inf, counted as "
                    f"{MAX_PSNR:g} dB in the mean the psnr metric reports); {fmt(row.finite_psnr, 2)} dB is the mean "
                    "over the other images"
                )
        return
    buckets = [degradations.bucket_name(index) for index in range(len(degradations.AREA_BUCKETS))]
    print("PSNR (dB) of the whole image by hole area, overall, and inside the holes:\n")
    print_table(
        ["method", *buckets, "all", "in holes", *lpips_header, *fid_header, "s/image"],
        [
            [
                row.method,
                *(fmt(row.scores.get(f"psnr/{bucket}"), 2) for bucket in buckets),
                fmt(row.scores["psnr"], 2),
                fmt(row.scores["psnr_hole"], 2),
                *(fmt(row.scores[name], 4) for name in lpips_names),
                *([fmt(row.scores["fid"], 2)] if fid else []),
                seconds(row),
            ]
            for row in rows
        ],
    )
    for name, title in (("ssim", "SSIM"), *((name, f"LPIPS {lpips.METRIC_NETWORKS[name]}") for name in lpips_names)):
        print(f"\n{title} by hole area and overall:\n")
        print_table(
            ["method", *buckets, "all"],
            [
                [
                    row.method,
                    *(fmt(row.scores.get(f"{name}/{bucket}"), 4) for bucket in buckets),
                    fmt(row.scores[name], 4),
                ]
                for row in rows
            ],
        )


def main() -> None:
    args = parse_args()
    configure_logging()
    use_fast_cpu_convolutions()  # before JAX starts: the Inception features of FID run twice as fast on CPU
    import jax
    import ml_collections
    import numpy as np
    from classical import BASELINES, Context
    from common import machine

    from ganjax import degradations, parallel
    from ganjax.tasks import build_task
    from ganjax.tasks.image2image_evaluation import MAX_PSNR

    config = protocol_config(args)
    task = build_task(config)
    runs = load_runs(args.workdir, config, task)
    batches, description = task.evaluation_set()
    batches = limited(batches, args.limit)
    num_images = sum(len(batch.clean) for batch in batches)
    if args.fid and len({batch.clean.shape[1:] for batch in batches}) > 1:
        sys.exit(f"--fid needs an evaluation set of one image size; {description['set']} has several")
    mesh = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}), jax.local_devices())

    rows: list[Row] = []
    inception: dict[str, str] = {}

    def add(method: str, restored: list, seconds: float | None) -> None:
        scores, fid_protocol, per_image = score_row(batches, restored, config, mesh)  # one FID reference for all rows
        inception.update(fid_protocol)
        exact = per_image["psnr"] >= MAX_PSNR
        finite = float(np.mean(per_image["psnr"][~exact])) if exact.any() and not exact.all() else None
        per_second = None if seconds is None else seconds / num_images
        rows.append(Row(method, scores, per_second, int(exact.sum()), finite))
        print(f"[restoration] {method}: {scores}", file=sys.stderr, flush=True)

    if args.task in INPUT_ROWS:
        add(INPUT_ROWS[args.task], input_row(args.task, batches), None)
    context = Context(sigma=float(config.degradation.sigma), scale=int(config.degradation.scale))
    for name, baseline in BASELINES.get(args.task, {}).items():
        if name == "bm3d" and args.no_bm3d:
            continue
        restored, seconds = classical_row(args.task, baseline, batches, context)
        add(name, restored, seconds)
    for workdir, run in zip(args.workdir, runs, strict=True):
        run_config = run_config_on_protocol(run.config, config)
        run_batches, run_description = run.task.evaluation_set(run_config)
        run_batches = limited(run_batches, args.limit)
        differs = {key for key in description if run_description.get(key) != description[key]} - {"degradation"}
        if differs or not same_batches(run_batches, batches):
            sys.exit(f"{workdir}: refused: its evaluation inputs differ from the protocol's ({run_description})")
        restored, seconds = model_row(run, run_batches)
        kind = "GAN" if run.task.adversary is not None else "PSNR"
        add(f"{workdir} ({run.config.model.name}, {kind}, step {run.step}, EMA)", restored, seconds)

    command = "python benchmarks/restoration.py " + shlex.join(sys.argv[1:])
    data_dir = os.environ.get("GANJAX_DATA_DIR")
    platform = jax.devices()[0].platform
    print(f"Restoration benchmark, task {args.task}. Machine: {machine()}; JAX {jax.__version__} on {platform}")
    print(f"Command: {'GANJAX_DATA_DIR=' + data_dir + ' ' if data_dir else ''}{command}\n")
    limit = f" (--limit {args.limit}: the first {num_images} of the set)" if args.limit is not None else ""
    print(f"- set: {description['set']}, {num_images} images{limit}")
    print(f"- degradation: {description['degradation']}")
    if isinstance(task.degradation, degradations.Inpaint) and task.degradation.mask == "free_form":
        bucket_names = ", ".join(degradations.bucket_name(i) for i in range(len(degradations.AREA_BUCKETS)))
        seed = description["eval_seed"]
        print(f"- evaluation masks: free-form, hole areas spread evenly over {bucket_names}, mask seed {seed}")
    else:
        seed = description["eval_seed"]
        print(f"- degradation seed: {seed} (EVAL_SEED_OFFSET + config.eval.seed {config.eval.seed})")
    print(f"- scored on: {description['channel']}, crop border {description['crop_border']}")
    if "lpips_networks" in description:
        print(f"- LPIPS (lower is better): {description['lpips_networks']}")
    if inception:
        reference = config.eval.num_reference or "all"
        print(
            f"- FID: the {num_images} restored images vs the clean {config.data.name} {config.eval.split} split "
            f"({reference} images), resize {inception['resize']}, weights {pathlib.Path(inception['weights']).name}"
        )
    print()
    print_tables(args.task, rows, args.fid, args.lpips, num_images)


if __name__ == "__main__":
    main()
