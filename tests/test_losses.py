"""The adversarial objectives: values worked by hand, and checks every registered loss must pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.errors import ConfigError
from ganjax.losses import LOSSES

# Fixed logits for the hand-worked values. With softplus(t) = log(1 + e^t):
#   softplus(-2) = 0.126928  softplus(1) = 1.313262   (real terms of -log D(x))
#   softplus(0.5) = 0.974077  softplus(-3) = 0.048587  (fake terms of -log(1 - D(G(z))))
#   softplus(-0.5) = 0.474077  softplus(3) = 3.048587  (fake terms of -log D(G(z)))
REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])

HAND_WORKED = {
    # d = (0.126928 + 1.313262) / 2 + (0.974077 + 0.048587) / 2; g = (0.474077 + 3.048587) / 2
    "non_saturating": (1.231427, 1.761332),
    # same d; g = -(0.974077 + 0.048587) / 2
    "minimax": (1.231427, -0.511332),
    # d = (max(0, 1 - 2) + max(0, 1 + 1)) / 2 + (max(0, 1 + 0.5) + max(0, 1 - 3)) / 2 = 1 + 0.75; g = -(0.5 - 3) / 2
    "hinge": (1.75, 1.25),
    # d = (0.5 - 3) / 2 - (2 - 1) / 2 = -1.75; g = -(0.5 - 3) / 2
    "wasserstein": (-1.75, 1.25),
    # d = ((2 - 1)^2 + (-1 - 1)^2) / 4 + (0.5^2 + 3^2) / 4 = 1.25 + 2.3125; g = ((0.5 - 1)^2 + (-3 - 1)^2) / 4
    "least_squares": (3.5625, 4.0625),
    # pairs real - fake = (1.5, 2): d = (softplus(-1.5) + softplus(-2)) / 2 = (0.201413 + 0.126928) / 2,
    # g = (softplus(1.5) + softplus(2)) / 2 = (1.701413 + 2.126928) / 2
    "relativistic_pairing": (0.164171, 1.914171),
    # mean real 0.5, mean fake -1.25. d = (softplus(-3.25) + softplus(-0.25)) / 2 + (softplus(0) + softplus(-3.5)) / 2
    #   = (0.038041 + 0.575939) / 2 + (0.693147 + 0.029750) / 2;
    # g = (softplus(0) + softplus(3.5)) / 2 + (softplus(3.25) + softplus(0.25)) / 2
    #   = (0.693147 + 3.529750) / 2 + (3.288041 + 0.825939) / 2
    "relativistic_average": (0.668439, 4.168439),
}


@pytest.mark.parametrize("name", sorted(HAND_WORKED))
def test_loss_matches_hand_worked_values(name):
    d_loss, g_loss = LOSSES.get(name)(REAL, FAKE)
    np.testing.assert_allclose([d_loss, g_loss], HAND_WORKED[name], atol=1e-5)


# Every registered loss, including any a user adds, must pass the checks below.
@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_finite_on_extreme_logits(name):
    extreme = jnp.array([-80.0, -20.0, 0.0, 20.0, 80.0])
    for real, fake in ((extreme, extreme[::-1]), (extreme, extreme)):
        d_loss, g_loss = LOSSES.get(name)(real, fake)
        assert d_loss.shape == () and g_loss.shape == ()
        assert jnp.isfinite(d_loss) and jnp.isfinite(g_loss)


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_differentiable(name):
    loss = LOSSES.get(name)
    real, fake = jnp.array([0.3, -0.7, 1.1]), jnp.array([-0.2, 0.4, -1.3])
    d_grad_real, d_grad_fake = jax.grad(lambda r, f: loss(r, f)[0], argnums=(0, 1))(real, fake)
    g_grad_fake = jax.grad(lambda f: loss(real, f)[1])(fake)
    for grad in (d_grad_real, d_grad_fake, g_grad_fake):
        assert jnp.all(jnp.isfinite(grad))
    # Each network must get a training signal through the logits it influences.
    assert jnp.any(d_grad_real != 0) and jnp.any(d_grad_fake != 0) and jnp.any(g_grad_fake != 0)


# Logits where D wins (real scored high, fake low) and where D is fooled (the reverse), each spread over a range.
D_WINS = (jnp.array([2.0, 3.0, 2.5, 4.0]), jnp.array([-3.0, -2.0, -4.0, -2.5]))
D_FOOLED = (D_WINS[1], D_WINS[0])


def assert_trains_each_player_towards_winning(loss) -> None:
    """What every sound objective shares, though their values need not be ordered alike: a gradient step moves each
    sample's logit the losing player's way. Where D rejects the fakes, descending the generator's loss raises every
    fake logit; where D is fooled, descending D's loss raises every real logit and lowers every fake one. Where a
    player already wins, a loss may stop pushing (hinge's margin) or pull back (least squares' targets)."""
    g_grad_fake = jax.grad(lambda fake: loss(D_WINS[0], fake)[1])(D_WINS[1])
    assert jnp.all(g_grad_fake < 0), f"the generator's loss must fall as rejected fakes score higher: {g_grad_fake}"
    d_grad_real, d_grad_fake = jax.grad(lambda real, fake: loss(real, fake)[0], argnums=(0, 1))(*D_FOOLED)
    assert jnp.all(d_grad_real < 0), f"D's loss must fall as misjudged real samples score higher: {d_grad_real}"
    assert jnp.all(d_grad_fake > 0), f"D's loss must fall as misjudged fakes score lower: {d_grad_fake}"


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_trains_each_player_towards_winning(name):
    assert_trains_each_player_towards_winning(LOSSES.get(name))


def least_squares_minus_one_one_zero(real: jax.Array, fake: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mao et al. (2017)'s other least-squares GAN: D aims at b = 1 for real and a = -1 for fake, G at c = 0.

    Its generator's loss is lowest at D(G(z)) = 0, not at the highest logits, so its values are ordered unlike the
    registered losses'; it is sound all the same."""
    d_loss = 0.5 * jnp.mean((real - 1.0) ** 2) + 0.5 * jnp.mean((fake + 1.0) ** 2)
    g_loss = 0.5 * jnp.mean(fake**2)
    return d_loss, g_loss


def test_the_check_accepts_a_published_loss_whose_generator_aims_at_zero():
    assert_trains_each_player_towards_winning(least_squares_minus_one_one_zero)


def _generator_sign_flipped(real, fake):
    d_loss, g_loss = least_squares_minus_one_one_zero(real, fake)
    return d_loss, -g_loss


def _discriminator_sign_flipped(real, fake):
    d_loss, g_loss = least_squares_minus_one_one_zero(real, fake)
    return -d_loss, g_loss


@pytest.mark.parametrize("wrong_loss", [_generator_sign_flipped, _discriminator_sign_flipped])
def test_the_check_rejects_a_loss_with_either_player_sign_flipped(wrong_loss):
    with pytest.raises(AssertionError, match="must fall as"):
        assert_trains_each_player_towards_winning(wrong_loss)


def test_unknown_loss_lists_the_valid_ones():
    valid = ", ".join(LOSSES.names())
    with pytest.raises(ConfigError, match=rf"unknown loss 'hnige' \(--config.loss\); valid: {valid}$"):
        LOSSES.get("hnige")
