"""Datasets by name: random-access sources of examples, in the model's value range.

`open_source(config.data, seed)` returns a `Source`: its length, the shape of one sample, and `read(indices)` that
returns a batch of samples as float32 (images scaled from uint8 to [-1, 1]). Standard datasets come from local files
when a data root is given (`--config.data.root` or `$GANJAX_DATA_DIR`) and from TensorFlow Datasets otherwise.

The image-restoration sets (`RESTORATION_SETS`) exist only as local files, `<data root>/restoration/<set>/*.png`:
`restoration_sets` trains on one of them (`--config.data.split=Train400`), and `read_restoration_set` returns a test
set's images at their own sizes.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Callable

import ml_collections
import numpy as np

from ganjax.data import local, ring
from ganjax.errors import DataError
from ganjax.images import uint8_to_model_range
from ganjax.registry import Registry

DATA_DIR_ENV = "GANJAX_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset split with random access by example index.

    Attributes:
      name: for messages, e.g. "mnist (local files in /data/mnist)".
      num_examples: number of examples.
      sample_shape: shape of one sample, e.g. (28, 28, 1).
      num_classes: number of classes; 0 when the examples have no labels.
      read: indices (n,) int64 -> {"image": (n, *sample_shape) float32, "label": (n,) int32 when labelled}; images
        are in [-1, 1].
    """

    name: str
    num_examples: int
    sample_shape: tuple[int, ...]
    num_classes: int
    read: Callable[[np.ndarray], dict[str, np.ndarray]]


