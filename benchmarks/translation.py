"""Photo -> drawing translation, every method in one table: trained CycleGAN runs beside the classical "comic style"
filters (benchmarks/classical.py) and the two rows that bracket any method, all scored by the training loop's own
evaluation code (`ganjax.tasks.cyclegan.score_translations`).

    GANJAX_DATA_DIR=../shared/data python benchmarks/translation.py [--workdir runs/photo2clipart ...] [--num 1000]

The protocol is configs/translate_cifar_to_clipart.py (or the first --workdir's own config): the first --num images
of domain A's evaluation split (CIFAR-10 test photos) are translated to domain B (the clip-art drawings), and each
row is scored by

- KID (x 10^3, mean and standard deviation over 100 subsets) and FID of the translations against all of domain B's
  evaluation images (the 1,209 drawings; trust KID with a reference this small: ganjax/tasks/cyclegan.py);
- the edge-map SSIM between each photo and its translation (ganjax/metrics/translation.py), how much of the photo's
  structure is kept;
- the PSNR of the cycle's reconstruction b2a(a2b(photo)) against the photo (models only);
- with --lpips alex (or vgg; the lpips extra), the LPIPS distance between each photo and its translation: how far
  the method moves the photo (0 for the identity, about that of unrelated images for a random drawing).

Rows: each --workdir's EMA generators from the newest intact checkpoint; the cartoon filter and OpenCV's
stylization, per image; "identity" (the photo unchanged: all content, no style); "random drawing from B" (a drawing
drawn at random for each photo, seeded: perfect style, no content). Seconds per image are the translation alone (a
model's jitted translation compiled beforehand), on the machine printed with the table.
"""

from __future__ import annotations

import argparse
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

RANDOM_DRAWING_SEED = 7  # which drawing stands beside each photo in the "random drawing from B" row
METRICS = ("kid", "fid", "edge_ssim", "cycle_psnr")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", action="append", default=[], help="A trained cyclegan run (repeatable).")
    parser.add_argument("--num", type=int, default=None, help="Photos translated (default: the protocol's eval.num).")
    parser.add_argument("--no-classical", action="store_true", help="Leave out the OpenCV filters.")
    parser.add_argument(
        "--lpips", type=lpips_metrics, default="", help="Add LPIPS with these networks, comma-separated: alex, vgg."
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    configure_logging()
    use_fast_cpu_convolutions()

    import jax
    import ml_collections
    import numpy as np
    from common import machine, print_table

    from configs import translate_cifar_to_clipart
    from ganjax.images import model_range_to_uint8, uint8_to_model_range
    from ganjax.runs import load_run
    from ganjax.tasks.cyclegan_evaluation import evaluation_inputs, score_translations

    runs = [load_run(workdir) for workdir in args.workdir]
    config = runs[0].config if runs else translate_cifar_to_clipart.get_config()
    config = ml_collections.ConfigDict(config.to_dict())
    config.eval.num = args.num or config.eval.num
    task = runs[0].task if runs else None
    if task is None:
        from ganjax.tasks import build_task

        task = build_task(config)
    photos, name = evaluation_inputs(config, "a", task.shape("a"), config.eval.num)
    photos = np.asarray(photos)
    drawings = np.asarray(evaluation_inputs(config, "b", task.shape("b"), 10**9)[0])
    photo_pixels = model_range_to_uint8(photos)
    rows = []

    def add(method: str, translated: np.ndarray, cycled: np.ndarray | None, seconds: float | None) -> None:
        metrics = (*(METRICS if cycled is not None else METRICS[:-1]), *args.lpips)
        scoring = ml_collections.ConfigDict(config.to_dict())
        scoring.eval.metrics = metrics
        evaluation = score_translations(scoring, photos, translated, cycled, name)
        print(f"[translation] {method}: {evaluation.scores}", file=sys.stderr, flush=True)
        rows.append((method, evaluation.scores, seconds))

    add("identity (the photo)", photos, None, None)
    chosen = np.random.default_rng(RANDOM_DRAWING_SEED).integers(0, len(drawings), len(photos))
    add("random drawing from B", drawings[chosen], None, None)
    if not args.no_classical:
        from classical import BASELINES, Context

        for method, baseline in BASELINES["translate"].items():
            started = time.perf_counter()
            outputs = np.stack([baseline(photo, Context()) for photo in photo_pixels])
            seconds = (time.perf_counter() - started) / len(photos)
            add(method, uint8_to_model_range(outputs), None, seconds)
    for workdir, run in zip(args.workdir, runs, strict=True):
        cycle = jax.jit(run.task.cycle)
        size = config.eval.batch_size
        jax.block_until_ready(cycle(run.state, photos[:size]))
        started = time.perf_counter()
        pairs = [jax.block_until_ready(cycle(run.state, photos[i : i + size])) for i in range(0, len(photos), size)]
        seconds = (time.perf_counter() - started) / len(photos)
        translated = np.concatenate([np.asarray(pair[0]) for pair in pairs])
        cycled = np.concatenate([np.asarray(pair[1]) for pair in pairs])
        add(f"ganjax CycleGAN, {workdir} (step {run.step})", translated, cycled, seconds)

    data_dir = os.environ.get("GANJAX_DATA_DIR")
    command = shlex.join(["python", "benchmarks/translation.py", *sys.argv[1:]])
    print(f"Translation benchmark (photo -> drawing). Machine: {machine()}; JAX {jax.__version__}")
    print(f"Command: {'GANJAX_DATA_DIR=' + data_dir + ' ' if data_dir else ''}{command}\n")
    print(f"- inputs: {name}; reference: domain B's evaluation images, {len(drawings)} ({config.data.b.path})")
    print(f"- random drawings: seed {RANDOM_DRAWING_SEED}\n")

    def fmt(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lpips_headers = [f"{name} (to the photo)" for name in args.lpips]
    print_table(
        ["method", "KID x 10^3", "FID", "edge-map SSIM", *lpips_headers, "cycle PSNR (dB)", "s / image"],
        [
            [
                method,
                f"{1e3 * scores['kid']:.2f} ± {1e3 * scores['kid_std']:.2f}",
                fmt(scores["fid"], 2),
                fmt(scores["edge_ssim"], 3),
                *(fmt(scores[name], 3) for name in args.lpips),
                fmt(scores.get("cycle_psnr"), 2),
                "-" if seconds is None else f"{seconds:.4f}",
            ]
            for method, scores, seconds in rows
        ],
    )


if __name__ == "__main__":
    main()
