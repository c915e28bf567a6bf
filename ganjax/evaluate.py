"""FID, KID, precision/recall and Inception Score from the command line.

Two image sets (folders of images or `.npz` files with a uint8 `images` array):

    python -m ganjax.evaluate --images generated.npz --reference real_images/ [--metrics fid,kid,precision_recall]

A trained run's EMA generator against its dataset, with the run's own `eval.*` settings (its metrics, number of
images, split, resize convention, weights); a flag that is given overrides that one setting:

    python -m ganjax.evaluate --workdir runs/mnist_dcgan [--num 10000] [--split test] [--step S]
    python -m ganjax.evaluate --workdir runs/vae_mnist --metrics elbo,iwae     # a VAE's test bounds, nats
    python -m ganjax.evaluate --workdir runs/sngan --metrics ppl --num_pairs 10000   # a GAN's path length (LPIPS)

The run's checkpoint is verified before it is read, as train.py does. Every result names the weights file, its
sha256 and the resize convention that produced it; `--out FILE` also writes the results as JSON.
"""

from __future__ import annotations

import json
import pathlib

import jax
import ml_collections
import numpy as np
from absl import app, flags

from ganjax import parallel
from ganjax.cli import configure_logging, enable_compilation_cache, run_reporting_errors, use_fast_cpu_convolutions
from ganjax.config import validate_config
from ganjax.data.local import read_image_folder, read_npz
from ganjax.errors import ConfigError, DataError
from ganjax.metrics import inception_metrics
from ganjax.runs import load_run
from ganjax.tasks import build_task

_IMAGES = flags.DEFINE_string("images", None, "Images to evaluate: a folder of images or an .npz with 'images'.")
_REFERENCE = flags.DEFINE_string("reference", None, "The images to compare --images with (folder or .npz).")
_WORKDIR = flags.DEFINE_string("workdir", None, "A run's folder: evaluate its EMA generator against its dataset.")
_STEP = flags.DEFINE_integer("step", None, "With --workdir: the checkpoint step; default the newest intact one.")
_NUM = flags.DEFINE_integer("num", None, "With --workdir: how many images to generate; default the run's eval.num.")
_SPLIT = flags.DEFINE_string("split", None, "With --workdir: the dataset split to compare with; default the run's.")
_NUM_REFERENCE = flags.DEFINE_integer("num_reference", None, "With --workdir: reference images (0: the whole split).")
_METRICS = flags.DEFINE_list(
    "metrics",
    None,
    f"Any of {', '.join(inception_metrics.INCEPTION_METRICS)} (with --workdir, also the run's task's own, such as a "
    "VAE's elbo and iwae, a GAN's ppl and lpips_diversity); default fid,kid or the run's.",
)
_RESIZE = flags.DEFINE_string("resize", None, "Resize to 299x299: tf (TensorFlow/StyleGAN) or pytorch; default tf.")
_INCEPTION = flags.DEFINE_string("inception", None, "Inception TorchScript archive; default: the run's, else searched.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Images per Inception call; default 100 or the run's.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Folder for cached reference features.")
_NUM_PAIRS = flags.DEFINE_integer("num_pairs", None, "With --workdir: latent pairs of ppl and lpips_diversity.")
_OUT = flags.DEFINE_string("out", None, "Also write the results as JSON to this file.")

# The evaluation settings of image-set comparisons, and of runs whose config predates a field.
DEFAULTS = {
    "metrics": ("fid", "kid"),
    "num": 10_000,
    "split": "test",
    "num_reference": 0,
    "resize": "tf",
    "inception": None,
    "batch_size": 100,
    "cache_dir": None,
    "num_pairs": 10_000,  # and the next two: what runs saved before ppl existed lack (configs/default.py)
    "ppl_sampling": "full",
    "ppl_crop": False,
}


