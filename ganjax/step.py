"""The GAN's train step, a pure function (state, batch) -> (state, metrics) written for the global batch, and how
any task's step is compiled.

`make_train_step(gan)` returns the step un-jitted; the trainer compiles a task's step once with `jax.jit`
(`compile_train_steps`), the state donated and the batch sharded over the mesh's data axis, so the same code runs on
one device or many. One GAN step makes `gan.d_steps` discriminator updates, each on its own real batch, then one
generator update, then updates the augmentation probability (ADA) and the EMA.

Everything D sees goes through the augmentation. D advances its own state (spectral-norm power iteration) once per
discriminator update, on the real batch (`train=True`); its other evaluations in the step use that state as it
stands (`train=False`), so within an update every evaluation of D is the same function.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from ganjax import augment, parallel
from ganjax.penalties import PENALTIES, Inputs
from ganjax.state import Gan, NetworkState, PyTree, TrainState

if TYPE_CHECKING:
    from ganjax.tasks import Task

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
StepFn = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]

log = logging.getLogger(__name__)


def apply_network(
    module: nn.Module, params: PyTree, collections: PyTree, x: jax.Array, labels: jax.Array | None, *, train: bool
) -> tuple[jax.Array, PyTree]:
    """Applies a network with its parameters and collections; returns (output, updated collections)."""
    return module.apply({"params": params, **collections}, x, labels, train=train, mutable=list(collections))


def update(optimizer: optax.GradientTransformation, net: NetworkState, grads: PyTree) -> NetworkState:
    updates, opt_state = optimizer.update(grads, net.opt_state, net.params)
    return net.replace(params=optax.apply_updates(net.params, updates), opt_state=opt_state)


def health(prefix: str, loss: jax.Array, grads: PyTree, params: PyTree) -> Metrics:
    """Gradient and parameter norms, and a flag that is 1 when the loss or either norm is not finite."""
    grad_norm, param_norm = optax.tree.norm(grads), optax.tree.norm(params)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm)
    return {
        f"{prefix}_grad_norm": grad_norm,
        f"{prefix}_param_norm": param_norm,
        f"{prefix}_nonfinite": (~finite).astype(jnp.int32),
    }


def discriminator_objective(
    module: nn.Module,
    loss: Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]],
    penalties: dict[str, Callable],
    weights: dict[str, float],
    params: PyTree,
    collections: PyTree,
    real: Inputs,
    fake: Inputs,
    key: jax.Array,
) -> tuple[jax.Array, tuple[PyTree, jax.Array, dict[str, jax.Array], jax.Array, jax.Array]]:
    """A discriminator's objective on real and generated inputs exactly as it sees them: the adversarial loss (its D
    side) plus each penalty times its weight. `labels` of the inputs are whatever D is conditioned on (classes, or
    an image for a conditional PatchGAN). D advances its own state on the real batch (`train=True`); its other
    evaluations use that state as it stands.

    Returns:
      (total, (updated collections, adversarial loss, each penalty unweighted, real logits, fake logits)).
    """
    real_logits, collections = apply_network(module, params, collections, real.images, real.labels, train=True)

    def bound(images: jax.Array, labels: jax.Array | None) -> jax.Array:
        return apply_network(module, params, collections, images, labels, train=False)[0]

    fake_logits = bound(fake.images, fake.labels)
    d_loss, _ = loss(real_logits, fake_logits)
    values = {
        name: penalty(bound, real, fake, jax.random.fold_in(key, index))
        for index, (name, penalty) in enumerate(penalties.items())
    }
    total = d_loss + sum(weights[name] * value for name, value in values.items())
    return total, (collections, d_loss, values, real_logits, fake_logits)


def logit_metrics(prefix: str, real_logits: jax.Array, fake_logits: jax.Array) -> Metrics:
    """A discriminator's mean logits on real and generated inputs and the share of real inputs it scores positive."""
    return {
        f"{prefix}_real_logit": jnp.mean(real_logits),
        f"{prefix}_fake_logit": jnp.mean(fake_logits),
        f"{prefix}_real_positive": jnp.mean((real_logits > 0).astype(jnp.float32)),
    }


def update_discriminator(
    module: nn.Module,
    optimizer: optax.GradientTransformation,
    loss: Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]],
    penalties: dict[str, Callable],
    weights: dict[str, float],
    d: NetworkState,
    real: Inputs,
    fake: Inputs,
    key: jax.Array,
    gathered: Callable[[PyTree], PyTree] = lambda params: params,
) -> tuple[NetworkState, Metrics, jax.Array]:
    """One update of a discriminator on its `discriminator_objective`. `gathered` lays out the parameters where D is
    applied (FSDP).

    Returns:
      (the updated network, its metrics: loss, each penalty (unweighted), gradient and parameter norms, non-finite
      flag, mean logits and the share of real inputs scored positive; the real logits).
    """

    def objective(params):
        return discriminator_objective(
            module, loss, penalties, weights, gathered(params), d.collections, real, fake, key
        )

    (total, aux), grads = jax.value_and_grad(objective, has_aux=True)(d.params)
    collections, d_loss, values, real_logits, fake_logits = aux
    d = update(optimizer, d.replace(collections=collections), grads)
    metrics = {
        "d_loss": d_loss,
        **{f"d_{name}": value for name, value in values.items()},
        **health("d", total, grads, d.params),
        **logit_metrics("d", real_logits, fake_logits),
    }
    return d, metrics, real_logits


