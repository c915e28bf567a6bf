"""The pieces every task's train step is built from: applying a network to its state, one optimizer update, the
health metrics the loop checks, the parameters' EMA and where the step's arrays live on the mesh.

A step is a pure function (state, batch) -> (state, metrics) written for the global batch (ganjax/compile.py jits
it over the mesh); it composes these with its task's own objective, and a discriminator's update from
ganjax/adversarial.py.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import linen as nn

from ganjax.state import NetworkState, PyTree

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def apply_network(
    module: nn.Module,
    params: PyTree,
    collections: PyTree,
    *inputs: jax.Array | None,
    train: bool,
    rngs: dict[str, jax.Array] | None = None,
) -> tuple[jax.Array, PyTree]:
    """Applies a network with its parameters and collections; returns (output, updated collections). `rngs`: the
    random streams a network draws from (StyleGAN2's generator draws its per-pixel noise from "noise")."""
    variables = {"params": params, **collections}
    return module.apply(variables, *inputs, train=train, mutable=list(collections), rngs=rngs)


def update_network(optimizer: optax.GradientTransformation, net: NetworkState, grads: PyTree) -> NetworkState:
    """The network after one optimizer update with `grads` (a tree like its parameters)."""
    updates, opt_state = optimizer.update(grads, net.opt_state, net.params)
    return net.replace(params=optax.apply_updates(net.params, updates), opt_state=opt_state)


def health(prefix: str, loss: jax.Array, grads: PyTree, params: PyTree) -> Metrics:
    """Gradient and parameter norms, and a flag that is 1 when the loss or either norm is not finite; the loop stops
    a run whose `g_nonfinite` or `d_nonfinite` is set (ganjax/train.py)."""
    grad_norm, param_norm = optax.tree.norm(grads), optax.tree.norm(params)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm)
    return {
        f"{prefix}_grad_norm": grad_norm,
        f"{prefix}_param_norm": param_norm,
        f"{prefix}_nonfinite": (~finite).astype(jnp.int32),
    }


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a step's arrays live on the mesh (ganjax/compile.py fills it in; the default is one device).

    Attributes:
      samples: how an array of per-sample values (leading axis B) is laid out: arrays a step generates (latents,
        labels) are constrained to it so that they are produced where they are used. None: left to XLA.
      params: with parameters split over devices (FSDP), how a network's parameters are laid out where it is
        applied: replicated, so that XLA gathers each parameter for its layer (and reduce-scatters its gradient)
        instead of moving activations. None: parameters are used where they are.
    """

    samples: jax.sharding.Sharding | None = None
    params: jax.sharding.Sharding | None = None

    def constrain(self, x: jax.Array) -> jax.Array:
        """`x` (B, ...) laid out like the batch's samples."""
        return x if self.samples is None else jax.lax.with_sharding_constraint(x, self.samples)

    def gather(self, params: PyTree) -> PyTree:
        """A network's parameters laid out where it is applied."""
        return params if self.params is None else jax.lax.with_sharding_constraint(params, self.params)


ONE_DEVICE = Layout()  # a step's arrays where XLA puts them: the default for a step outside the trainer


@dataclasses.dataclass(frozen=True)
class Ema:
    """The exponential moving average of parameters that sampling and evaluation use.

    Attributes:
      decay: per-step decay (0: the EMA is the parameters themselves).
      rampup: 0, or the EMA's half-life is limited to this fraction of the steps so far (StyleGAN2-ADA), so that
        early in training the EMA follows the network instead of remembering its initialisation.
    """

    decay: float = 0.999
    rampup: float = 0.0

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> Ema:
        return cls(decay=config.ema.decay, rampup=config.ema.rampup)

    def decay_at(self, step: jax.Array) -> jax.Array:
        """The decay for the update that completes step `step` + 1 (float32 scalar): with a ramp-up r the half-life
        is at most r times the steps done, decay <= 0.5 ** (1 / (r * steps))."""
        decay = jnp.float32(self.decay)
        if self.rampup:
            steps_done = (step + 1).astype(jnp.float32)
            decay = jnp.minimum(decay, 0.5 ** (1.0 / (self.rampup * steps_done)))
        return decay

    def update(self, ema: dict[str, PyTree], networks: dict[str, NetworkState], step: jax.Array) -> dict[str, PyTree]:
        """The EMA of each network in `ema` after the update that completes step `step` + 1."""
        step_size = 1.0 - self.decay_at(step)
        return {
            name: optax.incremental_update(networks[name].params, average, step_size=step_size)
            for name, average in ema.items()
        }