def eval_settings(run_eval: ml_collections.ConfigDict | None = None) -> ml_collections.ConfigDict:
    """The evaluation settings: DEFAULTS, then a run's config.eval, then the flags that were given (metrics: the
    default ones when neither the run nor the flags name any)."""
    settings = ml_collections.ConfigDict(DEFAULTS | (run_eval.to_dict() if run_eval is not None else {}))
    given = {
        "metrics": None if _METRICS.value is None else tuple(_METRICS.value),
        "resize": _RESIZE.value,
        "inception": _INCEPTION.value,
        "batch_size": _BATCH_SIZE.value,
        "cache_dir": _CACHE_DIR.value,
        "num": _NUM.value,
        "split": _SPLIT.value,
        "num_reference": _NUM_REFERENCE.value,
        "num_pairs": _NUM_PAIRS.value,
    }
    for key, value in given.items():
        if value is not None:
            settings[key] = value
    if not settings.metrics:  # a run that computed none during training
        settings.metrics = DEFAULTS["metrics"]
    return settings


def read_images(path: str) -> np.ndarray:
    """uint8 (N, H, W, C) images, C 1 (grey) or 3 (RGB), from a folder or an .npz file."""
    location = pathlib.Path(path).expanduser()
    if location.suffix == ".npz":
        images = read_npz(location)[0]
    elif location.is_dir():
        images = read_image_folder(location)[0]
    else:
        raise DataError(f"{location} is neither a folder of images nor an .npz file")
    if images.shape[-1] not in (1, 3):
        raise DataError(f"{location}: images of shape {images.shape[1:]}; the Inception metrics take grey or RGB")
    return images


def compare_image_sets() -> dict:
    """The metrics between --images and --reference, with the default settings and the flags given."""
    settings = eval_settings()
    for name in settings.metrics:
        if name not in inception_metrics.INCEPTION_METRICS:
            valid = ", ".join(inception_metrics.INCEPTION_METRICS)
            raise ConfigError(f"unknown metric {name!r} in --metrics; valid: {valid}")
    images, reference = read_images(_IMAGES.value), read_images(_REFERENCE.value)
    extractor = inception_metrics.make_extractor(settings, parallel.make_mesh(ml_collections.ConfigDict({"data": -1})))
    inception_metrics.check_classifier(extractor, settings.metrics)
    generated, logits = extractor.features_and_logits(images)
    reference_features = extractor.features(reference)
    results = {}
    for name in settings.metrics:
        results.update(inception_metrics.scores(name, reference_features, generated, logits))
    return (
        results
        | inception_metrics.protocol(extractor)
        | {
            "images": _IMAGES.value,
            "num_images": len(images),
            "reference": _REFERENCE.value,
            "num_reference": len(reference),
        }
    )


def evaluate_workdir() -> dict:
    """The metrics of --workdir's EMA generator against its dataset, with the run's settings and the flags given."""
    run = load_run(_WORKDIR.value, _STEP.value)
    config = ml_collections.ConfigDict(run.config.to_dict())
    config.eval = eval_settings(run.config.eval)
    validate_config(config)
    mesh = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}))
    # The run was restored onto one device; its evaluator computes on the whole mesh (every local device).
    evaluation = build_task(config).evaluator(mesh)(jax.device_put(run.state, parallel.replicated(mesh)))
    run_fields = {"workdir": _WORKDIR.value, "step": run.step, "num_images": config.eval.num}
    if "name" in config.data:  # one dataset (a two-domain run's protocol names both already)
        run_fields |= {"dataset": config.data.name, "split": config.eval.split}
    run_fields["num_reference"] = config.eval.num_reference or "all"
    return evaluation.scores | evaluation.protocol | run_fields


def evaluate_from_flags() -> dict:
    results = evaluate_workdir() if _WORKDIR.value is not None else compare_image_sets()
    for key, value in results.items():
        print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    if _OUT.value:
        pathlib.Path(_OUT.value).write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if (_WORKDIR.value is None) == (_IMAGES.value is None or _REFERENCE.value is None):
        raise app.UsageError("give either --workdir, or both --images and --reference")
    configure_logging()
    use_fast_cpu_convolutions()
    enable_compilation_cache()
    run_reporting_errors(evaluate_from_flags)


if __name__ == "__main__":
    app.run(main)
