"""Unpaired image-to-image translation: CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks") between two image domains A and B, read from two unrelated datasets
(ganjax/data/domains.py).

Two generators translate, G_a2b: A -> B and G_b2a: B -> A (ganjax/models/restoration.py's restorers; the ResNet of
the official code by default), and two PatchGAN discriminators judge, D_a images of A and D_b images of B. One
train step, in the official code's order, takes a batch of each domain, a and b, and:

1. updates both generators on one objective, with one optimizer (as the official code chains their parameters):

       w_adv * (L_G(D_b(a2b(a))) + L_G(D_a(b2a(b))))                    adversarial, any registered loss
     + w_cycle * (|b2a(a2b(a)) - a|_1 + |a2b(b2a(b)) - b|_1)          cycle consistency (w_cycle 10)
     + w_identity * (|a2b(b) - b|_1 + |b2a(a) - a|_1)                 identity (w_identity = 0.5 * w_cycle; 0: off)

   (|.|_1 is the mean absolute difference; the discriminators are applied as they stand);
2. shows each discriminator, instead of the images just generated, a history of them: an `ImagePool` of up to 50
   generated images per domain (Shrivastava et al. 2017), kept in the state so that resume is exact;
3. updates both discriminators on the sum of their objectives (adversarial loss and penalties, as for every
   discriminator: ganjax/step.py), with one optimizer;
4. updates the generators' EMA, which sampling, evaluation and translation use.

Evaluation translates the first `eval.num` images of domain A's evaluation split to B and scores (a2b direction):
the Inception metrics (KID, FID) of the translations against domain B's evaluation images, the edge-map SSIM between
each input and its translation (content kept; ganjax/metrics/translation.py) and the PSNR of the cycle's
reconstruction b2a(a2b(a)) against the input. KID, not FID, is the metric to trust with a small domain such as the
1,209 clip-art drawings: FID's estimate from N images is biased by a term that shrinks like 1/N and differs between
models, so at N ~ 1,000 it ranks them by sample size as much as by quality, while KID's estimator is unbiased.
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
from flax import linen as nn

from ganjax import parallel
from ganjax.data import Source, open_source
from ganjax.data.domains import DOMAINS, batch_key
from ganjax.data.pipeline import crop_shape
from ganjax.errors import ConfigError, DataError
from ganjax.evaluation import Evaluation, agree_across_processes
from ganjax.losses import LOSSES, LossPair
from ganjax.metrics import METRICS, ScoredSamples, inception_metrics
from ganjax.metrics import fidelity as restoration_metrics
from ganjax.metrics.translation import edge_ssim
from ganjax.models.restoration import Restorer, build_patch_discriminator, build_restorer
from ganjax.optim import make_optimizers
from ganjax.penalties import PENALTIES, Inputs
from ganjax.sampling import image_grid
from ganjax.state import NetworkState, PyTree, TrainState
from ganjax.step import (
    Metrics,
    StepFn,
    discriminator_objective,
    ema_decay,
    health,
    logit_metrics,
    update,
)
from ganjax.tasks import TASKS
from ganjax.tasks.image2image import MAX_PSNR, to_pixels

Batch = dict[str, jax.Array]
# The generators by direction, and the domains each translates from and to.
DIRECTIONS = ("a2b", "b2a")
SOURCE_DOMAIN = {"a2b": "a", "b2a": "b"}
TARGET_DOMAIN = {"a2b": "b", "b2a": "a"}
GRID_COLUMNS = 8  # images of each domain in the sample grid


# ---------------------------------------------------------------------------------------------- the image pool


@flax.struct.dataclass
class ImagePool:
    """A history of generated images that a discriminator is shown instead of the newest ones.

    Attributes:
      images: (size, H, W, C) float32, the stored images; slots at and after `count` are unused (zeros).
      count: int32 scalar, the number of images stored so far, at most size.
    """

    images: jax.Array
    count: jax.Array


def empty_pool(size: int, shape: tuple[int, int, int]) -> ImagePool:
    """A pool of `size` images of `shape` (H, W, C) with none stored; size 0: the discriminator sees the newest."""
    return ImagePool(jnp.zeros((size, *shape), jnp.float32), jnp.zeros((), jnp.int32))


def query_pool(pool: ImagePool, images: jax.Array, key: jax.Array) -> tuple[ImagePool, jax.Array]:
    """The official CycleGAN's `ImagePool.query`, image by image, with the randomness drawn from `key`.

    For each image i of `images` (B, H, W, C) in order: while the pool is not full, the image is stored in the next
    slot and shown as it is; once it is full, with probability 1/2 (u_i > 0.5, u = uniform(key_u, (B,))) a stored
    image, slot s_i (s = randint(key_s, (B,), 0, size)), is shown and replaced by the new one, and otherwise the
    new image is shown and not stored; key_u, key_s = split(key).

    Returns:
      (the pool after the batch, the images shown (B, H, W, C)).
    """
    size = pool.images.shape[0]
    if size == 0:
        return pool, images
    uniform_key, slot_key = jax.random.split(key)
    swaps = jax.random.uniform(uniform_key, images.shape[:1]) > 0.5
    slots = jax.random.randint(slot_key, images.shape[:1], 0, size)

    def one(carry: tuple[jax.Array, jax.Array], inputs: tuple[jax.Array, jax.Array, jax.Array]):
        stored, count = carry
        image, swap, slot = inputs
        filling = count < size
        index = jnp.where(filling, count, slot)
        shown = jnp.where(filling | ~swap, image, stored[slot])
        stored = stored.at[index].set(jnp.where(filling | swap, image, stored[index]))
        return (stored, count + filling.astype(jnp.int32)), shown

    (stored, count), shown = jax.lax.scan(one, (pool.images, pool.count), (images, swaps, slots))
    return ImagePool(stored, count), shown


@flax.struct.dataclass
class CycleGanState(TrainState):
    """A CycleGAN's training state: a `TrainState` whose generator holds both generators (parameters and
    collections keyed by direction, "a2b" and "b2a", one optimizer state over both), whose discriminator holds both
    discriminators (keyed by the domain they judge, "a" and "b"), whose EMA covers both generators, and:

    Attributes:
      pools: {"a": the pool of generated A images that D_a is shown, "b": the same for D_b}.
    """

    pools: dict[str, ImagePool]


# -------------------------------------------------------------------------------------------------------- the task


@dataclasses.dataclass(frozen=True)
class CycleGan:
    """The static part of a CycleGAN, rebuilt from the config.

    Attributes:
      a2b, b2a: the generators (restorers of scale 1): images of A (B, H, W, C_a) -> B (B, H, W, C_b), and back.
      discriminator_a, discriminator_b: unconditional PatchGANs: images of their domain -> patch logits (B, H', W').
      shape_a, shape_b: (H, W, C) of each domain's training images.
      loss: the adversarial objective on patch logits, (real, fake) -> (d_loss, g_loss) (ganjax/losses.py).
      adversarial_weight, cycle_weight, identity_weight: the weights of the generators' objective (module
        docstring); identity_weight 0 leaves the identity mappings out.
      pool_size: generated images kept per domain for the discriminators; 0: they see the newest only.
      g_optimizer, d_optimizer: Optax transformations of both generators and of both discriminators.
      penalties: (name, weight) of the discriminators' penalties (ganjax/penalties.py), applied to each.
      regularization_interval: lazy regularisation: penalties every this many steps, their weights times it.
      ema_decay, ema_rampup: the generators' parameter EMA.
    """

    a2b: Restorer
    b2a: Restorer
    discriminator_a: nn.Module
    discriminator_b: nn.Module
    shape_a: tuple[int, int, int]
    shape_b: tuple[int, int, int]
    loss: Callable[[jax.Array, jax.Array], LossPair]
    adversarial_weight: float
    cycle_weight: float
    identity_weight: float
    pool_size: int
    g_optimizer: optax.GradientTransformation
    d_optimizer: optax.GradientTransformation
    penalties: tuple[tuple[str, float], ...] = ()
    regularization_interval: int = 1
    ema_decay: float = 0.999
    ema_rampup: float = 0.0

    batches_per_step: ClassVar[int] = 1

    @property
    def penalty_interval(self) -> int:
        return self.regularization_interval if self.penalties else 1

    def generator(self, direction: str) -> Restorer:
        return {"a2b": self.a2b, "b2a": self.b2a}[direction]

    def discriminator(self, domain: str) -> nn.Module:
        return {"a": self.discriminator_a, "b": self.discriminator_b}[domain]

    def shape(self, domain: str) -> tuple[int, int, int]:
        return {"a": self.shape_a, "b": self.shape_b}[domain]

    # -------------------------------------------------------------------------------------------- translating

    def translate(self, direction: str, params: PyTree, collections: PyTree, images: jax.Array) -> jax.Array:
        """Translates a batch of any size (inference mode) in `direction`: the input (B, H, W, C_source), in the
        model range, is padded at the bottom and right by reflection to the generator's size multiple, and the
        output (B, H, W, C_target) cropped back. `params` and `collections` are keyed by direction."""
        generator = self.generator(direction)
        height, width = images.shape[1:3]
        multiple = generator.size_multiple
        padding = ((0, 0), (0, -height % multiple), (0, -width % multiple), (0, 0))
        output = generator.module.apply(
            {"params": params[direction], **collections[direction]},
            jnp.pad(images, padding, mode="reflect"),
            train=False,
        )
        return output[:, :height, :width]

    def cycle(self, params: PyTree, collections: PyTree, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(a2b(images), b2a(a2b(images))) for images of A (B, H, W, C_a), in inference mode."""
        translated = self.translate("a2b", params, collections, images)
        return translated, self.translate("b2a", params, collections, translated)

    # ---------------------------------------------------------------------------------------------- objectives

    def generator_objective(
        self, params: PyTree, collections: PyTree, d: NetworkState, real_a: jax.Array, real_b: jax.Array
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
            output, collections[direction] = module.apply(
                {"params": params[direction], **collections[direction]},
                images,
                train=True,
                mutable=list(collections[direction]),
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
            module, domain_params = self.discriminator(domain), d.params[domain]
            variables = {"params": domain_params, **d.collections[domain]}
            _, g_loss = self.loss(
                module.apply(variables, real, None, train=False), module.apply(variables, fake, None, train=False)
            )
            return g_loss

        terms = {
            "adversarial_a2b": adversarial("b", real_b, fake_b),
            "adversarial_b2a": adversarial("a", real_a, fake_a),
            "cycle_a": jnp.mean(jnp.abs(cycled_a - real_a)),
            "cycle_b": jnp.mean(jnp.abs(cycled_b - real_b)),
        }
        if identity:
            terms["identity_a2b"] = jnp.mean(jnp.abs(first["a2b"][batch:] - real_b))
            terms["identity_b2a"] = jnp.mean(jnp.abs(first["b2a"][batch:] - real_a))
        weights = {"adversarial": self.adversarial_weight, "cycle": self.cycle_weight, "identity": self.identity_weight}
        total = sum(weights[name.split("_")[0]] * value for name, value in terms.items())
        return total, (collections, {"a": fake_a, "b": fake_b}, terms)

    # ---------------------------------------------------------------------------------------------- the task protocol

    def init_state(self, seed: int | jax.Array) -> CycleGanState:
        keys = dict(zip(("a2b", "b2a", "a", "b", "rng"), jax.random.split(jax.random.PRNGKey(seed), 5), strict=True))

        def variables(module: nn.Module, key: jax.Array, shape: tuple[int, ...], *extra) -> tuple[PyTree, PyTree]:
            found = dict(module.init(key, jnp.zeros((1, *shape), jnp.float32), *extra, train=False))
            return found.pop("params"), found

        def network(modules: dict[str, tuple[nn.Module, tuple]], optimizer: optax.GradientTransformation):
            made = {name: variables(module, keys[name], *inputs) for name, (module, inputs) in modules.items()}
            params = {name: pair[0] for name, pair in made.items()}
            return NetworkState(params, {name: pair[1] for name, pair in made.items()}, optimizer.init(params))

        generator = network(
            {
                direction: (self.generator(direction).module, (self.shape(SOURCE_DOMAIN[direction]),))
                for direction in DIRECTIONS
            },
            self.g_optimizer,
        )
        discriminator = network(
            {domain: (self.discriminator(domain), (self.shape(domain), None)) for domain in DOMAINS}, self.d_optimizer
        )
        return CycleGanState(
            step=jnp.zeros((), jnp.int32),
            rng=keys["rng"],
            generator=generator,
            discriminator=discriminator,
            ema_params=jax.tree.map(jnp.copy, generator.params),
            augment_p=jnp.zeros((), jnp.float32),  # unused: the discriminators' inputs are not augmented
            pools={domain: empty_pool(self.pool_size, self.shape(domain)) for domain in DOMAINS},
        )

    def make_step(
        self,
        data_sharding: jax.sharding.Sharding | None = None,
        *,
        regularize: bool = True,
        param_sharding: jax.sharding.Sharding | None = None,
    ) -> StepFn:
        """The train step. `batch["a_image"]` and `batch["b_image"]` hold (1, B, H, W, C) float32 images of each
        domain in [-1, 1]. The metrics: the generators' total objective (`g_loss`) and each of its terms
        unweighted (`g_adversarial_a2b`, `g_cycle_a`, ...), each discriminator's adversarial loss (`d_a_loss`,
        `d_b_loss`; `d_loss` their sum), penalties and logits, and the gradient and parameter norms and non-finite
        flags of the generators (`g_`) and the discriminators (`d_`), each pair as one network."""
        del data_sharding  # every array in the step is laid out like the batch already
        weights = {name: weight * self.penalty_interval for name, weight in self.penalties} if regularize else {}
        penalties = {name: PENALTIES.get(name) for name in weights}

        def gathered(params: PyTree) -> PyTree:
            return params if param_sharding is None else jax.lax.with_sharding_constraint(params, param_sharding)

        def step(state: CycleGanState, batch: Batch) -> tuple[CycleGanState, Metrics]:
            real = {domain: batch[batch_key(domain, "image")][0] for domain in DOMAINS}
            pool_key_a, pool_key_b, penalty_key = jax.random.split(jax.random.fold_in(state.rng, state.step), 3)
            pool_keys = {"a": pool_key_a, "b": pool_key_b}
            g, d = state.generator, state.discriminator

            def g_objective(params):
                return self.generator_objective(
                    gathered(params), g.collections, d.replace(params=gathered(d.params)), real["a"], real["b"]
                )

            (g_loss, (g_collections, fakes, terms)), g_grads = jax.value_and_grad(g_objective, has_aux=True)(g.params)
            g = update(self.g_optimizer, g.replace(collections=g_collections), g_grads)

            pools, shown = {}, {}
            for domain in DOMAINS:
                pools[domain], shown[domain] = query_pool(
                    state.pools[domain], jax.lax.stop_gradient(fakes[domain]), pool_keys[domain]
                )

            def d_objective(params):
                params = gathered(params)
                results = {
                    domain: discriminator_objective(
                        self.discriminator(domain),
                        self.loss,
                        penalties,
                        weights,
                        params[domain],
                        d.collections[domain],
                        Inputs(real[domain], None),
                        Inputs(shown[domain], None),
                        jax.random.fold_in(penalty_key, index),
                    )
                    for index, domain in enumerate(DOMAINS)
                }
                return sum(total for total, _ in results.values()), {
                    domain: aux for domain, (_, aux) in results.items()
                }

            (d_total, d_aux), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d.params)
            d = update(
                self.d_optimizer, d.replace(collections={domain: aux[0] for domain, aux in d_aux.items()}), d_grads
            )
            metrics = {
                "g_loss": g_loss,
                **{f"g_{name}": value for name, value in terms.items()},
                **health("g", g_loss, g_grads, g.params),
                "d_loss": sum(aux[1] for aux in d_aux.values()),
                **health("d", d_total, d_grads, d.params),
            }
            for domain, (_, d_loss, values, real_logits, fake_logits) in d_aux.items():
                metrics[f"d_{domain}_loss"] = d_loss
                metrics.update({f"d_{domain}_{name}": value for name, value in values.items()})
                metrics.update(logit_metrics(f"d_{domain}", real_logits, fake_logits))
            ema_params = optax.incremental_update(
                g.params, state.ema_params, step_size=1.0 - ema_decay(self, state.step)
            )
            new_state = state.replace(
                step=state.step + 1, generator=g, discriminator=d, ema_params=ema_params, pools=pools
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

    def check_data(self, sources: dict[str, Source], data_config: ml_collections.ConfigDict) -> None:
        for domain in DOMAINS:
            source, crop = sources[domain], data_config[domain].crop
            if source.num_examples == 0:
                raise DataError(f"domain {domain} ({source.name}) is empty: --config.data.{domain} names no images")
            shape, wanted = crop_shape(source.sample_shape, crop), self.shape(domain)
            if len(shape) != 3 or shape[-1] != wanted[-1]:
                raise ConfigError(
                    f"the translation models were built for {wanted[-1]}-channel images of domain {domain} "
                    f"(--config.model.channels_{domain}), but {source.name} has samples of shape {source.sample_shape}"
                    + (f"; set --config.model.channels_{domain}={shape[-1]}" if len(shape) == 3 else "")
                )
            if shape != wanted:
                raise ConfigError(
                    f"the models train on images of shape {wanted} in domain {domain}, but {source.name} gives "
                    f"{shape}; set --config.data.{domain}.resize={wanted[0]} (folders) or --config.data.{domain}.crop"
                    f"={wanted[0]}, or --config.model.resolution={shape[0]}"
                )

    def sample_grid(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], np.ndarray]:
        """Six rows of fixed evaluation images, GRID_COLUMNS of each domain: a | a2b(a) | b2a(a2b(a)), then
        b | b2a(b) | a2b(b2a(b)); grey images are shown in grey beside colour ones."""
        inputs = {domain: evaluation_inputs(config, self, domain, GRID_COLUMNS)[0] for domain in DOMAINS}
        columns = min(len(images) for images in inputs.values())
        channels = max(self.shape_a[-1], self.shape_b[-1])
        translate = jax.jit(self.translate, static_argnums=0, out_shardings=parallel.replicated(mesh))

        def shown(images: jax.Array) -> np.ndarray:
            return np.broadcast_to(np.asarray(images), (*images.shape[:3], channels))

        def grid(state: TrainState) -> np.ndarray:
            rows = []
            for direction, back in (("a2b", "b2a"), ("b2a", "a2b")):
                source = inputs[SOURCE_DOMAIN[direction]][:columns]
                translated = translate(direction, state.ema_params, state.generator.collections, source)
                cycled = translate(back, state.ema_params, state.generator.collections, translated)
                rows += [shown(source), shown(translated), shown(cycled)]
            return image_grid(np.clip(np.concatenate(rows), -1.0, 1.0), columns=columns)

        return grid

    def evaluator(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], Evaluation]:
        """Translates the first eval.num images of domain A's evaluation set and computes config.eval.metrics."""
        inputs, name = evaluation_inputs(config, self, "a", config.eval.num)
        cycle = jax.jit(self.cycle, out_shardings=parallel.replicated(mesh))
        local_devices = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}), jax.local_devices())
        size = config.eval.batch_size

        def evaluate(state: TrainState) -> Evaluation:
            pairs = [
                cycle(state.ema_params, state.generator.collections, inputs[start : start + size])
                for start in range(0, len(inputs), size)
            ]
            translated = np.concatenate([np.asarray(pair[0]) for pair in pairs])
            cycled = np.concatenate([np.asarray(pair[1]) for pair in pairs])
            return score_translations(config, np.asarray(inputs), translated, cycled, name, local_devices)

        return evaluate


