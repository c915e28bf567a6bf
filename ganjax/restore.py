"""Restore or translate images with a trained image-to-image run (configs/restore_*.py, configs/translate_*.py), at
any size.

Degraded images as they are (noisy photos, small images to enlarge, images with holes and their masks):

    python -m ganjax.restore --workdir runs/denoise25 --input noisy/ --out restored/
    python -m ganjax.restore --workdir runs/inpaint --input masked/ --masks masks/ --out filled/

Clean images, degraded here exactly as the run's evaluation degrades them (its seed), restored and scored: writes
one input | output | clean strip per image and prints, and writes as scores.md, a PSNR/SSIM table in the run's
evaluation protocol (channel, cropped border):

    python -m ganjax.restore --workdir runs/denoise25 --clean ../shared/data/restoration/BSD68 --degrade --out cmp/

Translation runs (CycleGAN) translate a folder from domain A to B, or back with --direction b2a:

    python -m ganjax.restore --workdir runs/photo2clipart --input photos/ --out drawings/
    python -m ganjax.restore --workdir runs/photo2clipart --input drawings/ --out photos/ --direction b2a

The networks are fully convolutional: each image is restored at its own size, padded to the network's size multiple
and cropped back, and images larger than --tile pixels are restored in overlapping tiles (--overlap pixels of
context on each side, discarded), so memory does not grow with the image. A grey model restores the luminance of RGB
images (ITU-R BT.601 Y) and carries their colour (Cb, Cr) over, enlarged by bicubic interpolation for
super-resolution. Masks are images of the same size, white (non-zero) in the holes.
"""

from __future__ import annotations

import logging
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from ganjax.cli import configure_logging, enable_compilation_cache, run_reporting_errors, use_fast_cpu_convolutions
from ganjax.data.local import read_image_files
from ganjax.data.sources import model_range_to_uint8
from ganjax.degradations import Degraded, Inpaint, apply_mask, imresize, mask_from_image
from ganjax.errors import ConfigError, DataError
from ganjax.metrics.fidelity import rgb_to_ycbcr, ycbcr_to_rgb
from ganjax.runs import SavedRun, load_run
from ganjax.sampling import image_grid, save_png
from ganjax.state import TrainState
from ganjax.tasks.cyclegan import DIRECTIONS, SOURCE_DOMAIN, CycleGan
from ganjax.tasks.image2image import (
    Image2Image,
    prepare_evaluation,
    restore_tiled,
    restored_samples,
    to_model_range,
)

_WORKDIR = flags.DEFINE_string("workdir", None, "The run's folder, as given to train.py.", required=True)
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to use; default the newest intact one.")
_INPUT = flags.DEFINE_string("input", None, "A folder of degraded images to restore as they are.")
_MASKS = flags.DEFINE_string("masks", None, "Inpainting runs with --input: a folder of masks named as the images.")
_CLEAN = flags.DEFINE_string("clean", None, "With --degrade: a folder of clean images to degrade, restore and score.")
_DEGRADE = flags.DEFINE_bool("degrade", False, "Degrade the --clean images as the run's evaluation does.")
_OUT = flags.DEFINE_string("out", None, "Folder for the restored images (or strips and scores.md).", required=True)
_TILE = flags.DEFINE_integer("tile", 512, "Restore images larger than this many input pixels in tiles of this side.")
_OVERLAP = flags.DEFINE_integer("overlap", 32, "Input pixels of context around each tile, discarded after.")
_DIRECTION = flags.DEFINE_enum(
    "direction", None, DIRECTIONS, "Translation runs: a2b (the default) or b2a, from domain B back to A."
)

log = logging.getLogger("ganjax.restore")


