"""The explicit training state: one pytree that holds everything that changes during training.

A task's state names its networks: a GAN's `generator` and `discriminator`, a restorer's `restorer` (and
`discriminator` when it is trained adversarially), a VAE's `vae`, CycleGAN's `a2b`, `b2a`, `d_a` and `d_b`. Each
network carries its parameters, its other mutable Flax collections and its Optax state; the EMA weights are kept for
the networks that sampling and evaluation use. A task whose step carries more (a GAN's augmentation probability,
CycleGAN's pools of generated images) subclasses `TrainState`. Everything that does not change (modules,
optimizers, losses) lives in the task (ganjax/tasks/), rebuilt from the config.

Checkpoints record `STATE_LAYOUT`; one written with another layout is refused in one line (ganjax/checkpoint.py).
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

PyTree = Any

# The version of this module's state layout, recorded in every checkpoint. 1: networks as `generator` and
# `discriminator` fields with `ema_params` and `augment_p` (ganjax before the state was named by its networks).
STATE_LAYOUT = 2


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
      networks: each network's state, by the name its task gives it.
      ema: the exponential moving average of the parameters of the networks that sampling and evaluation use, by
        name (a subset of `networks`); they are applied with the network's own `collections`.
    """

    step: jax.Array
    rng: jax.Array
    networks: dict[str, NetworkState]
    ema: dict[str, PyTree]

    def ema_variables(self, name: str) -> PyTree:
        """The variables of network `name` with its EMA parameters: what `module.apply` takes for inference."""
        return {"params": self.ema[name], **self.networks[name].collections}


def init_network(module: nn.Module, optimizer: optax.GradientTransformation, key: jax.Array, *inputs) -> NetworkState:
    """A network's state at initialisation: `module.init(key, *inputs, train=False)` split into parameters and
    other collections, and the optimizer state of the parameters. `inputs` are examples of its arguments."""
    variables = dict(module.init(key, *inputs, train=False))
    params = variables.pop("params")
    return NetworkState(params=params, collections=variables, opt_state=optimizer.init(params))


def initial_ema(networks: dict[str, NetworkState], names: tuple[str, ...]) -> dict[str, PyTree]:
    """The EMA at step 0 of the networks `names`: copies of their parameters, in buffers of their own (the state is
    donated whole to the step)."""
    return {name: jax.tree.map(jnp.copy, networks[name].params) for name in names}


def parameter_counts(state: TrainState) -> dict[str, int]:
    """The number of trainable parameters of each network, by name."""
    return {name: sum(leaf.size for leaf in jax.tree.leaves(net.params)) for name, net in state.networks.items()}
