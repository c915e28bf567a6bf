"""The VAE's objective (ganjax/elbo.py): ELBO terms worked by hand, the closed-form KL against Monte Carlo, the
importance-weighted bound on a model whose log p(x) is known exactly, and checks every registered pixel likelihood
must pass (normalised over its levels, finite values and gradients at the edges and at extreme scales)."""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax import elbo

LN2PI = math.log(2 * math.pi)  # 1.837877
HALF_BIN = 1 / 255  # half the spacing of the 256 levels l / 127.5 - 1
LEVELS = jnp.arange(256, dtype=jnp.float32) / 127.5 - 1.0  # exactly -1 and 1 at the ends


def _sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def _phi(t: float) -> float:  # the standard normal CDF
    return 0.5 * math.erfc(-t / math.sqrt(2))


# --- 1. ELBO terms worked by hand ----------------------------------------------------------------------------------


def test_kl_to_standard_normal_by_hand():
    # mean (1, -2), log_var (log 4, 0): 1/2 [(4 + 1 - 1 - log 4) + (1 + 4 - 1 - 0)] = 1/2 (8 - 2 log 2) = 4 - log 2
    #   = 4 - 0.693147 = 3.306853.  Second example: mean 0, log_var 0 is the prior itself, KL 0.
    mean = jnp.array([[1.0, -2.0], [0.0, 0.0]])
    log_var = jnp.array([[math.log(4.0), 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(elbo.kl_to_standard_normal(mean, log_var), [3.306853, 0.0], atol=1e-5)


def test_gaussian_log_density_by_hand():
    mean = jnp.array([1.0, -2.0])
    log_var = jnp.array([math.log(4.0), 0.0])
    z = jnp.array([3.0, -1.0])
    # log N(z; mean, diag(4, 1)) = -1/2 [2 log 2pi + log 4 + (3 - 1)^2 / 4 + (-1 + 2)^2 / 1]
    #   = -log 2pi - log 2 - 1 = -1.837877 - 0.693147 - 1 = -3.531024
    np.testing.assert_allclose(elbo.gaussian_log_density(z, mean, log_var), -3.531024, atol=1e-5)
    # The default is the N(0, I) prior: at (3, -1), -1/2 [2 log 2pi + 9 + 1] = -1.837877 - 5; at the origin -log 2pi.
    np.testing.assert_allclose(
        elbo.gaussian_log_density(jnp.array([[3.0, -1.0], [0.0, 0.0]])), [-6.837877, -1.837877], atol=1e-5
    )


def test_bernoulli_log_prob_by_hand():
    bernoulli = elbo.LIKELIHOODS.get("bernoulli")
    # Two 2x2 one-channel images; binarised pixels are -1 or 1 in the model range (1 means "on", b = 1).
    logits = jnp.array([[0.0, 0.0, math.log(3.0), math.log(3.0)], [math.log(3.0)] * 4]).reshape(2, 2, 2, 1)
    target = jnp.array([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, 1.0, 1.0]]).reshape(2, 2, 2, 1)
    # sigmoid(0) = 1/2 for either value; sigmoid(log 3) = 3/4 for a 1 pixel, 1/4 for a -1 pixel:
    #   image 0: 2 log(1/2) + log(3/4) + log(1/4) = -1.386294 - 0.287682 - 1.386294 = -3.060271
    #   image 1: 4 log(3/4) = -1.150728
    np.testing.assert_allclose(bernoulli.log_prob(logits, target), [-3.060271, -1.150728], atol=1e-5)
    # The mean image: 2 sigmoid(l) - 1 = 0 at logit 0, 2 * 3/4 - 1 = 1/2 at logit log 3.
    np.testing.assert_allclose(bernoulli.mean(logits)[0].ravel(), [0.0, 0.0, 0.5, 0.5], atol=1e-6)
    assert bernoulli.outputs_per_channel == 1 and bernoulli.levels == 2


@pytest.mark.parametrize(
    "name,cdf",
    [("logistic", _sigmoid), ("gaussian", _phi)],
)
def test_discretised_log_prob_by_hand(name, cdf):
    """P(level x) = F((x + h - mu) / s) - F((x - h - mu) / s), h = 1/255, with the edge bins taking the tails."""
    likelihood = elbo.LIKELIHOODS.get(name)
    cases = [
        # (location, log scale, pixel, probability by hand)
        (HALF_BIN, 0.0, HALF_BIN, cdf(HALF_BIN) - cdf(-HALF_BIN)),  # level 128 at its own location, unit scale
        (0.0, math.log(0.1), HALF_BIN, cdf(2 * HALF_BIN * 10) - 0.5),  # above the location (the upper-tail side)
        (0.0, math.log(0.1), -HALF_BIN, 0.5 - cdf(-2 * HALF_BIN * 10)),  # below it
        (0.0, 0.0, -1.0, cdf(-1 + HALF_BIN)),  # the lowest level takes everything below -1 + h
        (0.0, 0.0, 1.0, 1 - cdf(1 - HALF_BIN)),  # the highest everything above 1 - h
        (0.5, math.log(0.2), 1.0, 1 - cdf((1 - HALF_BIN - 0.5) / 0.2)),
        # Far in a tail (e^-3 is the scale): the bin's mass from the accurate side, F(-l) - F(-u) above the location
        (-0.5, -3.0, 0.5, cdf(-(1 - HALF_BIN) * math.exp(3)) - cdf(-(1 + HALF_BIN) * math.exp(3))),
        (0.5, -3.0, -0.5, cdf(-(1 - HALF_BIN) * math.exp(3)) - cdf(-(1 + HALF_BIN) * math.exp(3))),  # and below
    ]
    output = jnp.array([[loc, log_scale] for loc, log_scale, _, _ in cases], jnp.float32).reshape(-1, 1, 1, 2)
    x = jnp.array([pixel for _, _, pixel, _ in cases], jnp.float32).reshape(-1, 1, 1, 1)
    expected = [math.log(p) for *_, p in cases]
    np.testing.assert_allclose(likelihood.log_prob(output, x), expected, rtol=2e-4)
    # A channel's locations come first on the last axis, then its log scales; pixels sum per example.
    two_channels = jnp.array([HALF_BIN, 0.0, 0.0, math.log(0.1)]).reshape(1, 1, 1, 4)
    pixels = jnp.array([HALF_BIN, HALF_BIN]).reshape(1, 1, 1, 2)
    np.testing.assert_allclose(likelihood.log_prob(two_channels, pixels), [sum(expected[:2])], rtol=2e-4)
    # The mean image is the location, clipped to the model range.
    np.testing.assert_allclose(
        likelihood.mean(jnp.array([0.25, 1.5, -3.0, 0.0, 0.0, 0.0]).reshape(1, 1, 1, 6)).ravel(), [0.25, 1.0, -1.0]
    )


# --- reparameterisation and 2. the closed-form KL against Monte Carlo ------------------------------------------------


def test_reparameterize_shifts_and_scales_the_same_noise():
    key = jax.random.key(0)
    mean = jnp.array([[1.0, -2.0, 0.5]])
    log_var = jnp.array([[math.log(4.0), 0.0, -2.0]])
    eps = elbo.reparameterize(key, jnp.zeros_like(mean), jnp.zeros_like(log_var))
    np.testing.assert_allclose(
        elbo.reparameterize(key, mean, log_var), mean + jnp.array([[2.0, 1.0, math.exp(-1.0)]]) * eps, rtol=1e-6
    )
    # Differentiable in both: dz/dmean = 1, dz/dlog_var = exp(log_var / 2) eps / 2.
    grad_mean, grad_log_var = jax.grad(lambda m, v: jnp.sum(elbo.reparameterize(key, m, v)), argnums=(0, 1))(
        mean, log_var
    )
    np.testing.assert_allclose(grad_mean, jnp.ones_like(mean))
    np.testing.assert_allclose(grad_log_var, 0.5 * jnp.exp(0.5 * log_var) * eps, rtol=1e-5)


@pytest.mark.parametrize(
    "mean,log_var",
    [((1.0, -2.0), (math.log(4.0), 0.0)), ((0.3, 0.0), (-3.0, 1.0))],
)
def test_kl_matches_monte_carlo(mean, log_var):
    n = 200_000
    mean = jnp.broadcast_to(jnp.array(mean), (n, 2))
    log_var = jnp.broadcast_to(jnp.array(log_var), (n, 2))
    z = elbo.reparameterize(jax.random.key(1), mean, log_var)
    log_ratio = np.asarray(elbo.gaussian_log_density(z, mean, log_var) - elbo.gaussian_log_density(z), np.float64)
    standard_error = log_ratio.std() / math.sqrt(n)
    closed_form = float(elbo.kl_to_standard_normal(mean[:1], log_var[:1])[0])
    assert abs(log_ratio.mean() - closed_form) < 4 * standard_error + 1e-5


# --- 3. the importance-weighted bound ---------------------------------------------------------------------------------


def test_importance_weighted_bound_exact_values():
    # Equal log weights c: log (1/k sum e^c) = c, for any k.
    for k in (1, 5, 64):
        constant = jnp.full((k, 3), -7.25)
        np.testing.assert_allclose(elbo.importance_weighted_bound(constant), [-7.25] * 3, rtol=1e-6)
    # Weights 1 and 3: log ((1 + 3) / 2) = log 2; weights e^-1000 and e^-1000 stay -1000 (no underflow).
    log_weights = jnp.array([[0.0, -1000.0], [math.log(3.0), -1000.0]])
    np.testing.assert_allclose(elbo.importance_weighted_bound(log_weights), [math.log(2.0), -1000.0], rtol=1e-6)


# A linear-Gaussian toy: z ~ N(0, 1), x|z ~ N(z, s^2), so p(x) = N(x; 0, 1 + s^2) and the posterior is
# N(x / (1 + s^2), s^2 / (1 + s^2)). With s^2 = 1/4 and x = 3/2: p(x) = N(3/2; 0, 5/4), posterior N(1.2, 0.2).
#   log p(x) = -1/2 log(2 pi 5/4) - (9/4) / (2 * 5/4) = -1/2 (1.837877 + 0.223144) - 0.9 = -1.930510
# q = N(0.2, 0.4) is deliberately wrong (too wide, off-centre), so ELBO = log p(x) - KL(q || posterior) with
#   KL = 1/2 [log(0.2 / 0.4) + (0.4 + (0.2 - 1.2)^2) / 0.2 - 1] = 1/2 (-0.693147 + 7 - 1) = 2.653426
#   ELBO = -1.930510 - 2.653426 = -4.583936
TOY_X, TOY_NOISE_VAR, Q_MEAN, Q_VAR = 1.5, 0.25, 0.2, 0.4
TOY_LOG_PX = -0.5 * (LN2PI + math.log(1.25)) - 0.9
TOY_ELBO = TOY_LOG_PX - 0.5 * (math.log(0.5) + (0.4 + 1.0) / 0.2 - 1)
IWAE_KS = (1, 10, 100, 1000)


@jax.jit
def _toy_iwae(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Log weights (1000, repeats) of the toy, and IWAE_k for each k in IWAE_KS on the first k of them (k, repeats)."""
    repeats = 10_000
    mean = jnp.full((IWAE_KS[-1], repeats, 1), Q_MEAN)
    log_var = jnp.full_like(mean, math.log(Q_VAR))
    z = elbo.reparameterize(key, mean, log_var)
    x = jnp.full_like(z, TOY_X)
    log_weights = (
        elbo.gaussian_log_density(x, z, math.log(TOY_NOISE_VAR))
        + elbo.gaussian_log_density(z)
        - elbo.gaussian_log_density(z, mean, log_var)
    )
    return log_weights, jnp.stack([elbo.importance_weighted_bound(log_weights[:k]) for k in IWAE_KS])


def test_iwae_bounds_tighten_with_k_towards_the_exact_log_likelihood():
    log_weights, bounds = (np.asarray(a, np.float64) for a in _toy_iwae(jax.random.key(2)))
    repeats = bounds.shape[1]

    # The ELBO: the mean log weight over all 10M draws matches the hand-worked value.
    elbo_standard_error = log_weights.std() / math.sqrt(log_weights.size)
    assert abs(log_weights.mean() - TOY_ELBO) < 4 * elbo_standard_error + 1e-4

    # Each IWAE_k is a lower bound that rises with k; the k = 1 bound is the ELBO. Each repeat uses the first k of
    # the same 1000 draws, so the differences between successive k are compared with their own standard errors.
    means = bounds.mean(axis=1)
    assert abs(means[0] - TOY_ELBO) < 4 * bounds[0].std() / math.sqrt(repeats)
    for lower, higher in itertools.pairwise(bounds):
        gain = higher - lower
        assert gain.mean() > 4 * gain.std() / math.sqrt(repeats), (means, gain.mean(), gain.std())
    for k_bound in bounds:
        assert k_bound.mean() < TOY_LOG_PX + 4 * k_bound.std() / math.sqrt(repeats)
    # With 1000 samples the gap is about chi^2(posterior || q) / 2000, ~0.004 here (chi^2 + 1 = 9.7 for these two
    # Gaussians), against 2.65 for the ELBO.
    assert abs(means[-1] - TOY_LOG_PX) < 0.01, means


# --- 4. every registered likelihood -----------------------------------------------------------------------------------

DISCRETISED = [name for name in elbo.LIKELIHOODS.names() if elbo.LIKELIHOODS.get(name).levels == 256]
LOCATIONS = (-1.2, -1.0, -0.999, -0.5, -0.3, -HALF_BIN, 0.0, HALF_BIN, 0.3, 0.5, 0.999, 1.0, 1.2)  # symmetric
LOG_SCALES = (-10.0, -7.0, -3.0, 0.0, 1.0, 3.0)


def test_the_discretised_likelihoods_are_registered():
    assert {"logistic", "gaussian"} <= set(DISCRETISED)
    assert "bernoulli" in elbo.LIKELIHOODS.names()


@functools.cache
def _every_level(name: str):
    """For each (location, log scale) in the grid: log P of each of the 256 levels and its gradient wrt the decoder
    output, (grid, 256) and (grid, 256, 2)."""
    likelihood = elbo.LIKELIHOODS.get(name)
    grid = jnp.array([(loc, s) for loc in LOCATIONS for s in LOG_SCALES], jnp.float32)
    x = LEVELS.reshape(256, 1, 1, 1)

    def at(params):
        output = jnp.broadcast_to(params, (256, 1, 1, 2))
        log_probs = likelihood.log_prob(output, x)
        grads = jax.grad(lambda out: jnp.sum(likelihood.log_prob(out, x)))(output)
        return log_probs, grads.reshape(256, 2)

    return grid, *jax.jit(jax.vmap(at))(grid)


@pytest.mark.parametrize("name", DISCRETISED)
def test_every_discretised_likelihood_sums_to_one_over_the_levels(name):
    grid, log_probs, _ = _every_level(name)
    assert log_probs.shape == (grid.shape[0], 256)
    total = np.exp(np.asarray(log_probs, np.float64)).sum(axis=1)
    np.testing.assert_allclose(total, np.ones_like(total), atol=2e-4, err_msg=f"{grid}")


@pytest.mark.parametrize("name", DISCRETISED)
def test_every_discretised_likelihood_is_finite_with_finite_gradients(name):
    grid, log_probs, grads = _every_level(name)
    assert jnp.all(jnp.isfinite(log_probs)), grid[~jnp.all(jnp.isfinite(log_probs), axis=1)]
    assert jnp.all(log_probs <= 1e-6)
    bad = ~jnp.all(jnp.isfinite(grads), axis=(1, 2))
    assert not jnp.any(bad), grid[bad]
    # A training signal where the scale is not clamped: at unit scale and location 0.3, raising the location raises
    # the probability of the levels above it and lowers that of those below it (beyond the location's own bin).
    row = LOCATIONS.index(0.3) * len(LOG_SCALES) + LOG_SCALES.index(0.0)
    location_grads = grads[row, :, 0]
    assert jnp.all(location_grads[LEVELS > 0.3 + 2 * HALF_BIN] > 0)
    assert jnp.all(location_grads[LEVELS < 0.3 - 2 * HALF_BIN] < 0)


@pytest.mark.parametrize("name", DISCRETISED)
def test_every_discretised_likelihood_is_symmetric_and_clamps_tiny_scales(name):
    """The distributions are symmetric and so are the levels (level 255 - l is minus level l), so mirroring the
    location mirrors the probabilities, tails included (where only the accurate side of the CDF gives them); and a
    scale below exp(-7) counts as exp(-7)."""
    grid, log_probs, _ = _every_level(name)
    rows = {(round(float(loc), 6), float(s)): i for i, (loc, s) in enumerate(np.asarray(grid))}
    for (location, log_scale), row in rows.items():
        mirrored = log_probs[rows[(round(-location, 6), log_scale)], ::-1]
        np.testing.assert_allclose(log_probs[row], mirrored, rtol=1e-4, atol=1e-4, err_msg=f"{location} {log_scale}")
        if log_scale == -10.0:
            np.testing.assert_allclose(log_probs[row], log_probs[rows[(location, -7.0)]], rtol=1e-6)


@pytest.mark.parametrize("name", DISCRETISED)
def test_a_tiny_scale_puts_the_mass_on_the_locations_level(name):
    grid, log_probs, _ = _every_level(name)
    checked = 0
    for row, (location, log_scale) in enumerate(np.asarray(grid)):
        level = int(np.argmin(np.abs(np.asarray(LEVELS) - location)))
        if log_scale <= -7 and np.any(np.isclose(location, [-1.0, -HALF_BIN, HALF_BIN, 1.0], atol=1e-7)):
            # On a level: its bin is +-h around the location, h = e^7 / 255 = 4.3 scales: for the logistic
            # F(4.3) - F(-4.3) = tanh(2.15) = 0.973, more for the Gaussian; the edge levels hold more still.
            assert math.exp(log_probs[row, level]) > 0.97, (location, log_scale)
            checked += 1
    assert checked == 8


def test_bernoulli_probabilities_of_the_two_values_sum_to_one():
    bernoulli = elbo.LIKELIHOODS.get("bernoulli")
    logits = jnp.array([-80.0, -30.0, -3.0, 0.0, 2.0, 30.0, 80.0]).reshape(-1, 1, 1, 1)
    on = bernoulli.log_prob(logits, jnp.ones_like(logits))
    off = bernoulli.log_prob(logits, -jnp.ones_like(logits))
    assert jnp.all(jnp.isfinite(on)) and jnp.all(jnp.isfinite(off))
    np.testing.assert_allclose(jnp.exp(on) + jnp.exp(off), jnp.ones(7), atol=1e-6)
    grads = jax.grad(lambda lg: jnp.sum(bernoulli.log_prob(lg, jnp.ones_like(lg))))(logits)
    assert jnp.all(jnp.isfinite(grads)) and jnp.all(grads >= 0)


def test_binarize_draws_each_pixel_on_with_probability_x_plus_one_over_two():
    n = 20_000
    images = jnp.concatenate([jnp.full((1, n, 1, 1), v) for v in (-1.0, -0.5, 0.0, 0.5, 1.0)])
    key = jax.random.key(3)
    binary = elbo.binarize(key, images)
    assert binary.dtype == jnp.float32 and binary.shape == images.shape
    assert set(np.unique(np.asarray(binary)).tolist()) <= {-1.0, 1.0}
    on = np.asarray(binary == 1.0).reshape(5, n).mean(axis=1)
    for fraction, p in zip(on, (0.0, 0.25, 0.5, 0.75, 1.0), strict=True):
        assert abs(fraction - p) <= 5 * math.sqrt(p * (1 - p) / n)  # binomial standard error; exact at 0 and 1
    # The same key gives the same draw; another key another one. Bernoulli's `prepare` is this binarisation.
    np.testing.assert_array_equal(elbo.binarize(key, images), binary)
    assert jnp.any(elbo.binarize(jax.random.key(4), images) != binary)
    np.testing.assert_array_equal(elbo.LIKELIHOODS.get("bernoulli").prepare(key, images), binary)


@pytest.mark.parametrize("name", DISCRETISED)
def test_discretised_likelihoods_score_the_images_as_given(name):
    images = LEVELS[jnp.array([0, 17, 128, 255])].reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(elbo.LIKELIHOODS.get(name).prepare(jax.random.key(0), images), images)


# --- 5. the KL weight and bits per dimension; 6. the feature-space reconstruction -----------------------------------


def test_kl_weight_warms_up_linearly_to_beta():
    beta, warmup = 2.0, 100
    weights = [elbo.kl_weight(jnp.array(step), beta, warmup) for step in (0, 25, 50, 100, 250)]
    np.testing.assert_allclose(weights, [0.0, 0.5, 1.0, 2.0, 2.0], rtol=1e-6)
    # The same under jit, with the step a traced int32 (as in the train step).
    np.testing.assert_allclose(jax.jit(lambda s: elbo.kl_weight(s, beta, warmup))(jnp.int32(50)), 1.0, rtol=1e-6)
    # No warm-up: beta from the first step.
    for step in (0, 7):
        weight = elbo.kl_weight(jnp.array(step), 0.5, 0)
        assert weight.dtype == jnp.float32
        np.testing.assert_allclose(weight, 0.5)
    assert elbo.kl_weight(jnp.array(10), 1.0, 20).dtype == jnp.float32


def test_bits_per_dim_by_hand():
    # 784 ln 2 nats over 784 dimensions is one bit each; 3072 * 2 ln 2 nats over 3072 is two bits.
    np.testing.assert_allclose(elbo.bits_per_dim(784 * math.log(2.0), 784), 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        elbo.bits_per_dim(jnp.array([3072 * 2 * math.log(2.0), 0.0]), 3072), [2.0, 0.0], rtol=1e-6
    )


def test_feature_log_prob_by_hand():
    real = jnp.array([[[1.0, 2.0], [3.0, 4.0]], [[0.5, 0.5], [0.5, 0.5]]])
    reconstructed = real + jnp.array([[[1.0, -1.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    # -1/2 (1 + 1 + 4 + 0) = -3 for the first example; a perfect reconstruction scores 0.
    np.testing.assert_allclose(elbo.feature_log_prob(real, reconstructed), [-3.0, 0.0], atol=1e-6)
    # Its gradient pulls the reconstruction towards the real features: d/dx~ = D(x) - D(x~).
    grad = jax.grad(lambda r: jnp.sum(elbo.feature_log_prob(real, r)))(reconstructed)
    np.testing.assert_allclose(grad, real - reconstructed, atol=1e-6)
