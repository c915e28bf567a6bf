"""Seeded degradations of clean image batches, the inputs of restoration models: noise, downscaling, holes, grey.

Images are float32 NHWC in the model range [-1, 1] (uint8 v is v * 2/255 - 1). A degradation is a frozen (hashable)
dataclass, built from `config.degradation` by name (`build_degradation`), with:

    scale                 clean size / degraded size: 4 for x4 super-resolution, 1 otherwise
    __call__(key, clean)  clean (B, H, W, C) -> Degraded; pure, jit-able, deterministic for a key, each image drawn
                          on its own
    input_channels(c)     the channels of Degraded.image for clean images of c channels
    describe()            the protocol in words, for tables

Registered: `noise` (additive white Gaussian noise, DnCNN's protocol), `downscale` (MATLAB's bicubic `imresize`, the
protocol of the super-resolution tables), `inpaint` (free-form brush strokes or a centre square, holes set to 0) and
`grey` (BT.601 luma, the input of colourisation). The masks and `evaluation_masks` are public, for the evaluation of
restoration models; MATLAB's bicubic resize is ganjax/imresize.py.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ganjax.errors import ConfigError
from ganjax.images import round_to_uint8_levels
from ganjax.imresize import imresize
from ganjax.registry import Registry

DEGRADATIONS: Registry = Registry("degradation", config_key="degradation.name")

SCALES = (2, 3, 4)
MASK_KINDS = ("centre", "free_form")
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma of R, G, B

# Free-form masks: NUM_STROKES polylines at most, each of NUM_VERTICES vertices. Segment lengths are a fraction of the
# image's shorter side; each turn is uniform within +-MAX_TURN radians of the previous heading; a stroke's width
# factor divides the distance to it, so wide strokes take more of the hole than thin ones.
NUM_STROKES = 4
NUM_VERTICES = 6
SEGMENT_LENGTH = (0.1, 0.3)
MAX_TURN = math.pi / 2
WIDTH_FACTOR = (0.5, 1.5)

# Hole-area buckets (fractions of the image) of the evaluation masks, as in LaMa's and CoModGAN's tables.
AREA_BUCKETS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))


class Degraded(NamedTuple):
    """What a restoration network sees.

    image: (B, h, w, c) float32 in the model range; noise may leave [-1, 1].
    mask:  (B, H, W, 1) float32, 1.0 where pixels are missing (inpainting); None otherwise.
    """

    image: jax.Array
    mask: jax.Array | None


def build_degradation(degradation_config: ml_collections.ConfigDict):
    """The degradation that `degradation_config.name` names, built from the config; ConfigError on a bad value."""
    return DEGRADATIONS.get(degradation_config.name)(degradation_config)


# ---------------------------------------------------------------------------------------------------------- noise


@dataclasses.dataclass(frozen=True)
class Noise:
    """Additive white Gaussian noise of standard deviation sigma on the 0-255 scale, not clipped (DnCNN's protocol).

    sigma_max: None for one noise level; otherwise a blind model's range, sigma ~ U[sigma, sigma_max] per image.
    """

    sigma: float
    sigma_max: float | None = None
    scale: ClassVar[int] = 1

    def __post_init__(self):
        if self.sigma < 0:
            raise ConfigError(f"degradation.sigma must be >= 0 (0-255 scale), got {self.sigma:g}")
        if self.sigma_max is not None and self.sigma_max < self.sigma:
            raise ConfigError(
                f"degradation.sigma_max {self.sigma_max:g} is below degradation.sigma {self.sigma:g}; "
                "set sigma_max >= sigma, or None for one noise level"
            )

    def __call__(self, key: jax.Array, clean: jax.Array) -> Degraded:
        level_key, noise_key = jax.random.split(key)
        batch = clean.shape[0]
        if self.sigma_max is None:
            sigma = jnp.full((batch,), self.sigma, jnp.float32)
        else:
            sigma = jax.random.uniform(level_key, (batch,), jnp.float32, self.sigma, self.sigma_max)
        noise = jax.random.normal(noise_key, clean.shape, jnp.float32)
        return Degraded(clean + noise * (sigma * 2.0 / 255.0)[:, None, None, None], None)

    def input_channels(self, channels: int) -> int:
        return channels

    def describe(self) -> str:
        if self.sigma_max is None:
            return f"Gaussian noise sigma {self.sigma:g} (0-255 scale)"
        return f"Gaussian noise sigma {self.sigma:g}-{self.sigma_max:g} per image, uniform (0-255 scale, blind)"


@DEGRADATIONS.register("noise")
def _noise(config: ml_collections.ConfigDict) -> Noise:
    sigma_max = None if config.sigma_max is None else float(config.sigma_max)
    return Noise(float(config.sigma), sigma_max)


# ------------------------------------------------------------------------------------------------------ downscale


@dataclasses.dataclass(frozen=True)
class Downscale:
    """MATLAB bicubic downscaling by 1/scale (`imresize`); quantize: rounded to 8-bit levels, as a saved LR PNG."""

    scale: int
    quantize: bool

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ConfigError(f"degradation.scale must be one of {', '.join(map(str, SCALES))}, got {self.scale}")

    def __call__(self, key: jax.Array, clean: jax.Array) -> Degraded:
        del key  # deterministic
        low = imresize(clean, 1 / self.scale)
        return Degraded(round_to_uint8_levels(low) if self.quantize else low, None)

    def input_channels(self, channels: int) -> int:
        return channels

    def describe(self) -> str:
        rounded = ", rounded to 8 bits" if self.quantize else ""
        return f"x{self.scale} bicubic downscaling (MATLAB imresize, antialiased{rounded})"


@DEGRADATIONS.register("downscale")
def _downscale(config: ml_collections.ConfigDict) -> Downscale:
    return Downscale(int(config.scale), bool(config.quantize))


# -------------------------------------------------------------------------------------------------------- inpaint


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def centre_mask(height: int, width: int, fraction: float) -> jax.Array:
    """(H, W, 1) float32: 1.0 in the centred rectangle of round(fraction * H) rows and round(fraction * W) columns
    (a square on square images; rounded half up), 0.0 elsewhere."""
    rows, cols = _round_half_up(fraction * height), _round_half_up(fraction * width)
    top, left = (height - rows) // 2, (width - cols) // 2
    mask = np.zeros((height, width, 1), np.float32)
    mask[top : top + rows, left : left + cols] = 1.0
    return jnp.asarray(mask)


def _stroke_skeleton(key: jax.Array, height: int, width: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Random polylines in pixel coordinates: segment starts and ends (S, NUM_VERTICES - 1, 2) as (row, column),
    each stroke's width factor (S,) and whether it is drawn (S,); 1 to NUM_STROKES strokes are."""
    start_key, turn_key, heading_key, length_key, width_key, count_key = jax.random.split(key, 6)
    shape = (NUM_STROKES, NUM_VERTICES - 1)
    start = jax.random.uniform(start_key, (NUM_STROKES, 1, 2)) * jnp.array([height - 1, width - 1], jnp.float32)
    heading = jax.random.uniform(heading_key, (NUM_STROKES, 1), maxval=2 * math.pi)
    turns = jax.random.uniform(turn_key, shape, minval=-MAX_TURN, maxval=MAX_TURN).at[:, 0].set(0.0)
    angle = heading + jnp.cumsum(turns, axis=1)
    length = jax.random.uniform(length_key, shape, minval=SEGMENT_LENGTH[0], maxval=SEGMENT_LENGTH[1])
    step = (length * min(height, width))[..., None] * jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1)
    vertices = jnp.concatenate([start, start + jnp.cumsum(step, axis=1)], axis=1)
    vertices = jnp.clip(vertices, 0.0, jnp.array([height - 1, width - 1], jnp.float32))
    widths = jax.random.uniform(width_key, (NUM_STROKES,), minval=WIDTH_FACTOR[0], maxval=WIDTH_FACTOR[1])
    drawn = jnp.arange(NUM_STROKES) < jax.random.randint(count_key, (), 1, NUM_STROKES + 1)
    return jnp.stack([vertices[:, :-1], vertices[:, 1:]], axis=2), widths, drawn