# ---------------------------------------------------------------------------------------------------- evaluation


def evaluation_data_config(config: ml_collections.ConfigDict, domain: str) -> ml_collections.ConfigDict:
    """Domain `domain`'s dataset config for evaluation: its training config with `split` set to its eval_split and,
    when eval_path is set, `path` to it (a folder of held-out images)."""
    data = config.data[domain]
    overrides = {"split": data.eval_split} | ({"path": data.eval_path} if data.eval_path else {})
    return ml_collections.ConfigDict(data.to_dict() | overrides)


def describe_evaluation_set(data: ml_collections.ConfigDict, source: Source) -> str:
    """The dataset and, for datasets that have splits (not a folder or an .npz file), the split."""
    return source.name if data.name in ("folder", "npz") else f"{source.name}, split {data.split}"


def evaluation_inputs(
    config: ml_collections.ConfigDict, task: CycleGan, domain: str, num: int
) -> tuple[jax.Array, str]:
    """The first `num` images of domain `domain`'s evaluation set, (N, H, W, C) float32 in [-1, 1], and its
    description; DataError when they do not have the models' shape."""
    data = evaluation_data_config(config, domain)
    source = open_source(data, config.seed)
    count = min(num, source.num_examples)
    if count == 0:
        raise DataError(f"the evaluation set of domain {domain} ({describe_evaluation_set(data, source)}) is empty")
    images = source.read(np.arange(count))["image"]
    if images.shape[1:] != task.shape(domain):
        raise DataError(
            f"the evaluation images of domain {domain} ({describe_evaluation_set(data, source)}) have shape "
            f"{images.shape[1:]}, but the models translate {task.shape(domain)}: set --config.data.{domain}.resize"
        )
    return jnp.asarray(images), f"{describe_evaluation_set(data, source)}, first {count}"


