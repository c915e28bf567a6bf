"""The image-to-image task: a network restores degraded images (denoising, super-resolution, inpainting) or
translates them (grey to colour), trained with a reconstruction loss and, optionally, a conditional GAN's.

Each train step takes a batch of clean images, degrades it with the step's own randomness (ganjax/degradations.py,
so the data pipeline is the GANs' and resume stays exact), restores it, and updates:

- the discriminator, a conditional PatchGAN that sees the degraded input (brought to the output's size) beside the
  clean or the restored image: the shared `Adversary` (ganjax/adversarial.py: `--config.loss`, penalties);
- the restorer, on  reconstruction(restored, clean) + perceptual_weight * LPIPS(restored, clean)
                      + adversarial_weight * the adversarial generator loss  (the perceptual term is off at weight 0).

`--config.objective.adversarial_weight=0` gives the PSNR-oriented model: the state then holds the restorer alone.
For inpainting the restorer sees the masked image and the mask, and its output keeps the known pixels.

Evaluation restores every image of the evaluation set at its own size (padded to the network's size multiple, cropped
back), always with the same degradations, and scores it against the clean image in the tables' conventions
(ganjax/tasks/image2image_evaluation.py): PSNR and SSIM on the 0-255 scale, optionally on the luminance, with
`eval.crop_border` pixels cropped; PSNR inside the holes and per hole-area bucket for inpainting; LPIPS (`lpips`,
`lpips_vgg`); and the Inception metrics (FID) of the restored set against the clean split.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from ganjax import config as config_lib
from ganjax import degradations, parallel
from ganjax.adversarial import Adversary
from ganjax.data import Source
from ganjax.degradations import Degraded
from ganjax.errors import check
from ganjax.images import apply_tiled, image_grid, pixels_to_model_range
from ganjax.metrics import lpips
from ganjax.models.pix2pix import build_patch_discriminator
from ganjax.models.restorers import Restorer, build_restorer
from ganjax.optim import make_optimizers
from ganjax.penalties import Inputs
from ganjax.reconstruction import RECONSTRUCTION_LOSSES, Perceptual
from ganjax.sampling import GRID_SEED_OFFSET
from ganjax.scoring import Evaluation, score
from ganjax.state import PyTree, TrainState, init_network, initial_ema
from ganjax.task import TASKS, FolderScores, ImageMapper, Mapping, StepFn
from ganjax.tasks.image2image_evaluation import degrade_fixed, evaluation_images, prepare_evaluation, restored_samples
from ganjax.updates import ONE_DEVICE, Batch, Ema, Layout, Metrics, health, update_network

RESTORER, DISCRIMINATOR = "restorer", "discriminator"
GRID_COLUMNS = 8  # images in the sample grid
GRID_MAX_SIDE = 128  # its images are centre crops of at most this side


@TASKS.register("image2image")
@dataclasses.dataclass(frozen=True)
class Image2Image(Mapping):
    """The image-to-image task, rebuilt from the config.

    Attributes:
      restorer: the restoration network, its size multiple and scale (ganjax/models/restorers.py).
      adversary: the conditional PatchGAN, (image (B, H, W, C), condition (B, H, W, C')) -> logits (B, H', W'), with
        its loss, optimizer and penalties; None when the adversarial weight is 0.
      degradation: what the clean images go through (ganjax/degradations.py).
      sample_shape: (H, W, C) of the clean training images (crops).
      reconstruction: (restored, clean) -> scalar (ganjax/reconstruction.py).
      perceptual: the perceptual term added to it, LPIPS with its weight (off at weight 0).
      adversarial_weight: the adversarial loss's weight in the restorer's objective.
      g_optimizer: the restorer's Optax transformation.
      ema: the restorer's parameter EMA, which evaluation and restoration use.
    """

    name: ClassVar[str] = "image2image"
    metrics: ClassVar[tuple[str, ...]] = ("psnr", "ssim", "psnr_hole", *lpips.METRIC_NETWORKS)
    refuses: ClassVar[tuple[str, ...]] = ("augment.policy", "optim.d_steps")
    batches_per_step: ClassVar[int] = 1

    restorer: Restorer
    adversary: Adversary | None
    degradation: Any
    sample_shape: tuple[int, int, int]
    reconstruction: Callable[[jax.Array, jax.Array], jax.Array]
    perceptual: Perceptual
    adversarial_weight: float
    g_optimizer: optax.GradientTransformation
    ema: Ema
    config: ml_collections.ConfigDict = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def penalty_interval(self) -> int:
        return 1 if self.adversary is None else self.adversary.penalty_interval

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

    def shown(self, degraded: Degraded) -> jax.Array:
        """The degraded input as a picture beside the output: at the output's size, with the output's channels."""
        shown = self.condition(degraded)[..., : self.degradation.input_channels(self.channels)]
        return jnp.broadcast_to(shown, (*shown.shape[:3], self.channels))

    def composite(self, output: jax.Array, degraded: Degraded) -> jax.Array:
        """The restored image: the network's output, except that known pixels keep their values when there are
        holes."""
        if degraded.mask is None:
            return output
        return degraded.mask * output + (1.0 - degraded.mask) * degraded.image

    def restore(self, variables: PyTree, degraded: Degraded) -> jax.Array:
        """Restores a batch of any size (inference mode): the input is padded at the bottom and right, by
        reflection, to the restorer's size multiple, and the output cropped back. (B, H, W, C) in the model range."""
        return self.composite(self.restorer.apply_any_size(variables, self.network_input(degraded)), degraded)

    # ---------------------------------------------------------------------------------------------- the task protocol

    def init_state(self, seed: int | jax.Array) -> TrainState:
        g_key, d_key, rng = jax.random.split(jax.random.PRNGKey(seed), 3)
        clean = jnp.zeros((1, *self.sample_shape), jnp.float32)
        degraded = self.degradation(jax.random.PRNGKey(0), clean)
        networks = {RESTORER: init_network(self.restorer.module, self.g_optimizer, g_key, self.network_input(degraded))}
        if self.adversary is not None:
            networks[DISCRIMINATOR] = self.adversary.init(d_key, clean, self.condition(degraded))
        return TrainState(jnp.zeros((), jnp.int32), rng, networks, initial_ema(networks, (RESTORER,)))

    def make_step(self, layout: Layout = ONE_DEVICE, *, regularize: bool = True) -> StepFn:
        """The train step. `batch["image"]` holds clean images (1, B, H, W, C) float32 in [-1, 1]; the metrics are
        the restorer's total, reconstruction and adversarial losses, with the discriminator's losses, penalties and
        logits when it is trained, and both networks' gradient and parameter norms and non-finite flags."""
        adversary = self.adversary

        def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
            clean = batch["image"][0]
            degrade_key, penalty_key = jax.random.split(jax.random.fold_in(state.rng, state.step))
            degraded = self.degradation(degrade_key, clean)
            networks, g = dict(state.networks), state.networks[RESTORER]

            def restore(params):
                output, collections = self.restorer.module.apply(
                    {"params": layout.gather(params), **g.collections},
                    self.network_input(degraded),
                    train=True,
                    mutable=list(g.collections),
                )
                return self.composite(output, degraded), collections

            # One forward pass of the restorer serves both updates; its gradient is pulled back through the VJP.
            restored, pull_back, g_collections = jax.vjp(restore, g.params, has_aux=True)
            condition, metrics = self.condition(degraded), {}
            if adversary is not None:
                fake = Inputs(jax.lax.stop_gradient(restored), condition)
                networks[DISCRIMINATOR], metrics, _ = adversary.update(
                    networks[DISCRIMINATOR],
                    Inputs(clean, condition),
                    fake,
                    penalty_key,
                    regularize=regularize,
                    layout=layout,
                )

            def objective(restored: jax.Array):
                terms = {"g_reconstruction": self.reconstruction(restored, clean)}
                total = terms["g_reconstruction"]
                if self.perceptual.active:
                    terms["g_perceptual"] = self.perceptual(restored, clean)
                    total += self.perceptual.weight * terms["g_perceptual"]
                if adversary is not None:
                    terms["g_adversarial"] = adversary.generator_loss(
                        networks[DISCRIMINATOR], Inputs(clean, condition), Inputs(restored, condition), layout
                    )
                    total += self.adversarial_weight * terms["g_adversarial"]
                return total, terms

            (g_loss, g_metrics), restored_grad = jax.value_and_grad(objective, has_aux=True)(restored)
            (grads,) = pull_back(restored_grad)
            networks[RESTORER] = update_network(self.g_optimizer, g.replace(collections=g_collections), grads)
            new_state = state.replace(
                step=state.step + 1, networks=networks, ema=self.ema.update(state.ema, networks, state.step)
            )
            health_metrics = health("g", g_loss, grads, networks[RESTORER].params)
            return new_state, {**metrics, "g_loss": g_loss, **g_metrics, **health_metrics}

        return step

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        return {"image": jax.ShapeDtypeStruct((1, batch_size, *self.sample_shape), jnp.float32, sharding=sharding)}

    def check_data(self, sources: dict[str, Source]) -> None:
        side = self.sample_shape[0]
        config_lib.check_images_match_model(
            sources[""],
            self.config.data.crop,
            self.sample_shape,
            what="the restoration model",
            channels_option="--config.model.channels",
            size_hint=f"set --config.data.crop={side}, or --config.model.resolution when training on whole images",
        )

    def evaluation_set(self, config: ml_collections.ConfigDict | None = None):
        """The evaluation set of `config` (default the run's) in batches, degraded, and its protocol."""
        config = self.config if config is None else config
        images, name = evaluation_images(config, self.channels, self.restorer.size_multiple, self.degradation.scale)
        return prepare_evaluation(config, self.degradation, images, name)

    def sample_grid(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], np.ndarray]:
        """Three rows of fixed evaluation images, centre crops of one size: degraded (as the restorer sees it, at
        the output's size), restored, clean."""
        scale = self.degradation.scale
        images, _ = evaluation_images(self.config, self.channels, self.restorer.size_multiple, scale)
        images = images[:GRID_COLUMNS]
        multiple = math.lcm(self.restorer.size_multiple * scale, scale)
        side = min(GRID_MAX_SIDE, *(min(image.shape[:2]) for image in images)) // multiple * multiple
        clean = pixels_to_model_range(np.stack([_centre_crop(image, side) for image in images]))
        degraded = degrade_fixed(self.degradation, self.config.seed + GRID_SEED_OFFSET, clean, range(len(images)))
        restore = jax.jit(self.restore, out_shardings=parallel.replicated(mesh))

        def grid(state: TrainState) -> np.ndarray:
            restored = restore(state.ema_variables(RESTORER), degraded)
            rows = np.concatenate([np.asarray(self.shown(degraded)), np.asarray(restored), np.asarray(clean)])
            return image_grid(rows, columns=len(images))

        return grid

    def evaluator(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], Evaluation]:
        """Restores the evaluation set, degraded the same way every time, and computes config.eval.metrics."""
        batches, description = self.evaluation_set()
        restore = jax.jit(self.restore, out_shardings=parallel.replicated(mesh))
        feature_mesh = parallel.local_mesh()

        def evaluate(state: TrainState) -> Evaluation:
            variables = state.ema_variables(RESTORER)
            restored = [restore(variables, batch.degraded) for batch in batches]
            return score(restored_samples(batches, restored, self.config, feature_mesh), self.config, description)

        return evaluate

    def image_mapper(self, direction: str | None) -> ImageMapper:
        check(
            direction is None,
            "--direction picks a translation direction, but this is an image2image run, which maps one way only: "
            "drop --direction",
        )
        masked = isinstance(self.degradation, degradations.Inpaint)
        return ImageMapper(
            jax.jit(self.restore), RESTORER, self.channels, self.degradation.scale, masked, self.degradation.describe()
        )

    def score_folder(self, state: TrainState, folder: str, tile: int, overlap: int) -> FolderScores:
        config = ml_collections.ConfigDict(self.config.to_dict())
        config.eval.update(path=folder, batch_size=1)
        batches, protocol = self.evaluation_set(config)
        restore, variables = jax.jit(self.restore), state.ema_variables(RESTORER)
        restored, strips = [None] * len(batches), [None] * len(batches)
        for batch in batches:
            (index,) = batch.indices  # one image per batch
            output = apply_tiled(lambda x: restore(variables, x), batch.degraded, self.degradation.scale, tile, overlap)
            clean = np.asarray(pixels_to_model_range(batch.clean))
            row = np.concatenate([np.asarray(self.shown(batch.degraded)), output, clean])
            restored[index], strips[index] = output, image_grid(row, columns=3)
        ordered = sorted(batches, key=lambda batch: batch.indices)
        samples = restored_samples(ordered, [restored[batch.indices[0]] for batch in ordered], config)
        return FolderScores(strips, samples.per_image, protocol)

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> Image2Image:
        """The image-to-image model a validated config describes; ConfigError for what only this task can check."""
        degradation = degradations.build_degradation(config.degradation)
        model, channels = config.model, config.model.channels
        side = config.data.crop or model.resolution
        scale = degradation.scale
        check(
            side % scale == 0,
            f"the x{scale} super-resolution scale does not divide the training crop {side} (--config.data.crop); use a "
            f"multiple of {scale}",
        )
        in_channels = degradation.input_channels(channels)
        has_mask = isinstance(degradation, degradations.Inpaint)
        restorer = build_restorer(model, in_channels=in_channels + has_mask, out_channels=channels, scale=scale)
        step_multiple = restorer.size_multiple * scale
        check(
            side % step_multiple == 0,
            f"model {model.name!r} takes inputs whose sides are multiples of {restorer.size_multiple}, so with scale "
            f"{scale} the training crop {side} must be a multiple of {step_multiple} (--config.data.crop)",
        )
        check(
            "psnr_hole" not in config.eval.metrics or has_mask,
            "--config.eval.metrics has psnr_hole, the PSNR inside the holes, but only inpainting has holes",
        )
        weight = config.objective.adversarial_weight
        check(weight >= 0, f"--config.objective.adversarial_weight must be 0 (no GAN) or positive; got {weight}")
        check(config.eval.crop_border >= 0, f"--config.eval.crop_border must be >= 0; got {config.eval.crop_border}")
        g_optimizer, d_optimizer = make_optimizers(config)
        discriminator = build_patch_discriminator(model, channels=channels, condition_channels=in_channels + has_mask)
        return cls(
            restorer=restorer,
            adversary=Adversary.from_config(config, discriminator, d_optimizer) if weight > 0 else None,
            degradation=degradation,
            sample_shape=(side, side, channels),
            reconstruction=RECONSTRUCTION_LOSSES.get(config.objective.reconstruction),
            perceptual=Perceptual.from_config(config.objective, side),
            adversarial_weight=float(weight),
            g_optimizer=g_optimizer,
            ema=Ema.from_config(config),
            config=config,
        )


def _centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return image[top : top + side, left : left + side]
