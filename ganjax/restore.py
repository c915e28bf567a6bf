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

import jax.numpy as jnp
import numpy as np
from absl import app, flags

from ganjax.cli import configure_logging, enable_compilation_cache, run_reporting_errors, use_fast_cpu_convolutions
from ganjax.data.local import read_image_files
from ganjax.degradations import Degraded, apply_mask, mask_from_image
from ganjax.errors import ConfigError, DataError
from ganjax.images import (
    apply_tiled,
    model_range_to_unrounded_pixels,
    pixels_to_model_range,
    pixels_to_uint8,
    save_png,
)
from ganjax.imresize import imresize
from ganjax.metrics.fidelity import rgb_to_ycbcr, ycbcr_to_rgb
from ganjax.runs import load_run

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
    "direction", None, ("a2b", "b2a"), "Translation runs: a2b (the default) or b2a, from domain B back to A."
)

log = logging.getLogger("ganjax.restore")


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


def restore_folder() -> pathlib.Path:
    """--input: restores (or translates) each image as it is and writes <out>/<name>.png. A grey network given RGB
    images maps their luminance and keeps their colour."""
    run = load_run(_WORKDIR.value, _STEP.value)
    mapper = run.task.image_mapper(_DIRECTION.value)
    if mapper.masked != bool(_MASKS.value):
        raise ConfigError(
            "this run inpaints: give --masks, a folder of masks named as the images (white = hole)"
            if mapper.masked
            else "--masks is for inpainting runs, and this run does not inpaint: drop --masks"
        )
    log.info("step %d of %s: %s", run.step, _WORKDIR.value, mapper.description)
    images, names = read_image_files(pathlib.Path(_INPUT.value).expanduser())
    masks = _masks_for(names, images) if mapper.masked else [None] * len(images)
    variables, out = run.state.ema_variables(mapper.network), pathlib.Path(_OUT.value)
    for name, image, mask in zip(names, images, masks, strict=True):
        channels, ycbcr = image.shape[-1], None
        if channels != mapper.channels:
            if not (mapper.channels == 1 and channels == 3):
                raise DataError(f"{name} has {channels} channels but the network maps {mapper.channels}-channel images")
            ycbcr = rgb_to_ycbcr(image.astype(np.float64))
        pixels = image.astype(np.float64) if ycbcr is None else ycbcr[..., :1]
        inputs = pixels_to_model_range(pixels[None])
        degraded = apply_mask(inputs, jnp.asarray(mask)) if mask is not None else Degraded(inputs, None)
        output = apply_tiled(lambda x: mapper.apply(variables, x), degraded, mapper.scale, _TILE.value, _OVERLAP.value)
        restored = model_range_to_unrounded_pixels(np.asarray(output[0], np.float64))
        if ycbcr is not None and restored.shape[-1] == 1:  # the input's colour, enlarged by bicubic interpolation
            chroma = ycbcr[..., 1:]
            if mapper.scale > 1:
                chroma = np.asarray(imresize(jnp.asarray(chroma[None], jnp.float32), mapper.scale)[0])
            restored = ycbcr_to_rgb(np.concatenate([restored, chroma], axis=-1))
        save_png(pixels_to_uint8(restored), out / f"{name}.png")
    log.info("wrote %d images into %s", len(images), out)
    return out


def degrade_restore_and_score() -> pathlib.Path:
    """--clean --degrade: degrades the clean images as the run's evaluation does, restores and scores them; writes
    <out>/<name>.png strips (degraded | restored | clean) and <out>/scores.md."""
    if _MASKS.value or _DIRECTION.value:
        raise ConfigError("--clean degrades the images as the run's evaluation does: drop --masks and --direction")
    run = load_run(_WORKDIR.value, _STEP.value)
    scores = run.task.score_folder(run.state, _CLEAN.value, _TILE.value, _OVERLAP.value)
    _, names = read_image_files(pathlib.Path(_CLEAN.value).expanduser())
    out = pathlib.Path(_OUT.value)
    for name, strip in zip(names, scores.strips, strict=True):
        save_png(strip, out / f"{name}.png")
    metrics = list(scores.per_image)
    lines = [f"- {key}: {value}" for key, value in scores.protocol.items()]
    lines += [
        f"- workdir: {_WORKDIR.value}",
        "",
        "| image | " + " | ".join(metrics) + " |",
        "|---" * (len(metrics) + 1) + "|",
    ]
    for position, name in enumerate(names):
        lines.append(
            f"| {name} | " + " | ".join(f"{scores.per_image[metric][position]:.4f}" for metric in metrics) + " |"
        )
    lines.append("| **mean** | " + " | ".join(f"**{np.mean(scores.per_image[m]):.4f}**" for m in metrics) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    (out / "scores.md").write_text(table)
    log.info("wrote %d strips and scores.md to %s", len(names), out)
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
