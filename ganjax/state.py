"""The explicit training state (one pytree) and the static description of the GAN that it belongs to.

Everything that changes during training lives in `TrainState`: both networks' parameters and mutable Flax
collections (batch statistics, spectral-norm vectors), both Optax states, the EMA generator, the step, the RNG key and
the augmentation probability. Every task (ganjax/tasks/) keeps its state in a `TrainState`: a GAN's is created by
`init_state` (`create_state` lays any task's out over a mesh), returned by the train step, and saved whole in every
checkpoint. Everything that does not change (the Flax modules, the optimizers, the loss, the penalties) lives in the
task's static description (`Gan` for a GAN), which is rebuilt from the config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import linen as nn

from ganjax import parallel
from ganjax.losses import LOSSES, LossPair
from ganjax.models import Networks, build_networks
from ganjax.optim import make_optimizers

if TYPE_CHECKING:
    from ganjax.tasks import Task

PyTree = Any


@flax.struct.dataclass
class NetworkState:
    """One network's share of the training state.

    Attributes:
      params: trainable parameters (the Flax "params" collection).
      collections: the network's other mutable Flax collections, such as {"batch_stats": ...} (batch-norm statistics
        and spectral-norm vectors); {} when it has none.
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
      augment_p: float32 scalar, the probability with which each augmentation is applied to each sample D sees;
        fixed, or adapted by ADA.
    """

    step: jax.Array
    rng: jax.Array
    generator: NetworkState
    discriminator: NetworkState
    ema_params: PyTree
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


@dataclasses.dataclass(frozen=True)
class Gan:
    """The static part of a GAN: what the train step needs besides the state, rebuilt from the config.

    Attributes:
      networks: the generator and discriminator modules and the shapes connecting them.
      loss: (real_logits (B,), fake_logits (B,)) -> (d_loss, g_loss); see ganjax/losses.py.
      g_optimizer, d_optimizer: the Optax transformations for each network.
      d_steps: discriminator updates per generator update; each uses its own real batch.
      penalties: (name, weight) of each discriminator penalty in use (ganjax/penalties.py).
      penalty_interval: lazy regularisation: penalties on every this many steps, their weights multiplied by it.
      augmentation: what D's inputs go through.
      ema_decay: per-step decay of the generator's parameter EMA.
      ema_rampup: 0, or the EMA's half-life is limited to this fraction of the steps so far (StyleGAN2-ADA), so that
        early in training the EMA follows the generator instead of remembering its initialisation.
    """

    networks: Networks
    loss: Callable[[jax.Array, jax.Array], LossPair]
    g_optimizer: optax.GradientTransformation
    d_optimizer: optax.GradientTransformation
    d_steps: int
    penalties: tuple[tuple[str, float], ...] = ()
    penalty_interval: int = 1
    augmentation: Augmentation = Augmentation()
    ema_decay: float = 0.999
    ema_rampup: float = 0.0


def build_gan(config: ml_collections.ConfigDict) -> Gan:
    """Builds the static GAN from a validated config (see ganjax/config.py)."""
    g_optimizer, d_optimizer = make_optimizers(config)
    augment_config = config.augment
    return Gan(
        networks=build_networks(config.model),
        loss=LOSSES.get(config.loss),
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
        d_steps=config.optim.d_steps,
        # A weight of 0 turns a penalty off. A traced weight (a sweep member's: ganjax/sweep/members.py) is on.
        penalties=tuple(
            (name, weight if isinstance(weight, jax.Array) else float(weight))
            for name, weight in config.penalties.items()
            if isinstance(weight, jax.Array) or weight
        ),
        penalty_interval=config.penalty_interval,
        augmentation=Augmentation(
            policy=tuple(augment_config.policy),
            initial_p=augment_config.p,
            ada_target=augment_config.ada_target,
            ada_speed_images=augment_config.ada_kimg * 1000.0,
        ),
        ema_decay=config.ema.decay,
        ema_rampup=config.ema.rampup,
    )


def init_network(module: nn.Module, optimizer: optax.GradientTransformation, key: jax.Array, *inputs) -> NetworkState:
    """A network's state at initialisation: `module.init(key, *inputs, train=False)` split into parameters and
    other collections, and the optimizer state of the parameters. `inputs` are examples of its arguments."""
    variables = dict(module.init(key, *inputs, train=False))
    params = variables.pop("params")
    return NetworkState(params=params, collections=variables, opt_state=optimizer.init(params))


def init_state(gan: Gan, seed: int | jax.Array) -> TrainState:
    """The state at step 0 for an integer seed. Pure: jit it with `out_shardings` to create it already sharded."""
    g_key, d_key, rng = jax.random.split(jax.random.PRNGKey(seed), 3)
    networks = gan.networks
    labels = jnp.zeros((1,), jnp.int32) if networks.num_classes else None
    z = jnp.zeros((1, networks.latent_dim), jnp.float32)
    generator = init_network(networks.generator, gan.g_optimizer, g_key, z, labels)
    x = jnp.zeros((1, *networks.sample_shape), jnp.float32)
    discriminator = init_network(networks.discriminator, gan.d_optimizer, d_key, x, labels)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        rng=rng,
        generator=generator,
        discriminator=discriminator,
        ema_params=jax.tree.map(jnp.copy, generator.params),  # its own buffers: the state is donated whole
        augment_p=jnp.asarray(gan.augmentation.initial_p, jnp.float32),
    )


def abstract_state(task: Task, seed: int, shardings: TrainState | None = None) -> TrainState:
    """The shapes and dtypes of a task's state (a tree of jax.ShapeDtypeStruct), computed without creating it.

    With `shardings` (a tree like the state) every leaf also carries its sharding: the target a checkpoint restores
    into.
    """
    abstract = jax.eval_shape(task.init_state, seed)
    if shardings is None:
        return abstract
    return jax.tree.map(lambda leaf, sharding: leaf.update(sharding=sharding), abstract, shardings)


def state_shardings(
    task: Task, seed: int, mesh: jax.sharding.Mesh, fsdp_min_size: int = parallel.FSDP_MIN_SIZE
) -> TrainState:
    """Where each leaf of the state lives: a tree like the state, of shardings. Replicated, except that large arrays
    are split over the mesh's fsdp axis when it has one (`parallel.fsdp_spec`)."""
    return jax.tree.map(
        lambda leaf: parallel.state_sharding(mesh, leaf.shape, fsdp_min_size), abstract_state(task, seed)
    )


def create_state(task: Task, seed: int, shardings: TrainState) -> TrainState:
    """The state at step 0, created where `shardings` puts it (no device ever holds an unsharded copy)."""
    return jax.jit(type(task).init_state, static_argnums=0, out_shardings=shardings)(task, seed)
