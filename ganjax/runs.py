"""A trained run on disk: `load_run(workdir)` restores a checkpoint with the config saved beside it, for the CLIs that
read runs (sample.py, `python -m ganjax.evaluate`, `python -m ganjax.restore`)."""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import ml_collections

from ganjax.checkpoint import Checkpoints
from ganjax.compile import abstract_state
from ganjax.errors import CheckpointError, ConfigError
from ganjax.state import TrainState
from ganjax.task import Task
from ganjax.tasks import build_task


@dataclasses.dataclass(frozen=True)
class SavedRun:
    """A trained run as a checkpoint left it: its config, the task it builds, the state and the step."""

    config: ml_collections.ConfigDict
    task: Task
    state: TrainState
    step: int


def load_run(workdir: str | pathlib.Path, step: int | None = None, checkpoint_dir: str = "checkpoints") -> SavedRun:
    """Restores a checkpoint of `workdir` onto one device, with its own config: the one at `step`, or the newest
    intact one (damaged ones are named in a warning and skipped). Verified as training verifies it, and read only:
    a run that is still training is not disturbed.

    Raises:
      ConfigError: `workdir` holds no checkpoint folder.
      CheckpointError: the checkpoint at `step` is damaged or missing, or none of the checkpoints is intact.
    """
    directory = pathlib.Path(workdir) / checkpoint_dir
    if not directory.is_dir():
        raise ConfigError(f"no checkpoints in {directory}: is --workdir the folder that train.py wrote?")
    checkpoints = Checkpoints(directory, read_only=True)

    def read(step: int) -> SavedRun:
        config = ml_collections.ConfigDict(checkpoints.config(step))
        task = build_task(config)
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        target = abstract_state(task, config.seed, jax.tree.map(lambda _: device, abstract_state(task, config.seed)))
        return SavedRun(config, task, checkpoints.restore(step, target, config.to_dict()), step)

    try:
        if step is not None:
            return read(step)
        newest = checkpoints.newest_intact(read)
    finally:
        checkpoints.close()
    if newest is None:
        raise CheckpointError(f"no complete checkpoint in {directory}: train.py has not finished saving one yet")
    return newest[1]
