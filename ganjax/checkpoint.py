"""Checkpoints: the one place that knows Orbax.

A checkpoint at step s is the folder `<directory>/<s>/` holding the whole train state, the config (JSON) and, for a
best checkpoint, its metrics (JSON). Saves are asynchronous. Orbax writes each into a temporary folder and renames it
once every process's files are complete; then process 0 records the size and SHA-256 of every file of the folder in
`<s>/integrity.json` (written to a temporary file and renamed, so it is whole or absent). Only a folder with its
integrity record is a checkpoint (done): a crash or a kill at any moment leaves the previous checkpoints as the
newest done ones, and a folder without a record is never read.

Reading verifies: every recorded file must be present with its recorded size and checksum before Orbax reads it, and
every floating-point value of a restored state must be finite. A checkpoint that fails is damaged (CheckpointError,
one line naming the folder and what is wrong) and is never trained on.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax.traverse_util import flatten_dict
from jax.experimental import multihost_utils

from ganjax.errors import CheckpointError, ConfigError
from ganjax.state import STATE_LAYOUT

log = logging.getLogger(__name__)
T = TypeVar("T")

RECORD_NAME = "integrity.json"
_PARTIAL_RECORD_NAME = RECORD_NAME + ".partial"
_LISTED = 3  # problems or leaves named in one message; the rest are counted
# Orbax cuts every replicated array into one slice per replica, so that the replicas write it in parallel; each slice
# shape is one more XLA program (a `slice`) to compile and run. For the small arrays of a GAN's state that costs far
# more than it saves (a tiny 8-device BigGAN's saves: benchmarks/RESULTS.md, "The test suite after issue 22").
# Slices under this many bytes are not made: the array's first replica writes it whole.
_MIN_REPLICA_SLICE_BYTES = 4 << 20


def _state_handler() -> ocp.PyTreeCheckpointHandler:
    """Orbax's handler of a tree of arrays (the leaf types of its StandardCheckpointHandler), jax.Arrays written with
    `_MIN_REPLICA_SLICE_BYTES`."""
    jax_arrays = ocp.type_handlers.ArrayHandler(min_slice_bytes_for_replica_parallel=_MIN_REPLICA_SLICE_BYTES)
    scalars = ocp.type_handlers.ScalarHandler()
    registry = ocp.type_handlers.create_type_handler_registry(
        (jax.Array, jax_arrays),
        (np.ndarray, ocp.type_handlers.NumpyHandler()),
        (np.number, scalars),
        (int, scalars),
        (float, scalars),
    )
    return ocp.PyTreeCheckpointHandler(type_handler_registry=registry)


def _listing(items: list[str]) -> str:
    """The first few items joined by "; ", then how many more there are."""
    shown = "; ".join(items[:_LISTED])
    return shown + (f"; and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def _sha256(path: pathlib.Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _write_record(folder: pathlib.Path) -> None:
    """Writes `folder`/integrity.json: {"files": {relative path: {"bytes": size, "sha256": hex digest}}} for every
    file under `folder`, hashed now, and "state_layout": the state's layout version (`STATE_LAYOUT`). Atomic: a
    reader sees the whole record or none."""
    files = {
        path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name not in (RECORD_NAME, _PARTIAL_RECORD_NAME)
    }
    partial = folder / _PARTIAL_RECORD_NAME
    with partial.open("w") as file:
        json.dump({"files": files, "state_layout": STATE_LAYOUT}, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, folder / RECORD_NAME)


def _file_problem(folder: pathlib.Path, name: str, expected: dict[str, Any]) -> str | None:
    """What is wrong with `folder`/`name` given its `expected` record entry; None when it has its size and checksum."""
    path = folder / name
    if not path.is_file():
        return f"{name} missing"
    size = path.stat().st_size
    if size != expected["bytes"]:
        return f"{name} has {size} bytes, not the {expected['bytes']} recorded"
    if _sha256(path) != expected["sha256"]:
        return f"{name} does not match its recorded SHA-256"
    return None


@jax.jit
def _all_finite(leaves: list[jax.Array]) -> jax.Array:
    """bool[len(leaves)]: whether every value of each leaf is finite."""
    return jnp.stack([jnp.isfinite(leaf).all() for leaf in leaves])


def _non_finite_leaves(tree: Any) -> list[str]:
    """The paths ("generator/params/Dense_0/kernel") of the floating-point leaves of `tree` that hold a NaN or an
    infinity. Collective when the leaves span processes: every process gets the same answer."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    floating = [(path, leaf) for path, leaf in leaves if jnp.issubdtype(leaf.dtype, jnp.inexact)]
    if not floating:
        return []
    finite = np.asarray(multihost_utils.process_allgather(_all_finite([leaf for _, leaf in floating]), tiled=True))
    return [
        jax.tree_util.keystr(path, simple=True, separator="/")
        for (path, _), ok in zip(floating, finite, strict=True)
        if not ok
    ]


