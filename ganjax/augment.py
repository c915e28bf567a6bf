"""Differentiable augmentation, applied to each sample with a probability, and ADA's update of that probability.

A discriminator trained on few images memorises them. Augmenting only the real images does not help: D learns that
augmented images are real and G learns to make them ("leaking"). DiffAugment (Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training") applies the same kind of random transform to real and generated images
before every call of D; the transforms are differentiable, so G is trained through them. ADA (Karras et al. 2020,
"Training GANs with Limited Data") transforms each image only with probability p, so that D still sees enough clean
images for the transforms not to leak, and tunes p during training (`ada_probability`).

Every op is a function `op(key, images, probability) -> images`:

    images       (B, H, W, C) float32, images in [-1, 1]; the output has the same shape and dtype. Ops do not clip,
                 so `color` may leave [-1, 1].
    probability  scalar float32, possibly traced (it lives in the training state). Each sample is transformed
                 independently with this probability; the others come out bit-identical to the input.

Ops are differentiable with respect to the images, compile under `jax.jit` with static shapes, and treat every sample
on its own (the batch axis is sharded over devices, so nothing may mix samples). `augment` applies a policy, a
sequence of op names, chosen by `--config.augment.policy`. To add an op, register it here; the shared tests in
tests/test_augment.py check it automatically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from ganjax.registry import Registry

Transform = Callable[[jax.Array, jax.Array, jax.Array | float], jax.Array]
AUGMENTATIONS: Registry[Transform] = Registry("augmentation", config_key="augment.policy")

TRANSLATION_RATIO = 1 / 8  # the largest shift, as a fraction of the image's height (width)
CUTOUT_RATIO = 1 / 2  # the cut-out rectangle's height (width), as a fraction of the image's


def _round_half_up(x: float) -> int:
    """Rounds as DiffAugment does, int(x + 0.5): 2.5 -> 3, where Python's round(2.5) gives 2."""
    return math.floor(x + 0.5)


def _per_sample(key: jax.Array, probability: jax.Array | float, transformed: jax.Array, images: jax.Array) -> jax.Array:
    """`transformed` for the samples that a Bernoulli(probability) draw selects, `images` (bit for bit) elsewhere.

    Both are (B, H, W, C); one independent draw per sample. The gradient flows through whichever was chosen.
    """
    selected = jax.random.bernoulli(key, probability, (images.shape[0],))
    return jnp.where(selected[:, None, None, None], transformed, images)


@AUGMENTATIONS.register("color")
def color(key: jax.Array, images: jax.Array, probability: jax.Array | float) -> jax.Array:
    """Brightness, then saturation, then contrast, each with its own factor per sample (DiffAugment's `color`).

        brightness  x + b              b ~ U[-0.5, 0.5)
        saturation  g + s * (x - g)    s ~ U[0, 2),     g = the pixel's mean over channels (no effect on greyscale)
        contrast    m + c * (x - m)    c ~ U[0.5, 1.5), m = the image's mean over pixels and channels

    Saturation keeps each pixel's channel mean and contrast the image mean, so the image mean moves by exactly b.
    One draw per sample decides whether all three apply.
    """
    select_key, brightness_key, saturation_key, contrast_key = jax.random.split(key, 4)
    factor_shape, dtype = (images.shape[0], 1, 1, 1), images.dtype
    brightness = jax.random.uniform(brightness_key, factor_shape, dtype, minval=-0.5, maxval=0.5)
    saturation = jax.random.uniform(saturation_key, factor_shape, dtype, minval=0.0, maxval=2.0)
    contrast = jax.random.uniform(contrast_key, factor_shape, dtype, minval=0.5, maxval=1.5)
    x = images + brightness
    grey = jnp.mean(x, axis=-1, keepdims=True)
    x = grey + saturation * (x - grey)
    image_mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    x = image_mean + contrast * (x - image_mean)
    return _per_sample(select_key, probability, x, images)


@AUGMENTATIONS.register("translation")
def translation(key: jax.Array, images: jax.Array, probability: jax.Array | float) -> jax.Array:
    """Shifts each sample by whole pixels, filling the exposed border with zeros (DiffAugment's `translation`).

    output[i, j] = images[i - dy, j - dx] where that pixel exists, else 0, with dy and dx uniform integers in
    [-round(H / 8), round(H / 8)] and [-round(W / 8), round(W / 8)], rounding halves up as DiffAugment does
    (H = 32 or 28: up to 4 pixels; 20: up to 3).
    """
    select_key, dy_key, dx_key = jax.random.split(key, 3)
    batch, height, width, channels = images.shape
    max_dy, max_dx = _round_half_up(height * TRANSLATION_RATIO), _round_half_up(width * TRANSLATION_RATIO)
    dy = jax.random.randint(dy_key, (batch,), -max_dy, max_dy + 1)
    dx = jax.random.randint(dx_key, (batch,), -max_dx, max_dx + 1)
    padded = jnp.pad(images, ((0, 0), (max_dy, max_dy), (max_dx, max_dx), (0, 0)))

    def shift(padded_image: jax.Array, dy: jax.Array, dx: jax.Array) -> jax.Array:
        # output[i, j] = padded_image[i + max_dy - dy, j + max_dx - dx] = image[i - dy, j - dx]
        return jax.lax.dynamic_slice(padded_image, (max_dy - dy, max_dx - dx, 0), (height, width, channels))

    return _per_sample(select_key, probability, jax.vmap(shift)(padded, dy, dx), images)


