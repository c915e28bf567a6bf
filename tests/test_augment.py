"""Differentiable augmentation: checks every registered op must pass, each op's semantics by hand, and ADA's rule."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from ganjax.augment import AUGMENTATIONS, ada_probability, augment
from ganjax.errors import ConfigError

KEY = jax.random.PRNGKey(0)
# Two batch shapes, to keep compilations few: a plain one, and one whose sizes exercise the rounding of the ops'
# ranges (26 / 8 = 3.25 and 20 / 8 = 2.5 for translation, 26 / 2 = 13 odd for cutout).
SQUARE = (256, 16, 16, 3)
ODD = (256, 26, 20, 3)


@functools.partial(jax.jit, static_argnums=0)
def apply(name: str, key: jax.Array, images: jax.Array, probability: jax.Array) -> jax.Array:
    """The op `name`, compiled with the probability traced, as in training."""
    return AUGMENTATIONS.get(name)(key, images, probability)


def random_images(shape: tuple[int, ...], seed: int = 0) -> jax.Array:
    return jax.random.uniform(jax.random.PRNGKey(seed), shape, jnp.float32, minval=-1.0, maxval=1.0)


def changed_samples(before: jax.Array, after: jax.Array) -> np.ndarray:
    """(B,) booleans: which samples differ in any bit."""
    before, after = np.asarray(before).view(np.uint32), np.asarray(after).view(np.uint32)
    return np.any(before != after, axis=(1, 2, 3))


# Every registered op, including any a user adds, must pass the checks below.
@pytest.mark.parametrize("name", AUGMENTATIONS.names())
@pytest.mark.parametrize("shape", [SQUARE, ODD])
def test_every_op_keeps_shape_and_dtype(name, shape):
    augmented = apply(name, KEY, random_images(shape), jnp.float32(1.0))
    assert augmented.shape == shape and augmented.dtype == jnp.float32


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_op_at_probability_zero_returns_the_input_bit_for_bit(name):
    images = random_images(SQUARE)
    assert not changed_samples(images, apply(name, KEY, images, jnp.float32(0.0))).any()


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_op_at_probability_one_changes_the_images(name):
    images = random_images(SQUARE)
    # Translation leaves a sample alone when it draws the shift (0, 0), 1 in 25 at 16x16; the others always change it.
    assert changed_samples(images, apply(name, KEY, images, jnp.float32(1.0))).mean() > 0.9


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_op_selects_each_sample_independently_with_the_probability(name):
    images = random_images(SQUARE)
    changed = changed_samples(images, apply(name, KEY, images, jnp.float32(0.3)))
    # Binomial(256, 0.3): mean 76.8, standard deviation 7.3; translation changes 24 of 25 selected samples.
    assert 45 < changed.sum() < 110


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_op_transforms_identical_samples_differently(name):
    images = jnp.broadcast_to(random_images((1, *SQUARE[1:])), SQUARE)
    augmented = np.asarray(apply(name, KEY, images, jnp.float32(0.5)))
    assert len(np.unique(augmented.reshape(len(augmented), -1), axis=0)) > 1


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_op_is_a_function_of_its_key(name):
    images = random_images(SQUARE)
    first, again = apply(name, KEY, images, jnp.float32(0.5)), apply(name, KEY, images, jnp.float32(0.5))
    other = apply(name, jax.random.PRNGKey(1), images, jnp.float32(0.5))
    assert not changed_samples(first, again).any()
    assert changed_samples(first, other).any()


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_op_passes_gradients_to_the_images(name):
    images, weights = random_images(SQUARE), random_images(SQUARE, seed=1)

    @jax.jit
    def grad(probability):
        return jax.grad(lambda x: jnp.sum(AUGMENTATIONS.get(name)(KEY, x, probability) * weights))(images)

    at_one = grad(jnp.float32(1.0))
    assert jnp.all(jnp.isfinite(at_one)) and jnp.any(at_one != 0)
    # Unselected samples pass through unchanged, so their gradient is the upstream one, exactly.
    np.testing.assert_array_equal(grad(jnp.float32(0.0)), weights)


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_op_needs_no_communication_across_a_sharded_batch(name):
    mesh = jax.make_mesh((8,), ("data",), (jax.sharding.AxisType.Auto,))
    batch_sharding = NamedSharding(mesh, PartitionSpec("data"))
    images = random_images(SQUARE)
    sharded_apply = jax.jit(
        lambda key, x, p: AUGMENTATIONS.get(name)(key, x, p), in_shardings=(None, batch_sharding, None)
    )
    compiled = sharded_apply.lower(KEY, images, jnp.float32(0.5)).compile()
    collectives = ("all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter")
    assert not [op for op in collectives if op in compiled.as_text()]
    sharded = compiled(KEY, jax.device_put(images, batch_sharding), jnp.float32(0.5))
    np.testing.assert_allclose(sharded, apply(name, KEY, images, jnp.float32(0.5)), atol=1e-6)


# Each op's semantics, worked out by hand.
def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """image moved down by dy and right by dx pixels, zeros where nothing moved in."""
    height, width = image.shape[:2]
    out = np.zeros_like(image)
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def test_translation_moves_a_bright_pixel_by_whole_pixels_up_to_an_eighth_of_the_size():
    # 26 / 8 = 3.25 rounds to 3, and so does 20 / 8 = 2.5, halves up as in DiffAugment (Python's round gives 2).
    images = np.zeros(ODD, np.float32)
    images[:, 13, 10, :] = 1.0
    augmented = np.asarray(apply("translation", KEY, jnp.asarray(images), jnp.float32(1.0)))
    assert np.all((augmented == 0) | (augmented == 1)) and np.all(augmented.sum(axis=(1, 2, 3)) == ODD[3])
    _, rows, columns, _ = np.nonzero(augmented)
    assert set(rows - 13) == set(range(-3, 4)) and set(columns - 10) == set(range(-3, 4))


def test_translation_shifts_the_whole_image_and_fills_the_border_with_zeros():
    images = np.asarray(random_images(ODD))
    augmented = np.asarray(apply("translation", KEY, jnp.asarray(images), jnp.float32(1.0)))
    offsets = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)]
    for image, out in zip(images, augmented, strict=True):
        assert sum(np.array_equal(shifted(image, dy, dx), out) for dy, dx in offsets) == 1


def test_cutout_zeroes_one_rectangle_of_half_the_size_clipped_by_the_border():
    # Images without zeros, so that every zero is cut out. 26 rows: side 13; 20 columns: side 10.
    magnitudes = np.asarray(random_images(ODD)) / 2 + 0.6
    images = np.where(np.asarray(random_images(ODD, seed=1)) < 0, -magnitudes, magnitudes)
    augmented = np.asarray(apply("cutout", KEY, jnp.asarray(images), jnp.float32(1.0)))
    extents = []
    for image, out in zip(images, augmented, strict=True):
        zero = out == 0
        assert np.all(zero == zero[..., :1])  # all channels or none
        rows, columns = np.nonzero(zero.any(axis=(1, 2)))[0], np.nonzero(zero.any(axis=(0, 2)))[0]
        for covered, length, side in ((rows, 26, 13), (columns, 20, 10)):
            assert np.array_equal(covered, np.arange(covered[0], covered[-1] + 1))  # one contiguous run
            clipped = covered[0] == 0 or covered[-1] == length - 1
            assert len(covered) == side or (clipped and side / 2 <= len(covered) < side)
        rectangle = np.zeros_like(zero)
        rectangle[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1] = True
        np.testing.assert_array_equal(zero, rectangle)
        np.testing.assert_array_equal(out[~rectangle], image[~rectangle])
        extents.append((len(rows), len(columns)))
    # The centre may sit on the very edge, leaving ceil(side / 2) inside: 7 of 13 rows, 5 of 10 columns.
    assert np.min(extents, axis=0).tolist() == [7, 5] and np.max(extents, axis=0).tolist() == [13, 10]


def test_flip_mirrors_left_to_right():
    images = random_images(ODD)
    np.testing.assert_array_equal(apply("flip", KEY, images, jnp.float32(1.0)), images[:, :, ::-1])


def test_color_draws_brightness_saturation_and_contrast_from_their_ranges():
    # Images built as x = g + p[h, w] + d[c], with p of zero spatial mean and d of zero channel mean, separate the
    # three factors. Brightness adds b; saturation keeps the pixel's channel mean g + b + p and scales d by s;
    # contrast keeps the image mean g + b and scales the rest by c:  out = g + b + c * p + c * s * d.
    batch, height, width, channels = SQUARE
    g = np.asarray(random_images((batch, 1, 1, 1), seed=1)) * 0.3
    p = np.asarray(random_images((batch, height, width, 1), seed=2)) * 0.3
    p -= p.mean(axis=(1, 2), keepdims=True)
    d = np.asarray(random_images((batch, 1, 1, channels), seed=3)) * 0.3
    d -= d.mean(axis=3, keepdims=True)
    augmented = np.asarray(apply("color", KEY, jnp.asarray(g + p + d), jnp.float32(1.0)), np.float64)

    def per_sample_coefficient(values, direction):
        """(B, 1, 1, 1): the least-squares fit of values ~ coefficient * direction, per sample."""
        direction = np.broadcast_to(direction, values.shape)
        return np.sum(values * direction, axis=(1, 2, 3), keepdims=True) / np.sum(
            direction**2, axis=(1, 2, 3), keepdims=True
        )

    image_mean = augmented.mean(axis=(1, 2, 3), keepdims=True)
    pixel_grey = augmented.mean(axis=3, keepdims=True)
    b = image_mean - g
    c = per_sample_coefficient(pixel_grey - image_mean, p)
    s = per_sample_coefficient(augmented - pixel_grey, d) / c
    np.testing.assert_allclose(augmented, g + b + c * p + c * s * d, atol=1e-5)
    for factor, (low, high) in ((b, (-0.5, 0.5)), (s, (0.0, 2.0)), (c, (0.5, 1.5))):
        assert low - 1e-5 <= factor.min() and factor.max() <= high + 1e-5
        assert factor.max() - factor.min() > 0.9 * (high - low)  # one draw per sample, over the whole range


def test_augment_applies_the_policy_in_order_with_a_key_per_position():
    images, probability = random_images(SQUARE), jnp.float32(0.7)

    @jax.jit
    def by_hand(images):
        colored = AUGMENTATIONS.get("color")(jax.random.fold_in(KEY, 0), images, probability)
        return AUGMENTATIONS.get("cutout")(jax.random.fold_in(KEY, 1), colored, probability)

    policy = jax.jit(lambda images: augment(KEY, images, ("color", "cutout"), probability))
    np.testing.assert_array_equal(policy(images), by_hand(images))
    np.testing.assert_array_equal(augment(KEY, images, (), probability), images)


def test_augment_with_an_unknown_op_lists_the_valid_ones():
    message = r"unknown augmentation 'colour' \(--config.augment.policy\); valid: color, cutout, flip, translation"
    with pytest.raises(ConfigError, match=message):
        augment(KEY, np.zeros((2, 8, 8, 3), np.float32), ("colour", "cutout"), 0.5)


# ADA: r_t = E[sign(real logits)];  p <- clip(p + sign(r_t - target) * images_seen / speed_images, 0, 1).
# images_seen / speed_images = 64 / 512 = 0.125, so the expected values below are exact in float32.
ada = jax.jit(ada_probability)


@pytest.mark.parametrize(
    ("probability", "real_logits", "expected"),
    [
        (0.25, [0.1, 3.0, 8.0, 0.5], 0.375),  # r_t = 1 > 0.6: up by 0.125
        (0.25, [-0.1, -3.0, -8.0, -0.5], 0.125),  # r_t = -1: down
        (0.25, [-50.0] + [0.1] * 9, 0.375),  # r_t = 0.8 counts signs: up, though the mean logit is negative
        (0.25, [50.0, 50.0, 50.0, -0.1, -0.1], 0.125),  # r_t = 0.2: down, though the mean logit is large
        (0.95, [1.0, 1.0], 1.0),  # clipped at 1
        (1.0, [1.0, 1.0], 1.0),
        (0.05, [-1.0, -1.0], 0.0),  # clipped at 0
        (0.0, [-1.0, -1.0], 0.0),
    ],
)
def test_ada_probability_moves_by_images_seen_over_speed_images(probability, real_logits, expected):
    real_logits = jnp.array(real_logits, jnp.float32)
    new_probability = ada(jnp.float32(probability), real_logits, target=0.6, images_seen=64, speed_images=512)
    assert new_probability.shape == () and new_probability.dtype == jnp.float32
    assert new_probability == expected


def test_ada_probability_holds_at_the_target():
    real_logits = jnp.array([2.0, 0.5, 1.0, -3.0], jnp.float32)  # r_t = 0.5 exactly
    assert ada(jnp.float32(0.25), real_logits, target=0.5, images_seen=64, speed_images=512) == 0.25


def test_ada_probability_at_stylegan2_ada_speed():
    # Batch 64, updated every 4 steps, 500k images from 0 to 1: steps of 256 / 500,000 = 5.12e-4.
    real_logits = jnp.ones((256,), jnp.float32)
    new_probability = ada(jnp.float32(0.5), real_logits, target=0.6, images_seen=256, speed_images=500_000)
    np.testing.assert_allclose(new_probability, 0.5 + 5.12e-4, rtol=1e-6)
