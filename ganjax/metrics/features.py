"""Inception features of uint8 images: the resize to 299x299, the network's scaling, and batched, jitted extraction.

FID's numbers depend on how images are resized to the network's 299x299 input, so the convention is chosen by name
(`RESIZE_CONVENTIONS`): "tf", TensorFlow 1's bilinear resize, which the original FID graph and NVIDIA's StyleGAN
metrics apply, or "pytorch", pytorch-fid's `F.interpolate`. Names are checked where a config or a feature extractor
is built (ganjax/config.py, `inception_metrics.make_extractor`); the functions here take a valid one.

`extract_features` runs `preprocess` and the network (ganjax/metrics/inception.py) over a dataset of any size, in
batches of one shape, so one compiled program serves every batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from jax.sharding import Mesh

from ganjax import parallel
from ganjax.metrics.inception import FEATURES, INPUT_SIZE, PRECISION, FIDInceptionV3

# Resize convention -> the offset of its pixel centres: source coordinate s = (j + offset) * in / out - offset.
_SOURCE_OFFSET = {"tf": 0.0, "pytorch": 0.5}
RESIZE_CONVENTIONS = tuple(_SOURCE_OFFSET)


@functools.cache
def resize_matrix(in_size: int, out_size: int, convention: str) -> np.ndarray:
    """(out_size, in_size) float32 bilinear weights along one axis: output pixel j = sum_i matrix[j, i] * input[i].

    Conventions (source coordinate s of output pixel j, then linear interpolation between floor(s) and floor(s) + 1,
    clamped to the border):
      "tf": s = j * in / out. TensorFlow 1's `resize_bilinear` (align_corners=False), which the original FID graph
        applies; NVIDIA's StyleGAN metrics reproduce it with a shifted `affine_grid` + `grid_sample(bilinear,
        padding_mode="border", align_corners=False)`.
      "pytorch": s = max((j + 0.5) * in / out - 0.5, 0), half-pixel centres. PyTorch's `F.interpolate(bilinear,
        align_corners=False)`, no antialiasing, as pytorch-fid resizes.
    """
    offset = _SOURCE_OFFSET[convention]
    j = np.arange(out_size, dtype=np.float64)
    source = np.maximum((j + offset) * in_size / out_size - offset, 0.0)
    source = np.minimum(source, in_size - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    frac = source - low
    matrix = np.zeros((out_size, in_size), np.float64)
    np.add.at(matrix, (np.arange(out_size), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(out_size), high), frac)
    matrix = matrix.astype(np.float32)
    matrix.flags.writeable = False  # shared by every caller through the cache
    return matrix


def resize_bilinear(images: jax.Array, size: int, convention: str = "tf") -> jax.Array:
    """(N, H, W, C) float -> (N, size, size, C) float32 pixels, bilinear by the named convention (`resize_matrix`)."""
    rows = resize_matrix(images.shape[1], size, convention)
    cols = resize_matrix(images.shape[2], size, convention)
    x = jnp.einsum("oh,nhwc->nowc", rows, images.astype(jnp.float32), precision=PRECISION)
    return jnp.einsum("pw,nowc->nopc", cols, x, precision=PRECISION)


def preprocess(images: jax.Array, resize: str = "tf") -> jax.Array:
    """uint8 images -> the network's input: resized to 299x299 on float values, then (x - 128) / 128.

    Args:
      images: (N, H, W, C) uint8, C = 1 (repeated to RGB) or 3. Generated images in [-1, 1] must be quantised
        first, as the published figures are, e.g. `np.clip(np.round(x * 127.5 + 127.5), 0, 255).astype(np.uint8)`.
      resize: "tf" (the TensorFlow FID / StyleGAN convention) or "pytorch" (pytorch-fid's); see `resize_matrix`.
        299x299 images are not resized. pytorch-fid also scales by (x - 127.5) / 127.5, not (x - 128) / 128; only
        its resize is reproduced here.

    Returns:
      (N, 299, 299, 3) float32, in [-1, 0.9921875].
    """
    if images.dtype != jnp.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise TypeError(f"expected (N, H, W, 1 or 3) uint8 images, got {images.shape} {images.dtype}")
    x = images.astype(jnp.float32)
    if images.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        x = resize_bilinear(x, INPUT_SIZE, resize)
    x = jnp.broadcast_to(x, (*x.shape[:3], 3))
    return (x - 128.0) / 128.0


@functools.partial(jax.jit, static_argnames=("module", "resize", "with_logits"))
def _forward(module: FIDInceptionV3, variables: dict, images: jax.Array, resize: str, with_logits: bool):
    return module.apply(variables, preprocess(images, resize), with_logits=with_logits)


def _fixed_batches(images: np.ndarray | Iterable[np.ndarray], batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
    """(batch, count): batches of exactly `batch_size` images, the last zero-padded after its `count` real ones."""
    chunks = [images] if isinstance(images, np.ndarray | jax.Array) else images
    pending: list[np.ndarray] = []
    count = 0
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.ndim != 4:
            raise ValueError(f"expected batches of images (N, H, W, C), got shape {chunk.shape}")
        pending.append(chunk)
        count += len(chunk)
        while count >= batch_size:
            joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
            yield joined[:batch_size], batch_size
            pending, count = [joined[batch_size:]], count - batch_size
    if count:
        joined = np.concatenate(pending)
        padding = np.zeros((batch_size - count, *joined.shape[1:]), joined.dtype)
        yield np.concatenate([joined, padding]), count


def extract_features(
    images: np.ndarray | Iterable[np.ndarray],
    module: FIDInceptionV3,
    variables: dict,
    *,
    batch_size: int = 50,
    resize: str = "tf",
    with_logits: bool = False,
    mesh: Mesh | None = None,
    progress: bool = True,
    total: int | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pool3 features (and logits) of many uint8 images, `batch_size` at a time through one compiled program.

    Args:
      images: (N, H, W, C) uint8, or any iterable of such batches of any sizes (a generator that draws samples from
        a GAN, a data loader), all of one H, W, C; C = 1 or 3. Re-batched to `batch_size`, the last batch padded
        (the padding is dropped from the result).
      module, variables: from `inception.load_inception`.
      batch_size: images per call; with a mesh, a multiple of its "data" axis.
      resize: the resize convention, one of `RESIZE_CONVENTIONS` (see `preprocess`).
      with_logits: also return the classifier's logits (NVIDIA's archive only).
      mesh: split each batch over this mesh's "data" axis (the network is replicated); None: the default device.
      progress: show a tqdm progress bar (images).
      total: the number of images, for the progress bar, when `images` is an iterable without a length.

    Returns:
      features (N, 2048) float32; with `with_logits`, (features, logits (N, num_classes) float32).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    sharding = None
    if mesh is not None:
        devices = mesh.shape[parallel.DATA_AXIS]
        if batch_size % devices:
            raise ValueError(f"batch_size {batch_size} must be a multiple of the mesh's {devices} data devices")
        sharding = parallel.sample_sharding(mesh)
        variables = jax.device_put(variables, parallel.replicated(mesh))
    if total is None and hasattr(images, "__len__"):
        total = len(images)
    outputs: list[tuple[np.ndarray, ...]] = []
    with tqdm.tqdm(total=total, unit="img", desc="Inception features", disable=not progress) as bar:

        def collect(result, count: int) -> None:
            arrays = result if with_logits else (result,)
            outputs.append(tuple(np.asarray(array)[:count] for array in arrays))
            bar.update(count)

        pending = None
        for batch, count in _fixed_batches(images, batch_size):
            if sharding is not None:
                batch = jax.device_put(batch, sharding)
            result = _forward(module, variables, batch, resize, with_logits)  # runs while the last one is fetched
            if pending is not None:
                collect(*pending)
            pending = (result, count)
        if pending is not None:
            collect(*pending)
    widths = (FEATURES, module.num_classes) if with_logits else (FEATURES,)
    stacked = tuple(
        np.concatenate([output[i] for output in outputs]) if outputs else np.zeros((0, width), np.float32)
        for i, width in enumerate(widths)
    )
    return stacked if with_logits else stacked[0]