@AUGMENTATIONS.register("cutout")
def cutout(key: jax.Array, images: jax.Array, probability: jax.Array | float) -> jax.Array:
    """Zeroes a rectangle of half the image's size at a random place per sample (DiffAugment's `cutout`).

    The rectangle is round(H / 2) x round(W / 2) pixels (a square on square images; rounding halves up), and its
    centre is uniform over the image, edges included, so the border may clip it to as little as half of each side:
    for side s along an axis of length L, its first row (column) is a uniform integer in [-(s // 2), L - ceil(s / 2)].
    All channels are zeroed; the other pixels are unchanged.
    """
    select_key, rows_key, columns_key = jax.random.split(key, 3)
    batch, height, width, _ = images.shape

    def covered(key: jax.Array, length: int) -> jax.Array:
        """(B, length) booleans: which rows (columns) of each sample the rectangle covers."""
        side = _round_half_up(length * CUTOUT_RATIO)
        first = jax.random.randint(key, (batch, 1), -(side // 2), length - (side + 1) // 2 + 1)
        index = jnp.arange(length)
        return (index >= first) & (index < first + side)

    rows, columns = covered(rows_key, height), covered(columns_key, width)
    rectangle = rows[:, :, None, None] & columns[:, None, :, None]
    return _per_sample(select_key, probability, jnp.where(rectangle, 0.0, images), images)


@AUGMENTATIONS.register("flip")
def flip(key: jax.Array, images: jax.Array, probability: jax.Array | float) -> jax.Array:
    """Mirrors each sample left to right, images[:, :, ::-1] (ADA's xflip; DiffAugment has no flip)."""
    return _per_sample(key, probability, images[:, :, ::-1], images)


def augment(key: jax.Array, images: jax.Array, policy: Sequence[str], probability: jax.Array | float) -> jax.Array:
    """Applies the ops named in `policy` in order, each to each sample with probability `probability`.

    Args:
      key: PRNG key; the op at position i of the policy draws from jax.random.fold_in(key, i), so adding an op at the
        end leaves the draws of the others unchanged.
      images: (B, H, W, C) float32, images in [-1, 1].
      policy: op names from AUGMENTATIONS, e.g. ("color", "translation", "cutout"), DiffAugment's choice for
        CIFAR-10; empty: the images unchanged.
      probability: scalar float32 in [0, 1], possibly traced.

    Returns:
      (B, H, W, C), same dtype.

    Raises:
      ConfigError: a name in `policy` is not registered; the message lists the valid ones.
    """
    ops = [AUGMENTATIONS.get(name) for name in policy]
    for position, op in enumerate(ops):
        images = op(jax.random.fold_in(key, position), images, probability)
    return images


def ada_probability(
    probability: jax.Array | float,
    real_logits: jax.Array,
    *,
    target: float,
    images_seen: jax.Array | int,
    speed_images: jax.Array | int,
) -> jax.Array:
    """ADA's update of the augmentation probability p (Karras et al. 2020, section 3).

    D overfits when it grows confident on the real images. ADA measures that on the signs of its logits,

        r_t = E[sign(D(x_real))]     in [-1, 1]: 1 when D calls every real image real, 0 when it guesses,

    and raises p when r_t is above the target, lowers it when below, at a fixed rate per image shown:

        p <- clip(p + sign(r_t - target) * images_seen / speed_images, 0, 1)

    Args:
      probability: the current p, scalar float32.
      real_logits: float32 of any shape, D's logits on the real images shown since the last update.
      target: the r_t to hold; StyleGAN2-ADA uses 0.6.
      images_seen: real images shown to D since the last update (StyleGAN2-ADA: batch size x 4 steps).
      speed_images: images over which p can go from 0 to 1; StyleGAN2-ADA uses 500,000.

    Returns:
      The new p, scalar float32 in [0, 1].
    """
    overfitting = jnp.mean(jnp.sign(real_logits))
    rate = jnp.asarray(images_seen, jnp.float32) / jnp.asarray(speed_images, jnp.float32)
    new_probability = probability + jnp.sign(overfitting - target) * rate
    return jnp.clip(new_probability, 0.0, 1.0).astype(jnp.float32)
