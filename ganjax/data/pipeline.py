"""Deterministic, resumable, per-process batches.

The examples are visited in a fresh random order each epoch. Global batch b holds positions
[b * B, (b + 1) * B) of that endless sequence, and process p reads only its slice of it, positions
b * B + p * B / P + [0, B / P). Everything is a pure function of (seed, position), so:

- the data of step s is known without reading steps 0..s-1: a run resumed at step s simply starts there, and the
  step (saved in every checkpoint) is the whole of the data position;
- the global batch does not depend on the number of processes: P processes together read exactly what one would.

Each epoch's order is one numpy permutation, computed once for the whole epoch (grain's index shuffle is a Python call
per example). grain reads steps ahead on background threads.

Patches (`crop`, `flip_rotate`): each example may be cut to a random square window and turned by one of the 8
symmetries of the square, the way restoration models train on patches of larger images. Those random numbers are a
pure function of (seed, position) too, drawn counter-based (`position_integers`), so the guarantees above hold for
patches as well; a position's numbers do not depend on which batch or process reads it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import grain
import numpy as np

from ganjax.data.sources import Source
from ganjax.errors import ConfigError, DataError

# Keeps the augmentation's random numbers apart from any other stream drawn from (seed, position).
AUGMENT_STREAM = 0x5041_5443_4845_5331
_GOLDEN_GAMMA = 0x9E37_79B9_7F4A_7C15  # SplitMix64's increment: 2**64 / the golden ratio, odd
NUM_SYMMETRIES = 8


@functools.lru_cache(maxsize=8)
def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The example order of one epoch: a permutation of range(num_examples), int64."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def example_indices(positions: np.ndarray, num_examples: int, seed: int) -> np.ndarray:
    """Example indices at positions (any shape, int64) of the endless, epoch-by-epoch shuffled sequence."""
    epochs, offsets = np.divmod(positions, num_examples)
    indices = np.empty_like(positions)
    for epoch in np.unique(epochs):
        where = epochs == epoch
        indices[where] = epoch_permutation(num_examples, seed, int(epoch))[offsets[where]]
    return indices


def step_positions(
    step: int, *, batch_size: int, batches_per_step: int, process_index: int, process_count: int
) -> np.ndarray:
    """(batches_per_step, batch_size // process_count) positions that this process reads for one train step."""
    local = batch_size // process_count
    first = step * batches_per_step * batch_size + process_index * local
    return first + np.arange(batches_per_step)[:, None] * batch_size + np.arange(local)[None, :]


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 arrays: a bijection that spreads every input bit over all output bits."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58_476D_1CE4_E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D0_49BB_1331_11EB)
    return x ^ (x >> np.uint64(31))


def position_integers(positions: np.ndarray, seed: int, bounds: tuple[int, ...]) -> np.ndarray:
    """(n, len(bounds)) int64: for each position (n,) int64 and each bound, an integer uniform in [0, bound).

    Draw k of position p is output number p * len(bounds) + k of a SplitMix64 generator seeded with (seed,
    AUGMENT_STREAM): computed directly from that counter, vectorised, so it depends on nothing but (seed, p, k). The
    integer is the high 32 bits scaled to the bound (bias below bound / 2**32, nothing for image sides).
    """
    key = _mix64(np.array([seed % 2**64], np.uint64) ^ np.uint64(AUGMENT_STREAM))
    draws = np.arange(len(bounds), dtype=np.uint64)
    counters = positions.astype(np.uint64)[:, None] * np.uint64(len(bounds)) + draws + np.uint64(1)
    bits = _mix64(key + counters * np.uint64(_GOLDEN_GAMMA))
    return (((bits >> np.uint64(32)) * np.array(bounds, np.uint64)) >> np.uint64(32)).astype(np.int64)


def apply_symmetry(images: np.ndarray, symmetry: int) -> np.ndarray:
    """Square images (n, S, S, C) under symmetry 0..7 of the square: rotated by 90 degrees counter-clockwise
    `symmetry % 4` times, then transposed when `symmetry >= 4` (which makes the two flips and two diagonal mirrors)."""
    turned = np.rot90(images, symmetry % 4, axes=(1, 2))
    return turned.swapaxes(1, 2) if symmetry >= 4 else turned


def augment_patches(
    images: np.ndarray, positions: np.ndarray, seed: int, *, crop: int | None, flip_rotate: bool
) -> np.ndarray:
    """Random square windows of images, each turned by a random symmetry of the square; a pure function of (seed,
    position) per example.

    Args:
      images: (n, H, W, C), any dtype.
      positions: (n,) int64, the examples' positions in the endless sequence.
      seed: the run's seed.
      crop: side of the window, at most min(H, W), uniform over all (H - crop + 1) * (W - crop + 1) placements;
        None keeps whole images.
      flip_rotate: turn each window by one of the 8 symmetries (`apply_symmetry`), uniformly; without a crop the
        images must be square.

    Returns:
      (n, crop, crop, C) (without a crop (n, H, W, C)), the dtype of `images`.
    """
    n, height, width = images.shape[:3]
    rows, cols = (height, width) if crop is None else (crop, crop)
    top, left, symmetry = position_integers(
        positions, seed, (height - rows + 1, width - cols + 1, NUM_SYMMETRIES if flip_rotate else 1)
    ).T
    patches = images[
        np.arange(n)[:, None, None],
        (top[:, None] + np.arange(rows))[:, :, None],
        (left[:, None] + np.arange(cols))[:, None, :],
    ]
    for turn in np.unique(symmetry[symmetry > 0]):
        patches[symmetry == turn] = apply_symmetry(patches[symmetry == turn], int(turn))
    return patches


def crop_shape(sample_shape: tuple[int, ...], crop: int | None) -> tuple[int, ...]:
    """The shape of one sample (H, W, C) after a `crop` x `crop` window (None: unchanged)."""
    return sample_shape if crop is None else (crop, crop, *sample_shape[2:])


def check_patches(source: Source, *, crop: int | None, flip_rotate: bool) -> None:
    """Raises DataError when the source's samples cannot be cut to `crop` x `crop` windows or turned by the square's
    symmetries: they are not images, smaller than the crop, or (turned without a crop) not square."""
    if crop is None and not flip_rotate:
        return
    shape = source.sample_shape
    if len(shape) != 3:
        raise DataError(
            f"{source.name} has samples of shape {shape}, not images (H, W, C), so they cannot be cropped, flipped or "
            "rotated; unset --config.data.crop and --config.data.flip_rotate"
        )
    height, width = shape[:2]
    if crop is not None and crop < 1:
        raise ConfigError(f"--config.data.crop={crop} must be a positive side in pixels (or unset for whole images)")
    if crop is not None and crop > min(height, width):
        raise DataError(
            f"{source.name} has images of {height}x{width}, smaller than the {crop}x{crop} crop; set "
            f"--config.data.crop to at most {min(height, width)}"
        )
    if crop is None and height != width:
        raise DataError(
            f"{source.name} has {height}x{width} images, which rotations would make {width}x{height}; set "
            f"--config.data.crop to at most {min(height, width)} to rotate square crops, or unset "
            "--config.data.flip_rotate"
        )


def train_batches(
    source: Source,
    *,
    batch_size: int,
    batches_per_step: int,
    seed: int,
    start_step: int,
    num_steps: int,
    process_index: int,
    process_count: int,
    num_threads: int = 1,
    crop: int | None = None,
    flip_rotate: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """This process's share of the batches of steps start_step, ..., num_steps - 1.

    Args:
      source: the dataset.
      batch_size: the global batch size B, over all processes; process_count must divide it.
      batches_per_step: real batches each step consumes (the discriminator updates per step).
      seed: orders the epochs.
      start_step: the first step to produce (the step of the restored state).
      num_steps: one past the last step.
      process_index, process_count: this process and how many there are (jax.process_index(), jax.process_count()).
      num_threads: grain reader threads that prepare batches ahead; 0 reads on the calling thread.
      crop: side of a square random window cut from each image (`augment_patches`); None: whole images.
      flip_rotate: turn each image (or window) by a random one of the 8 symmetries of the square.

    Yields:
      {"image": (batches_per_step, B / process_count, *crop_shape(sample_shape, crop)) float32, and "label" when
      labelled}, one per step.

    Raises:
      DataError: at once, when the images cannot be cropped or turned (`check_patches`).
    """
    if batch_size % process_count:
        raise ValueError(f"batch size {batch_size} is not divisible by the {process_count} processes")
    check_patches(source, crop=crop, flip_rotate=flip_rotate)

    def load(step: int) -> dict[str, np.ndarray]:
        positions = step_positions(
            step,
            batch_size=batch_size,
            batches_per_step=batches_per_step,
            process_index=process_index,
            process_count=process_count,
        )
        data = source.read(example_indices(positions, source.num_examples, seed).ravel())
        if crop is not None or flip_rotate:
            data["image"] = augment_patches(data["image"], positions.ravel(), seed, crop=crop, flip_rotate=flip_rotate)
        return {key: value.reshape(*positions.shape, *value.shape[1:]) for key, value in data.items()}

    steps = grain.MapDataset.range(start_step, num_steps).map(load)
    read_options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=2 * max(num_threads, 1))
    return iter(steps.to_iter_dataset(read_options))
