"""Checkpoints: the one place that knows Orbax.

A checkpoint at step s is the folder `<directory>/<s>/` holding the whole train state and the config (JSON). Saves
are asynchronous; Orbax writes each into a temporary folder and renames it when complete, so a crash or a kill
during a save leaves the previous checkpoints intact and the partial one is never read.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from ganjax.config import differences
from ganjax.errors import ConfigError


def _path_string(path) -> str:
    parts = []
    for key in path:
        for attribute in ("name", "key", "idx"):
            if hasattr(key, attribute):
                parts.append(str(getattr(key, attribute)))
                break
    return "/".join(parts)


def leaf_signature(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """{"generator/params/Dense_0/kernel": (shape, dtype name), ...} for every array leaf of a (metadata) tree."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape"))
    return {_path_string(path): (tuple(leaf.shape), str(leaf.dtype)) for path, leaf in leaves if leaf is not None}


class Checkpoints:
    """The train state's checkpoints in one folder.

    Args:
      directory: where the step folders go (created if missing).
      keep: how many of the newest checkpoints to keep.
    """

    def __init__(self, directory: str | pathlib.Path, *, keep: int = 3):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=True, create=True, cleanup_tmp_directories=True
        )
        handlers = {
            "state": ocp.StandardCheckpointHandler(),
            "config": ocp.JsonCheckpointHandler(),
            "metrics": ocp.JsonCheckpointHandler(),
        }
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

    def steps(self) -> list[int]:
        """The steps of all complete checkpoints, ascending."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        return self._manager.latest_step()

    def save(self, step: int, state: Any, config: dict[str, Any], metrics: dict[str, float] | None = None) -> None:
        """Starts saving `state` and `config` (and `metrics`, e.g. the FID that made this the best checkpoint) as step
        `step`; returns once the arrays are copied off the devices.

        Every process must call it (multi-host saves are collective).
        """
        items = {"state": ocp.args.StandardSave(state), "config": ocp.args.JsonSave(config)}
        if metrics is not None:
            items["metrics"] = ocp.args.JsonSave(metrics)
        self._manager.save(step, args=ocp.args.Composite(**items), force=True)

    def restore(self, step: int, abstract_state: Any, config: dict[str, Any]) -> Any:
        """The state saved at `step`, laid out as `abstract_state` (a tree of jax.ShapeDtypeStruct with shardings).

        `config` (the run's config as a dict) is only used to explain an incompatible checkpoint.
        """
        self.check_compatible(step, abstract_state, config)
        restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))
        return restored.state

    def config(self, step: int) -> dict[str, Any]:
        """The config saved with step `step`, as a plain dict."""
        return self._manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config

    def metrics(self, step: int) -> dict[str, float]:
        """The metrics saved with step `step` ({} when none were)."""
        if "metrics" not in self._manager.item_metadata(step):
            return {}
        return self._manager.restore(step, args=ocp.args.Composite(metrics=ocp.args.JsonRestore())).metrics

    def check_compatible(self, step: int, abstract_state: Any, config: dict[str, Any]) -> None:
        """Raises ConfigError naming the differing arrays and config fields when the checkpoint at `step` cannot
        restore into `abstract_state`."""
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
        """Blocks until every save in flight is complete on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for saves in flight, then releases Orbax's resources."""
        self._manager.close()