def _load_run() -> SavedRun:
    """The run of --workdir, refused unless it restores or translates images."""
    run = load_run(_WORKDIR.value, _STEP.value)
    if not isinstance(run.task, Image2Image | CycleGan):
        raise ConfigError(
            f"{_WORKDIR.value} is a {run.config.get('task', 'gan')} run, not an image2image or cyclegan one: restore "
            "works on runs of configs/restore_*.py and configs/translate_*.py; draw samples from a GAN with python "
            f"sample.py --workdir {_WORKDIR.value}"
        )
    if isinstance(run.task, Image2Image) and _DIRECTION.value is not None:
        raise ConfigError(
            f"--direction picks a translation direction, but {_WORKDIR.value} is an image2image run, which maps one "
            "way only: drop --direction"
        )
    if isinstance(run.task, CycleGan) and (_MASKS.value or _CLEAN.value):
        raise ConfigError(
            f"{_WORKDIR.value} is a cyclegan run, which translates images as they are: give --input alone "
            "(--masks, --clean and --degrade are for restoration runs)"
        )
    return run


def _restoration(run: SavedRun) -> tuple[Image2Image, TrainState, ml_collections.ConfigDict]:
    log.info("restoring with step %d of %s (%s)", run.step, _WORKDIR.value, run.task.degradation.describe())
    return run.task, run.state, run.config


def _masks_for(names: list[str], images: list[np.ndarray]) -> list[np.ndarray]:
    """The mask of each image from --masks, matched by file name; DataError for a missing or mis-sized one."""
    folder = pathlib.Path(_MASKS.value).expanduser()
    masks, mask_names = read_image_files(folder)
    by_name = dict(zip(mask_names, masks, strict=True))
    chosen = []
    for name, image in zip(names, images, strict=True):
        if name not in by_name:
            raise DataError(f"no mask for {name} in {folder}: name each mask as its image (e.g. {name}.png)")
        mask = by_name[name]
        if mask.shape[:2] != image.shape[:2]:
            raise DataError(
                f"the mask {folder / name} is {mask.shape[1]}x{mask.shape[0]} but its image is "
                f"{image.shape[1]}x{image.shape[0]}: a mask must have its image's size"
            )
        chosen.append(np.asarray(mask_from_image(mask)))
    return chosen


def translate_folder(run: SavedRun) -> pathlib.Path:
    """--input of a translation run: translates each image in --direction and writes <out>/<name>.png."""
    task, direction = run.task, _DIRECTION.value or "a2b"
    channels = task.shape(SOURCE_DOMAIN[direction])[-1]
    log.info("translating %s with step %d of %s", direction, run.step, _WORKDIR.value)
    images, names = read_image_files(pathlib.Path(_INPUT.value).expanduser())
    for name, image in zip(names, images, strict=True):
        if image.shape[-1] != channels:
            raise DataError(
                f"{name} has {image.shape[-1]} channels but the {direction} generator translates {channels}-channel "
                f"images of domain {SOURCE_DOMAIN[direction]}"
            )

    def translate(params, collections, degraded: Degraded) -> jax.Array:
        return task.translate(direction, params, collections, degraded.image)

    translate = jax.jit(translate)
    out = pathlib.Path(_OUT.value)
    for name, image in zip(names, images, strict=True):
        source = Degraded(to_model_range(image[None]), None)
        output = restore_tiled(translate, run.state, source, 1, _TILE.value, _OVERLAP.value)
        save_png(model_range_to_uint8(output[0]), out / f"{name}.png")
    log.info("translated %d images into %s", len(images), out)
    return out


