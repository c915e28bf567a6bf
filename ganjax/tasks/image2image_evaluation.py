"""The image-to-image task's evaluation set: clean images read once, degraded the same way at every evaluation
(fixed by `eval.seed`), grouped into batches of one size, and scored against the clean images by
`metrics.fidelity.restoration_scores` (PSNR, SSIM, and LPIPS when `eval.metrics` asks for it), the one scoring
function that training's evaluation, `python -m ganjax.restore --clean`, benchmarks/restoration.py and the tests
share.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ganjax import degradations
from ganjax.data import open_source
from ganjax.data.local import read_image_files
from ganjax.data.sources import data_root, read_restoration_set
from ganjax.degradations import Degraded
from ganjax.errors import DataError
from ganjax.images import model_range_to_pixels, model_range_to_uint8, pixels_to_model_range
from ganjax.metrics import ScoredSamples, lpips
from ganjax.metrics.fidelity import restoration_scores, rgb_to_y
from ganjax.sampling import EVAL_SEED_OFFSET

MAX_PSNR = 100.0  # dB: the per-image PSNR of an exact restoration, instead of infinity


@dataclasses.dataclass(frozen=True)
class EvaluationBatch:
    """Evaluation images of one size, ready to restore.

    Attributes:
      clean: (B, H, W, C) float32 on the 0-255 scale (uint8 values, or the float luminance of RGB images).
      degraded: the restorer's inputs, in the model range, degraded by the fixed evaluation randomness.
      groups: (B,) group names (the hole-area bucket of each image), or None.
      indices: (B,) the images' positions in the evaluation set (batches group images by size).
    """

    clean: np.ndarray
    degraded: Degraded
    groups: list[str] | None
    indices: tuple[int, ...]


def evaluation_images(
    config: ml_collections.ConfigDict, channels: int, size_multiple: int, scale: int
) -> tuple[list[np.ndarray], str]:
    """The clean evaluation images, float32 (H, W, C) on the 0-255 scale with the model's `channels`, each at its
    own size cut to a multiple of the SR `scale`; and the set's name. DataError for an image smaller than the
    restorer's `size_multiple` times the scale.

    From `eval.path` (a folder of images of any sizes) when set; else the restoration set `eval.split`
    (`data.name=restoration_sets`); else the first `eval.num` images of the dataset's split `eval.split`. With
    `eval.y_channel`, RGB images become their ITU-R BT.601 luminance (float, 16-235) for a grey model.
    """
    eval_config = config.eval
    if eval_config.path:
        images, _ = read_image_files(pathlib.Path(eval_config.path).expanduser())
        name = str(eval_config.path)
    elif config.data.name == "restoration_sets":
        images, _ = read_restoration_set(data_root(config.data), eval_config.split)
        name = eval_config.split
    else:
        source = open_source(
            ml_collections.ConfigDict(config.data.to_dict() | {"split": eval_config.split}), eval_config.seed
        )
        count = min(eval_config.num, source.num_examples)
        images = list(model_range_to_uint8(source.read(np.arange(count))["image"]))
        name = f"{source.name}, split {eval_config.split}, first {count}"
    prepared = []
    for index, image in enumerate(images):
        pixels = image.astype(np.float32)
        if pixels.shape[-1] != channels:
            if not (eval_config.y_channel and channels == 1 and pixels.shape[-1] == 3):
                hint = "; set --config.eval.y_channel=True to score a grey model on the luminance of RGB images"
                raise DataError(
                    f"evaluation image {index} of {name} has {pixels.shape[-1]} channels, but the model was built "
                    f"for {channels} (--config.model.channels){hint if channels == 1 else ''}"
                )
            pixels = np.asarray(rgb_to_y(pixels[None]))[0]
        height, width = pixels.shape[:2]
        if min(height, width) < scale * size_multiple:
            raise DataError(f"evaluation image {index} of {name} is {height}x{width}: too small for this model")
        prepared.append(pixels[: height - height % scale, : width - width % scale])
    return prepared, name


@functools.partial(jax.jit, static_argnums=0)
def _degrade_each(degradation: Any, keys: jax.Array, clean: jax.Array) -> Degraded:
    """Each image (B, H, W, C) degraded with its own key (B, 2): an image's degradation does not depend on its
    batch."""
    degraded = jax.vmap(lambda key, image: degradation(key, image[None]))(keys, clean)
    return jax.tree.map(lambda x: x[:, 0], degraded)


def degrade_fixed(degradation: Any, seed: int, clean: jax.Array, indices: Sequence[int]) -> Degraded:
    """Degrades images (B, H, W, C), at positions `indices` (B,) of a fixed set, the same way on every call,
    machine and batching: image i draws from fold_in(PRNGKey(seed), i)."""
    keys = jax.vmap(lambda index: jax.random.fold_in(jax.random.PRNGKey(seed), index))(jnp.asarray(indices))
    return _degrade_each(degradation, keys, clean)


def prepare_evaluation(
    config: ml_collections.ConfigDict, degradation: Any, images: list[np.ndarray], name: str
) -> tuple[list[EvaluationBatch], dict[str, str]]:
    """The evaluation `images` (from `evaluation_images`) in batches of one image size (at most `eval.batch_size`
    each), degraded once, and the protocol that describes them (with "lpips" and "lpips_vgg" among the metrics:
    the networks, version and weights, `lpips.describe`). Free-form inpainting uses `degradations.evaluation_masks`:
    fixed masks, their hole areas spread evenly over `degradations.AREA_BUCKETS`."""
    seed = config.eval.seed + EVAL_SEED_OFFSET
    free_form = isinstance(degradation, degradations.Inpaint) and degradation.mask == "free_form"
    by_size: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        by_size.setdefault(image.shape, []).append(index)
    batches = []
    for shape, indices in by_size.items():
        masks, buckets = (
            degradations.evaluation_masks(seed, len(indices), shape[0], shape[1]) if free_form else (None, None)
        )
        for start in range(0, len(indices), config.eval.batch_size):
            chosen = indices[start : start + config.eval.batch_size]
            clean = np.stack([images[i] for i in chosen])
            if free_form:
                part = slice(start, start + len(chosen))
                degraded = degradations.apply_mask(pixels_to_model_range(clean), jnp.asarray(masks[part]))
                groups = [degradations.bucket_name(int(bucket)) for bucket in buckets[part]]
            else:
                degraded, groups = degrade_fixed(degradation, seed, pixels_to_model_range(clean), chosen), None
            batches.append(EvaluationBatch(clean, degraded, groups, tuple(chosen)))
    buckets = ", ".join(degradations.bucket_name(bucket) for bucket in range(len(degradations.AREA_BUCKETS)))
    description = {
        "set": name,
        "degradation": (
            f"fixed free-form masks, hole areas spread evenly over the buckets {buckets}"
            if free_form
            else degradation.describe()
        ),
        "channel": "Y (ITU-R BT.601)" if config.eval.y_channel else ("grey" if images[0].shape[-1] == 1 else "RGB"),
        "crop_border": str(config.eval.crop_border),
        "eval_seed": str(seed),
    }
    asked = lpips.asked_metrics(config.eval.metrics)
    if asked:  # a key of its own: a checkpoint's metrics hold the scores and the protocol in one dict
        description["lpips_networks"] = lpips.describe_metrics(asked)
    return batches, description


def restored_samples(
    batches: list[EvaluationBatch],
    restored: list[jax.Array],
    config: ml_collections.ConfigDict,
    mesh: jax.sharding.Mesh | None = None,
) -> ScoredSamples:
    """The restored evaluation set (model range, one array per batch) with each image's scores from
    `restoration_scores` in the protocol of `config.eval` (channel, cropped border, LPIPS when asked), PSNR capped
    at MAX_PSNR, for the metrics."""
    per_image: dict[str, list[np.ndarray]] = {}
    images, groups = [], []
    for batch, output in zip(batches, restored, strict=True):
        pixels = model_range_to_pixels(output)
        images.append(pixels)
        scores = restoration_scores(
            pixels,
            batch.clean,
            y_channel=config.eval.y_channel,
            crop=config.eval.crop_border,
            mask=None if batch.degraded.mask is None else np.asarray(batch.degraded.mask),
            lpips_metrics=lpips.asked_metrics(config.eval.metrics),
        )
        for key, value in scores.items():
            per_image.setdefault(key, []).append(np.asarray(value, np.float64))
        groups.extend(batch.groups or [])
    # An exactly restored image has infinite PSNR; capped, it cannot make a mean (or the best checkpoint) infinite.
    per_image = {
        key: np.minimum(np.concatenate(values), MAX_PSNR) if key.startswith("psnr") else np.concatenate(values)
        for key, values in per_image.items()
    }
    one_size = len({image.shape[1:] for image in images}) == 1
    restored_set = np.asarray(pixels_to_model_range(np.concatenate(images))) if one_size else None
    return ScoredSamples(restored_set, per_image, groups or None, mesh)