def array_source(name: str, samples: np.ndarray, labels: np.ndarray | None = None, num_classes: int = 0) -> Source:
    """A source over samples held in memory: uint8 images (scaled on read) or float32 values (read as they are),
    with int labels (N,) in [0, num_classes) or None. num_classes defaults to the largest label + 1."""
    scale = uint8_to_model_range if samples.dtype == np.uint8 else np.asarray
    if labels is None:
        return Source(name, len(samples), tuple(samples.shape[1:]), 0, lambda i: {"image": scale(samples[i])})
    labels = labels.astype(np.int32)
    num_classes = num_classes or int(labels.max()) + 1

    def read(indices: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": scale(samples[indices]), "label": labels[indices]}

    return Source(name, len(samples), tuple(samples.shape[1:]), num_classes, read)


DATASETS: Registry = Registry("dataset", config_key="data.name")


def data_root(data_config: ml_collections.ConfigDict) -> pathlib.Path | None:
    root = data_config.root or os.environ.get(DATA_DIR_ENV)
    return pathlib.Path(root).expanduser() if root else None


def _local_layout(name: str) -> str:
    if name == "cifar10":
        return "cifar10/data_batch_{1..5}.webp, cifar10/train_labels.npy"
    return f"{name}/train-images-idx3-ubyte.gz, {name}/train-labels-idx1-ubyte.gz"


def _tfds_source(name: str, data_config: ml_collections.ConfigDict) -> Source:
    import tensorflow_datasets as tfds  # imported here: it is slow to import and only this path needs it

    try:
        source = tfds.data_source(name, split=data_config.split, data_dir=data_config.tfds_dir)
    except Exception as error:  # TFDS raises many types here (network, missing TensorFlow, missing files)
        raise DataError(
            f"could not open {name!r} (split {data_config.split!r}) through TensorFlow Datasets: "
            f"{type(error).__name__}: {error}\n"
            f"TFDS must download and prepare the dataset once, which needs internet access and TensorFlow "
            f"(pip install tensorflow). To read local files instead, set {DATA_DIR_ENV}=/path/to/data (or "
            f"--config.data.root=/path/to/data), a folder holding {_local_layout(name)}."
        ) from error
    features = source.dataset_info.features
    num_classes = features["label"].num_classes if "label" in features else 0

    def read(indices: np.ndarray) -> dict[str, np.ndarray]:
        examples = [source[int(i)] for i in indices]
        batch = {"image": uint8_to_model_range(np.stack([example["image"] for example in examples]))}
        if num_classes:
            batch["label"] = np.array([example["label"] for example in examples], np.int32)
        return batch

    return Source(f"{name} (TFDS)", len(source), tuple(features["image"].shape), num_classes, read)


def _standard(name: str, read_local: Callable[[pathlib.Path, str], tuple[np.ndarray, np.ndarray]]):
    """Registers a standard dataset: local files under a data root when one is given, TFDS otherwise."""

    @DATASETS.register(name)
    def open_standard(data_config: ml_collections.ConfigDict, seed: int) -> Source:
        del seed
        root = data_root(data_config)
        if root is None:
            return _tfds_source(name, data_config)
        folder = root / name
        if not folder.is_dir():
            raise DataError(
                f"data root {root} (from --config.data.root or ${DATA_DIR_ENV}) has no {name}/ folder; expected "
                f"{_local_layout(name)} under it"
            )
        images, labels = read_local(folder, data_config.split)
        return array_source(f"{name} (local files in {folder})", images, labels, num_classes=10)

    return open_standard


_standard("mnist", local.read_idx_dataset)
_standard("fashion_mnist", local.read_idx_dataset)
_standard("cifar10", local.read_cifar10_webp)


def _required_path(data_config: ml_collections.ConfigDict, dataset: str) -> pathlib.Path:
    if not data_config.path:
        raise DataError(f"dataset {dataset!r} reads --config.data.path, which is not set")
    return pathlib.Path(data_config.path).expanduser()


@DATASETS.register("folder")
def _folder(data_config: ml_collections.ConfigDict, seed: int) -> Source:
    del seed
    path = _required_path(data_config, "folder")
    images, labels, class_names = local.read_image_folder(path, data_config.resize)
    return array_source(f"images in {path}", images, labels, num_classes=len(class_names))


@DATASETS.register("npz")
def _npz(data_config: ml_collections.ConfigDict, seed: int) -> Source:
    del seed
    path = _required_path(data_config, "npz")
    return array_source(f"images in {path}", *local.read_npz(path))


# The standard sets of image-restoration papers; a split of the `restoration_sets` dataset each.
RESTORATION_SETS = ("BSD68", "Set12", "Set5", "Set14", "Train400")


def _restoration_folder(root: pathlib.Path | None, name: str) -> pathlib.Path:
    """`<root>/restoration/<name>/`, or a DataError saying what is missing and where the sets come from."""
    if name not in RESTORATION_SETS:
        raise DataError(f"unknown restoration set {name!r} (--config.data.split); valid: {', '.join(RESTORATION_SETS)}")
    origin = "the testsets/ and Train400/ folders of the DnCNN authors' repository"
    if root is None:
        raise DataError(
            f"the restoration sets have no TensorFlow Datasets copy: set {DATA_DIR_ENV}=/path/to/data (or "
            f"--config.data.root) to a folder holding restoration/{name}/*.png, from {origin}"
        )
    folder = root / "restoration" / name
    if not folder.is_dir():
        raise DataError(
            f"data root {root} (from --config.data.root or ${DATA_DIR_ENV}) has no restoration/{name}/ folder; "
            f"expected restoration/{name}/*.png under it, from {origin}"
        )
    return folder


@DATASETS.register("restoration_sets")
def _restoration_sets(data_config: ml_collections.ConfigDict, seed: int) -> Source:
    del seed
    folder = _restoration_folder(data_root(data_config), data_config.split)
    images, _, _ = local.read_image_folder(folder, data_config.resize)
    return array_source(f"restoration set {data_config.split} (local files in {folder})", images)


def read_restoration_set(root: pathlib.Path | None, name: str) -> tuple[list[np.ndarray], list[str]]:
    """The images of restoration set `name` under data root `root`, each at its own size, sorted by file name.

    Returns:
      (images, names): uint8 (H, W, C) arrays, C 1 for a grey file and 3 otherwise (one set may hold both, as
      Set14 does), and their file names without the suffix (e.g. "baby_GT").
    """
    return local.read_image_files(_restoration_folder(root, name))


# The datasets whose samples depend on the seed (`open_source`'s argument): the others' runs can share one copy.
SEEDED_DATASETS = ("ring",)


@DATASETS.register("ring")
def _ring(data_config: ml_collections.ConfigDict, seed: int) -> Source:
    del data_config
    return array_source("ring of 8 Gaussians", ring.sample(ring.DATASET_SIZE, seed))


def open_source(data_config: ml_collections.ConfigDict, seed: int) -> Source:
    """Opens the dataset `data_config.name` selects; `seed` only matters for synthetic data."""
    return DATASETS.get(data_config.name)(data_config, seed)
