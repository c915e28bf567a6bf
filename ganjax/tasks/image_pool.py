"""A history of generated images that a discriminator is shown instead of the newest ones (Shrivastava et al. 2017),
as the official CycleGAN keeps it; kept in the training state so that resume is exact."""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class ImagePool:
    """A history of generated images that a discriminator is shown instead of the newest ones.

    Attributes:
      images: (size, H, W, C) float32, the stored images; slots at and after `count` are unused (zeros).
      count: int32 scalar, the number of images stored so far, at most size.
    """

    images: jax.Array
    count: jax.Array


def empty_pool(size: int, shape: tuple[int, int, int]) -> ImagePool:
    """A pool of `size` images of `shape` (H, W, C) with none stored; size 0: the discriminator sees the newest."""
    return ImagePool(jnp.zeros((size, *shape), jnp.float32), jnp.zeros((), jnp.int32))


def query_pool(pool: ImagePool, images: jax.Array, key: jax.Array) -> tuple[ImagePool, jax.Array]:
    """The official CycleGAN's `ImagePool.query`, image by image, with the randomness drawn from `key`.

    For each image i of `images` (B, H, W, C) in order: while the pool is not full, the image is stored in the next
    slot and shown as it is; once it is full, with probability 1/2 (u_i > 0.5, u = uniform(key_u, (B,))) a stored
    image, slot s_i (s = randint(key_s, (B,), 0, size)), is shown and replaced by the new one, and otherwise the
    new image is shown and not stored; key_u, key_s = split(key).

    Returns:
      (the pool after the batch, the images shown (B, H, W, C)).
    """
    size = pool.images.shape[0]
    if size == 0:
        return pool, images
    uniform_key, slot_key = jax.random.split(key)
    swaps = jax.random.uniform(uniform_key, images.shape[:1]) > 0.5
    slots = jax.random.randint(slot_key, images.shape[:1], 0, size)

    def one(carry: tuple[jax.Array, jax.Array], inputs: tuple[jax.Array, jax.Array, jax.Array]):
        stored, count = carry
        image, swap, slot = inputs
        filling = count < size
        index = jnp.where(filling, count, slot)
        shown = jnp.where(filling | ~swap, image, stored[slot])
        stored = stored.at[index].set(jnp.where(filling | swap, image, stored[index]))
        return (stored, count + filling.astype(jnp.int32)), shown

    (stored, count), shown = jax.lax.scan(one, (pool.images, pool.count), (images, swaps, slots))
    return ImagePool(stored, count), shown