def free_form_mask(key: jax.Array, height: int, width: int, area: jax.Array | float) -> jax.Array:
    """(H, W, 1) float32 brush-stroke holes (in the style of DeepFill v2 and LaMa) covering `area` of the image.

    A few random polylines (random start, segments of random heading and length) are the strokes' skeleton; the
    k = round(area * H * W) pixels nearest to it (distance divided by each stroke's width factor) are the hole, so the
    area is hit exactly (ties are broken by rank, never overshoot). `area` in [0, 1] may be traced.
    """
    segments, widths, drawn = _stroke_skeleton(key, height, width)
    rows, cols = jnp.meshgrid(
        jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32), indexing="ij"
    )
    pixels = jnp.stack([rows.ravel(), cols.ravel()], axis=-1)[:, None, None, :]  # (HW, 1, 1, 2)
    start, end = segments[:, :, 0], segments[:, :, 1]  # (S, V-1, 2)
    direction = end - start
    along = jnp.sum((pixels - start) * direction, axis=-1) / jnp.maximum(jnp.sum(direction**2, axis=-1), 1e-12)
    nearest = start + jnp.clip(along, 0.0, 1.0)[..., None] * direction
    distance = jnp.sqrt(jnp.sum((pixels - nearest) ** 2, axis=-1)) / widths[:, None]  # (HW, S, V-1)
    distance = jnp.min(jnp.where(drawn[:, None], distance, jnp.inf), axis=(1, 2))
    count = jnp.round(jnp.asarray(area, jnp.float32) * (height * width)).astype(jnp.int32)
    order = jnp.argsort(distance, stable=True)
    hole = (
        jnp.zeros(height * width, jnp.float32).at[order].set((jnp.arange(height * width) < count).astype(jnp.float32))
    )
    return hole.reshape(height, width, 1)


def apply_mask(clean: jax.Array, mask: jax.Array) -> Degraded:
    """clean (B, H, W, C) with the holes of mask ((B, H, W, 1) or (H, W, 1), 1.0 = missing) set to 0, mid-grey."""
    mask = jnp.broadcast_to(mask, (*clean.shape[:-1], 1))
    return Degraded(clean * (1.0 - mask), mask)


