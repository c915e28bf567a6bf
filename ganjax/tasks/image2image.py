"""The image-to-image task: a network restores degraded images (denoising, super-resolution, inpainting) or
translates them (grey to colour), trained with a reconstruction loss and, optionally, a conditional GAN's.

Each train step takes a batch of clean images, degrades it with the step's own randomness (ganjax/degradations.py,
so the data pipeline is the GANs' and resume stays exact), restores it, and updates:

- the discriminator, a conditional PatchGAN that sees the degraded input (brought to the output's size) beside the
  clean or the restored image: the registered adversarial loss (`--config.loss`) plus any registered penalties;
- the restorer, on  reconstruction(restored, clean) + adversarial_weight * the adversarial generator loss.

`--config.objective.adversarial_weight=0` gives the PSNR-oriented model: there is no discriminator then (the state
holds an empty one, so that both kinds of run share one layout). For inpainting the restorer sees the masked
image and the mask, and its output keeps the known pixels.

Evaluation restores every image of the evaluation set at its own size (padded to the network's size multiple, cropped
back), always with the same degradations (fixed by the seed), and scores it against the clean image in the tables'
conventions (ganjax/metrics/restoration.py): PSNR and SSIM on the 0-255 scale, optionally on the luminance of RGB
images, with `eval.crop_border` pixels cropped; PSNR inside the holes and per hole-area bucket for inpainting; and
the Inception metrics (FID) of the restored set against the clean split.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import linen as nn

from ganjax import degradations, parallel
from ganjax.data import Source, open_source
from ganjax.data.local import read_image_files
from ganjax.data.pipeline import crop_shape
from ganjax.data.sources import data_root, model_range_to_uint8, read_restoration_set
from ganjax.degradations import Degraded
from ganjax.errors import ConfigError, DataError
from ganjax.evaluation import Evaluation, agree_across_processes
from ganjax.losses import LOSSES, LossPair
from ganjax.metrics import METRICS, ScoredSamples, inception_metrics
from ganjax.metrics import restoration as restoration_metrics
from ganjax.models.restoration import Restorer, build_patch_discriminator, build_restorer
from ganjax.optim import make_optimizers
from ganjax.penalties import PENALTIES, Inputs
from ganjax.reconstruction import RECONSTRUCTION_LOSSES
from ganjax.sampling import EVAL_SEED_OFFSET, GRID_SEED_OFFSET, image_grid
from ganjax.state import NetworkState, PyTree, TrainState, init_network
from ganjax.step import Metrics, StepFn, apply_network, ema_decay, health, update, update_discriminator
from ganjax.tasks import TASKS

Batch = dict[str, jax.Array]
GRID_COLUMNS = 8  # images in the sample grid
GRID_MAX_SIDE = 128  # its images are centre crops of at most this side
MAX_PSNR = 100.0  # dB: the per-image PSNR of an exact restoration, instead of infinity


def to_model_range(pixels: np.ndarray | jax.Array) -> jax.Array:
    """Values on the 0-255 scale -> float32 in the model range [-1, 1]."""
    return jnp.asarray(pixels, jnp.float32) / 127.5 - 1.0


def to_pixels(images: jax.Array) -> np.ndarray:
    """Model-range images -> float32 on the 0-255 scale, clipped and rounded to the 256 levels of a saved image."""
    return np.asarray(model_range_to_uint8(np.asarray(images)), np.float32)


@dataclasses.dataclass(frozen=True)
class Image2Image:
    """The static part of an image-to-image model, rebuilt from the config.

    Attributes:
      restorer: the restoration network, its size multiple and scale (ganjax/models/restoration.py).
      discriminator: the conditional PatchGAN: (image (B, H, W, C), condition (B, H, W, C')) -> logits (B, H', W').
      degradation: what the clean images go through (ganjax/degradations.py).
      sample_shape: (H, W, C) of the clean training images (crops).
      reconstruction: (restored, clean) -> scalar (ganjax/reconstruction.py).
      adversarial_weight: the adversarial loss's weight in the restorer's objective; 0: no discriminator.
      loss: the adversarial objective on patch logits, (real, fake) -> (d_loss, g_loss) (ganjax/losses.py).
      g_optimizer, d_optimizer: Optax transformations of the restorer and the discriminator.
      penalties: (name, weight) of the discriminator's penalties (ganjax/penalties.py).
      regularization_interval: lazy regularisation: penalties every this many steps, their weights times it.
      ema_decay, ema_rampup: the restorer's parameter EMA, which evaluation and restoration use.
    """

    restorer: Restorer
    discriminator: nn.Module
    degradation: Any
    sample_shape: tuple[int, int, int]
    reconstruction: Callable[[jax.Array, jax.Array], jax.Array]
    adversarial_weight: float
    loss: Callable[[jax.Array, jax.Array], LossPair]
    g_optimizer: optax.GradientTransformation
    d_optimizer: optax.GradientTransformation
    penalties: tuple[tuple[str, float], ...] = ()
    regularization_interval: int = 1
    ema_decay: float = 0.999
    ema_rampup: float = 0.0

    batches_per_step: ClassVar[int] = 1

    @property
    def adversarial(self) -> bool:
        return self.adversarial_weight > 0

    @property
    def penalty_interval(self) -> int:
        return self.regularization_interval if self.penalties and self.adversarial else 1

    @property
    def channels(self) -> int:
        return self.sample_shape[-1]

    # ------------------------------------------------------------------------------------------ the networks' inputs

    def network_input(self, degraded: Degraded) -> jax.Array:
        """What the restorer sees: the degraded image, and the mask after it when there are holes."""
        if degraded.mask is None:
            return degraded.image
        return jnp.concatenate([degraded.image, degraded.mask], axis=-1)

    def condition(self, degraded: Degraded) -> jax.Array:
        """What the discriminator sees beside an image: the degraded input at the output's size (nearest-neighbour
        upsampled for super-resolution), and the mask."""
        image, scale = degraded.image, self.degradation.scale
        if scale > 1:
            image = jnp.repeat(jnp.repeat(image, scale, axis=1), scale, axis=2)
        return image if degraded.mask is None else jnp.concatenate([image, degraded.mask], axis=-1)

    def composite(self, output: jax.Array, degraded: Degraded) -> jax.Array:
        """The restored image: the network's output, except that known pixels keep their values when there are
        holes."""
        if degraded.mask is None:
            return output
        return degraded.mask * output + (1.0 - degraded.mask) * degraded.image

    def restore(self, params: PyTree, collections: PyTree, degraded: Degraded) -> jax.Array:
        """Restores a batch of any size (inference mode): the input is padded at the bottom and right, by
        reflection, to the restorer's size multiple, and the output cropped back. (B, H, W, C) in the model range."""
        x = self.network_input(degraded)
        height, width = x.shape[1:3]
        multiple = self.restorer.size_multiple
        padding = ((0, 0), (0, -height % multiple), (0, -width % multiple), (0, 0))
        output = self.restorer.module.apply(
            {"params": params, **collections}, jnp.pad(x, padding, mode="reflect"), train=False
        )
        scale = self.restorer.scale
        return self.composite(output[:, : height * scale, : width * scale], degraded)

    # ---------------------------------------------------------------------------------------------- the task protocol

    def init_state(self, seed: int | jax.Array) -> TrainState:
        g_key, d_key, rng = jax.random.split(jax.random.PRNGKey(seed), 3)
        clean = jnp.zeros((1, *self.sample_shape), jnp.float32)
        degraded = self.degradation(jax.random.PRNGKey(0), clean)
        generator = init_network(self.restorer.module, self.g_optimizer, g_key, self.network_input(degraded))
        if self.adversarial:
            discriminator = init_network(self.discriminator, self.d_optimizer, d_key, clean, self.condition(degraded))
        else:  # no discriminator: an empty network keeps the state's layout
            discriminator = NetworkState(params={}, collections={}, opt_state=self.d_optimizer.init({}))
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=rng,
            generator=generator,
            discriminator=discriminator,
            ema_params=jax.tree.map(jnp.copy, generator.params),
            augment_p=jnp.zeros((), jnp.float32),  # unused: image-to-image models augment their data, not D's view
        )

    def make_step(
        self,
        data_sharding: jax.sharding.Sharding | None = None,
        *,
        regularize: bool = True,
        param_sharding: jax.sharding.Sharding | None = None,
    ) -> StepFn:
        """The train step. `batch["image"]` holds clean images (1, B, H, W, C) float32 in [-1, 1]; the metrics are
        the restorer's total, reconstruction and adversarial losses, with the discriminator's losses, penalties and
        logits when it is trained, and both networks' gradient and parameter norms and non-finite flags."""
        del data_sharding  # every array in the step is laid out like the batch already
        weights = {name: weight * self.penalty_interval for name, weight in self.penalties} if regularize else {}
        penalties = {name: PENALTIES.get(name) for name in weights}

        def gathered(params: PyTree) -> PyTree:
            return params if param_sharding is None else jax.lax.with_sharding_constraint(params, param_sharding)

        def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
            clean = batch["image"][0]
            degrade_key, penalty_key = jax.random.split(jax.random.fold_in(state.rng, state.step))
            degraded = self.degradation(degrade_key, clean)
            g = state.generator

            def restore(params):
                output, collections = self.restorer.module.apply(
                    {"params": gathered(params), **g.collections},
                    self.network_input(degraded),
                    train=True,
                    mutable=list(g.collections),
                )
                return self.composite(output, degraded), collections

            # One forward pass of the restorer serves both updates; its gradient is pulled back through the VJP.
            restored, pull_back, g_collections = jax.vjp(restore, g.params, has_aux=True)
            d, metrics = state.discriminator, {}
            condition = self.condition(degraded)
            if self.adversarial:
                real = Inputs(clean, condition)
                fake = Inputs(jax.lax.stop_gradient(restored), condition)
                d, metrics, _ = update_discriminator(
                    self.discriminator,
                    self.d_optimizer,
                    self.loss,
                    penalties,
                    weights,
                    d,
                    real,
                    fake,
                    penalty_key,
                    gathered,
                )
            d_params = gathered(d.params)

            def objective(restored: jax.Array):
                reconstruction = self.reconstruction(restored, clean)
                if not self.adversarial:
                    return reconstruction, {"g_reconstruction": reconstruction}
                fake_logits = apply_network(
                    self.discriminator, d_params, d.collections, restored, condition, train=False
                )
                real_logits = apply_network(self.discriminator, d_params, d.collections, clean, condition, train=False)
                _, adversarial = self.loss(real_logits[0], fake_logits[0])
                total = reconstruction + self.adversarial_weight * adversarial
                return total, {"g_reconstruction": reconstruction, "g_adversarial": adversarial}

            (g_loss, g_metrics), restored_grad = jax.value_and_grad(objective, has_aux=True)(restored)
            (grads,) = pull_back(restored_grad)
            g = update(self.g_optimizer, g.replace(collections=g_collections), grads)
            ema_params = optax.incremental_update(
                g.params, state.ema_params, step_size=1.0 - ema_decay(self, state.step)
            )
            new_state = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema_params)
            return new_state, {**metrics, "g_loss": g_loss, **g_metrics, **health("g", g_loss, grads, g.params)}

        return step

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        return {"image": jax.ShapeDtypeStruct((1, batch_size, *self.sample_shape), jnp.float32, sharding=sharding)}

    def check_data(self, sources: dict[str, Source], data_config: ml_collections.ConfigDict) -> None:
        source, crop = sources[""], data_config.crop
        shape = crop_shape(source.sample_shape, crop)
        if len(shape) != 3 or shape[-1] != self.channels:
            raise ConfigError(
                f"the restoration model was built for {self.channels}-channel images (--config.model.channels), but "
                f"{source.name} has samples of shape {source.sample_shape}"
                + (f"; set --config.model.channels={shape[-1]}" if len(shape) == 3 else "")
            )
        if shape != self.sample_shape:
            raise ConfigError(
                f"the model trains on images of shape {self.sample_shape}, but {source.name} gives {shape} "
                f"(crop {crop}); set --config.data.crop={self.sample_shape[0]}, or --config.model.resolution="
                f"{shape[0]} when training on whole images"
            )

    def sample_grid(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], np.ndarray]:
        """Three rows of fixed evaluation images, centre crops of one size: degraded (as the restorer sees it, at
        the output's size), restored, clean."""
        images, _ = evaluation_images(config, self)
        images = images[:GRID_COLUMNS]
        multiple = math.lcm(self.restorer.size_multiple * self.degradation.scale, self.degradation.scale)
        side = min(GRID_MAX_SIDE, *(min(image.shape[:2]) for image in images)) // multiple * multiple
        clean = to_model_range(np.stack([_centre_crop(image, side) for image in images]))
        degraded = _degrade_fixed(self, config.seed + GRID_SEED_OFFSET, clean, range(len(images)))
        shown = self.condition(degraded)[..., : self.degradation.input_channels(self.channels)]
        shown = jnp.broadcast_to(shown, clean.shape) if shown.shape[-1] != self.channels else shown
        restore = jax.jit(self.restore, out_shardings=parallel.replicated(mesh))

        def grid(state: TrainState) -> np.ndarray:
            restored = restore(state.ema_params, state.generator.collections, degraded)
            rows = np.concatenate([np.asarray(shown), np.asarray(restored), np.asarray(clean)])
            return image_grid(np.clip(rows, -1.0, 1.0), columns=len(images))

        return grid

    def evaluator(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], Evaluation]:
        """Restores the evaluation set, degraded the same way every time, and computes config.eval.metrics."""
        batches, description = prepare_evaluation(self, config)
        restore = jax.jit(self.restore, out_shardings=parallel.replicated(mesh))
        local_devices = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}), jax.local_devices())

        def evaluate(state: TrainState) -> Evaluation:
            restored = [restore(state.ema_params, state.generator.collections, batch.degraded) for batch in batches]
            samples = restored_samples(batches, restored, config.eval.crop_border, local_devices)
            scores: dict[str, float] = {}
            for name in config.eval.metrics:
                scores.update(METRICS.get(name)(samples, config))
            extractor = inception_metrics.extractor_used(samples)
            protocol = description | (inception_metrics.protocol(extractor) if extractor is not None else {})
            return Evaluation(agree_across_processes(scores), protocol)

        return evaluate


