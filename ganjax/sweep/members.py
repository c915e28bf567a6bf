"""Runs that differ only in numbers, trained together as one program: `jit(vmap(step))` over a member axis.

A sweep's runs often share everything but a few numbers: the seed, the learning rates, a penalty's weight. Such runs
("members") are trained as one group: their states are stacked along a leading member axis, and one compiled
program advances all of them a step at a time. Each member is the same computation as the run trained alone
(`train.py` with its config): its own initialisation, data order and randomness from its seed, its own optimizer
numbers, its own checkpoints in its own folder. Only the arithmetic's batching differs, so its results agree with
the lone run to float32 rounding (tests/test_sweep_members.py says how closely, after how many steps).

What may differ within a group (`vmappable_keys`) enters the step as traced values: the member's config is rebuilt
inside the traced function with those fields holding tracers (`member_task`), so every builder that does arithmetic
on them (the Adam numbers through Optax, the EMA decay, the penalty weights, the initial augmentation probability)
serves as it is. The loss, a name, becomes an index into the losses the group uses (`lax.switch`, which under vmap
computes each of them on the logits: cheap). Everything else (architecture, widths, batch size, d_steps, dtype, the
steps, which penalties are on) is structural: it splits groups.

A member whose loss, gradients or parameters turn non-finite is frozen at its last finite state and flagged; the
others continue unchanged (each member's arithmetic never reads another's).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax.traverse_util import flatten_dict
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ganjax.compile import memory_usage
from ganjax.errors import ConfigError
from ganjax.losses import switched_loss
from ganjax.state import TrainState
from ganjax.task import Task
from ganjax.tasks import build_task
from ganjax.updates import Batch, Metrics

log = logging.getLogger(__name__)

MEMBER_AXIS = "members"
SEED_KEY = "seed"
LOSS_KEY = "loss"
PENALTY_PREFIX = "penalties."
# Numbers every task's builder uses only arithmetically (ganjax/optim.py, ganjax/state.py, ganjax/tasks/).
_NUMERIC_KEYS = ("optim.g_lr", "optim.d_lr", "optim.b1", "optim.b2", "ema.decay")
# What the GAN task also lets members differ in: the initial augmentation probability, penalty weights (when the
# penalty is on in every member) and the loss.
_GAN_KEYS = ("augment.p",)
# The mesh a sweep's configs name is the lone run's; a group lays its members over the devices instead.
_IGNORED_PREFIXES = ("mesh.", "distributed.", "sharding.")


def flatten(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """{dotted key: value} of every leaf field of `config` (an empty sub-config has none)."""
    return flatten_dict(config.to_dict(), sep=".")


def vmappable_keys(config: ml_collections.ConfigDict) -> tuple[str, ...]:
    """The fields in which members of one group of `config`'s task may differ: the seed, the Adam numbers and the
    EMA decay for every task; for GANs also the initial augmentation probability, every penalty's weight and the
    loss."""
    keys = (SEED_KEY, *_NUMERIC_KEYS)
    if config.get("task", "gan") == "gan":
        keys += (*_GAN_KEYS, *(f"{PENALTY_PREFIX}{name}" for name in config.penalties), LOSS_KEY)
    return keys


def group_signature(config: ml_collections.ConfigDict) -> str:
    """A hash equal for two configs exactly when their runs can be members of one group: they differ only in
    `vmappable_keys` (and penalties are on, weight > 0, in both or off in both)."""
    flat = flatten(config)
    for key in vmappable_keys(config):
        value = flat.pop(key)
        if key.startswith(PENALTY_PREFIX):
            flat[key] = "on" if value else "off"
    kept = {key: value for key, value in flat.items() if not key.startswith(_IGNORED_PREFIXES)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _set(config: ml_collections.ConfigDict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for parent in parents:
        config = config[parent]
    config[leaf] = value


@dataclasses.dataclass(frozen=True)
class MemberGroup:
    """Configs of one group (equal `group_signature`) and how their differences enter the step.

    Attributes:
      configs: each member's validated config, in member order.
      varying: the vmappable fields that differ between members (the seed always travels, varying or not).
      losses: the losses the members use, when `loss` varies; a member's loss is its index here.
    """

    configs: tuple[ml_collections.ConfigDict, ...]
    varying: tuple[str, ...]
    losses: tuple[str, ...]

    @classmethod
    def of(cls, configs: Sequence[ml_collections.ConfigDict]) -> MemberGroup:
        """The group of `configs`. ConfigError when they are not one group (they differ in a structural field)."""
        signatures = {group_signature(config) for config in configs}
        if len(signatures) != 1:
            raise ConfigError("these runs differ in more than vmappable fields and cannot be trained as one group")
        flats = [flatten(config) for config in configs]
        varying = tuple(key for key in vmappable_keys(configs[0]) if len({json.dumps(flat[key]) for flat in flats}) > 1)
        losses = tuple(sorted({config.loss for config in configs})) if LOSS_KEY in varying else ()
        return cls(tuple(configs), varying, losses)

    def subset(self, members: Sequence[int]) -> MemberGroup:
        """The group of some of the members (a unit of a chunked group), with the whole group's varying fields and
        losses, so that units of equal size share one program."""
        return dataclasses.replace(self, configs=tuple(self.configs[index] for index in members))

    @property
    def size(self) -> int:
        return len(self.configs)

    def values(self) -> dict[str, np.ndarray]:
        """Each member's traced numbers, (M,) arrays: the seed (int32), every varying number (float32), and the
        loss as an index into `losses` (int32)."""
        values = {SEED_KEY: np.array([config.seed for config in self.configs], np.int32)}
        for key in self.varying:
            if key == LOSS_KEY:
                values[key] = np.array([self.losses.index(config.loss) for config in self.configs], np.int32)
            elif key != SEED_KEY:
                values[key] = np.array([flatten(config)[key] for config in self.configs], np.float32)
        return values

    def member_task(self, values: dict[str, jax.Array]) -> Task:
        """The task of the member whose numbers are `values` (one member's, possibly traced): the first member's
        config with those fields replaced."""
        config = ml_collections.ConfigDict(self.configs[0].to_dict(), type_safe=False)
        for key, value in values.items():
            if key != LOSS_KEY:
                _set(config, key, value)
        if LOSS_KEY in values:
            config.loss = switched_loss(self.losses, values[LOSS_KEY])
        return build_task(config)

    def init(self, values: dict[str, jax.Array]) -> TrainState:
        """Every member's state at step 0, stacked: vmap over `values`."""
        return jax.vmap(lambda member: self.member_task(member).init_state(member[SEED_KEY]))(values)

    def make_step(self, *, regularize: bool = True):
        """member_steps(values, alive, state, batch) -> (state, metrics, alive), every argument and result stacked
        over the member axis (alive: (M,) bool). A member that is not alive, or whose step turns non-finite (its
        `<net>_nonfinite` metrics), keeps its state; `alive` comes back False for it."""

        def member_step(
            values: dict[str, jax.Array], alive: jax.Array, state: TrainState, batch: Batch
        ) -> tuple[TrainState, Metrics, jax.Array]:
            new_state, metrics = self.member_task(values).make_step(regularize=regularize)(state, batch)
            flags = [metrics[key] for key in ("d_nonfinite", "g_nonfinite") if key in metrics]
            keep = alive & ~jnp.any(jnp.stack(flags) > 0)
            kept = jax.tree.map(lambda new, old: jnp.where(keep, new, old), new_state, state)
            return kept, metrics, keep

        def member_steps(values, alive, state, batch):
            if len(alive) > 1:
                return jax.vmap(member_step)(values, alive, state, batch)
            # One member: its step as it is, without vmap's batching of the convolutions, which XLA:CPU runs more
            # slowly (benchmarks/RESULTS.md, "Sweeps"); the member axis is only taken off and put back.
            unstacked = jax.tree.map(lambda leaf: leaf[0], (values, alive, state, batch))
            return jax.tree.map(lambda leaf: leaf[None], member_step(*unstacked))

        return member_steps


def member_mesh(num_members: int, devices: Sequence[jax.Device]) -> Mesh:
    """A one-axis mesh for the member axis: as many of `devices` as there are members, at most all of them."""
    used = list(devices)[: max(1, min(num_members, len(devices)))]
    return Mesh(np.array(used), (MEMBER_AXIS,))


def slots(num_members: int, mesh: Mesh) -> int:
    """The length of the member axis: members padded to a multiple of the mesh's devices (padding is never alive)."""
    return math.ceil(num_members / mesh.size) * mesh.size


def pad(values: dict[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
    """(M,) arrays padded to (length,) by repeating the last member."""
    return {key: np.concatenate([value, np.repeat(value[-1:], length - len(value))]) for key, value in values.items()}


def member_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays whose leading axis is the member axis, split over the mesh."""
    return NamedSharding(mesh, PartitionSpec(MEMBER_AXIS))


def abstract_members(group: MemberGroup, length: int) -> TrainState:
    """The stacked state's shapes, (length, ...) per leaf, computed without creating it."""
    values = pad(group.values(), length)
    return jax.eval_shape(group.init, values)


def member_bytes(group: MemberGroup) -> int:
    """What one member keeps on its device through a step, in bytes: its state (parameters, optimizer moments,
    EMA) twice, since the update is computed beside it, and its real batches. Activations come on top; the compiled
    program's own figure is logged when it is compiled."""
    state = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(abstract_members(group.subset([0]), 1)))
    config = group.configs[0]
    task = group.member_task({SEED_KEY: config.seed})
    batch = task.batch_spec(config.train.batch_size, jax.sharding.SingleDeviceSharding(jax.devices()[0]))
    return 2 * state + sum(math.prod(spec.shape) * spec.dtype.itemsize for spec in batch.values())


def device_memory_bytes(device: jax.Device) -> int:
    """The memory one device gives a program: its allocator's limit on accelerators; on CPU the machine's memory
    shared by its (simulated) devices."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // max(1, len(jax.local_devices()))


@dataclasses.dataclass
class CompiledMembers:
    """A group's programs for one member-axis length and mesh: the initialisation and the step (with and without
    the penalties under lazy regularisation), compiled once and shared by every unit of that shape."""

    init: jax.stages.Compiled
    steps: dict[bool, jax.stages.Compiled]
    state_sharding: NamedSharding


_PROGRAMS: dict[tuple, CompiledMembers] = {}


def compile_members(group: MemberGroup, mesh: Mesh, length: int) -> CompiledMembers:
    """The group's programs for a member axis of `length` over `mesh`, compiled ahead of time (once per process
    for each group signature, length and mesh). Logs the compile time and the memory per device."""
    config = group.configs[0]
    constants = {key: value for key, value in flatten(config).items() if key not in group.varying}
    key = (
        json.dumps(constants, sort_keys=True, default=repr),
        group.losses,
        length,
        tuple(device.id for device in mesh.devices.flat),
    )
    if key in _PROGRAMS:
        return _PROGRAMS[key]
    sharding = member_sharding(mesh)
    values = jax.tree.map(
        lambda value: jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=sharding), pad(group.values(), length)
    )
    alive = jax.ShapeDtypeStruct((length,), jnp.bool_, sharding=sharding)
    state = jax.tree.map(lambda leaf: leaf.update(sharding=sharding), abstract_members(group, length))
    task = group.member_task({SEED_KEY: config.seed})
    one = task.batch_spec(config.train.batch_size, sharding)
    batch = {
        key: jax.ShapeDtypeStruct((length, *spec.shape), spec.dtype, sharding=sharding) for key, spec in one.items()
    }
    started = time.perf_counter()
    init = jax.jit(group.init, out_shardings=sharding).lower(values).compile()

    def compiled_step(regularize: bool) -> jax.stages.Compiled:
        return (
            jax.jit(group.make_step(regularize=regularize), out_shardings=sharding, donate_argnums=2)
            .lower(values, alive, state, batch)
            .compile()
        )

    regularized = compiled_step(True)
    steps = {True: regularized, False: compiled_step(False) if task.penalty_interval > 1 else regularized}
    log.info(
        "%d members (%s) compiled as one program over %d devices in %.1f s%s",
        group.size,
        ", ".join(group.varying) or "seed",
        mesh.size,
        time.perf_counter() - started,
        memory_usage(regularized),
    )
    _PROGRAMS[key] = CompiledMembers(init, steps, sharding)
    return _PROGRAMS[key]
