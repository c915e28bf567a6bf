"""Device mesh, shardings, and host-local <-> global arrays.

The step is written for global arrays; these shardings tell `jax.jit` how they are laid out. The mesh has a "data"
axis and optionally an "fsdp" axis. A batch is split over both, so every device works on its own part of it. The
training state is replicated over "data"; over "fsdp", each array of at least `min_size` elements is split along its
largest dimension that the axis divides (fully sharded data parallelism: XLA gathers a parameter where it is used and
scatters its gradient), so parameters and optimizer state take 1 / fsdp of the memory per device. The rule depends
only on shapes, so a parameter and its Adam moments are laid out alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ganjax.errors import ConfigError

DATA_AXIS = "data"
FSDP_AXIS = "fsdp"
MESH_AXES = (DATA_AXIS, FSDP_AXIS)
FSDP_MIN_SIZE = 2**16  # elements; smaller arrays (biases, norms, small kernels) stay replicated


def make_mesh(mesh_config: ml_collections.ConfigDict, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A mesh with the axes and sizes of `mesh_config` (one axis may be -1: all remaining devices).

    Args:
      mesh_config: axis name -> size, in mesh order, e.g. {"data": -1, "fsdp": 4}. Must include "data"; "fsdp" is
        optional. The last axis gets neighbouring devices (on one host where possible).
      devices: the devices to use; all of them by default.
    """
    devices = list(jax.devices() if devices is None else devices)
    requested = {name: int(size) for name, size in mesh_config.items()}
    names, sizes = tuple(requested), list(requested.values())
    if DATA_AXIS not in names:
        raise ConfigError(f"the mesh needs a {DATA_AXIS!r} axis (--config.mesh.{DATA_AXIS}); it has {names}")
    unknown = [name for name in names if name not in MESH_AXES]
    if unknown:
        raise ConfigError(f"unknown mesh axes {unknown}; ganjax's axes are {list(MESH_AXES)}")
    if sizes.count(-1) > 1 or any(size == 0 or size < -1 for size in sizes):
        raise ConfigError(f"mesh sizes must be positive, with at most one -1; got {requested}")
    known = math.prod(size for size in sizes if size != -1)
    if -1 in sizes:
        if len(devices) % known:
            raise ConfigError(f"mesh {requested} does not divide the {len(devices)} devices")
        sizes[sizes.index(-1)] = len(devices) // known
    if math.prod(sizes) != len(devices):
        raise ConfigError(f"mesh {requested} needs {math.prod(sizes)} devices, but there are {len(devices)}")
    axis_types = (jax.sharding.AxisType.Auto,) * len(names)
    return jax.make_mesh(sizes, names, axis_types, devices=devices)


def local_mesh() -> Mesh:
    """A one-axis mesh of this process's devices: where an evaluation extracts features, the batch split over
    them."""
    return make_mesh(ml_collections.ConfigDict({DATA_AXIS: -1}), jax.local_devices())


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, PartitionSpec())


def batch_axes(mesh: Mesh) -> tuple[str, ...]:
    """The mesh axes a batch is split over: "data", and "fsdp" when the mesh has it."""
    return tuple(name for name in MESH_AXES if name in mesh.axis_names)


def sample_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays whose leading axis is the batch: (B, ...) split over the batch axes."""
    return NamedSharding(mesh, PartitionSpec(batch_axes(mesh)))


def step_batch_sharding(mesh: Mesh) -> NamedSharding:
    """A train step's real batches, (batches_per_step, B, ...): the second axis split over the batch axes."""
    return NamedSharding(mesh, PartitionSpec(None, batch_axes(mesh)))


def fsdp_spec(shape: Sequence[int], fsdp_size: int, min_size: int = FSDP_MIN_SIZE) -> PartitionSpec:
    """How an array of `shape` is split over an fsdp axis of `fsdp_size` devices.

    Arrays of at least `min_size` elements are split along their largest dimension that `fsdp_size` divides (of equal
    ones, the last: a kernel's output features); smaller arrays, and arrays with no such dimension, are replicated.
    """
    if fsdp_size == 1 or math.prod(shape) < min_size:
        return PartitionSpec()
    divisible = [axis for axis, size in enumerate(shape) if size % fsdp_size == 0]
    if not divisible:
        return PartitionSpec()
    split = max(divisible, key=lambda axis: (shape[axis], axis))
    return PartitionSpec(*(FSDP_AXIS if axis == split else None for axis in range(len(shape))))


def state_sharding(mesh: Mesh, shape: Sequence[int], fsdp_min_size: int = FSDP_MIN_SIZE) -> NamedSharding:
    """Where a training-state array of `shape` lives: replicated, or split over the fsdp axis (`fsdp_spec`)."""
    fsdp_size = mesh.shape.get(FSDP_AXIS, 1)
    return NamedSharding(mesh, fsdp_spec(shape, fsdp_size, fsdp_min_size))


def process_batch_block(sharding: NamedSharding, batch_size: int) -> int:
    """Which of the jax.process_count() equal, contiguous blocks of rows of a global batch this process's devices hold.

    The data pipeline gives the process that holds block q the positions q * B / P + [0, B / P) of each global batch;
    asking the sharding (rather than assuming q = jax.process_index()) keeps the global batch independent of how
    processes are placed in the mesh.

    Args:
      sharding: a step's batch sharding (`step_batch_sharding`): axis 1 is the batch.
      batch_size: the global batch size B.

    Raises:
      ConfigError: this process's rows are not one of those blocks (a mesh that interleaves processes along the
        batch axes).
    """
    rows: set[int] = set()
    for index in sharding.addressable_devices_indices_map((1, batch_size)).values():
        rows.update(range(*index[1].indices(batch_size)))
    share = batch_size // jax.process_count()
    first = min(rows)
    if first % share or sorted(rows) != list(range(first, first + share)):
        raise ConfigError(
            f"the mesh {dict(sharding.mesh.shape)} gives process {jax.process_index()} {len(rows)} rows between "
            f"{first} and {max(rows)} of each batch of {batch_size}, not one contiguous block of {share}; make each "
            "process's devices adjacent along the batch axes (put the axis that spans hosts first in --config.mesh)"
        )
    return first // share


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """Assembles every process's local batch into global arrays laid out by `sharding`."""
    return {key: jax.make_array_from_process_local_data(sharding, value) for key, value in local.items()}
