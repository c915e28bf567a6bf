"""Where training reports go: `metrics.jsonl`, TensorBoard event files, and sample pictures in the workdir.

TensorBoard files are written with tensorboardX, which needs no TensorFlow; TensorBoard reads them as usual.
Only process 0 writes these files.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import numpy as np
import tensorboardX

from ganjax.images import save_png

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
SAMPLES_DIR = "samples"


def truncate_metrics(path: pathlib.Path, last_step: int) -> None:
    """Drops the records of steps after `last_step` (those a killed run logged after its last checkpoint)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def _json_value(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


class Writer:
    """Writes one run's scalars and pictures.

    Args:
      workdir: the run's folder.
      resume_step: the step training starts from; records of later steps (from a run that was killed after its
        last checkpoint) are dropped from metrics.jsonl and from TensorBoard's view.
    """

    def __init__(self, workdir: pathlib.Path, resume_step: int):
        self.workdir = workdir
        self.metrics_path = workdir / METRICS_FILE
        truncate_metrics(self.metrics_path, resume_step)
        self._metrics = self.metrics_path.open("a")
        # TensorBoard hides events at or after purge_step that earlier runs in this folder wrote.
        self._tensorboard = tensorboardX.SummaryWriter(str(workdir / TENSORBOARD_DIR), purge_step=resume_step + 1)

    def scalars(self, step: int, values: dict[str, float], text: dict[str, str] | None = None) -> None:
        """One record in metrics.jsonl ({"step": step, **values, **text}) and one TensorBoard scalar per value.

        `text` describes the values (an evaluation's protocol, say) and goes to metrics.jsonl only.
        """
        record = {"step": step, **{key: _json_value(value) for key, value in values.items()}, **(text or {})}
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        for key, value in values.items():
            self._tensorboard.add_scalar(key, value, step)

    def picture(self, step: int, name: str, image: np.ndarray) -> pathlib.Path:
        """Saves a uint8 (H, W, C) picture as <workdir>/samples/<name>_<step>.png and in TensorBoard."""
        path = save_png(image, self.workdir / SAMPLES_DIR / f"{name}_{step:08d}.png")
        self._tensorboard.add_image(name, image, step, dataformats="HWC")
        return path

    def close(self) -> None:
        self._metrics.close()
        self._tensorboard.close()