def score_translations(
    config: ml_collections.ConfigDict,
    inputs: np.ndarray,
    translated: np.ndarray,
    cycled: np.ndarray | None,
    name: str,
    mesh: jax.sharding.Mesh | None = None,
) -> Evaluation:
    """config.eval.metrics of translations of images of A into B, against domain B's evaluation images: also the
    scoring of the classical baselines (benchmarks/translation.py), which have no cycle.

    Args:
      inputs: (N, H, W, C_a) float32 in [-1, 1], the images of A.
      translated: (N, H, W, C_b) their translations, in [-1, 1].
      cycled: (N, H, W, C_a) the translations translated back, or None (then `cycle_psnr` cannot be asked for).
      name: the description of the inputs, for the protocol.
      mesh: the devices that extract Inception features; None: the default device.
    """
    input_pixels = jnp.asarray(to_pixels(inputs))
    per_image = {"edge_ssim": np.asarray(edge_ssim(input_pixels, jnp.asarray(to_pixels(translated))), np.float64)}
    if cycled is not None:
        psnr = restoration_metrics.psnr(jnp.asarray(to_pixels(cycled)), input_pixels)
        per_image["cycle_psnr"] = np.minimum(np.asarray(psnr, np.float64), MAX_PSNR)
    samples = ScoredSamples(np.asarray(translated, np.float32), per_image, None, mesh)
    # The Inception metrics compare with domain B: its evaluation images (eval.num_reference of them; 0: all).
    reference = ml_collections.ConfigDict(config.to_dict())
    reference.data = evaluation_data_config(config, "b")
    reference.eval.split = reference.data.split
    scores: dict[str, float] = {}
    for metric in config.eval.metrics:
        scores.update(METRICS.get(metric)(samples, reference))
    extractor = inception_metrics.extractor_used(samples)
    reference_set = reference.data.path if reference.data.name in ("folder", "npz") else reference.data.split
    protocol = {"inputs": name, "direction": "a2b", "reference": f"domain b: {reference.data.name} {reference_set}"}
    if extractor is not None:
        protocol |= inception_metrics.protocol(extractor)
    return Evaluation(agree_across_processes(scores), protocol)


