"""Deterministic, resumable, per-process batches.

The examples are visited in a fresh random order each epoch. Global batch b holds positions
[b * B, (b + 1) * B) of that endless sequence, and process p reads only its slice of it, positions
b * B + p * B / P + [0, B / P). Everything is a pure function of (seed, position), so:

- the data of step s is known without reading steps 0..s-1: a run resumed at step s simply starts there, and the
  step (saved in every checkpoint) is the whole of the data position;
- the global batch does not depend on the number of processes: P processes together read exactly what one would.

Each epoch's order is one numpy permutation, computed once for the whole epoch (grain's index shuffle is a Python call
per example). grain reads steps ahead on background threads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import grain
import numpy as np

from ganjax.data.sources import Source


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

    Yields:
      {"image": (batches_per_step, B / process_count, *sample_shape) float32}, one per step.
    """
    if batch_size % process_count:
        raise ValueError(f"batch size {batch_size} is not divisible by the {process_count} processes")

    def load(step: int) -> dict[str, np.ndarray]:
        positions = step_positions(
            step,
            batch_size=batch_size,
            batches_per_step=batches_per_step,
            process_index=process_index,
            process_count=process_count,
        )
        data = source.read(example_indices(positions, source.num_examples, seed).ravel())
        return {key: value.reshape(*positions.shape, *value.shape[1:]) for key, value in data.items()}

    steps = grain.MapDataset.range(start_step, num_steps).map(load)
    read_options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=2 * max(num_threads, 1))
    return iter(steps.to_iter_dataset(read_options))
