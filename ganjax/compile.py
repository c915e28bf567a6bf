"""Any task's state laid out over a mesh and its train step compiled for it.

The trainer compiles a task's step once with `jax.jit` (`compile_train_steps`), the state donated and the batch
sharded over the mesh's batch axes, so the same code runs on one device or many; with lazy regularisation it
compiles a step with and one without the penalties.
"""

from __future__ import annotations

import logging
import time

import jax

from ganjax import parallel
from ganjax.state import TrainState
from ganjax.task import Task
from ganjax.updates import Layout

log = logging.getLogger(__name__)


def abstract_state(task: Task, seed: int, shardings: TrainState | None = None) -> TrainState:
    """The shapes and dtypes of a task's state (a tree of jax.ShapeDtypeStruct), computed without creating it.

    With `shardings` (a tree like the state) every leaf also carries its sharding: the target a checkpoint restores
    into.
    """
    abstract = jax.eval_shape(task.init_state, seed)
    if shardings is None:
        return abstract
    return jax.tree.map(lambda leaf, sharding: leaf.update(sharding=sharding), abstract, shardings)


def state_shardings(
    task: Task, seed: int, mesh: jax.sharding.Mesh, fsdp_min_size: int = parallel.FSDP_MIN_SIZE
) -> TrainState:
    """Where each leaf of the state lives: a tree like the state, of shardings. Replicated, except that large arrays
    are split over the mesh's fsdp axis when it has one (`parallel.fsdp_spec`)."""
    return jax.tree.map(
        lambda leaf: parallel.state_sharding(mesh, leaf.shape, fsdp_min_size), abstract_state(task, seed)
    )


def create_state(task: Task, seed: int, shardings: TrainState) -> TrainState:
    """The state at step 0, created where `shardings` puts it (no device ever holds an unsharded copy)."""
    return jax.jit(task.init_state, out_shardings=shardings)(seed)


def mesh_layout(mesh: jax.sharding.Mesh) -> Layout:
    """Where a step's arrays live on `mesh`: samples split over the batch axes; with an fsdp axis, each network's
    parameters gathered where the network is applied."""
    fsdp = mesh.shape.get(parallel.FSDP_AXIS, 1) > 1
    return Layout(samples=parallel.sample_sharding(mesh), params=parallel.replicated(mesh) if fsdp else None)


def jit_train_step(
    task: Task, mesh: jax.sharding.Mesh, shardings: TrainState, *, regularize: bool = True
) -> jax.stages.Wrapped:
    """A task's train step jitted for `mesh`: state laid out by `shardings` and donated, batch split over the
    batch axes."""
    return jax.jit(
        task.make_step(mesh_layout(mesh), regularize=regularize),
        in_shardings=(shardings, parallel.step_batch_sharding(mesh)),
        out_shardings=(shardings, parallel.replicated(mesh)),
        donate_argnums=0,
    )


def compile_train_steps(
    task: Task, mesh: jax.sharding.Mesh, shardings: TrainState, state: TrainState, batch: dict
) -> dict[bool, jax.stages.Compiled]:
    """A task's train step compiled ahead of time, keyed by whether it applies the penalties.

    With lazy regularisation (`task.penalty_interval` > 1) True and False are two programs, with and without the
    penalties; otherwise both keys hold the one program. Logs the compile time and the per-device memory.
    """
    started = time.perf_counter()
    regularized = jit_train_step(task, mesh, shardings, regularize=True).lower(state, batch).compile()
    plain = regularized
    if task.penalty_interval > 1:
        plain = jit_train_step(task, mesh, shardings, regularize=False).lower(state, batch).compile()
    log.info("train step compiled in %.1f s%s", time.perf_counter() - started, memory_usage(regularized))
    return {True: regularized, False: plain}


def memory_usage(compiled: jax.stages.Compiled) -> str:
    """A compiled program's memory per device, as the end of a log line (arguments and temporaries, MiB); "" when
    XLA gives no figures."""
    memory = compiled.memory_analysis()
    if memory is None:
        return ""
    return (
        f"; per device: {memory.argument_size_in_bytes / 2**20:.1f} MiB arguments, "
        f"{memory.temp_size_in_bytes / 2**20:.1f} MiB temporaries"
    )