def restore_folder() -> pathlib.Path:
    """--input: restores each degraded image as it is and writes <out>/<name>.png; translates it when the run is a
    translation run."""
    run = _load_run()
    if isinstance(run.task, CycleGan):
        return translate_folder(run)
    task, state, _ = _restoration(run)
    inpainting = isinstance(task.degradation, Inpaint)
    if inpainting and not _MASKS.value:
        raise ConfigError("this run inpaints: give --masks, a folder of masks named as the images (white = hole)")
    images, names = read_image_files(pathlib.Path(_INPUT.value).expanduser())
    masks = _masks_for(names, images) if inpainting else [None] * len(images)
    restore = jax.jit(task.restore)
    scale, out = task.degradation.scale, pathlib.Path(_OUT.value)
    for name, image, mask in zip(names, images, masks, strict=True):
        channels = image.shape[-1]
        ycbcr = None
        if channels != task.channels:
            if not (task.channels == 1 and channels == 3):
                raise DataError(f"{name} has {channels} channels but the model restores {task.channels}-channel images")
            ycbcr = rgb_to_ycbcr(image.astype(np.float64))
            pixels = ycbcr[..., :1]
        else:
            pixels = image.astype(np.float64)
        clean_like = to_model_range(pixels[None])
        degraded = apply_mask(clean_like, jnp.asarray(mask)) if mask is not None else Degraded(clean_like, None)
        output = restore_tiled(restore, state, degraded, scale, _TILE.value, _OVERLAP.value)
        restored = (np.asarray(output[0], np.float64) + 1.0) * 127.5
        if ycbcr is not None:  # the colour of a grey model's RGB input, enlarged by bicubic interpolation
            chroma = (
                np.asarray(imresize(jnp.asarray(ycbcr[None, ..., 1:], jnp.float32), scale)[0])
                if scale > 1
                else ycbcr[..., 1:]
            )
            restored = ycbcr_to_rgb(np.concatenate([restored, chroma], axis=-1))
        save_png(np.clip(np.round(restored), 0, 255).astype(np.uint8), out / f"{name}.png")
    log.info("restored %d images into %s", len(images), out)
    return out


def degrade_restore_and_score() -> pathlib.Path:
    """--clean --degrade: degrades the clean images as the run's evaluation does, restores and scores them; writes
    <out>/<name>.png strips (degraded | restored | clean) and <out>/scores.md."""
    task, state, config = _restoration(_load_run())
    config = ml_collections.ConfigDict(config.to_dict())
    config.eval.update(path=_CLEAN.value, batch_size=1)
    _, names = read_image_files(pathlib.Path(_CLEAN.value).expanduser())
    batches, protocol = prepare_evaluation(task, config)
    restore = jax.jit(task.restore)
    scale, out = task.degradation.scale, pathlib.Path(_OUT.value)
    restored = []
    for batch in batches:
        output = restore_tiled(restore, state, batch.degraded, scale, _TILE.value, _OVERLAP.value)
        restored.append(output)
        shown = np.asarray(task.condition(batch.degraded))[..., : task.degradation.input_channels(task.channels)]
        shown = np.broadcast_to(shown, output.shape)
        clean = np.asarray(to_model_range(batch.clean))
        strip = image_grid(np.clip(np.concatenate([shown, output, clean]), -1.0, 1.0), columns=3)
        save_png(strip, out / f"{names[batch.indices[0]]}.png")
    scores = restored_samples(batches, restored, config.eval.crop_border).per_image
    order = [batch.indices[0] for batch in batches]
    metrics = list(scores)
    lines = [f"- {key}: {value}" for key, value in protocol.items()]
    lines += [
        f"- workdir: {_WORKDIR.value}",
        "",
        "| image | " + " | ".join(metrics) + " |",
        "|---" * (len(metrics) + 1) + "|",
    ]
    for position in np.argsort(order):
        values = " | ".join(f"{scores[name][position]:.4f}" for name in metrics)
        lines.append(f"| {names[order[position]]} | {values} |")
    lines.append("| **mean** | " + " | ".join(f"**{np.mean(scores[name]):.4f}**" for name in metrics) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    (out / "scores.md").write_text(table)
    log.info("wrote %d strips and scores.md to %s", len(batches), out)
    return out


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if (_INPUT.value is None) == (_CLEAN.value is None):
        raise app.UsageError("give either --input (degraded images) or --clean with --degrade (clean images)")
    if (_CLEAN.value is not None) != _DEGRADE.value:
        raise app.UsageError("--clean and --degrade go together: the clean images are degraded, then restored")
    if _TILE.value < 1 or _OVERLAP.value < 0:
        raise app.UsageError("--tile must be at least 1 and --overlap at least 0")
    configure_logging()
    use_fast_cpu_convolutions()
    enable_compilation_cache()
    run_reporting_errors(restore_folder if _INPUT.value is not None else degrade_restore_and_score)


if __name__ == "__main__":
    app.run(main)
