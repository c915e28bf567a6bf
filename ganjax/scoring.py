"""How every evaluation ends: the metrics a config asks for, computed on a task's samples, as one `Evaluation` that
every process agrees on. Tasks build their samples (ganjax/metrics/: `Samples` drawn from a generator, or
`ScoredSamples` made from an evaluation set) and call `score`; the training loop and
`python -m ganjax.evaluate --workdir` run the same evaluator (a task's `evaluator`).
"""

from __future__ import annotations

import dataclasses

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from ganjax.metrics import METRICS, Samples, inception_metrics

_INCEPTION_PROTOCOL = ("weights", "weights_sha256", "resize")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The results of one evaluation.

    Attributes:
      scores: {"fid": ..., "kid": ..., ...}, float64 values, the same on every process.
      protocol: what produced the scores, as text: for the Inception metrics {"weights": path, "weights_sha256":
        ..., "resize": convention}; for restoration, the evaluation set, degradation, channel and cropped border.
        {} when nothing needs saying.
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


def score(samples: Samples, config: ml_collections.ConfigDict, protocol: dict[str, str] | None = None) -> Evaluation:
    """Every metric in `config.eval.metrics` on `samples`, with `protocol` (what the samples are) and, when an
    Inception metric ran, the weights and resize convention it used; process 0's scores on every process."""
    scores: dict[str, float] = {}
    for name in config.eval.metrics:
        scores.update(METRICS.get(name)(samples, config))
    described = dict(protocol or {})
    extractor = inception_metrics.extractor_used(samples)
    if extractor is not None:
        described |= inception_metrics.protocol(extractor)
    return Evaluation(agree_across_processes(scores), described)


def agree_across_processes(scores: dict[str, float]) -> dict[str, float]:
    """Process 0's scores on every process, bit for bit, so that all of them keep the same best checkpoint."""
    if jax.process_count() == 1:
        return scores
    names = sorted(scores)  # float64 values travel as uint32 pairs: JAX runs in 32 bits
    bits = np.array([scores[name] for name in names], np.float64).view(np.uint32)
    values = np.asarray(multihost_utils.broadcast_one_to_all(bits)).view(np.float64)
    return {name: float(value) for name, value in zip(names, values, strict=True)}