# ---------------------------------------------------------------------------------------------------- building


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@TASKS.register("cyclegan")
def build_cyclegan(config: ml_collections.ConfigDict) -> CycleGan:
    """The CycleGAN a validated config describes; ConfigError for what only this task can check."""
    model, objective = config.model, config.objective
    _check(
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
    _check(
        side % multiple == 0,
        f"model {model.name!r} takes images whose sides are multiples of {multiple}: --config.model.resolution={side}",
    )
    for name in ("adversarial_weight", "cycle_weight", "identity_weight"):
        _check(objective[name] >= 0, f"--config.objective.{name} must be 0 (off) or positive; got {objective[name]}")
    _check(
        not objective.identity_weight or channels["a"] == channels["b"],
        f"the identity loss translates images of each domain as if from the other, so both need as many channels; "
        f"A has {channels['a']} and B {channels['b']}: set --config.objective.identity_weight=0",
    )
    _check(objective.pool_size >= 0, f"--config.objective.pool_size must be >= 0; got {objective.pool_size}")
    _check(
        not config.augment.policy,
        "--config.augment.policy augments a GAN discriminator's inputs, which cyclegan runs do not do: set "
        "--config.augment.policy='()' (augment the data with --config.data.a.flip_rotate)",
    )
    _check(config.optim.d_steps == 1, f"--config.optim.d_steps must be 1 for cyclegan runs; got {config.optim.d_steps}")
    g_optimizer, d_optimizer = make_optimizers(config)
    discriminators = {
        domain: build_patch_discriminator(model, channels=channels[domain], condition_channels=0) for domain in DOMAINS
    }
    return CycleGan(
        a2b=generators["a2b"],
        b2a=generators["b2a"],
        discriminator_a=discriminators["a"],
        discriminator_b=discriminators["b"],
        shape_a=(side, side, channels["a"]),
        shape_b=(side, side, channels["b"]),
        loss=LOSSES.get(config.loss),
        adversarial_weight=float(objective.adversarial_weight),
        cycle_weight=float(objective.cycle_weight),
        identity_weight=float(objective.identity_weight * objective.cycle_weight),
        pool_size=objective.pool_size,
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
        penalties=tuple((name, float(weight)) for name, weight in config.penalties.items() if weight),
        regularization_interval=config.penalty_interval,
        ema_decay=config.ema.decay,
        ema_rampup=config.ema.rampup,
    )