def ema_decay(gan: Gan, step: jax.Array) -> jax.Array:
    """The EMA decay for the update that completes step `step` + 1 (float32 scalar).

    With a ramp-up r the EMA's half-life is at most r times the steps done: decay <= 0.5 ** (1 / (r * steps)).
    """
    decay = jnp.float32(gan.ema_decay)
    if gan.ema_rampup:
        steps_done = (step + 1).astype(jnp.float32)
        decay = jnp.minimum(decay, 0.5 ** (1.0 / (gan.ema_rampup * steps_done)))
    return decay


def make_train_step(
    gan: Gan,
    data_sharding: jax.sharding.Sharding | None = None,
    *,
    regularize: bool = True,
    param_sharding: jax.sharding.Sharding | None = None,
) -> StepFn:
    """The train step for `gan`.

    Args:
      gan: the static GAN (modules, optimizers, loss, penalties, augmentation).
      data_sharding: how a batch of samples or latents (leading axis B) is laid out over devices; generated latents
        and labels are constrained to it so that they are produced where they are used. None on a single device.
      regularize: whether this step applies the penalties (lazy regularisation compiles a step with and one
        without, and the trainer picks by step number).
      param_sharding: with parameters split over devices (FSDP), how a network's parameters are laid out where it
        is applied: replicated, so that XLA gathers each parameter for its layer (and reduce-scatters its gradient)
        instead of moving activations. None: parameters are used where they are.

    Returns:
      step(state, batch) -> (state, metrics). `batch["image"]` holds the real samples, (d_steps, B, *sample_shape)
      float32 (images in [-1, 1]); `batch["label"]`, (d_steps, B) int32, their classes when the networks are
      conditional. The metrics are scalars: both losses, each penalty (unweighted), D's mean logit on real and
      generated samples, the share of real samples D scores positive, gradient and parameter norms and
      non-finite flags of both networks, and the augmentation probability.
    """
    generator, discriminator = gan.networks.generator, gan.networks.discriminator
    num_classes, policy = gan.networks.num_classes, gan.augmentation.policy
    weights = {name: weight * gan.penalty_interval for name, weight in gan.penalties} if regularize else {}
    penalties = {name: PENALTIES.get(name) for name in weights}

    def constrain(x: jax.Array) -> jax.Array:
        return x if data_sharding is None else jax.lax.with_sharding_constraint(x, data_sharding)

    def gathered(params: PyTree) -> PyTree:
        return params if param_sharding is None else jax.lax.with_sharding_constraint(params, param_sharding)

    def generator_inputs(key: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array | None]:
        """Generator inputs: latents (B, latent_dim) and, when conditional, uniformly drawn labels (B,)."""
        z_key, label_key = jax.random.split(key)
        z = constrain(jax.random.normal(z_key, (batch_size, gan.networks.latent_dim), jnp.float32))
        if not num_classes:
            return z, None
        return z, constrain(jax.random.randint(label_key, (batch_size,), 0, num_classes, jnp.int32))

    def augmented(key: jax.Array, images: jax.Array, p: jax.Array) -> jax.Array:
        return augment.augment(key, images, policy, p) if policy else images

    def discriminator_update(d: NetworkState, g: NetworkState, real: Inputs, key: jax.Array, p: jax.Array):
        latent_key, real_key, fake_key, penalty_key = jax.random.split(key, 4)
        z, fake_labels = generator_inputs(latent_key, real.images.shape[0])
        fake_images, g_collections = apply_network(
            generator, gathered(g.params), g.collections, z, fake_labels, train=True
        )
        fake = Inputs(augmented(fake_key, jax.lax.stop_gradient(fake_images), p), fake_labels)
        real = Inputs(augmented(real_key, real.images, p), real.labels)

        d, metrics, real_logits = update_discriminator(
            discriminator, gan.d_optimizer, gan.loss, penalties, weights, d, real, fake, penalty_key, gathered
        )
        return d, g_collections, metrics, real_logits

    def generator_update(g: NetworkState, d: NetworkState, real: Inputs, key: jax.Array, p: jax.Array):
        latent_key, real_key, fake_key = jax.random.split(key, 3)
        z, fake_labels = generator_inputs(latent_key, real.images.shape[0])
        # Only relativistic objectives read the real logits; for the others XLA drops this pass.
        real_images = augmented(real_key, real.images, p)
        d_params = gathered(d.params)

        def loss_fn(params):
            fake, collections = apply_network(generator, gathered(params), g.collections, z, fake_labels, train=True)
            fake_logits, _ = apply_network(
                discriminator, d_params, d.collections, augmented(fake_key, fake, p), fake_labels, train=False
            )
            real_logits, _ = apply_network(
                discriminator, d_params, d.collections, real_images, real.labels, train=False
            )
            _, g_loss = gan.loss(real_logits, fake_logits)
            return g_loss, collections

        (loss, collections), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
        g = update(gan.g_optimizer, g.replace(collections=collections), grads)
        return g, {"g_loss": loss, **health("g", loss, grads, g.params)}

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        reals = batch["image"]
        labels = batch["label"] if num_classes else [None] * gan.d_steps
        keys = jax.random.split(jax.random.fold_in(state.rng, state.step), gan.d_steps + 1)
        p = state.augment_p
        # d_steps is small and static, so the loop is unrolled: inside a lax.scan body XLA:CPU's convolutions lose
        # their fast paths (benchmarks/RESULTS.md, "DCGAN training step, ganjax vs PyTorch").
        d, g_collections, real_logits = state.discriminator, state.generator.collections, []
        for images, image_labels, key in zip(reals, labels, keys[:-1], strict=True):
            d, g_collections, d_metrics, logits = discriminator_update(
                d, state.generator.replace(collections=g_collections), Inputs(images, image_labels), key, p
            )
            real_logits.append(logits)
        last_real = Inputs(reals[-1], labels[-1])
        g, g_metrics = generator_update(state.generator.replace(collections=g_collections), d, last_real, keys[-1], p)
        if gan.augmentation.ada_target is not None:
            p = augment.ada_probability(
                p,
                jnp.stack(real_logits),
                target=gan.augmentation.ada_target,
                images_seen=reals.shape[0] * reals.shape[1],
                speed_images=gan.augmentation.ada_speed_images,
            )
        ema_params = optax.incremental_update(g.params, state.ema_params, step_size=1.0 - ema_decay(gan, state.step))
        new_state = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema_params, augment_p=p)
        return new_state, {**d_metrics, **g_metrics, "augment_p": p}

    return step


