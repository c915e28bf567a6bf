"""The GAN task: unconditional and class-conditional generators from latents.

One train step makes `d_steps` discriminator updates, each on its own real batch, then one generator update, then
updates the augmentation probability (ADA) and the generator's EMA. Everything D sees goes through the augmentation
(ganjax/augment.py); D's update, loss and penalties are the shared `Adversary`'s (ganjax/adversarial.py).

Sampling and evaluation use the EMA generator in inference mode (batch norm uses its running statistics, spectral
norm its stored estimate), from latents fixed by the seed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from ganjax import augment, parallel
from ganjax import config as config_lib
from ganjax.adversarial import Adversary
from ganjax.data import Source
from ganjax.data.pipeline import crop_shape
from ganjax.errors import ConfigError
from ganjax.images import picture
from ganjax.metrics import perceptual
from ganjax.metrics.perceptual import LatentSamples
from ganjax.models import Networks, build_networks
from ganjax.optim import make_optimizers
from ganjax.penalties import Inputs
from ganjax.sampling import (
    EVAL_SEED_OFFSET,
    GRID_SEED_OFFSET,
    class_rows,
    interpolation_latents,
    normal_latents,
    random_labels,
)
from ganjax.scoring import Evaluation, score
from ganjax.state import NetworkState, TrainState, init_network, initial_ema
from ganjax.task import TASKS, Drawing, DrawRequest, Generative, StepFn
from ganjax.updates import ONE_DEVICE, Batch, Ema, Layout, Metrics, apply_network, health, update_network

GENERATOR, DISCRIMINATOR = "generator", "discriminator"
SAMPLE_CHUNK = 256  # latents generated at once when sampling
Truncation = tuple[float, int | None]  # (psi, cutoff) of a generator with a mapping network: DrawRequest


@flax.struct.dataclass
class GanState(TrainState):
    """A GAN's state: `TrainState` with networks "generator" and "discriminator" (the EMA is the generator's), and:

    Attributes:
      augment_p: float32 scalar, the probability with which each augmentation is applied to each sample D sees;
        fixed, or adapted by ADA.
    """

    augment_p: jax.Array


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Differentiable augmentation of everything D sees (ganjax/augment.py).

    Attributes:
      policy: augmentation names, applied in order; empty for none.
      initial_p: the probability at step 0 (1 for DiffAugment; usually 0 with ADA).
      ada_target: ADA's target for E[sign(D(real))]; None keeps the probability fixed.
      ada_speed_images: ADA moves the probability by at most 1 per this many real images.
    """

    policy: tuple[str, ...] = ()
    initial_p: float = 0.0
    ada_target: float | None = None
    ada_speed_images: float = 500_000.0

    def __call__(self, key: jax.Array, images: jax.Array, p: jax.Array) -> jax.Array:
        return augment.augment(key, images, self.policy, p) if self.policy else images


