"""Readers for datasets stored as local files, all returning uint8 NHWC arrays.

- IDX (MNIST, Fashion-MNIST): `<name>-images-idx3-ubyte.gz` and `<name>-labels-idx1-ubyte.gz`, gzip-compressed or not.
- CIFAR-10 as WebP grids: one 3200x3200 RGB image per batch holding a 100x100 grid of 32x32 tiles in the original
  row-major order, with labels in `train_labels.npy` / `test_labels.npy` (the layout of the shared data folder).
- A folder of images (PNG, JPEG, WebP, BMP), read with Pillow; one subfolder per class makes them labelled.
- A `.npz` file with an `images` array (N, H, W[, C]) of uint8 and optionally `labels` (N,).
"""

from __future__ import annotations

import gzip
import pathlib
import zipfile

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganjax.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _require(path: pathlib.Path, what: str) -> pathlib.Path:
    if not path.exists():
        raise DataError(f"{what}: {path} does not exist")
    return path


def open_image(path: pathlib.Path) -> Image.Image:
    """The image file at `path`, opened lazily by Pillow; DataError naming the file when it is not a readable image."""
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{path} is not a readable image ({error}); remove it or convert it to PNG") from None
    return image


def _read_maybe_gzipped(path: pathlib.Path) -> bytes:
    """The file's bytes; `path` may name the uncompressed file, or `path` + '.gz' may exist instead."""
    gz = path.with_name(path.name + ".gz")
    if path.exists():
        return path.read_bytes()
    if gz.exists():
        with gzip.open(gz, "rb") as f:
            return f.read()
    raise DataError(f"IDX file not found: neither {gz} nor {path} exists")


def read_idx(path: pathlib.Path) -> np.ndarray:
    """An IDX file (the MNIST format) as a uint8 array: (N, rows, cols) for images, (N,) for labels.

    `path` names the uncompressed file (e.g. `train-images-idx3-ubyte`); its `.gz` is read when only that exists.
    """
    raw = _read_maybe_gzipped(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (its magic number is {raw[:4].hex()})")
    num_dims = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(num_dims))
    payload = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * num_dims)
    if payload.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: its header promises shape {dims} but it holds {payload.size} bytes")
    return payload.reshape(dims)


def read_idx_dataset(folder: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-format images (N, 28, 28, 1) uint8 and labels (N,) int32 from `folder`, split 'train' or 'test'."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise DataError(f"unknown split {split!r} for IDX data in {folder} (--config.data.split); valid: test, train")
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte")
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise DataError(f"IDX files in {folder} disagree: images {images.shape}, labels {labels.shape}")
    return images[..., None], labels.astype(np.int32)


def read_cifar10_webp(folder: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images (N, 32, 32, 3) uint8 and labels (N,) int32 from WebP grids, split 'train' or 'test'."""
    names = {"train": [f"data_batch_{i}.webp" for i in range(1, 6)], "test": ["test_batch.webp"]}.get(split)
    if names is None:
        raise DataError(f"unknown split {split!r} for CIFAR-10 in {folder} (--config.data.split); valid: test, train")
    batches = []
    for name in names:
        path = _require(folder / name, "CIFAR-10 WebP grid")
        grid = np.asarray(open_image(path).convert("RGB"))
        if grid.shape != (3200, 3200, 3):
            raise DataError(f"{path} should be a 3200x3200 RGB grid of 32x32 tiles; it is {grid.shape}")
        batches.append(grid.reshape(100, 32, 100, 32, 3).transpose(0, 2, 1, 3, 4).reshape(10000, 32, 32, 3))
    images = np.concatenate(batches)
    labels = np.load(_require(folder / f"{split}_labels.npy", "CIFAR-10 labels"))
    if labels.shape != images.shape[:1]:
        raise DataError(f"{folder / f'{split}_labels.npy'} holds {labels.shape[0]} labels for {len(images)} images")
    return images, labels.astype(np.int32)


def _centre_crop_and_resize(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def folder_classes(folder: pathlib.Path, paths: list[pathlib.Path]) -> tuple[np.ndarray | None, list[str]]:
    """(labels (N,) int32, class names) when every image lies in a subfolder of `folder`, one per class (the
    ImageFolder convention, classes sorted by name); (None, []) when any image lies in `folder` itself."""
    parts = [path.relative_to(folder).parts for path in paths]
    if any(len(part) < 2 for part in parts):
        return None, []
    class_names = sorted({part[0] for part in parts})
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index[part[0]] for part in parts], np.int32), class_names


def read_image_folder(
    folder: pathlib.Path, resize: int | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """All images under `folder` (recursively, sorted by path): (uint8 (N, H, W, C), labels, class names).

    C is 1 when every image is greyscale and 3 otherwise. Without `resize` the images must share one size; with it,
    each is centre-cropped to a square and resized to `resize` x `resize`. Labels come from class subfolders
    (`folder_classes`).
    """
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist or is not a folder (--config.data.path)")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {folder}")
    images = [open_image(p) for p in paths]
    grey = all(image.mode in ("1", "L", "I;16", "I") for image in images)
    mode = "L" if grey else "RGB"
    images = [image.convert(mode) for image in images]
    if resize is not None:
        images = [_centre_crop_and_resize(image, resize) for image in images]
    sizes = {image.size for image in images}
    if len(sizes) > 1:
        first = images[0].size
        odd = next(i for i, image in enumerate(images) if image.size != first)
        raise DataError(
            f"images under {folder} differ in size: {paths[0].name} is {first[0]}x{first[1]}, {paths[odd].name} is "
            f"{images[odd].size[0]}x{images[odd].size[1]}; set --config.data.resize=N to centre-crop and resize "
            "all of them to N x N"
        )
    array = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
    return (array[..., None] if grey else array), *folder_classes(folder, paths)


def read_image_files(folder: pathlib.Path) -> tuple[list[np.ndarray], list[str]]:
    """The images directly in `folder`, each at its own size, sorted by file name: uint8 (H, W, C) arrays, C 1 for
    a grey file and 3 otherwise (one folder may hold both), and their file names without the suffix."""
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist or is not a folder")
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    images = []
    for path in paths:
        image = open_image(path)
        grey = image.mode in ("1", "L", "I;16", "I")
        pixels = np.asarray(image.convert("L" if grey else "RGB"), dtype=np.uint8)
        images.append(pixels[..., None] if grey else pixels)
    return images, [path.stem for path in paths]


def read_npz(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (N, H, W, C) uint8 and labels (N,) int32 or None from a `.npz` with `images` [and `labels`]."""
    try:
        with np.load(_require(path, "npz dataset (--config.data.path)")) as archive:
            if "images" not in archive:
                raise DataError(f"{path} has no 'images' array; it holds: {', '.join(archive.files) or 'nothing'}")
            images = archive["images"]
            labels = archive["labels"].astype(np.int32) if "labels" in archive else None
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):  # not an npz, truncated, or pickled objects
        raise DataError(
            f"{path} is not a readable .npz (a zip of .npy arrays); write one with numpy.savez(path, images=...)"
        ) from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(
            f"{path}: 'images' must be uint8 of shape (N, H, W) or (N, H, W, C); it is {images.dtype} {images.shape}"
        )
    if images.ndim == 3:
        images = images[..., None]
    if labels is not None and labels.shape != images.shape[:1]:
        raise DataError(f"{path}: 'labels' has shape {labels.shape} for {len(images)} images")
    return images, labels
