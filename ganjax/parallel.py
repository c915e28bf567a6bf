"""Device mesh, shardings, and host-local <-> global arrays.

The step is written for global arrays; these shardings tell `jax.jit` how they are laid out. A batch is split over
the mesh's "data" axis; the training state is replicated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ganjax.registry import ConfigError

DATA_AXIS = "data"


def make_mesh(mesh_config: ml_collections.ConfigDict, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A mesh with the axes and sizes of `mesh_config` (one axis may be -1: all remaining devices).

    Args:
      mesh_config: axis name -> size, in mesh order, e.g. {"data": -1}. Must include "data".
      devices: the devices to use; all of them by default.
    """
    devices = list(jax.devices() if devices is None else devices)
    requested = {name: int(size) for name, size in mesh_config.items()}
    names, sizes = tuple(requested), list(requested.values())
    if DATA_AXIS not in names:
        raise ConfigError(f"the mesh needs a {DATA_AXIS!r} axis (--config.mesh.{DATA_AXIS}); it has {names}")
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


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, PartitionSpec())


def sample_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays whose leading axis is the batch: (B, ...) split over the data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def step_batch_sharding(mesh: Mesh) -> NamedSharding:
    """A train step's real batches, (batches_per_step, B, ...): the second axis split over the data axis."""
    return NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """Assembles every process's local batch into global arrays laid out by `sharding`."""
    return {key: jax.make_array_from_process_local_data(sharding, value) for key, value in local.items()}
