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

from collections.abc import Callable, Sequence

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


@LOSSES.register("wasserstein")
def wasserstein(real: jax.Array, fake: jax.Array) -> LossPair:
    """Wasserstein GAN (Arjovsky et al. 2017): D is a critic; use it with a Lipschitz constraint (wgan_gp penalty).

    L_D = E[D(G(z))] - E[D(x)],  L_G = -E[D(G(z))].
    """
    return jnp.mean(fake) - jnp.mean(real), -jnp.mean(fake)


@LOSSES.register("least_squares")
def least_squares(real: jax.Array, fake: jax.Array) -> LossPair:
    """Least-squares GAN (Mao et al. 2017) with targets 1 for real and 0 for fake.

    L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2],  L_G = 1/2 E[(D(G(z)) - 1)^2].
    """
    d_loss = 0.5 * jnp.mean((real - 1.0) ** 2) + 0.5 * jnp.mean(fake**2)
    g_loss = 0.5 * jnp.mean((fake - 1.0) ** 2)
    return d_loss, g_loss


@LOSSES.register("relativistic_pairing")
def relativistic_pairing(real: jax.Array, fake: jax.Array) -> LossPair:
    """Relativistic pairing GAN (RpGAN; Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024).

    Each real sample is paired with one generated sample: L_D = E[softplus(-(D(x) - D(G(z))))],
    L_G = E[softplus(-(D(G(z)) - D(x)))]. With R1 and R2 (penalties) it is R3GAN's objective.
    """
    return jnp.mean(jax.nn.softplus(fake - real)), jnp.mean(jax.nn.softplus(real - fake))


@LOSSES.register("relativistic_average")
def relativistic_average(real: jax.Array, fake: jax.Array) -> LossPair:
    """Relativistic average GAN (RaGAN; Jolicoeur-Martineau 2019): each side is compared with the other's mean.

    L_D = E[softplus(-(D(x) - E D(G(z))))] + E[softplus(D(G(z)) - E D(x))],
    L_G = E[softplus(-(D(G(z)) - E D(x)))] + E[softplus(D(x) - E D(G(z)))].
    """
    real_vs_fake, fake_vs_real = real - jnp.mean(fake), fake - jnp.mean(real)
    d_loss = jnp.mean(jax.nn.softplus(-real_vs_fake)) + jnp.mean(jax.nn.softplus(fake_vs_real))
    g_loss = jnp.mean(jax.nn.softplus(-fake_vs_real)) + jnp.mean(jax.nn.softplus(real_vs_fake))
    return d_loss, g_loss


def switched_loss(names: Sequence[str], index: jax.Array) -> Callable[[jax.Array, jax.Array], LossPair]:
    """The loss `names[index]` for a traced index: how a sweep's members that differ in their loss share one program
    (ganjax/sweep/members.py). `config.loss` may hold it instead of a name (ganjax/adversarial.py)."""
    losses = [LOSSES.get(name) for name in names]

    def loss(real: jax.Array, fake: jax.Array) -> LossPair:
        return jax.lax.switch(index, losses, real, fake)

    return loss
