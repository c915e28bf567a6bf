"""Unpaired image-to-image translation: CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks") between two image domains A and B, read from two unrelated datasets
(ganjax/data/domains.py).

Two generators translate, G_a2b: A -> B and G_b2a: B -> A (ganjax/models/restorers.py; the ResNet of
the official code by default), and two PatchGAN discriminators judge, D_a images of A and D_b images of B. One
train step, in the official code's order, takes a batch of each domain, a and b, and:

1. updates both generators on one objective (Adam, as the official code's one optimizer over both parameter sets:
   Adam's state is per parameter, so one optimizer state per generator is the same update):

       w_adv * (L_G(D_b(a2b(a))) + L_G(D_a(b2a(b))))                    adversarial, any registered loss
     + w_cycle * (|b2a(a2b(a)) - a|_1 + |a2b(b2a(b)) - b|_1)          cycle consistency (w_cycle 10)
     + w_identity * (|a2b(b) - b|_1 + |b2a(a) - a|_1)                 identity (w_identity = 0.5 * w_cycle; 0: off)
     + w_perceptual * (LPIPS(b2a(a2b(a)), a) + LPIPS(a2b(b2a(b)), b))  perceptual cycle (0: off; reconstruction.py)

   (|.|_1 is the mean absolute difference; the discriminators are applied as they stand);
2. shows each discriminator, instead of the images just generated, a history of them: an `ImagePool` of up to 50
   generated images per domain (Shrivastava et al. 2017), kept in the state so that resume is exact;
3. updates each discriminator on its objective (adversarial loss and penalties, as for every discriminator: the
   shared `Adversary` of ganjax/adversarial.py);
4. updates the generators' EMA, which sampling, evaluation and translation use.

Evaluation (ganjax/tasks/cyclegan_evaluation.py) scores the a2b translations of domain A's evaluation images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from ganjax import config as config_lib
from ganjax import parallel
from ganjax.adversarial import Adversary
from ganjax.data import Source
from ganjax.data.domains import DOMAINS, batch_key
from ganjax.errors import ConfigError, DataError, check
from ganjax.metrics import lpips
from ganjax.models.pix2pix import build_patch_discriminator
from ganjax.models.restorers import Restorer, build_restorer
from ganjax.optim import make_optimizers
from ganjax.penalties import Inputs
from ganjax.reconstruction import Perceptual
from ganjax.scoring import Evaluation
from ganjax.state import NetworkState, PyTree, TrainState, init_network, initial_ema
from ganjax.task import TASKS, FolderScores, ImageMapper, Mapping, StepFn
from ganjax.tasks.cyclegan_evaluation import evaluation_inputs, score_translations, translation_grid
from ganjax.tasks.image_pool import ImagePool, empty_pool, query_pool
from ganjax.updates import ONE_DEVICE, Batch, Ema, Layout, Metrics, apply_network, health, update_network

# The generators by direction, the domains each translates from and to, and the discriminators by domain.
DIRECTIONS = ("a2b", "b2a")
SOURCE_DOMAIN = {"a2b": "a", "b2a": "b"}
TARGET_DOMAIN = {"a2b": "b", "b2a": "a"}
DISCRIMINATORS = {"a": "d_a", "b": "d_b"}
GRID_COLUMNS = 8  # images of each domain in the sample grid


@flax.struct.dataclass
class CycleGanState(TrainState):
    """A CycleGAN's state: `TrainState` with networks "a2b", "b2a" (the generators, whose EMA it keeps), "d_a" and
    "d_b" (the discriminators of each domain), and:

    Attributes:
      pools: {"a": the pool of generated A images that D_a is shown, "b": the same for D_b}.
    """

    pools: dict[str, ImagePool]


@TASKS.register("cyclegan")
@dataclasses.dataclass(frozen=True)
class CycleGan(Mapping):
    """A CycleGAN, rebuilt from the config.

    Attributes:
      a2b, b2a: the generators (restorers of scale 1): images of A (B, H, W, C_a) -> B (B, H, W, C_b), and back.
      adversary_a, adversary_b: unconditional PatchGANs, images of their domain -> patch logits (B, H', W'), with the
        loss, optimizer and penalties they share.
      shape_a, shape_b: (H, W, C) of each domain's training images.
      adversarial_weight, cycle_weight, identity_weight: the weights of the generators' objective (module
        docstring); identity_weight 0 leaves the identity mappings out.
      perceptual: the perceptual cycle term with its weight (ganjax/reconstruction.py; off at weight 0).
      pool_size: generated images kept per domain for the discriminators; 0: they see the newest only.
      g_optimizer: the generators' Optax transformation.
      ema: the generators' parameter EMA, which sampling, evaluation and translation use.
    """

    name: ClassVar[str] = "cyclegan"
    metrics: ClassVar[tuple[str, ...]] = ("edge_ssim", "cycle_psnr", *lpips.METRIC_NETWORKS)
    refuses: ClassVar[tuple[str, ...]] = ("augment.policy", "optim.d_steps")
    batches_per_step: ClassVar[int] = 1

    a2b: Restorer
    b2a: Restorer
    adversary_a: Adversary
    adversary_b: Adversary
    shape_a: tuple[int, int, int]
    shape_b: tuple[int, int, int]
    adversarial_weight: float
    cycle_weight: float
    identity_weight: float
    perceptual: Perceptual
    pool_size: int
    g_optimizer: optax.GradientTransformation
    ema: Ema
    config: ml_collections.ConfigDict = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def penalty_interval(self) -> int:
        return self.adversary_a.penalty_interval

    def generator(self, direction: str) -> Restorer:
        return {"a2b": self.a2b, "b2a": self.b2a}[direction]

    def adversary(self, domain: str) -> Adversary:
        return {"a": self.adversary_a, "b": self.adversary_b}[domain]

    def shape(self, domain: str) -> tuple[int, int, int]:
        return {"a": self.shape_a, "b": self.shape_b}[domain]

    def translate(self, direction: str, variables: PyTree, images: jax.Array) -> jax.Array:
        """Translates a batch of any size (inference mode) in `direction` with that generator's `variables`: the
        input (B, H, W, C_source), in the model range, is padded at the bottom and right by reflection to the
        generator's size multiple, and the output (B, H, W, C_target) cropped back."""
        return self.generator(direction).apply_any_size(variables, images)

    def cycle(self, state: TrainState, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(a2b(images), b2a(a2b(images))) for images of A (B, H, W, C_a), with the EMA generators."""
        translated = self.translate("a2b", state.ema_variables("a2b"), images)
        return translated, self.translate("b2a", state.ema_variables("b2a"), translated)

    def generator_objective(
        self,
        params: PyTree,
        collections: PyTree,
        discriminators: dict[str, NetworkState],
        real_a: jax.Array,
        real_b: jax.Array,
    ) -> tuple[jax.Array, tuple[PyTree, dict[str, jax.Array], Metrics]]:
        """Both generators' objective (module docstring) on batches of A and B (B, H, W, C), the discriminators
        applied as they stand.

        Returns:
          (total, (the generators' updated collections, {"a": generated A images b2a(b), "b": generated B images
          a2b(a)}, each term unweighted)).
        """
        collections = dict(collections)

        def apply(direction: str, images: jax.Array) -> jax.Array:
            module = self.generator(direction).module
            output, collections[direction] = apply_network(
                module, params[direction], collections[direction], images, train=True
            )
            return output

        identity = self.identity_weight > 0
        # Each generator translates its own domain and, for the identity loss, the other domain in one call:
        # instance norm normalises each image by itself, so one call of 2B images is two calls of B.
        with_identity = {
            "a2b": jnp.concatenate([real_a, real_b]) if identity else real_a,
            "b2a": jnp.concatenate([real_b, real_a]) if identity else real_b,
        }
        first = {direction: apply(direction, images) for direction, images in with_identity.items()}
        batch = real_a.shape[0]
        fake_b, fake_a = first["a2b"][:batch], first["b2a"][:batch]
        cycled_a, cycled_b = apply("b2a", fake_b), apply("a2b", fake_a)

        def adversarial(domain: str, real: jax.Array, fake: jax.Array) -> jax.Array:
            d = discriminators[domain]
            return self.adversary(domain).generator_loss(d, Inputs(real, None), Inputs(fake, None))

        terms = {
            "adversarial_a2b": adversarial("b", real_b, fake_b),
            "adversarial_b2a": adversarial("a", real_a, fake_a),
            "cycle_a": jnp.mean(jnp.abs(cycled_a - real_a)),
            "cycle_b": jnp.mean(jnp.abs(cycled_b - real_b)),
        }
        if identity:
            terms["identity_a2b"] = jnp.mean(jnp.abs(first["a2b"][batch:] - real_b))
            terms["identity_b2a"] = jnp.mean(jnp.abs(first["b2a"][batch:] - real_a))
        if self.perceptual.active:
            terms["perceptual_a"], terms["perceptual_b"] = (
                self.perceptual(cycled_a, real_a),
                self.perceptual(cycled_b, real_b),
            )
        weights = {"adversarial": self.adversarial_weight, "cycle": self.cycle_weight, "identity": self.identity_weight}
        weights["perceptual"] = self.perceptual.weight
        total = sum(weights[name.split("_")[0]] * value for name, value in terms.items())
        return total, (collections, {"a": fake_a, "b": fake_b}, terms)

    # ---------------------------------------------------------------------------------------------- the task protocol

    def init_state(self, seed: int | jax.Array) -> CycleGanState:
        keys = dict(zip((*DIRECTIONS, *DOMAINS, "rng"), jax.random.split(jax.random.PRNGKey(seed), 5), strict=True))
        images = {domain: jnp.zeros((1, *self.shape(domain)), jnp.float32) for domain in DOMAINS}
        networks = {
            direction: init_network(self.generator(direction).module, self.g_optimizer, keys[direction], images[source])
            for direction, source in SOURCE_DOMAIN.items()
        }
        for domain, name in DISCRIMINATORS.items():
            networks[name] = self.adversary(domain).init(keys[domain], images[domain], None)
        return CycleGanState(
            step=jnp.zeros((), jnp.int32),
            rng=keys["rng"],
            networks=networks,
            ema=initial_ema(networks, DIRECTIONS),
            pools={domain: empty_pool(self.pool_size, self.shape(domain)) for domain in DOMAINS},
        )

    def make_step(self, layout: Layout = ONE_DEVICE, *, regularize: bool = True) -> StepFn:
        """The train step. `batch["a_image"]` and `batch["b_image"]` hold (1, B, H, W, C) float32 images of each
        domain in [-1, 1]. The metrics: the generators' total objective (`g_loss`) and each of its terms
        (unweighted), each discriminator's loss, penalties and logits (`d_a_...`, `d_b_...`) and their sum
        `d_loss`, gradient and parameter norms and non-finite flags."""

        def step(state: CycleGanState, batch: Batch) -> tuple[CycleGanState, Metrics]:
            real = {domain: batch[batch_key(domain, "image")][0] for domain in DOMAINS}
            pool_key_a, pool_key_b, penalty_key = jax.random.split(jax.random.fold_in(state.rng, state.step), 3)
            pool_keys = {"a": pool_key_a, "b": pool_key_b}
            networks = dict(state.networks)
            discriminators = {
                domain: networks[name].replace(params=layout.gather(networks[name].params))
                for domain, name in DISCRIMINATORS.items()
            }
            params = {direction: networks[direction].params for direction in DIRECTIONS}
            collections = {direction: networks[direction].collections for direction in DIRECTIONS}

            def g_objective(params):
                gathered = {direction: layout.gather(value) for direction, value in params.items()}
                return self.generator_objective(gathered, collections, discriminators, real["a"], real["b"])

            (g_loss, (g_collections, fakes, terms)), g_grads = jax.value_and_grad(g_objective, has_aux=True)(params)
            for direction in DIRECTIONS:
                generator = networks[direction].replace(collections=g_collections[direction])
                networks[direction] = update_network(self.g_optimizer, generator, g_grads[direction])
            metrics = {
                "g_loss": g_loss,
                **{f"g_{name}": value for name, value in terms.items()},
                **health("g", g_loss, g_grads, {direction: networks[direction].params for direction in DIRECTIONS}),
            }
            pools = {}
            for index, (domain, name) in enumerate(DISCRIMINATORS.items()):
                fake = jax.lax.stop_gradient(fakes[domain])
                pools[domain], shown = query_pool(state.pools[domain], fake, pool_keys[domain])
                networks[name], d_metrics, _ = self.adversary(domain).update(
                    networks[name],
                    Inputs(real[domain], None),
                    Inputs(shown, None),
                    jax.random.fold_in(penalty_key, index),
                    regularize=regularize,
                    layout=layout,
                    prefix=name,
                )
                metrics |= d_metrics
            metrics["d_loss"] = metrics["d_a_loss"] + metrics["d_b_loss"]
            metrics["d_nonfinite"] = jnp.maximum(metrics["d_a_nonfinite"], metrics["d_b_nonfinite"])
            new_state = state.replace(
                step=state.step + 1,
                networks=networks,
                ema=self.ema.update(state.ema, networks, state.step),
                pools=pools,
            )
            return new_state, metrics

        return step

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        return {
            batch_key(domain, "image"): jax.ShapeDtypeStruct(
                (1, batch_size, *self.shape(domain)), jnp.float32, sharding=sharding
            )
            for domain in DOMAINS
        }

    def check_data(self, sources: dict[str, Source]) -> None:
        for domain in DOMAINS:
            source, side = sources[domain], self.shape(domain)[0]
            if source.num_examples == 0:
                raise DataError(f"domain {domain} ({source.name}) is empty: --config.data.{domain} names no images")
            config_lib.check_images_match_model(
                source,
                self.config.data[domain].crop,
                self.shape(domain),
                what=f"domain {domain}'s model",
                channels_option=f"--config.model.channels_{domain}",
                size_hint=f"set --config.data.{domain}.resize={side} (folders) or --config.data.{domain}.crop={side}, "
                "or --config.model.resolution",
            )

    def sample_grid(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], np.ndarray]:
        """The six rows of `translation_grid` from fixed evaluation images, up to GRID_COLUMNS of each domain."""
        inputs = {
            domain: evaluation_inputs(self.config, domain, self.shape(domain), GRID_COLUMNS)[0] for domain in DOMAINS
        }
        columns = min(len(images) for images in inputs.values())
        translate = jax.jit(self.translate, static_argnums=0, out_shardings=parallel.replicated(mesh))
        channels = max(self.shape_a[-1], self.shape_b[-1])
        return translation_grid(translate, {domain: images[:columns] for domain, images in inputs.items()}, channels)

    def evaluator(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], Evaluation]:
        """Translates the first eval.num images of domain A's evaluation set and computes config.eval.metrics."""
        inputs, name = evaluation_inputs(self.config, "a", self.shape_a, self.config.eval.num)
        cycle = jax.jit(self.cycle, out_shardings=parallel.replicated(mesh))
        size, feature_mesh = self.config.eval.batch_size, parallel.local_mesh()

        def evaluate(state: TrainState) -> Evaluation:
            pairs = [cycle(state, inputs[start : start + size]) for start in range(0, len(inputs), size)]
            translated = np.concatenate([np.asarray(pair[0]) for pair in pairs])
            cycled = np.concatenate([np.asarray(pair[1]) for pair in pairs])
            return score_translations(self.config, np.asarray(inputs), translated, cycled, name, feature_mesh)

        return evaluate

    def image_mapper(self, direction: str | None) -> ImageMapper:
        """The generator of `direction` (default a2b), translating images as they are."""
        direction = direction or "a2b"
        check(direction in DIRECTIONS, f"--direction={direction!r}; valid: {', '.join(DIRECTIONS)}")
        channels = self.shape(SOURCE_DOMAIN[direction])[-1]

        def apply(variables: PyTree, degraded) -> jax.Array:
            return self.translate(direction, variables, degraded.image)

        description = f"{direction}: domain {SOURCE_DOMAIN[direction]} to {TARGET_DOMAIN[direction]}"
        return ImageMapper(jax.jit(apply), direction, channels, 1, False, description)

    def score_folder(self, state: TrainState, folder: str, tile: int, overlap: int) -> FolderScores:
        del state, folder, tile, overlap
        raise ConfigError(
            "a cyclegan run translates images as they are: give --input alone (--clean is for restoration)"
        )

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> CycleGan:
        """The CycleGAN a validated config describes; ConfigError for what only this task can check."""
        model, objective = config.model, config.objective
        check(
            "a" in config.data and "b" in config.data,
            "a cyclegan run reads two datasets, --config.data.a and --config.data.b (configs/translate_*.py)",
        )
        channels = {"a": model.channels_a, "b": model.channels_b}
        side = model.resolution
        generators = {
            direction: build_restorer(
                model,
                in_channels=channels[SOURCE_DOMAIN[direction]],
                out_channels=channels[TARGET_DOMAIN[direction]],
                scale=1,
            )
            for direction in DIRECTIONS
        }
        multiple = generators["a2b"].size_multiple
        resolution = f"--config.model.resolution={side}"
        check(
            side % multiple == 0,
            f"model {model.name!r} takes images whose sides are multiples of {multiple}: {resolution}",
        )
        for name in ("adversarial_weight", "cycle_weight", "identity_weight"):
            check(objective[name] >= 0, f"--config.objective.{name} must be 0 (off) or positive; got {objective[name]}")
        check(
            not objective.identity_weight or channels["a"] == channels["b"],
            f"the identity loss translates images of each domain as if from the other, so both need as many channels; "
            f"A has {channels['a']} and B {channels['b']}: set --config.objective.identity_weight=0",
        )
        check(objective.pool_size >= 0, f"--config.objective.pool_size must be >= 0; got {objective.pool_size}")
        g_optimizer, d_optimizer = make_optimizers(config)
        adversaries = {
            domain: Adversary.from_config(
                config, build_patch_discriminator(model, channels=channels[domain], condition_channels=0), d_optimizer
            )
            for domain in DOMAINS
        }
        return cls(
            a2b=generators["a2b"],
            b2a=generators["b2a"],
            adversary_a=adversaries["a"],
            adversary_b=adversaries["b"],
            shape_a=(side, side, channels["a"]),
            shape_b=(side, side, channels["b"]),
            adversarial_weight=float(objective.adversarial_weight),
            cycle_weight=float(objective.cycle_weight),
            identity_weight=float(objective.identity_weight * objective.cycle_weight),
            perceptual=Perceptual.from_config(objective, side),
            pool_size=objective.pool_size,
            g_optimizer=g_optimizer,
            ema=Ema.from_config(config),
            config=config,
        )
