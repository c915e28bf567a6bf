"""The VAE's objective: pixel likelihoods p(x|z), the Gaussian posterior q(z|x) and its KL to the N(0, I) prior, the
ELBO with an optional beta and KL warm-up, and the importance-weighted bound. Pure functions, chosen by name where a
config chooses (`--config.objective.likelihood=bernoulli`).

With q(z|x) = N(mean, diag(exp(log_var))) and z = mean + exp(log_var / 2) * eps, eps ~ N(0, I) (the
reparameterisation trick, so gradients flow through the sample):

    ELBO(x)   = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))                      <= log p(x)
    KL        = 1/2 sum_j (exp(log_var_j) + mean_j^2 - 1 - log_var_j)         (closed form)
    loss      = -E_q[log p(x|z)] + beta_t * KL,   beta_t = beta * min(1, step / warmup_steps)
    IWAE_k(x) = log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x)       ELBO <= IWAE_k <= IWAE_{k+1} <= log p(x)

Every value is per example, summed over its dimensions, in nats; `bits_per_dim` converts. Images are in the model
range [-1, 1] with 256 levels (uint8 / 127.5 - 1), so the discretised likelihoods give probabilities of pixel values
and their bounds are comparable with the likelihood tables; Bernoulli binarises each image afresh on every draw
(dynamic binarisation: a pixel is 1 with probability (x + 1) / 2), the protocol of the MNIST tables.

To add a likelihood, write it here and register it; tests/test_elbo.py checks every registered one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import log_ndtr

from ganjax.registry import Registry

_HALF_BIN = 1.0 / 255.0  # half the spacing of the 256 pixel levels in [-1, 1]
_MIN_LOG_SCALE = -7.0  # a scale below exp(-7) is far inside one bin: clamped, as PixelCNN++ does


@dataclasses.dataclass(frozen=True)
class Likelihood:
    """A decoder's output distribution over images.

    Attributes:
      outputs_per_channel: decoder outputs per image channel (1: logits or a mean; 2: a location and a log scale).
      log_prob: (decoder output (B, H, W, C * outputs_per_channel), target (B, H, W, C)) -> log p(target|z) (B,),
        nats.
      mean: decoder output -> the mean image (B, H, W, C) in [-1, 1], which samples, reconstructions and FID show.
      prepare: (key, images (B, H, W, C) in [-1, 1]) -> the target the likelihood scores and the encoder sees, in
        the model range too (pixels -1 or 1 for Bernoulli).
      levels: how many values a pixel of the target takes (2 or 256), for messages and bits per dimension.
    """

    outputs_per_channel: int
    log_prob: Callable[[jax.Array, jax.Array], jax.Array]
    mean: Callable[[jax.Array], jax.Array]
    prepare: Callable[[jax.Array, jax.Array], jax.Array]
    levels: int


LIKELIHOODS: Registry[Likelihood] = Registry("likelihood", config_key="objective.likelihood")


def _sum_per_example(values: jax.Array) -> jax.Array:
    return jnp.sum(values.reshape(values.shape[0], -1), axis=1)


def binarize(key: jax.Array, images: jax.Array) -> jax.Array:
    """Dynamic binarisation: each pixel 1 with probability (x + 1) / 2, else -1; float32 (B, H, W, C)."""
    return jnp.where(jax.random.bernoulli(key, (images + 1.0) / 2.0), 1.0, -1.0).astype(jnp.float32)


def bernoulli_log_prob(logits: jax.Array, target: jax.Array) -> jax.Array:
    """log p(x|z) = sum b log sigmoid(l) + (1 - b) log(1 - sigmoid(l)) = sum b l - softplus(l), b = (x + 1) / 2 in
    {0, 1} for binarised pixels x in {-1, 1}."""
    return _sum_per_example((target + 1.0) / 2.0 * logits - jax.nn.softplus(logits))


def _log_bin_mass(log_cdf: Callable[[jax.Array], jax.Array], output: jax.Array, x: jax.Array) -> jax.Array:
    """log P(the pixel level x) for a symmetric location-scale distribution with standard log-CDF `log_cdf`:
    the mass of [x - 1/255, x + 1/255], and of everything below the bin of -1 and above the bin of 1 (so that the
    256 levels sum to 1). `output` holds the locations, then the log scales, on the channel axis."""
    location, log_scale = jnp.split(output, 2, axis=-1)
    inv_scale = jnp.exp(-jnp.maximum(log_scale, _MIN_LOG_SCALE))
    upper = (x + _HALF_BIN - location) * inv_scale
    lower = (x - _HALF_BIN - location) * inv_scale
    # Above the location the upper tail is the accurate side: P[l, u] = F(-l) - F(-u) by symmetry.
    flip = x > location
    a, b = log_cdf(jnp.where(flip, -lower, upper)), log_cdf(jnp.where(flip, -upper, lower))  # a > b
    interior = a + jnp.log(-jnp.expm1(-jnp.maximum(a - b, 1e-30)))
    lowest, highest = log_cdf(upper), log_cdf(-lower)  # the edge bins take the tails
    return jnp.where(x < -1.0 + _HALF_BIN, lowest, jnp.where(x > 1.0 - _HALF_BIN, highest, interior))


def _location(output: jax.Array) -> jax.Array:
    return jnp.clip(jnp.split(output, 2, axis=-1)[0], -1.0, 1.0)


def _keep(key: jax.Array, images: jax.Array) -> jax.Array:
    del key
    return images


LIKELIHOODS.register("bernoulli")(
    Likelihood(
        outputs_per_channel=1,
        log_prob=bernoulli_log_prob,
        mean=lambda logits: 2.0 * jax.nn.sigmoid(logits) - 1.0,
        prepare=binarize,
        levels=2,
    )
)
LIKELIHOODS.register("logistic")(  # discretised logistic (Kingma et al. 2016; PixelCNN++), one per sub-pixel
    Likelihood(
        outputs_per_channel=2,
        log_prob=lambda output, x: _sum_per_example(_log_bin_mass(jax.nn.log_sigmoid, output, x)),
        mean=_location,
        prepare=_keep,
        levels=256,
    )
)
LIKELIHOODS.register("gaussian")(  # discretised Gaussian with a learned per-pixel scale
    Likelihood(
        outputs_per_channel=2,
        log_prob=lambda output, x: _sum_per_example(_log_bin_mass(log_ndtr, output, x)),
        mean=_location,
        prepare=_keep,
        levels=256,
    )
)


def reparameterize(key: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """z = mean + exp(log_var / 2) * eps, eps ~ N(0, I): a sample of q(z|x) (B, D) differentiable in both."""
    return mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape, mean.dtype)


def kl_to_standard_normal(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) in closed form, (B, D) -> (B,) nats."""
    return 0.5 * jnp.sum(jnp.exp(log_var) + jnp.square(mean) - 1.0 - log_var, axis=-1)


