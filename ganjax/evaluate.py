"""FID, KID, precision/recall and Inception Score from the command line.

Two image sets (folders of images or `.npz` files with a uint8 `images` array):

    python -m ganjax.evaluate --images generated.npz --reference real_images/ [--metrics fid,kid,precision_recall]

A trained run's EMA generator against its dataset (`--num` generated images vs the split `--split`, whose features
are cached, see ganjax/metrics/inception_metrics.py):

    python -m ganjax.evaluate --workdir runs/mnist_dcgan --num 10000 [--split test] [--step S]

Every result names the resize convention (`--resize tf`, the TensorFlow/StyleGAN one, or `pytorch`) and the
weights it used; `--out FILE` also writes them as JSON.
"""

from __future__ import annotations

import json
import logging
import pathlib

import ml_collections
import numpy as np
from absl import app, flags

from ganjax import parallel
from ganjax.cli import configure_logging, enable_compilation_cache, run_reporting_errors
from ganjax.data.local import read_image_folder, read_npz
from ganjax.errors import ConfigError, DataError
from ganjax.metrics import inception_metrics as im
from ganjax.sampling import load_run, make_generate
from ganjax.train import evaluate

_IMAGES = flags.DEFINE_string("images", None, "Images to evaluate: a folder of images or an .npz with 'images'.")
_REFERENCE = flags.DEFINE_string("reference", None, "The images to compare --images with (folder or .npz).")
_WORKDIR = flags.DEFINE_string("workdir", None, "A run's folder: evaluate its EMA generator against its dataset.")
_STEP = flags.DEFINE_integer("step", None, "With --workdir: the checkpoint step; default the newest.")
_NUM = flags.DEFINE_integer("num", 10_000, "With --workdir: how many images to generate.")
_SPLIT = flags.DEFINE_string("split", None, "With --workdir: the dataset split to compare with; default the run's.")
_NUM_REFERENCE = flags.DEFINE_integer("num_reference", None, "With --workdir: reference images (0: the whole split).")
_METRICS = flags.DEFINE_list("metrics", ["fid", "kid"], f"Any of {', '.join(im.INCEPTION_METRICS)}.")
_RESIZE = flags.DEFINE_string("resize", "tf", "Resize convention to 299x299: tf (TensorFlow/StyleGAN) or pytorch.")
_INCEPTION = flags.DEFINE_string("inception", None, "Inception TorchScript archive; default: see the module doc.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Images per Inception call.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Folder for cached reference features.")
_OUT = flags.DEFINE_string("out", None, "Also write the results as JSON to this file.")

log = logging.getLogger("ganjax.evaluate")


def read_images(path: str) -> np.ndarray:
    """uint8 (N, H, W, C) images from a folder or an .npz file."""
    location = pathlib.Path(path).expanduser()
    if location.suffix == ".npz":
        return read_npz(location)[0]
    if location.is_dir():
        return read_image_folder(location)[0]
    raise DataError(f"{location} is neither a folder of images nor an .npz file")


# For runs whose config predates a field (flags override both).
_FALLBACK = {
    "split": "test",
    "num_reference": 0,
    "resize": "tf",
    "inception": None,
    "batch_size": 100,
    "cache_dir": None,
}


def eval_config(base: ml_collections.ConfigDict | None = None) -> ml_collections.ConfigDict:
    """A run's config.eval (or the fallbacks) with the flags that were given applied."""
    config = ml_collections.ConfigDict(_FALLBACK | (base.to_dict() if base is not None else {}))
    flag_values = {
        "metrics": tuple(_METRICS.value),
        "resize": _RESIZE.value,
        "inception": _INCEPTION.value,
        "batch_size": _BATCH_SIZE.value,
        "cache_dir": _CACHE_DIR.value,
        "num": _NUM.value,
        "split": _SPLIT.value,
        "num_reference": _NUM_REFERENCE.value,
    }
    for key, value in flag_values.items():
        if value is not None:
            config[key] = value
    return config


def compare_image_sets(config: ml_collections.ConfigDict) -> dict:
    """The metrics between --images and --reference."""
    images, reference = read_images(_IMAGES.value), read_images(_REFERENCE.value)
    extractor = im.make_extractor(config, parallel.make_mesh(ml_collections.ConfigDict({"data": -1})))
    im.check_classifier(extractor, config.metrics)
    generated, logits = extractor.features_and_logits(images)
    reference_features = extractor.features(reference)
    results = {}
    for name in config.metrics:
        results.update(im.scores(name, reference_features, generated, logits))
    return results | {
        "images": _IMAGES.value,
        "num_images": len(images),
        "reference": _REFERENCE.value,
        "num_reference": len(reference),
    }


def evaluate_run(config: ml_collections.ConfigDict) -> dict:
    """The metrics of --workdir's EMA generator against its dataset."""
    run = load_run(_WORKDIR.value, _STEP.value)
    run_config = ml_collections.ConfigDict(run.config.to_dict())
    run_config.eval = eval_config(run.config.eval)
    results = evaluate(run_config, make_generate(run.gan.networks), run.state, run.gan)
    return results | {
        "workdir": _WORKDIR.value,
        "step": run.step,
        "num_images": run_config.eval.num,
        "dataset": run_config.data.name,
        "split": run_config.eval.split,
        "num_reference": run_config.eval.num_reference or "all",
    }


def run_evaluation() -> dict:
    config = eval_config()
    for name in config.metrics:
        if name not in im.INCEPTION_METRICS:
            raise ConfigError(f"unknown metric {name!r} in --metrics; valid: {', '.join(im.INCEPTION_METRICS)}")
    results = evaluate_run(config) if _WORKDIR.value is not None else compare_image_sets(config)
    path = im.find_inception(config.inception)
    results |= {"resize": config.resize, "weights": str(path)}
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
    enable_compilation_cache()
    run_reporting_errors(run_evaluation)


if __name__ == "__main__":
    app.run(main)
