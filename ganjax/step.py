"""The train step: a pure function (state, batch) -> (state, metrics), written for the global batch.

`make_train_step(gan)` returns the step un-jitted; the trainer compiles it once with `jax.jit`, the state donated and
the batch sharded over the mesh's data axis, so the same code runs on one device or many. One step makes
`gan.d_steps` discriminator updates, each on its own real batch, then one generator update, then updates the EMA.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from ganjax.state import Gan, NetworkState, PyTree, TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
StepFn = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]


def apply_network(
    module: nn.Module, params: PyTree, collections: PyTree, x: jax.Array, *, train: bool
) -> tuple[jax.Array, PyTree]:
    """Applies a network with its parameters and collections; returns (output, updated collections)."""
    return module.apply({"params": params, **collections}, x, train=train, mutable=list(collections))


def _update(optimizer: optax.GradientTransformation, net: NetworkState, grads: PyTree) -> NetworkState:
    updates, opt_state = optimizer.update(grads, net.opt_state, net.params)
    return net.replace(params=optax.apply_updates(net.params, updates), opt_state=opt_state)


def _health(prefix: str, loss: jax.Array, grads: PyTree, params: PyTree) -> Metrics:
    """Loss, gradient and parameter norms, and a flag that is 1 when any of them is not finite."""
    grad_norm, param_norm = optax.tree.norm(grads), optax.tree.norm(params)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm)
    return {
        f"{prefix}_loss": loss,
        f"{prefix}_grad_norm": grad_norm,
        f"{prefix}_param_norm": param_norm,
        f"{prefix}_nonfinite": (~finite).astype(jnp.int32),
    }


def make_train_step(gan: Gan, data_sharding: jax.sharding.Sharding | None = None) -> StepFn:
    """The train step for `gan`.

    Args:
      gan: the static GAN (modules, optimizers, loss).
      data_sharding: how a batch of samples or latents (leading axis B) is laid out over devices; generated latents
        are constrained to it so that they are produced where they are used. None on a single device.

    Returns:
      step(state, batch) -> (state, metrics). `batch["image"]` holds the real samples, shape
      (d_steps, B, *sample_shape), float32 (images in [-1, 1]). The metrics are float32/int32 scalars: losses, D's
      mean logit on real and generated samples, gradient and parameter norms and non-finite flags of both networks.
    """
    generator, discriminator = gan.networks.generator, gan.networks.discriminator

    def latents(key: jax.Array, batch_size: int) -> jax.Array:
        z = jax.random.normal(key, (batch_size, gan.networks.latent_dim), jnp.float32)
        return z if data_sharding is None else jax.lax.with_sharding_constraint(z, data_sharding)

    def discriminator_update(d: NetworkState, g: NetworkState, real: jax.Array, key: jax.Array):
        fake, g_collections = apply_network(generator, g.params, g.collections, latents(key, real.shape[0]), train=True)
        fake = jax.lax.stop_gradient(fake)

        def loss_fn(params):
            real_logits, collections = apply_network(discriminator, params, d.collections, real, train=True)
            fake_logits, _ = apply_network(discriminator, params, collections, fake, train=True)
            d_loss, _ = gan.loss(real_logits, fake_logits)
            return d_loss, (collections, real_logits, fake_logits)

        (loss, (collections, real_logits, fake_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
        d = _update(gan.d_optimizer, d.replace(collections=collections), grads)
        metrics = {
            **_health("d", loss, grads, d.params),
            "d_real_logit": jnp.mean(real_logits),
            "d_fake_logit": jnp.mean(fake_logits),
        }
        return d, g_collections, metrics

    def generator_update(g: NetworkState, d: NetworkState, real: jax.Array, key: jax.Array):
        z = latents(key, real.shape[0])

        def loss_fn(params):
            fake, collections = apply_network(generator, params, g.collections, z, train=True)
            fake_logits, _ = apply_network(discriminator, d.params, d.collections, fake, train=True)
            # Only relativistic objectives read the real logits; for the others XLA drops this pass.
            real_logits, _ = apply_network(discriminator, d.params, d.collections, real, train=True)
            _, g_loss = gan.loss(real_logits, fake_logits)
            return g_loss, collections

        (loss, collections), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
        g = _update(gan.g_optimizer, g.replace(collections=collections), grads)
        return g, _health("g", loss, grads, g.params)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        reals = batch["image"]
        keys = jax.random.split(jax.random.fold_in(state.rng, state.step), gan.d_steps + 1)

        # d_steps is small and static, so the loop is unrolled: inside a lax.scan body XLA:CPU's convolutions ran
        # about 9x slower (benchmarks/RESULTS.md).
        d, g_collections = state.discriminator, state.generator.collections
        for real, key in zip(reals, keys[:-1], strict=True):
            d, g_collections, d_metrics = discriminator_update(
                d, state.generator.replace(collections=g_collections), real, key
            )
        g, g_metrics = generator_update(state.generator.replace(collections=g_collections), d, reals[-1], keys[-1])
        ema_params = optax.incremental_update(g.params, state.ema_params, step_size=1.0 - gan.ema_decay)
        new_state = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema_params)
        return new_state, {**d_metrics, **g_metrics}

    return step