# ---------------------------------------------------------------------------------------------------- evaluation


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


def evaluation_images(config: ml_collections.ConfigDict, task: Image2Image) -> tuple[list[np.ndarray], str]:
    """The clean evaluation images, float32 (H, W, C) on the 0-255 scale with the model's channels, each at its
    own size cut to a multiple of the SR scale; and the set's name.

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
            ml_collections.ConfigDict(config.data.to_dict() | {"split": eval_config.split}), config.seed
        )
        count = min(eval_config.num, source.num_examples)
        images = list(model_range_to_uint8(source.read(np.arange(count))["image"]))
        name = f"{source.name}, split {eval_config.split}, first {count}"
    scale = task.degradation.scale
    prepared = []
    for index, image in enumerate(images):
        pixels = image.astype(np.float32)
        if pixels.shape[-1] != task.channels:
            if not (eval_config.y_channel and task.channels == 1 and pixels.shape[-1] == 3):
                hint = "; set --config.eval.y_channel=True to score a grey model on the luminance of RGB images"
                raise DataError(
                    f"evaluation image {index} of {name} has {pixels.shape[-1]} channels, but the model was built "
                    f"for {task.channels} (--config.model.channels){hint if task.channels == 1 else ''}"
                )
            pixels = np.asarray(restoration_metrics.rgb_to_y(pixels[None]))[0]
        height, width = pixels.shape[:2]
        if min(height, width) < scale * task.restorer.size_multiple:
            raise DataError(f"evaluation image {index} of {name} is {height}x{width}: too small for this model")
        prepared.append(pixels[: height - height % scale, : width - width % scale])
    return prepared, name


def _centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return image[top : top + side, left : left + side]


@functools.partial(jax.jit, static_argnums=0)
def _degrade_each(degradation: Any, keys: jax.Array, clean: jax.Array) -> Degraded:
    """Each image (B, H, W, C) degraded with its own key (B, 2): an image's degradation does not depend on its
    batch."""
    degraded = jax.vmap(lambda key, image: degradation(key, image[None]))(keys, clean)
    return jax.tree.map(lambda x: x[:, 0], degraded)


def _degrade_fixed(task: Image2Image, seed: int, clean: jax.Array, indices: Sequence[int]) -> Degraded:
    """Degrades images (B, H, W, C), at positions `indices` (B,) of a fixed set, the same way on every call,
    machine and batching: image i draws from fold_in(PRNGKey(seed), i)."""
    keys = jax.vmap(lambda index: jax.random.fold_in(jax.random.PRNGKey(seed), index))(jnp.asarray(indices))
    return _degrade_each(task.degradation, keys, clean)


def prepare_evaluation(task: Image2Image, config: ml_collections.ConfigDict) -> tuple[list[EvaluationBatch], dict]:
    """The evaluation set in batches of one image size (at most `eval.batch_size` each), degraded once, and the
    protocol that describes it. Free-form inpainting uses `degradations.evaluation_masks`: fixed masks, their hole
    areas spread evenly over `degradations.AREA_BUCKETS`."""
    images, name = evaluation_images(config, task)
    seed = config.seed + EVAL_SEED_OFFSET
    degradation = task.degradation
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
                degraded = degradations.apply_mask(to_model_range(clean), jnp.asarray(masks[part]))
                groups = [degradations.bucket_name(int(bucket)) for bucket in buckets[part]]
            else:
                degraded, groups = _degrade_fixed(task, seed, to_model_range(clean), chosen), None
            batches.append(EvaluationBatch(clean, degraded, groups, tuple(chosen)))
    description = {
        "set": name,
        "degradation": (
            "fixed free-form masks, hole areas spread evenly over the buckets "
            + ", ".join(degradations.bucket_name(bucket) for bucket in range(len(degradations.AREA_BUCKETS)))
            if free_form
            else degradation.describe()
        ),
        "channel": "Y (ITU-R BT.601)" if config.eval.y_channel else ("grey" if task.channels == 1 else "RGB"),
        "crop_border": str(config.eval.crop_border),
        "eval_seed": str(seed),
    }
    return batches, description


def restored_samples(
    batches: list[EvaluationBatch], restored: list[jax.Array], crop: int, mesh: jax.sharding.Mesh | None = None
) -> ScoredSamples:
    """The restored evaluation set with each image's PSNR (at most MAX_PSNR), SSIM (and PSNR inside the holes), for
    the metrics."""
    per_image: dict[str, list[np.ndarray]] = {}
    images, groups = [], []
    for batch, output in zip(batches, restored, strict=True):
        pixels = to_pixels(output)
        images.append(pixels)
        restored_crop = restoration_metrics.crop_border(jnp.asarray(pixels), crop)
        clean_crop = restoration_metrics.crop_border(jnp.asarray(batch.clean), crop)
        scores = {
            "psnr": restoration_metrics.psnr(restored_crop, clean_crop),
            "ssim": restoration_metrics.ssim(restored_crop, clean_crop),
        }
        if batch.degraded.mask is not None:
            mask = restoration_metrics.crop_border(batch.degraded.mask, crop)
            scores["psnr_hole"] = restoration_metrics.psnr(restored_crop, clean_crop, mask=mask)
        for key, value in scores.items():
            per_image.setdefault(key, []).append(np.asarray(value, np.float64))
        groups.extend(batch.groups or [])
    # An exactly restored image has infinite PSNR; capped, it cannot make a mean (or the best checkpoint) infinite.
    for key in ("psnr", "psnr_hole"):
        if key in per_image:
            per_image[key] = [np.minimum(values, MAX_PSNR) for values in per_image[key]]
    one_size = len({image.shape[1:] for image in images}) == 1
    restored_set = to_model_range(np.concatenate(images)) if one_size else None
    return ScoredSamples(
        None if restored_set is None else np.asarray(restored_set),
        {key: np.concatenate(values) for key, values in per_image.items()},
        groups or None,
        mesh,
    )


def restore_tiled(
    restore: Callable, state: TrainState, degraded: Degraded, scale: int, tile: int, overlap: int
) -> np.ndarray:
    """Restores one degraded image (1, h, w, c) (and its mask, of the same size: masks come with scale 1) in tiles
    of `tile` input pixels with `overlap` pixels of context on each side: (1, h * scale, w * scale, C), model range.
    """
    height, width = degraded.image.shape[1:3]
    if max(height, width) <= tile:
        return np.asarray(restore(state.ema_params, state.generator.collections, degraded))
    rows = []
    for top in range(0, height, tile):
        row = []
        for left in range(0, width, tile):
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(top + tile + overlap, height), min(left + tile + overlap, width)
            window = jax.tree.map(lambda x, y0=y0, y1=y1, x0=x0, x1=x1: x[:, y0:y1, x0:x1], degraded)
            output = np.asarray(restore(state.ema_params, state.generator.collections, window))
            inner_top, inner_left = (top - y0) * scale, (left - x0) * scale
            inner_height, inner_width = (
                (min(top + tile, height) - top) * scale,
                (min(left + tile, width) - left) * scale,
            )
            row.append(output[:, inner_top : inner_top + inner_height, inner_left : inner_left + inner_width])
        rows.append(np.concatenate(row, axis=2))
    return np.concatenate(rows, axis=1)


# ---------------------------------------------------------------------------------------------------- building


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@TASKS.register("image2image")
def build_image2image(config: ml_collections.ConfigDict) -> Image2Image:
    """The image-to-image model a validated config describes; ConfigError for what only this task can check."""
    degradation = degradations.build_degradation(config.degradation)
    model, channels = config.model, config.model.channels
    side = config.data.crop or model.resolution
    scale = degradation.scale
    _check(
        side % scale == 0,
        f"the x{scale} super-resolution scale does not divide the training crop {side} (--config.data.crop); use a "
        f"multiple of {scale}",
    )
    in_channels = degradation.input_channels(channels)
    has_mask = isinstance(degradation, degradations.Inpaint)
    restorer = build_restorer(model, in_channels=in_channels + has_mask, out_channels=channels, scale=scale)
    step_multiple = restorer.size_multiple * scale
    _check(
        side % step_multiple == 0,
        f"model {model.name!r} takes inputs whose sides are multiples of {restorer.size_multiple}, so with scale "
        f"{scale} the training crop {side} must be a multiple of {step_multiple} (--config.data.crop)",
    )
    _check(
        not config.augment.policy,
        "--config.augment.policy augments a GAN discriminator's inputs; image2image runs augment their data "
        "instead (--config.data.flip_rotate): set --config.augment.policy='()'",
    )
    _check(
        config.optim.d_steps == 1, f"--config.optim.d_steps must be 1 for image2image runs; got {config.optim.d_steps}"
    )
    _check(
        "psnr_hole" not in config.eval.metrics or has_mask,
        "--config.eval.metrics has psnr_hole, the PSNR inside the holes, but only inpainting has holes",
    )
    objective = config.objective
    _check(
        objective.adversarial_weight >= 0,
        f"--config.objective.adversarial_weight must be 0 (no GAN) or positive; got {objective.adversarial_weight}",
    )
    _check(config.eval.crop_border >= 0, f"--config.eval.crop_border must be >= 0; got {config.eval.crop_border}")
    g_optimizer, d_optimizer = make_optimizers(config)
    return Image2Image(
        restorer=restorer,
        discriminator=build_patch_discriminator(model, channels=channels, condition_channels=in_channels + has_mask),
        degradation=degradation,
        sample_shape=(side, side, channels),
        reconstruction=RECONSTRUCTION_LOSSES.get(objective.reconstruction),
        adversarial_weight=float(objective.adversarial_weight),
        loss=LOSSES.get(config.loss),
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
        penalties=tuple((name, float(weight)) for name, weight in config.penalties.items() if weight),
        regularization_interval=config.penalty_interval,
        ema_decay=config.ema.decay,
        ema_rampup=config.ema.rampup,
    )
