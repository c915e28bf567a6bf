"""The explicit training state (one pytree) and the static description of the GAN that it belongs to.

Everything that changes during training lives in `TrainState`: both networks' parameters and mutable Flax
collections (batch statistics), both Optax states, the EMA generator, the step and the RNG key. It is created by
`init_state`, returned by the train step, and saved whole in every checkpoint. Everything that does not change (the
Flax modules, the optimizers, the loss) lives in `Gan`, which is rebuilt from the config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from ganjax.losses import LOSSES, LossPair
from ganjax.models import Networks, build_networks

PyTree = Any


@flax.struct.dataclass
class NetworkState:
    """One network's share of the training state.

    Attributes:
      params: trainable parameters (the Flax "params" collection).
      collections: the network's other mutable Flax collections, such as {"batch_stats": ...}; {} when it has none.
      opt_state: its Optax optimizer state.
    """

    params: PyTree
    collections: PyTree
    opt_state: optax.OptState


@flax.struct.dataclass
class TrainState:
    """All of training's state.

    Attributes:
      step: int32 scalar, the number of completed training steps.
      rng: uint32[2] base PRNG key; step s draws its randomness from fold_in(rng, s), so a resumed run draws
        exactly what an uninterrupted one would.
      generator: the generator's parameters, collections and optimizer state.
      discriminator: the discriminator's parameters, collections and optimizer state.
      ema_params: exponential moving average of the generator's parameters, used for sampling and evaluation
        (together with `generator.collections`).
    """

    step: jax.Array
    rng: jax.Array
    generator: NetworkState
    discriminator: NetworkState
    ema_params: PyTree


@dataclasses.dataclass(frozen=True)
class Gan:
    """The static part of a GAN: what the train step needs besides the state, rebuilt from the config.

    Attributes:
      networks: the generator and discriminator modules and the shapes connecting them.
      loss: (real_logits (B,), fake_logits (B,)) -> (d_loss, g_loss); see ganjax/losses.py.
      g_optimizer, d_optimizer: the Optax transformations for each network.
      d_steps: discriminator updates per generator update; each uses its own real batch.
      ema_decay: per-step decay of the generator's parameter EMA.
    """

    networks: Networks
    loss: Callable[[jax.Array, jax.Array], LossPair]
    g_optimizer: optax.GradientTransformation
    d_optimizer: optax.GradientTransformation
    d_steps: int
    ema_decay: float


def build_gan(config: ml_collections.ConfigDict) -> Gan:
    """Builds the static GAN from a validated config (see ganjax/config.py)."""
    optim = config.optim
    return Gan(
        networks=build_networks(config.model),
        loss=LOSSES.get(config.loss),
        g_optimizer=optax.adam(optim.g_lr, b1=optim.b1, b2=optim.b2),
        d_optimizer=optax.adam(optim.d_lr, b1=optim.b1, b2=optim.b2),
        d_steps=optim.d_steps,
        ema_decay=config.ema.decay,
    )


def _init_network(module, optimizer, key: jax.Array, example: jax.Array) -> NetworkState:
    variables = dict(module.init(key, example, train=False))
    params = variables.pop("params")
    return NetworkState(params=params, collections=variables, opt_state=optimizer.init(params))


def init_state(gan: Gan, seed: int | jax.Array) -> TrainState:
    """The state at step 0 for an integer seed. Pure: jit it with `out_shardings` to create it already sharded."""
    g_key, d_key, rng = jax.random.split(jax.random.PRNGKey(seed), 3)
    networks = gan.networks
    generator = _init_network(
        networks.generator, gan.g_optimizer, g_key, jnp.zeros((1, networks.latent_dim), jnp.float32)
    )
    discriminator = _init_network(
        networks.discriminator, gan.d_optimizer, d_key, jnp.zeros((1, *networks.sample_shape), jnp.float32)
    )
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        rng=rng,
        generator=generator,
        discriminator=discriminator,
        ema_params=jax.tree.map(jnp.copy, generator.params),  # its own buffers: the state is donated whole
    )
