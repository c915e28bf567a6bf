"""Evaluation of a generator: every metric in `config.eval.metrics` on samples of the EMA generator, and the best
checkpoint by one of them. The training loop and `python -m ganjax.evaluate --workdir` call the same `evaluate`.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from ganjax import parallel
from ganjax.checkpoint import Checkpoints
from ganjax.errors import CheckpointError
from ganjax.metrics import HIGHER_IS_BETTER, METRICS, Samples, inception_metrics
from ganjax.sampling import EVAL_SEED_OFFSET, Generate, generate_ema, normal_latents, random_labels
from ganjax.state import Gan, TrainState

log = logging.getLogger(__name__)

_INCEPTION_PROTOCOL = ("weights", "weights_sha256", "resize")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The results of one evaluation.

    Attributes:
      scores: {"fid": ..., "kid": ..., ...}, float64 values, the same on every process.
      protocol: what produced the scores, as text: for the Inception metrics {"weights": path, "weights_sha256":
        ..., "resize": convention}; for restoration, the evaluation set, degradation, channel and cropped border
        (ganjax/tasks/image2image.py). {} when nothing needs saying.
    """

    scores: dict[str, float]
    protocol: dict[str, str]

    def describe(self) -> str:
        """One line: "fid 12.34, kid 0.0123 (Inception weights PATH, sha256 1234abcd..., resize tf)"."""
        text = ", ".join(f"{name} {value:.4g}" for name, value in self.scores.items())
        details = [f"{key} {value}" for key, value in self.protocol.items() if key not in _INCEPTION_PROTOCOL]
        if "weights" in self.protocol:
            details.append(
                f"Inception weights {self.protocol['weights']}, sha256 {self.protocol['weights_sha256'][:12]}..., "
                f"resize {self.protocol['resize']}"
            )
        return f"{text} ({'; '.join(details)})" if details else text


def evaluate(config: ml_collections.ConfigDict, generate: Generate, state: TrainState, gan: Gan) -> Evaluation:
    """Every metric in config.eval.metrics, on samples of the EMA generator from fixed latents (and labels).

    Inception features are extracted on this process's devices, the batch split over them; in a multi-process run
    every process computes the same results and process 0's are used (`agree_across_processes`).
    """
    eval_seed = config.seed + EVAL_SEED_OFFSET

    def draw(num: int) -> np.ndarray:
        z = normal_latents(eval_seed, num, gan.networks.latent_dim)
        return generate_ema(generate, state, z, random_labels(eval_seed + 1, num, gan.networks.num_classes))

    local_devices = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}), jax.local_devices())
    samples = Samples(draw, local_devices)
    scores: dict[str, float] = {}
    for name in config.eval.metrics:
        scores.update(METRICS.get(name)(samples, config))
    extractor = inception_metrics.extractor_used(samples)
    return Evaluation(
        agree_across_processes(scores), inception_metrics.protocol(extractor) if extractor is not None else {}
    )


def agree_across_processes(scores: dict[str, float]) -> dict[str, float]:
    """Process 0's scores on every process, bit for bit, so that all of them keep the same best checkpoint."""
    if jax.process_count() == 1:
        return scores
    names = sorted(scores)  # float64 values travel as uint32 pairs: JAX runs in 32 bits
    bits = np.array([scores[name] for name in names], np.float64).view(np.uint32)
    values = np.asarray(multihost_utils.broadcast_one_to_all(bits)).view(np.float64)
    return {name: float(value) for name, value in zip(names, values, strict=True)}


class BestCheckpoint:
    """Keeps the state with the best `metric` seen so far in `directory` (the lowest FID or KID, the highest PSNR or
    SSIM: `HIGHER_IS_BETTER`), with its scores and evaluation protocol.

    Survives restarts: the best value is read back from the checkpoint (verified; when it is damaged, a warning says
    so and the next evaluation becomes the best). Inactive when `metric` is empty.
    """

    def __init__(self, directory: pathlib.Path, metric: str):
        self.metric = metric
        self.sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0  # compares sign * value: lower is better
        self.checkpoints = Checkpoints(directory, keep=1) if metric else None
        self.best = float("inf")
        if self.checkpoints is None:
            return
        try:
            newest = self.checkpoints.newest_intact(self.checkpoints.metrics)
        except CheckpointError as damage:
            log.warning("%s; the next evaluation becomes the best", damage)
            newest = None
        if newest is not None:
            self.best = self.sign * newest[1].get(metric, self.sign * float("inf"))

    def offer(self, step: int, state: TrainState, config_json: dict, evaluation: Evaluation) -> None:
        """Saves `state` as the best if its score beats the best so far (all processes must call this)."""
        value = evaluation.scores.get(self.metric)
        if self.checkpoints is None or value is None or not self.sign * value < self.best:
            return
        self.best = self.sign * value
        self.checkpoints.save(step, state, config_json, metrics=evaluation.scores | evaluation.protocol)
        log.info("step %d: new best %s %.4g, saved in %s", step, self.metric, value, self.checkpoints.directory)

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
