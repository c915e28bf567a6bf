"""Regularisers of the discriminator, chosen and weighted by name (`--config.penalties.r1=5.0`).

A penalty is a function `penalty(discriminator, real, fake, key) -> scalar`, non-negative, in float32:

- `discriminator(images, labels) -> logits (B,)` is D with its parameters and state bound, so the penalty can take
  gradients through it with respect to its inputs (and the trainer differentiates the result with respect to D's
  parameters);
- `real` and `fake` are `Inputs(images (B, *sample_shape), labels (B,) or None)` exactly as D sees them in the
  loss, after any augmentation; `fake` carries no gradient to the generator;
- `key` is a PRNG key for penalties that sample (interpolates, augmentations).

The trainer adds `weight * penalty` to D's loss for every penalty whose weight is not 0. With lazy regularisation
(`--config.penalty_interval=k`) the penalties are applied every k-th step only, with their weight multiplied by k.
Adding a penalty is a function here and `@PENALTIES.register("name")`; tests/test_penalties.py checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ganjax import augment
from ganjax.registry import Registry


class Inputs(NamedTuple):
    """A batch as the discriminator sees it: images (B, *sample_shape) float32 and labels (B,) int32 or None."""

    images: jax.Array
    labels: jax.Array | None


Discriminator = Callable[[jax.Array, jax.Array | None], jax.Array]
PENALTIES: Registry = Registry("penalty", config_key="penalties")


def input_gradients(discriminator: Discriminator, inputs: Inputs) -> jax.Array:
    """d D(x_i) / d x_i for every sample: (B, *sample_shape). D treats samples independently, so this is one pass."""
    return jax.grad(lambda images: jnp.sum(discriminator(images, inputs.labels)))(inputs.images)


def gradient_norms(discriminator: Discriminator, inputs: Inputs) -> jax.Array:
    """The per-sample L2 norms ||d D(x_i) / d x_i||: (B,)."""
    gradients = input_gradients(discriminator, inputs)
    return jnp.sqrt(jnp.sum(gradients.reshape(gradients.shape[0], -1) ** 2, axis=1))


def mean_squared_gradient_norm(discriminator: Discriminator, inputs: Inputs) -> jax.Array:
    """E_i ||d D(x_i) / d x_i||^2."""
    gradients = input_gradients(discriminator, inputs)
    return jnp.mean(jnp.sum(gradients.reshape(gradients.shape[0], -1) ** 2, axis=1))


@PENALTIES.register("r1")
def r1(discriminator: Discriminator, real: Inputs, fake: Inputs, key: jax.Array) -> jax.Array:
    """Zero-centred gradient penalty on real data (Mescheder et al. 2018): E ||grad_x D(x)||^2.

    StyleGAN's and R3GAN's gamma is twice the weight here: they add gamma / 2 times this.
    """
    del fake, key
    return mean_squared_gradient_norm(discriminator, real)


@PENALTIES.register("r2")
def r2(discriminator: Discriminator, real: Inputs, fake: Inputs, key: jax.Array) -> jax.Array:
    """Zero-centred gradient penalty on generated data (Mescheder et al. 2018; R3GAN): E ||grad_x D(G(z))||^2."""
    del real, key
    return mean_squared_gradient_norm(discriminator, fake)


@PENALTIES.register("wgan_gp")
def wgan_gp(discriminator: Discriminator, real: Inputs, fake: Inputs, key: jax.Array) -> jax.Array:
    """One-centred gradient penalty on interpolates (Gulrajani et al. 2017, WGAN-GP): E (||grad D(x_hat)|| - 1)^2.

    x_hat = eps * x + (1 - eps) * G(z), one eps ~ U[0, 1] per sample; interpolates carry the real labels. The
    paper's weight is 10.
    """
    shape = (real.images.shape[0],) + (1,) * (real.images.ndim - 1)
    eps = jax.random.uniform(key, shape, jnp.float32)
    interpolates = Inputs(eps * real.images + (1.0 - eps) * fake.images, real.labels)
    return jnp.mean((gradient_norms(discriminator, interpolates) - 1.0) ** 2)


@PENALTIES.register("bcr")
def balanced_consistency(discriminator: Discriminator, real: Inputs, fake: Inputs, key: jax.Array) -> jax.Array:
    """Balanced consistency regularisation (Zhao et al. 2021, "Improved Consistency Regularization for GANs").

    E (D(x) - D(T(x)))^2 + E (D(G(z)) - D(T(G(z))))^2, with T their CIFAR-10 choice: a horizontal flip with
    probability 1/2, then a random translation. The paper weights both terms by 10.
    """
    total = jnp.zeros((), jnp.float32)
    for inputs, inputs_key in zip((real, fake), jax.random.split(key), strict=True):
        flip_key, shift_key = jax.random.split(inputs_key)
        transformed = augment.augment(flip_key, inputs.images, ("flip",), jnp.float32(0.5))
        transformed = augment.augment(shift_key, transformed, ("translation",), jnp.float32(1.0))
        difference = discriminator(inputs.images, inputs.labels) - discriminator(transformed, inputs.labels)
        total = total + jnp.mean(difference**2)
    return total
