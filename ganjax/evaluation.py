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
from ganjax.metrics import METRICS, Samples, inception_metrics
from ganjax.sampling import EVAL_SEED_OFFSET, Generate, generate_ema, normal_latents, random_labels
from ganjax.state import Gan, TrainState

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The results of one evaluation.

    Attributes:
      scores: {"fid": ..., "kid": ..., ...}, float64 values, the same on every process.
      protocol: what produced the Inception scores: {"weights": path, "weights_sha256": ..., "resize": convention};
        {} when no Inception metric was computed.
    """

    scores: dict[str, float]
    protocol: dict[str, str]

    def describe(self) -> str:
        """One line: "fid 12.34, kid 0.0123 (Inception weights PATH, sha256 1234abcd..., resize tf)"."""
        text = ", ".join(f"{name} {value:.4g}" for name, value in self.scores.items())
        if self.protocol:
            text += (
                f" (Inception weights {self.protocol['weights']}, sha256 {self.protocol['weights_sha256'][:12]}..., "
                f"resize {self.protocol['resize']})"
            )
        return text


def evaluate(config: ml_collections.ConfigDict, generate: Generate, state: TrainState, gan: Gan) -> Evaluation:
    """Every metric in config.eval.metrics, on samples of the EMA generator from fixed latents (and labels).

    Inception features are extracted on this process's devices, the batch split over them; in a multi-process run
    every process computes the same results and process 0's are used, so all processes agree on the best checkpoint.
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
    if jax.process_count() > 1:  # process 0's float64 values, bit for bit (as uint32 pairs: JAX runs in 32 bits)
        names = sorted(scores)
        bits = np.array([scores[name] for name in names], np.float64).view(np.uint32)
        values = np.asarray(multihost_utils.broadcast_one_to_all(bits)).view(np.float64)
        scores = {name: float(value) for name, value in zip(names, values, strict=True)}
    extractor = inception_metrics.extractor_used(samples)
    return Evaluation(scores, inception_metrics.protocol(extractor) if extractor is not None else {})


class BestCheckpoint:
    """Keeps the state with the best `metric` (e.g. "fid": the lowest) seen so far in `directory`, with its scores
    and evaluation protocol.

    Survives restarts: the best value is read back from the checkpoint (verified; when it is damaged, a warning says
    so and the next evaluation becomes the best). Inactive when `metric` is empty.
    """

    def __init__(self, directory: pathlib.Path, metric: str):
        self.metric = metric
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
            self.best = newest[1].get(metric, float("inf"))

    def offer(self, step: int, state: TrainState, config_json: dict, evaluation: Evaluation) -> None:
        """Saves `state` as the best if its score beats the best so far (all processes must call this)."""
        value = evaluation.scores.get(self.metric)
        if self.checkpoints is None or value is None or not value < self.best:
            return
        self.best = value
        self.checkpoints.save(step, state, config_json, metrics=evaluation.scores | evaluation.protocol)
        log.info("step %d: new best %s %.4g, saved in %s", step, self.metric, self.best, self.checkpoints.directory)

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
