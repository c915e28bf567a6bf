"""A discriminator and everything that trains it: the adversarial loss, its optimizer and its penalties, shared by
every task that has one (the GAN, image2image's conditional PatchGAN, CycleGAN's two, the VAE-GAN's).

`Adversary.update` is one update of a discriminator on real and generated inputs exactly as it sees them
(augmented, conditioned); `Adversary.generator_loss` is the generator's side of the loss against it. D advances its
own state (spectral-norm power iteration, batch statistics) on the real batch (`train=True`); its other evaluations
use that state as it stands (`train=False`), so within an update every evaluation of D is the same function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import ml_collections
import optax
from flax import linen as nn

from ganjax.losses import LOSSES, LossPair
from ganjax.penalties import PENALTIES, Inputs
from ganjax.state import NetworkState, PyTree, init_network
from ganjax.updates import ONE_DEVICE, Layout, Metrics, apply_network, health, update_network

LossFn = Callable[[jax.Array, jax.Array], LossPair]


def penalties_from_config(config: ml_collections.ConfigDict) -> tuple[tuple[str, float | jax.Array], ...]:
    """(name, weight) of each penalty `config.penalties` turns on: a weight of 0 turns a penalty off; a traced
    weight (a sweep member's: ganjax/sweep/members.py) is on."""
    return tuple(
        (name, weight if isinstance(weight, jax.Array) else float(weight))
        for name, weight in config.penalties.items()
        if isinstance(weight, jax.Array) or weight
    )


@dataclasses.dataclass(frozen=True)
class Adversary:
    """A discriminator with its loss, optimizer and penalties.

    Attributes:
      module: the discriminator: (images (B, H, W, C), labels or condition, train=...) -> logits ((B,) or patch
        logits (B, H', W')).
      loss: (real_logits, fake_logits) -> (d_loss, g_loss) (ganjax/losses.py).
      optimizer: its Optax transformation.
      penalties: (name, weight) of each penalty in use (ganjax/penalties.py).
      regularization_interval: lazy regularisation: the penalties apply on every this many steps, their weights
        multiplied by it.
    """

    module: nn.Module
    loss: LossFn
    optimizer: optax.GradientTransformation
    penalties: tuple[tuple[str, float | jax.Array], ...] = ()
    regularization_interval: int = 1

    @classmethod
    def from_config(
        cls, config: ml_collections.ConfigDict, module: nn.Module, optimizer: optax.GradientTransformation
    ) -> Adversary:
        """`module` trained with `config.loss` (a registered name, or a sweep's `losses.switched_loss`),
        `config.penalties` and `config.penalty_interval`."""
        return cls(
            module=module,
            loss=config.loss if callable(config.loss) else LOSSES.get(config.loss),
            optimizer=optimizer,
            penalties=penalties_from_config(config),
            regularization_interval=config.penalty_interval,
        )

    @property
    def penalty_interval(self) -> int:
        """The steps between regularised ones: 1 when every step is the same program."""
        return self.regularization_interval if self.penalties else 1

    def init(self, key: jax.Array, *inputs: jax.Array | None) -> NetworkState:
        """The discriminator's state at step 0; `inputs` are examples of its arguments."""
        return init_network(self.module, self.optimizer, key, *inputs)

    def logits(self, d: NetworkState, inputs: Inputs, layout: Layout = ONE_DEVICE) -> jax.Array:
        """D's logits on `inputs` in inference mode, differentiable in the inputs."""
        return apply_network(self.module, layout.gather(d.params), d.collections, *inputs, train=False)[0]

    def generator_loss(self, d: NetworkState, real: Inputs, fake: Inputs, layout: Layout = ONE_DEVICE) -> jax.Array:
        """The generator's side of the loss, D applied as it stands. Only relativistic losses read the real logits;
        for the others XLA drops that pass."""
        return self.loss(self.logits(d, real, layout), self.logits(d, fake, layout))[1]

    def objective(
        self, params: PyTree, collections: PyTree, real: Inputs, fake: Inputs, key: jax.Array, *, regularize: bool
    ) -> tuple[jax.Array, tuple[PyTree, Metrics, jax.Array]]:
        """D's objective: the adversarial loss (its D side) plus each penalty times its weight.

        Returns:
          (total, (updated collections, metrics: the loss, each penalty unweighted, mean logits and the share of
          real inputs scored positive; the real logits)).
        """
        real_logits, collections = apply_network(self.module, params, collections, *real, train=True)

        def bound(images: jax.Array, labels: jax.Array | None) -> jax.Array:
            return apply_network(self.module, params, collections, images, labels, train=False)[0]

        fake_logits = bound(*fake)
        d_loss, _ = self.loss(real_logits, fake_logits)
        penalties = self.penalties if regularize else ()
        values = {
            name: PENALTIES.get(name)(bound, real, fake, jax.random.fold_in(key, index))
            for index, (name, _) in enumerate(penalties)
        }
        total = d_loss + sum(weight * self.penalty_interval * values[name] for name, weight in penalties)
        metrics = {
            "loss": d_loss,
            **values,
            "real_logit": real_logits.mean(),
            "fake_logit": fake_logits.mean(),
            "real_positive": (real_logits > 0).mean(),
        }
        return total, (collections, metrics, real_logits)

    def update(
        self,
        d: NetworkState,
        real: Inputs,
        fake: Inputs,
        key: jax.Array,
        *,
        regularize: bool,
        layout: Layout = ONE_DEVICE,
        prefix: str = "d",
    ) -> tuple[NetworkState, Metrics, jax.Array]:
        """One update of the discriminator on `objective`; `layout` gathers the parameters where D is applied.

        Returns:
          (the updated network, its metrics named `<prefix>_<metric>`, with gradient and parameter norms and the
          non-finite flag; the real logits).
        """

        def objective(params):
            return self.objective(layout.gather(params), d.collections, real, fake, key, regularize=regularize)

        (total, (collections, metrics, real_logits)), grads = jax.value_and_grad(objective, has_aux=True)(d.params)
        d = update_network(self.optimizer, d.replace(collections=collections), grads)
        named = {f"{prefix}_{name}": value for name, value in metrics.items()}
        return d, {**named, **health(prefix, total, grads, d.params)}, real_logits
