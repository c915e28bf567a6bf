"""Adversarial objectives: pure functions of discriminator logits, chosen by name.

Every objective takes the discriminator's logits on a real batch and on a generated batch, each of shape (B,) in
float32, and returns the pair (discriminator loss, generator loss), two scalars that each network minimises. Writing
D(x) = sigmoid(logit), the classic formulas are rewritten on logits with `softplus(t) = log(1 + e^t)`, which stays
finite where log(sigmoid) would not:

    -log D(x)       = softplus(-real)
    -log(1 - D(x))  = softplus(real)

The trainer uses the generator loss only in the generator's update and the discriminator loss only in the
discriminator's; a term that an update does not use costs nothing (XLA removes it from the compiled step).

To add an objective, write it here and register it; `--config.loss=<name>` selects it and the shared test in
tests/test_losses.py checks it automatically.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ganjax.registry import Registry

LossPair = tuple[jax.Array, jax.Array]
LOSSES: Registry = Registry("loss", config_key="loss")


@LOSSES.register("non_saturating")
def non_saturating(real: jax.Array, fake: jax.Array) -> LossPair:
    """Goodfellow et al. (2014), with the generator's -log D(G(z)) ("non-saturating") objective.

    L_D = -[log D(x) + log(1 - D(G(z)))],  L_G = -log D(G(z)).
    """
    d_loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    g_loss = jnp.mean(jax.nn.softplus(-fake))
    return d_loss, g_loss


@LOSSES.register("minimax")
def minimax(real: jax.Array, fake: jax.Array) -> LossPair:
    """Goodfellow et al. (2014), the original zero-sum game: the generator minimises log(1 - D(G(z))).

    L_D = -[log D(x) + log(1 - D(G(z)))],  L_G = log(1 - D(G(z))) = -L_D's fake term.
    Its generator gradient vanishes when D confidently rejects fakes, which is why `non_saturating` is the default.
    """
    d_loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    g_loss = -jnp.mean(jax.nn.softplus(fake))
    return d_loss, g_loss


@LOSSES.register("hinge")
def hinge(real: jax.Array, fake: jax.Array) -> LossPair:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, SNGAN; BigGAN).

    L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))],  L_G = -E[D(G(z))].
    """
    d_loss = jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
    g_loss = -jnp.mean(fake)
    return d_loss, g_loss