@TASKS.register("gan")
@dataclasses.dataclass(frozen=True)
class Gan(Generative):
    """A GAN as a task of the training loop, rebuilt from the config.

    Attributes:
      networks: the generator and discriminator modules and the shapes connecting them.
      adversary: the discriminator with its loss, optimizer and penalties.
      g_optimizer: the generator's Optax transformation.
      d_steps: discriminator updates per generator update; each uses its own real batch.
      augmentation: what D's inputs go through.
      ema: the generator's parameter EMA.
    """

    name: ClassVar[str] = "gan"
    metrics: ClassVar[tuple[str, ...]] = ("ring", *perceptual.METRIC_NETWORKS)
    refuses: ClassVar[tuple[str, ...]] = ()

    networks: Networks
    adversary: Adversary
    g_optimizer: optax.GradientTransformation
    ema: Ema
    d_steps: int = 1
    augmentation: Augmentation = Augmentation()
    config: ml_collections.ConfigDict = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def batches_per_step(self) -> int:
        return self.d_steps

    @property
    def penalty_interval(self) -> int:
        return self.adversary.penalty_interval

    def generate(
        self,
        state: TrainState,
        z: jax.Array,
        labels: jax.Array | None,
        truncation: Truncation | None = None,
    ) -> jax.Array:
        """The EMA generator in inference mode: latents (N, latent_dim) and labels (N,) or None -> samples (N, ...).
        `truncation` (psi, cutoff): its styles drawn towards their mean (a generator with a `truncated` method)."""
        variables = state.ema_variables(GENERATOR)
        if truncation is None:
            return self.networks.generator.apply(variables, z, labels, train=False)
        return self.networks.generator.apply(variables, z, labels, *truncation, method="truncated")

    def init_state(self, seed: int | jax.Array) -> GanState:
        g_key, d_key, rng = jax.random.split(jax.random.PRNGKey(seed), 3)
        labels = jnp.zeros((1,), jnp.int32) if self.networks.num_classes else None
        z = jnp.zeros((1, self.networks.latent_dim), jnp.float32)
        x = jnp.zeros((1, *self.networks.sample_shape), jnp.float32)
        networks = {
            GENERATOR: init_network(self.networks.generator, self.g_optimizer, g_key, z, labels),
            DISCRIMINATOR: self.adversary.init(d_key, x, labels),
        }
        return GanState(
            step=jnp.zeros((), jnp.int32),
            rng=rng,
            networks=networks,
            ema=initial_ema(networks, (GENERATOR,)),
            augment_p=jnp.asarray(self.augmentation.initial_p, jnp.float32),
        )

    def make_step(self, layout: Layout = ONE_DEVICE, *, regularize: bool = True) -> StepFn:
        """The train step. `batch["image"]` holds the real samples, (d_steps, B, *sample_shape) float32 (images in
        [-1, 1]); `batch["label"]`, (d_steps, B) int32, their classes when the networks are conditional. The metrics
        are scalars: both losses, each penalty (unweighted), D's mean logit on real and generated samples, the share
        of real samples D scores positive, gradient and parameter norms and non-finite flags of both networks, and
        the augmentation probability."""
        generator, num_classes = self.networks.generator, self.networks.num_classes
        augmented, adversary = self.augmentation, self.adversary

        def generator_inputs(key: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array | None]:
            """Latents (B, latent_dim) and, when conditional, uniformly drawn labels (B,)."""
            z_key, label_key = jax.random.split(key)
            z = layout.constrain(jax.random.normal(z_key, (batch_size, self.networks.latent_dim), jnp.float32))
            if not num_classes:
                return z, None
            return z, layout.constrain(jax.random.randint(label_key, (batch_size,), 0, num_classes, jnp.int32))

        def generator_streams(key: jax.Array) -> dict[str, jax.Array]:
            """The random streams the generator draws from in training (StyleGAN2's noise), from the latents' key
            by `fold_in`, so that the latents and labels of generators without noise stay as they were."""
            return {"noise": jax.random.fold_in(key, 1)}

        def discriminator_update(d: NetworkState, g: NetworkState, real: Inputs, key: jax.Array, p: jax.Array):
            latent_key, real_key, fake_key, penalty_key = jax.random.split(key, 4)
            z, fake_labels = generator_inputs(latent_key, real.images.shape[0])
            fake_images, g_collections = apply_network(
                generator, layout.gather(g.params), g.collections, z, fake_labels, train=True,
                rngs=generator_streams(latent_key),
            )  # fmt: skip
            fake = Inputs(augmented(fake_key, jax.lax.stop_gradient(fake_images), p), fake_labels)
            real = Inputs(augmented(real_key, real.images, p), real.labels)
            d, metrics, real_logits = adversary.update(d, real, fake, penalty_key, regularize=regularize, layout=layout)
            return d, g_collections, metrics, real_logits

        def generator_update(g: NetworkState, d: NetworkState, real: Inputs, key: jax.Array, p: jax.Array):
            latent_key, real_key, fake_key = jax.random.split(key, 3)
            z, fake_labels = generator_inputs(latent_key, real.images.shape[0])
            real = Inputs(augmented(real_key, real.images, p), real.labels)

            def loss_fn(params):
                fake, collections = apply_network(
                    generator, layout.gather(params), g.collections, z, fake_labels, train=True,
                    rngs=generator_streams(latent_key),
                )  # fmt: skip
                fake = Inputs(augmented(fake_key, fake, p), fake_labels)
                return adversary.generator_loss(d, real, fake, layout), collections

            (loss, collections), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
            g = update_network(self.g_optimizer, g.replace(collections=collections), grads)
            return g, {"g_loss": loss, **health("g", loss, grads, g.params)}

        def step(state: GanState, batch: Batch) -> tuple[GanState, Metrics]:
            reals = batch["image"]
            labels = batch["label"] if num_classes else [None] * self.d_steps
            keys = jax.random.split(jax.random.fold_in(state.rng, state.step), self.d_steps + 1)
            p, g = state.augment_p, state.networks[GENERATOR]
            # d_steps is small and static, so the loop is unrolled: inside a lax.scan body XLA:CPU's convolutions lose
            # their fast paths (benchmarks/RESULTS.md, "DCGAN training step, ganjax vs PyTorch").
            d, real_logits = state.networks[DISCRIMINATOR], []
            for images, image_labels, key in zip(reals, labels, keys[:-1], strict=True):
                d, g_collections, d_metrics, logits = discriminator_update(d, g, Inputs(images, image_labels), key, p)
                g = g.replace(collections=g_collections)
                real_logits.append(logits)
            g, g_metrics = generator_update(g, d, Inputs(reals[-1], labels[-1]), keys[-1], p)
            if self.augmentation.ada_target is not None:
                p = augment.ada_probability(
                    p,
                    jnp.stack(real_logits),
                    target=self.augmentation.ada_target,
                    images_seen=reals.shape[0] * reals.shape[1],
                    speed_images=self.augmentation.ada_speed_images,
                )
            networks = {GENERATOR: g, DISCRIMINATOR: d}
            new_state = state.replace(
                step=state.step + 1,
                networks=networks,
                ema=self.ema.update(state.ema, networks, state.step),
                augment_p=p,
            )
            return new_state, {**d_metrics, **g_metrics, "augment_p": p}

        return step

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        """Real images (d_steps, B, *sample_shape) float32, and labels (d_steps, B) int32 when conditional."""
        leading = (self.d_steps, batch_size)
        spec = {"image": jax.ShapeDtypeStruct((*leading, *self.networks.sample_shape), jnp.float32, sharding=sharding)}
        if self.networks.num_classes:
            spec["label"] = jax.ShapeDtypeStruct(leading, jnp.int32, sharding=sharding)
        return spec

    def check_data(self, sources: dict[str, Source]) -> None:
        source = sources[""]
        cropped = dataclasses.replace(source, sample_shape=crop_shape(source.sample_shape, self.config.data.crop))
        config_lib.check_data_matches_model(cropped, self.networks, self.augmentation.policy)

    def sampler(
        self, mesh: jax.sharding.Mesh | None = None, truncation: Truncation | None = None
    ) -> Callable[[TrainState, jax.Array, jax.Array | None], np.ndarray]:
        """sample(state, z (N, latent_dim), labels (N,) or None) -> samples (N, ...) of the EMA generator, generated
        SAMPLE_CHUNK at a time (replicated over `mesh`, so every process can read them), truncated by `truncation`
        (`generate`)."""
        generate = jax.jit(
            self.generate,
            static_argnames="truncation",
            out_shardings=None if mesh is None else parallel.replicated(mesh),
        )

        def sample(state: TrainState, z: jax.Array, labels: jax.Array | None) -> np.ndarray:
            parts = []
            for start in range(0, len(z), SAMPLE_CHUNK):
                part_labels = None if labels is None else labels[start : start + SAMPLE_CHUNK]
                part = generate(state, z[start : start + SAMPLE_CHUNK], part_labels, truncation=truncation)
                parts.append(np.asarray(jax.device_get(part)))
            return np.concatenate(parts)

        return sample

    def sample_grid(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], np.ndarray]:
        """A square grid of about train.num_samples samples; a conditional model's has one row per class."""
        sample, seed, num = self.sampler(mesh), self.config.seed + GRID_SEED_OFFSET, self.config.train.num_samples
        latent_dim, num_classes = self.networks.latent_dim, self.networks.num_classes
        if num_classes:
            per_class = max(1, num // num_classes)
            (z, labels), columns = class_rows(seed, num_classes, per_class, latent_dim), per_class
        else:
            z, labels, columns = normal_latents(seed, num, latent_dim), None, None
        return lambda state: picture(sample(state, z, labels), columns)

    def evaluator(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], Evaluation]:
        """The metrics on samples of the EMA generator from fixed latents (and labels)."""
        sample, seed = self.sampler(mesh), self.config.eval.seed + EVAL_SEED_OFFSET
        latent_dim, num_classes = self.networks.latent_dim, self.networks.num_classes

        feature_mesh = parallel.local_mesh()

        def evaluate(state: TrainState) -> Evaluation:
            def draw(num: int) -> np.ndarray:
                return sample(state, normal_latents(seed, num, latent_dim), random_labels(seed + 1, num, num_classes))

            def generate(z: jax.Array, labels: jax.Array | None) -> np.ndarray:
                return sample(state, z, labels)

            samples = LatentSamples(draw, generate, latent_dim, num_classes, feature_mesh)
            return score(samples, self.config, perceptual.describe(self.config))

        return evaluate

    def draw(self, state: TrainState, request: DrawRequest) -> Drawing:
        """Independent samples; strips that slerp between random latents; or, for a conditional model, one row per
        class, or every sample of class `request.label`."""
        latent_dim, num_classes, seed = self.networks.latent_dim, self.networks.num_classes, request.seed
        if request.label is not None and not 0 <= request.label < max(num_classes, 1):
            valid = f"0 to {num_classes - 1}" if num_classes else "none: the model is unconditional"
            raise ConfigError(f"--class={request.label} is not a class of this model; valid: {valid}")
        if request.style_mix_layers:
            return self._style_mixing(state, request)
        if request.interpolate:
            strips = max(1, request.num // request.frames)
            z = interpolation_latents(seed, strips, request.frames, latent_dim)
            labels = jnp.repeat(random_labels(seed + 1, strips, num_classes), request.frames) if num_classes else None
            columns, kind = request.frames, "interpolation"
        elif num_classes and request.label is None:
            (z, labels), columns, kind = (
                class_rows(seed, num_classes, request.per_class, latent_dim),
                request.per_class,
                "classes",
            )
        else:
            z, labels = normal_latents(seed, request.num, latent_dim), None
            columns, kind = math.ceil(math.sqrt(request.num)), "sample"
        if request.label is not None:
            labels, kind = jnp.full((len(z),), request.label, jnp.int32), f"{kind}_class{request.label}"
        truncation = self._truncation(request)
        if truncation is not None:
            kind = f"{kind}_psi{truncation[0]:g}"
        samples = self.sampler(truncation=truncation)(state, z, labels)
        return Drawing(picture(samples, columns), len(samples), kind)

    def _style_mixing(self, state: TrainState, request: DrawRequest) -> Drawing:
        """The style-mixing figure of a generator with a mapping network (`DrawRequest.style_mix_layers`)."""
        generator, layers = self._mapping_generator("--style_mix_layers"), tuple(request.style_mix_layers)
        if not all(0 <= layer < generator.num_ws for layer in layers):
            raise ConfigError(f"--style_mix_layers={layers} names layers outside 0 to {generator.num_ws - 1}")
        label = request.label if request.label is not None or not self.networks.num_classes else 0
        z = normal_latents(request.seed, 2 * request.num, self.networks.latent_dim)
        figure = jax.jit(generator.apply, static_argnames=("label", "layers", "method"))(
            state.ema_variables(GENERATOR), z[: request.num], z[request.num :], label=label, layers=layers,
            method="style_mixing_grid",
        )  # fmt: skip
        return Drawing(picture(np.asarray(figure), request.num + 1), request.num**2, "style_mixing")

    def _mapping_generator(self, flag: str) -> flax.linen.Module:
        """The generator, which `flag` needs to have a mapping network (stylegan2); ConfigError otherwise."""
        if not hasattr(self.networks.generator, "truncated"):
            raise ConfigError(
                f"{flag} needs a generator with a mapping network (stylegan2); this run's "
                f"{self.config.model.name!r} has none"
            )
        return self.networks.generator

    def _truncation(self, request: DrawRequest) -> Truncation | None:
        """(psi, cutoff) that `request` asks for, None for no truncation; ConfigError for values out of range or a
        generator without a mapping network."""
        psi, cutoff = request.truncation_psi, request.truncation_cutoff
        if psi == 1.0 and cutoff is None:
            return None
        generator = self._mapping_generator("--truncation_psi")
        if not 0.0 <= psi <= 1.0:
            raise ConfigError(f"--truncation_psi={psi:g} is outside [0, 1] (1: no truncation)")
        if cutoff is not None and not 1 <= cutoff <= generator.num_ws:
            raise ConfigError(f"--truncation_cutoff={cutoff} is not between 1 and the {generator.num_ws} style layers")
        return psi, cutoff

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> Gan:
        """The GAN a validated config (ganjax/config.py) describes."""
        g_optimizer, d_optimizer = make_optimizers(config)
        networks = build_networks(config.model)
        perceptual.check_samples(config.eval.metrics, networks.sample_shape)
        augment_config = config.augment
        return cls(
            networks=networks,
            adversary=Adversary.from_config(config, networks.discriminator, d_optimizer),
            g_optimizer=g_optimizer,
            d_steps=config.optim.d_steps,
            augmentation=Augmentation(
                policy=tuple(augment_config.policy),
                initial_p=augment_config.p,
                ada_target=augment_config.ada_target,
                ada_speed_images=augment_config.ada_kimg * 1000.0,
            ),
            ema=Ema.from_config(config),
            config=config,
        )