def evaluation_masks(seed: int, num: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed free-form masks for evaluation: (masks (num, H, W, 1) float32, buckets (num,) int32).

    Mask i falls in bucket i % len(AREA_BUCKETS), its area uniform inside that bucket. They depend only on the seed
    (computed on the CPU, so they are the same on every machine and at every evaluation).
    """
    buckets = np.arange(num, dtype=np.int32) % len(AREA_BUCKETS)
    with jax.default_device(jax.devices("cpu")[0]):
        bounds = jnp.asarray(np.array(AREA_BUCKETS, np.float32)[buckets])
        keys = jax.random.split(jax.random.key(seed), num)
        masks = _evaluation_masks(keys, bounds, height, width)
    return np.asarray(masks), buckets


@functools.partial(jax.jit, static_argnums=(2, 3))
def _evaluation_masks(keys: jax.Array, bounds: jax.Array, height: int, width: int) -> jax.Array:
    def one(key, bound):
        area_key, mask_key = jax.random.split(key)
        area = jax.random.uniform(area_key, (), minval=bound[0], maxval=bound[1])
        return free_form_mask(mask_key, height, width, area)

    return jax.lax.map(lambda args: one(*args), (keys, bounds))


def bucket_name(index: int) -> str:
    """The hole-area bucket AREA_BUCKETS[index] in words: "10-20%"."""
    low, high = AREA_BUCKETS[index]
    return f"{_round_half_up(low * 100)}-{_round_half_up(high * 100)}%"


def mask_from_image(array: np.ndarray) -> np.ndarray:
    """A user's mask image, uint8 (H, W) or (H, W, C), as (H, W, 1) float32: 1.0 (hole) where any colour channel is
    nonzero, 0.0 where all are black. An alpha channel (C = 2 or 4) is ignored."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 2, 3, 4)):
        raise ConfigError(f"a mask image must be uint8 (H, W) or (H, W, 1-4), got {array.dtype} {array.shape}")
    colour = array[..., None] if array.ndim == 2 else array[..., : 1 if array.shape[-1] <= 2 else 3]
    return np.any(colour > 0, axis=-1, keepdims=True).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Inpaint:
    """Holes set to 0: free-form strokes of hole area ~ U[area_min, area_max] per image, or a centre square."""

    mask: str
    area_min: float
    area_max: float
    centre_fraction: float
    scale: ClassVar[int] = 1

    def __post_init__(self):
        if self.mask not in MASK_KINDS:
            raise ConfigError(f"unknown degradation.mask {self.mask!r}; valid: {', '.join(MASK_KINDS)}")
        if not 0 < self.area_min <= self.area_max < 1:
            raise ConfigError(
                f"degradation.area_min {self.area_min:g} and area_max {self.area_max:g} must satisfy "
                "0 < area_min <= area_max < 1 (fractions of the image)"
            )
        if not 0 < self.centre_fraction < 1:
            raise ConfigError(f"degradation.centre_fraction must be in (0, 1), got {self.centre_fraction:g}")

    def __call__(self, key: jax.Array, clean: jax.Array) -> Degraded:
        batch, height, width, _ = clean.shape
        if self.mask == "centre":
            return apply_mask(clean, centre_mask(height, width, self.centre_fraction))
        area_key, mask_key = jax.random.split(key)
        area = jax.random.uniform(area_key, (batch,), minval=self.area_min, maxval=self.area_max)
        masks = jax.vmap(free_form_mask, in_axes=(0, None, None, 0))(
            jax.random.split(mask_key, batch), height, width, area
        )
        return apply_mask(clean, masks)

    def input_channels(self, channels: int) -> int:
        return channels

    def describe(self) -> str:
        if self.mask == "centre":
            return f"centre square holes, side {self.centre_fraction:g} of the image's"
        return f"free-form masks, hole area {self.area_min * 100:g}-{self.area_max * 100:g}%"


@DEGRADATIONS.register("inpaint")
def _inpaint(config: ml_collections.ConfigDict) -> Inpaint:
    return Inpaint(str(config.mask), float(config.area_min), float(config.area_max), float(config.centre_fraction))


# ----------------------------------------------------------------------------------------------------------- grey


@dataclasses.dataclass(frozen=True)
class Grey:
    """Colourisation's input: ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B of RGB images, (B, H, W, 1)."""

    scale: ClassVar[int] = 1

    def __call__(self, key: jax.Array, clean: jax.Array) -> Degraded:
        del key  # deterministic
        return Degraded(jnp.sum(clean * jnp.asarray(LUMA_WEIGHTS, clean.dtype), axis=-1, keepdims=True), None)

    def input_channels(self, channels: int) -> int:
        if channels != 3:
            raise ConfigError(f"degradation 'grey' needs RGB images (3 channels), got {channels}")
        return 1

    def describe(self) -> str:
        return "greyscale input (ITU-R BT.601 luma)"


@DEGRADATIONS.register("grey")
def _grey(config: ml_collections.ConfigDict) -> Grey:
    del config
    return Grey()