def jit_train_step(
    task: Task, mesh: jax.sharding.Mesh, shardings: TrainState, *, regularize: bool = True
) -> jax.stages.Wrapped:
    """Any task's train step jitted for `mesh`: state laid out by `shardings` and donated, batch split over the
    batch axes. With an fsdp axis, each network's parameters are gathered where the network is applied."""
    gathered = parallel.replicated(mesh) if mesh.shape.get(parallel.FSDP_AXIS, 1) > 1 else None
    return jax.jit(
        task.make_step(parallel.sample_sharding(mesh), regularize=regularize, param_sharding=gathered),
        in_shardings=(shardings, parallel.step_batch_sharding(mesh)),
        out_shardings=(shardings, parallel.replicated(mesh)),
        donate_argnums=0,
    )


def batch_spec(gan: Gan, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
    """The global batch a train step takes: real images (d_steps, B, *sample_shape) float32, and labels
    (d_steps, B) int32 when the networks are conditional."""
    leading = (gan.d_steps, batch_size)
    spec = {"image": jax.ShapeDtypeStruct((*leading, *gan.networks.sample_shape), jnp.float32, sharding=sharding)}
    if gan.networks.num_classes:
        spec["label"] = jax.ShapeDtypeStruct(leading, jnp.int32, sharding=sharding)
    return spec


def compile_train_steps(
    task: Task, mesh: jax.sharding.Mesh, shardings: TrainState, state: TrainState, batch: dict
) -> dict[bool, jax.stages.Compiled]:
    """A task's train step compiled ahead of time, keyed by whether it applies the penalties.

    With lazy regularisation (`task.penalty_interval` > 1) True and False are two programs, with and without the
    penalties; otherwise both keys hold the one program. Logs the compile time and the per-device memory.
    """
    lazy = task.penalty_interval > 1
    started = time.perf_counter()
    regularized = jit_train_step(task, mesh, shardings, regularize=True).lower(state, batch).compile()
    plain = (
        jit_train_step(task, mesh, shardings, regularize=False).lower(state, batch).compile() if lazy else regularized
    )
    log.info("train step compiled in %.1f s%s", time.perf_counter() - started, memory_usage(regularized))
    return {True: regularized, False: plain}


def memory_usage(compiled: jax.stages.Compiled) -> str:
    """A compiled program's memory per device, as the end of a log line (arguments and temporaries, MiB); "" when
    XLA gives no figures."""
    memory = compiled.memory_analysis()
    if memory is None:
        return ""
    return (
        f"; per device: {memory.argument_size_in_bytes / 2**20:.1f} MiB arguments, "
        f"{memory.temp_size_in_bytes / 2**20:.1f} MiB temporaries"
    )