def leaf_signature(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """{"generator/params/Dense_0/kernel": (shape, dtype name), ...} for every array leaf of a (metadata) tree."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape"))
    return {
        jax.tree_util.keystr(path, simple=True, separator="/"): (tuple(leaf.shape), str(leaf.dtype))
        for path, leaf in leaves
        if leaf is not None
    }


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines "key: old -> new" (dotted keys, values as repr) for every field that differs between two nested config
    dicts; "(absent)" stands for a field that one of them lacks.

    Both are compared as JSON, the form a checkpoint keeps its config in: a tuple equals the list it reads back as.
    """
    old_flat, new_flat = (flatten_dict(json.loads(json.dumps(config)), sep=".") for config in (old, new))
    missing = "(absent)"
    return [
        f"{key}: {old_flat.get(key, missing)!r} -> {new_flat.get(key, missing)!r}"
        for key in sorted(old_flat.keys() | new_flat.keys())
        if old_flat.get(key, missing) != new_flat.get(key, missing)
    ]


class Checkpoints:
    """The train state's checkpoints in one folder.

    Every process of a run must make the same calls in the same order: saving, waiting, closing and restoring are
    collective.

    Args:
      directory: where the step folders go (created if missing, unless `read_only`).
      read_only: only read (sample.py, the evaluate CLI): nothing is created, and the temporary folder of a save in
        progress (a run still training) is left alone instead of being cleaned up.
      keep: how many done checkpoints to keep. Once a save is done, every other step folder goes except the `keep` - 1
        newest done ones before it: older checkpoints, folders without a record, and newer ones (a run resumes from
        an older checkpoint only when the newer ones are damaged or unrecorded).
    """

    def __init__(self, directory: str | pathlib.Path, *, keep: int = 3, read_only: bool = False):
        self.directory = pathlib.Path(directory).absolute()
        self._keep = keep
        # Retention is ours, not Orbax's: only done checkpoints count, and they are known only after the record.
        # A lightweight start reads no step's files, so that a damaged one cannot fail it.
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None,
            enable_async_checkpointing=True,
            create=not read_only,
            cleanup_tmp_directories=not read_only,
            read_only=read_only,
            save_interval_steps=0 if read_only else 1,
            lightweight_initialize=True,
        )
        handlers = {
            "state": _state_handler(),
            "config": ocp.JsonCheckpointHandler(),
            "metrics": ocp.JsonCheckpointHandler(),
        }
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)
        self._recorder = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-record")
        # The step of the save in flight and, on process 0, the future of its integrity record.
        self._in_flight: tuple[int, concurrent.futures.Future | None] | None = None

    def _folder(self, step: int) -> pathlib.Path:
        return self.directory / str(step)

    def steps(self) -> list[int]:
        """The steps of all done checkpoints (folders with an integrity record), ascending."""
        return [step for step in sorted(self._manager.all_steps()) if (self._folder(step) / RECORD_NAME).is_file()]

    def save(self, step: int, state: Any, config: dict[str, Any], metrics: dict[str, float] | None = None) -> None:
        """Starts saving `state` and `config` (and `metrics`, e.g. the FID that made this the best checkpoint) as step
        `step`, replacing any folder of that step.

        Blocks until the previous save is done (written, recorded, old checkpoints deleted) and then until the arrays
        are copied off the devices. Writing the files and hashing them for the record happen in the background; the
        checkpoint is done when its record is written, which `wait` waits for.
        """
        self._finish_save()
        if step in self._manager.all_steps():
            self._manager.delete(step)
        items = {"state": ocp.args.PyTreeSave(state), "config": ocp.args.JsonSave(config)}
        if metrics is not None:
            items["metrics"] = ocp.args.JsonSave(metrics)
        self._manager.save(step, args=ocp.args.Composite(**items), force=True)
        recording = self._recorder.submit(self._record, step) if jax.process_index() == 0 else None
        self._in_flight = step, recording

    def _record(self, step: int) -> None:
        """Waits for Orbax to finish the save of `step` (every process's files written, the folder renamed) and writes
        its integrity record. Runs in the background on process 0."""
        self._manager.wait_until_finished()
        _write_record(self._folder(step))

    def _finish_save(self) -> None:
        """Blocks until the save in flight (if any) is done on every process, then deletes the checkpoints that are
        not among the `keep` newest done ones up to it."""
        if self._in_flight is None:
            return
        step, recording = self._in_flight
        self._in_flight = None
        self._manager.wait_until_finished()
        if recording is not None:
            recording.result()
        ocp.multihost.sync_global_processes(f"ganjax_checkpoint_recorded_{step}")
        kept = [done for done in self.steps() if done <= step][-self._keep :]
        for other in self._manager.all_steps():
            if other not in kept:
                self._manager.delete(other)

    def _verify(self, step: int, item: str | None = None) -> list[str]:
        """Checks the files of the checkpoint at `step` (only the step folder's own and `item`'s, when given) against
        its integrity record; returns the relative paths of those checked.

        Raises:
          CheckpointError: there is no such checkpoint, or a file is missing or differs from its record.
        """
        folder = self._folder(step)
        if not folder.is_dir():
            raise CheckpointError(f"no checkpoint at step {step} in {self.directory}; done: {self.steps() or 'none'}")
        try:
            recorded = json.loads((folder / RECORD_NAME).read_text())["files"]
        except FileNotFoundError:
            raise CheckpointError(
                f"checkpoint {folder} is damaged: {RECORD_NAME} missing (its save did not finish)"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"checkpoint {folder} is damaged: {RECORD_NAME} unreadable ({error})") from None
        names = [name for name in sorted(recorded) if item is None or "/" not in name or name.startswith(f"{item}/")]
        problems = [problem for name in names if (problem := _file_problem(folder, name, recorded[name]))]
        if problems:
            raise CheckpointError(f"checkpoint {folder} is damaged: {_listing(problems)}")
        return names

    def _check_layout(self, step: int) -> None:
        """ConfigError when the checkpoint at `step` (verified) holds a state of another layout than this ganjax's."""
        layout = json.loads((self._folder(step) / RECORD_NAME).read_text()).get("state_layout", 1)
        if layout != STATE_LAYOUT:
            raise ConfigError(
                f"the checkpoint at step {step} in {self.directory} holds a training state of layout {layout}, and "
                f"this ganjax reads layout {STATE_LAYOUT} (ganjax/state.py): train again in a new --workdir, or use "
                "the ganjax that wrote it"
            )

    def restore(self, step: int, abstract_state: Any, config: dict[str, Any]) -> Any:
        """The state saved at `step`, laid out as `abstract_state` (a tree of jax.ShapeDtypeStruct with shardings).

        Verifies the files against the integrity record first (every process reads each file once to hash it), then
        that the checkpoint fits `abstract_state` (`config`, the run's config as a dict, only explains a misfit), and
        after reading that every floating-point value is finite.

        Raises:
          CheckpointError: the checkpoint is damaged (one line: the folder and what is wrong), or there is none at
            `step`.
          ConfigError: the checkpoint was written by an incompatible config (names the fields and arrays).
        """
        self._verify(step)
        self._check_layout(step)
        self._check_compatible(step, abstract_state, config)
        state = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(
                    abstract_state, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract_state)
                )
            ),
        ).state
        non_finite = _non_finite_leaves(state)
        if non_finite:
            raise CheckpointError(
                f"checkpoint {self._folder(step)} is damaged: NaN or infinite values in {_listing(non_finite)}"
            )
        return state

    def restore_newest(self, abstract_state: Any, config: dict[str, Any]) -> tuple[int, Any] | None:
        """(step, state) of the newest intact checkpoint, verified as `restore` does; None when there is none at all.

        Each damaged checkpoint is named in one warning and skipped.

        Raises:
          CheckpointError: every checkpoint is damaged.
          ConfigError: the newest intact checkpoint was written by an incompatible config.
        """
        return self.newest_intact(lambda step: self.restore(step, abstract_state, config))

    def newest_intact(self, read: Callable[[int], T]) -> tuple[int, T] | None:
        """(step, read(step)) for the newest done step whose `read` raises no CheckpointError; None when there are no
        checkpoints. `read` reads through this object's verifying methods (`restore`, `config`, `metrics`).

        Each damaged checkpoint is named in one warning and skipped.

        Raises:
          CheckpointError: every checkpoint is damaged.
        """
        steps = self.steps()
        if not steps:
            return None
        for step in reversed(steps):
            try:
                result = read(step)
            except CheckpointError as damage:
                log.warning("%s; skipped", damage)
                continue
            log.info(
                "checkpoint %s verified: every file matches its integrity record, every value is finite",
                self._folder(step),
            )
            return step, result
        raise CheckpointError(
            f"none of the {len(steps)} checkpoints in {self.directory} is intact (each is named in a warning above); "
            "restore them from a backup, or move the folder away to start from scratch"
        )

    def config(self, step: int) -> dict[str, Any]:
        """The config saved with step `step`, as a plain dict; its files verified (CheckpointError when damaged)."""
        self._verify(step, "config")
        return self._manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config

    def metrics(self, step: int) -> dict[str, float]:
        """The metrics saved with step `step` ({} when none were); their files verified (CheckpointError when
        damaged)."""
        if not any(name.startswith("metrics/") for name in self._verify(step, "metrics")):
            return {}
        return self._manager.restore(step, args=ocp.args.Composite(metrics=ocp.args.JsonRestore())).metrics

    def _check_compatible(self, step: int, abstract_state: Any, config: dict[str, Any]) -> None:
        """Raises ConfigError naming the differing arrays and config fields when the (verified) checkpoint at `step`
        cannot restore into `abstract_state`."""
        saved = leaf_signature(self._manager.item_metadata(step).state.tree)
        wanted = leaf_signature(abstract_state)
        if saved == wanted:
            return
        arrays = [
            f"  {path}: {saved.get(path, 'absent')} -> {wanted.get(path, 'absent')}"
            for path in sorted(saved.keys() | wanted.keys())
            if saved.get(path) != wanted.get(path)
        ]
        changed_fields = "\n".join(f"  {line}" for line in differences(self.config(step), config))
        raise ConfigError(
            f"the checkpoint at step {step} in {self.directory} was written by an incompatible config.\n"
            f"Config fields that changed:\n{changed_fields or '  (none)'}\n"
            f"{len(arrays)} arrays differ (checkpoint -> this config):\n"
            + "\n".join(arrays[:10])
            + (f"\n  ... and {len(arrays) - 10} more" if len(arrays) > 10 else "")
            + "\nUse a new --workdir, or the config that wrote the checkpoint."
        )

    def wait(self) -> None:
        """Blocks until the save in flight is done: written, recorded, and older checkpoints deleted."""
        self._finish_save()

    def close(self) -> None:
        """Waits for the save in flight to be done, then releases Orbax's resources."""
        try:
            self._finish_save()
        finally:
            self._manager.close()
            self._recorder.shutdown()