def gaussian_log_density(z: jax.Array, mean: jax.Array | float = 0.0, log_var: jax.Array | float = 0.0) -> jax.Array:
    """log N(z; mean, diag(exp(log_var))), (..., D) -> (...,) nats; the defaults give the N(0, I) prior."""
    return -0.5 * jnp.sum(jnp.log(2 * jnp.pi) + log_var + jnp.square(z - mean) * jnp.exp(-log_var), axis=-1)


def kl_weight(step: jax.Array, beta: float, warmup_steps: int) -> jax.Array:
    """The KL's weight in the loss of the update after `step` completed steps: beta, reached linearly from 0 over
    the first `warmup_steps` (0: no warm-up). float32 scalar."""
    schedule = optax.linear_schedule(0.0, beta, warmup_steps) if warmup_steps else optax.constant_schedule(beta)
    return jnp.asarray(schedule(step), jnp.float32)


def importance_weighted_bound(log_weights: jax.Array) -> jax.Array:
    """IWAE_k = logsumexp_i(log w_i) - log k over the k samples on axis 0, log w = log p(x|z) + log p(z) - log q(z|x):
    (k, B) -> (B,) nats. k = 1 is the ELBO's one-sample estimate."""
    return jax.nn.logsumexp(log_weights, axis=0) - jnp.log(log_weights.shape[0])


def feature_log_prob(real_features: jax.Array, reconstructed_features: jax.Array) -> jax.Array:
    """The VAE-GAN's reconstruction term (Larsen et al. 2016, eq. 6): log N(D_l(x); D_l(x~), I) without its
    constant, -1/2 ||D_l(x) - D_l(x~)||^2 summed over a discriminator layer's features: (B, ...) -> (B,)."""
    return -0.5 * _sum_per_example(jnp.square(real_features - reconstructed_features))


def bits_per_dim(nats: jax.Array | float, num_dims: int) -> jax.Array | float:
    """A negative log-likelihood in nats per example -> bits per dimension (per sub-pixel)."""
    return nats / (num_dims * math.log(2.0))


def negative_bounds(
    likelihood: Likelihood,
    encode: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
    decode: Callable[[jax.Array], jax.Array],
    images: jax.Array,
    keys: jax.Array,
    num_samples: int,
    decodes_per_call: int,
) -> jax.Array:
    """Each image's negative bound on log p(x), nats (B,), for images (B, H, W, C) in [-1, 1]: the ELBO's
    one-sample estimate with the KL in closed form when num_samples is 1, else the importance-weighted bound with
    that many samples. Image i draws its target and latents from keys[i] (B, 2) alone; at most `decodes_per_call`
    latents are decoded at once (memory).

    encode: images -> q(z|x)'s mean and log variance (B, D); decode: z (B, D) -> the likelihood's parameters.
    """
    per_image = max(1, decodes_per_call // len(images))
    chunk = max(divisor for divisor in range(1, min(num_samples, per_image) + 1) if num_samples % divisor == 0)

    def one(key: jax.Array, image: jax.Array) -> jax.Array:
        target_key, z_key = jax.random.split(key)
        target = likelihood.prepare(target_key, image[None])
        mean, log_var = encode(target)
        if num_samples == 1:
            z = reparameterize(z_key, mean, log_var)
            return (kl_to_standard_normal(mean, log_var) - likelihood.log_prob(decode(z), target))[0]

        def log_weights(chunk_key: jax.Array) -> jax.Array:
            z = reparameterize(chunk_key, jnp.repeat(mean, chunk, 0), jnp.repeat(log_var, chunk, 0))
            log_px = likelihood.log_prob(decode(z), jnp.broadcast_to(target, (chunk, *target.shape[1:])))
            return log_px + gaussian_log_density(z) - gaussian_log_density(z, mean, log_var)

        weights = jax.lax.map(log_weights, jax.random.split(z_key, num_samples // chunk))
        return -importance_weighted_bound(weights.reshape(num_samples, 1))[0]

    return jax.vmap(one)(keys, images)
