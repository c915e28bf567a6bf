"""The convolutions ganjax writes differently from XLA's defaults, against XLA's own and PyTorch's, on this machine.

    python benchmarks/conv_layers.py [--batch 64]

Five tables, each at the shapes of the models that use the layer:
1. the 4x4 stride-2 transposed convolution of DCGAN generators, forward + backward (input and kernel gradients):
   Flax's `nn.ConvTranspose` vs ganjax's `conv_transpose_4x4_s2` vs PyTorch's `conv_transpose2d`;
2. the ordinary 3x3 convolution of the ResNets, forward + backward and the kernel gradient of a squared input
   gradient (what R1 costs): XLA's gradient vs ganjax's `conv_3x3`;
3. the grouped 3x3 convolution of R3GAN-style blocks, the same two measurements: XLA's grouped convolution vs
   ganjax's `conv_3x3` (tap by tap on CPU);
4. the 3x3 convolution of restorers (DnCNN, SRResNet) at the sizes of their training crops, the same measurements;
5. the 3x3 stride-2 transposed convolution (output_padding 1) of CycleGAN's ResNet generator, forward + backward at
   batches 1 (CycleGAN's) and 8: Flax's `nn.ConvTranspose` vs ganjax's `conv_transpose_3x3_s2` vs two exact
   re-expressions that JAX differentiates itself (matrix products per output phase; a 2x2 convolution to 4 * Cout
   channels, then depth-to-space) vs PyTorch's `conv_transpose2d`.
Times are milliseconds, the median of --repeats blocks of --calls calls after warm-up, the implementations taking turns.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import interleaved_seconds_per_call, machine, print_table  # noqa: E402

from ganjax.layers import conv_3x3, conv_transpose_3x3_s2, conv_transpose_4x4_s2  # noqa: E402
from ganjax.models.restorers import depth_to_space  # noqa: E402

# (input size, input channels, output channels) of DCGAN generator layers.
TRANSPOSED_SHAPES = [(7, 128, 64), (14, 64, 1), (4, 256, 128), (8, 128, 64), (16, 64, 3)]
# (size, channels, group size) of ResNet layers: SNGAN/BigGAN at width 256, R3GAN at width 256 x expansion 2.
CONV_3X3_SHAPES = [(32, 256, 256), (16, 256, 256)]
GROUPED_SHAPES = [(16, 512, 16), (8, 512, 16)]
# DnCNN's 40x40 crops at width 64; the CPU SR recipe's 64x64 crops at width 32.
RESTORER_SHAPES = [(40, 64, 64), (64, 32, 32)]
# (batch, input size, input channels, output channels) of the ResNet generator's upsampling on 128x128 images: its
# first layer at width 32, its second at width 64.
CYCLEGAN_SHAPES = [(1, 32, 128, 64), (8, 32, 128, 64), (1, 64, 128, 64), (8, 64, 128, 64)]
# Along each axis, output pixel 2i + phase of the 3x3 layer sums x[i + offset] @ kernel[tap] over {offset: tap}.
_PHASE_TAPS = ({0: 1}, {0: 2, 1: 0})


def _flax_conv_transpose(x, kernel):
    # Flax's layer with PyTorch's padding: kernel (4, 4, Cin, Cout), padding 2 on the dilated input.
    module = nn.ConvTranspose(
        kernel.shape[-1], (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), transpose_kernel=True, use_bias=False
    )
    return module.apply({"params": {"kernel": kernel.swapaxes(2, 3)}}, x)


def _flax_conv_transpose_3x3(x, kernel):
    # PyTorch's padding 1 and output_padding 1: 1 and 2 pixels of padding on the dilated input.
    module = nn.ConvTranspose(
        kernel.shape[-1], (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)), transpose_kernel=True, use_bias=False
    )
    return module.apply({"params": {"kernel": kernel.swapaxes(2, 3)}}, x)


def _conv_transpose_3x3_by_phases(x, kernel):
    """The four output phases (even/odd row, even/odd column), each a sum of matrix products of shifted inputs."""
    batch, height, width, _ = x.shape
    x_padded = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    phases = [
        sum(
            x_padded[:, di : di + height, dj : dj + width] @ kernel[t, u]
            for di, t in _PHASE_TAPS[row].items()
            for dj, u in _PHASE_TAPS[column].items()
        )
        for row in range(2)
        for column in range(2)
    ]  # 4 x (B, H, W, Cout), phase (row, column) at index 2 * row + column
    y = jnp.stack(phases, axis=-1)  # (B, H, W, Cout, 4): depth_to_space's channel order
    return depth_to_space(y.reshape(batch, height, width, -1), 2)


def _conv_transpose_3x3_as_2x2_conv(x, kernel):
    """One 2x2 convolution of x padded at the bottom and right, to the four phases' channels (7 of 16 taps zero)."""
    in_features, out_features = kernel.shape[2:]
    packed = jnp.zeros((2, 2, in_features, out_features, 2, 2), kernel.dtype)  # offsets, Cin, Cout, phases
    for row, column in itertools.product(range(2), range(2)):
        for (di, t), (dj, u) in itertools.product(_PHASE_TAPS[row].items(), _PHASE_TAPS[column].items()):
            packed = packed.at[di, dj, :, :, row, column].set(kernel[t, u])
    packed = packed.reshape(2, 2, in_features, 4 * out_features)  # depth_to_space's channel order
    x_padded = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    y = lax.conv_general_dilated(x_padded, packed, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return depth_to_space(y, 2)


def _xla_conv_3x3(x, kernel):
    groups = x.shape[-1] // kernel.shape[2]
    return lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups
    )


def _gradients(conv, x, kernel):
    """(run, sync) for the gradients of sum(tanh(conv(x, k))) with respect to x and k."""
    grad = jax.jit(jax.grad(lambda x, k: jnp.sum(jnp.tanh(conv(x, k))), argnums=(0, 1)))
    return (lambda: grad(x, kernel)), jax.block_until_ready


def _r1_gradient(conv, x, kernel):
    """(run, sync) for the kernel gradient of the squared input gradient, the shape of R1's cost."""

    def penalty(k, x):
        return jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k))))(x) ** 2)

    grad = jax.jit(jax.grad(penalty))
    return (lambda: grad(kernel, x)), jax.block_until_ready


def _timed(runners, args) -> dict[str, float]:
    seconds = interleaved_seconds_per_call(runners, warmup=1, calls=args.calls, repeats=args.repeats)
    return {name: value * 1e3 for name, value in seconds.items()}


def transposed_table(args, rng) -> None:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        torch = None
    rows = []
    for size, cin, cout in TRANSPOSED_SHAPES:
        x = jnp.asarray(rng.normal(size=(args.batch, size, size, cin)), jnp.float32)
        kernel = jnp.asarray(rng.normal(size=(4, 4, cin, cout)) * 0.05, jnp.float32)
        np.testing.assert_allclose(
            _flax_conv_transpose(x, kernel), conv_transpose_4x4_s2(x, kernel), rtol=1e-4, atol=1e-4
        )
        runners = {
            "flax": _gradients(_flax_conv_transpose, x, kernel),
            "ganjax": _gradients(conv_transpose_4x4_s2, x, kernel),
        }
        if torch is not None:
            tx = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()).requires_grad_()
            tk = torch.from_numpy(np.asarray(kernel).transpose(2, 3, 0, 1).copy()).requires_grad_()

            def torch_run(tx=tx, tk=tk):
                F.conv_transpose2d(tx, tk, stride=2, padding=1).tanh().sum().backward()

            runners["torch"] = (torch_run, lambda _: None)
        ms = _timed(runners, args)
        rows.append(
            [
                f"{size}x{size}x{cin} -> {2 * size}x{2 * size}x{cout}",
                f"{ms['flax']:.1f}",
                f"{ms['ganjax']:.1f}",
                f"{ms['torch']:.1f}" if "torch" in ms else "-",
                f"{ms['flax'] / ms['ganjax']:.1f}x",
            ]
        )
    print(f"1. Transposed convolution 4x4 stride 2, forward + backward, batch {args.batch} (ms)\n")
    print_table(["layer", "flax", "ganjax", "torch", "ganjax vs flax"], rows)


def cyclegan_transposed_table(args, rng) -> None:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        torch = None
    implementations = {
        "flax": _flax_conv_transpose_3x3,
        "ganjax": conv_transpose_3x3_s2,
        "phases": _conv_transpose_3x3_by_phases,
        "2x2 conv": _conv_transpose_3x3_as_2x2_conv,
    }
    rows = []
    for batch, size, cin, cout in CYCLEGAN_SHAPES:
        x = jnp.asarray(rng.normal(size=(batch, size, size, cin)), jnp.float32)
        kernel = jnp.asarray(rng.normal(size=(3, 3, cin, cout)) * 0.05, jnp.float32)
        for conv in implementations.values():
            np.testing.assert_allclose(conv(x, kernel), _flax_conv_transpose_3x3(x, kernel), rtol=1e-4, atol=1e-4)
        runners = {name: _gradients(conv, x, kernel) for name, conv in implementations.items()}
        if torch is not None:
            tx = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()).requires_grad_()
            tk = torch.from_numpy(np.asarray(kernel).transpose(2, 3, 0, 1).copy()).requires_grad_()

            def torch_run(tx=tx, tk=tk):
                F.conv_transpose2d(tx, tk, stride=2, padding=1, output_padding=1).tanh().sum().backward()

            runners["torch"] = (torch_run, lambda _: None)
        ms = _timed(runners, args)
        rows.append(
            [
                f"{batch} x {size}x{size}x{cin} -> {2 * size}x{2 * size}x{cout}",
                *(f"{ms[name]:.1f}" for name in implementations),
                f"{ms['torch']:.1f}" if "torch" in ms else "-",
                f"{ms['flax'] / ms['ganjax']:.1f}x",
            ]
        )
    print("\n5. Transposed convolution 3x3 stride 2 (CycleGAN's), forward + backward (ms)\n")
    print_table(["batch x layer", *implementations, "torch", "ganjax vs flax"], rows)


def _comparison(ms: dict[str, float]) -> list[str]:
    return [f"{ms['xla']:.0f}", f"{ms['ganjax']:.0f}", f"{ms['xla'] / ms['ganjax']:.1f}x"]


def conv_3x3_table(title: str, shapes, args, rng) -> None:
    rows = []
    for size, channels, group_size in shapes:
        x = jnp.asarray(rng.normal(size=(args.batch, size, size, channels)) * 0.1, jnp.float32)
        kernel = jnp.asarray(rng.normal(size=(3, 3, group_size, channels)) * 0.05, jnp.float32)
        np.testing.assert_allclose(conv_3x3(x, kernel), _xla_conv_3x3(x, kernel), rtol=1e-3, atol=1e-3)
        backward = _timed(
            {"xla": _gradients(_xla_conv_3x3, x, kernel), "ganjax": _gradients(conv_3x3, x, kernel)}, args
        )
        r1 = _timed({"xla": _r1_gradient(_xla_conv_3x3, x, kernel), "ganjax": _r1_gradient(conv_3x3, x, kernel)}, args)
        groups = channels // group_size
        name = f"{size}x{size}x{channels}" + (f", {groups} groups" if groups > 1 else "")
        rows.append([name, *_comparison(backward), *_comparison(r1)])
    print(f"\n{title}, batch {args.batch} (ms)\n")
    print_table(
        ["layer", "fwd+bwd xla", "fwd+bwd ganjax", "speed-up", "R1 grad xla", "R1 grad ganjax", "speed-up"], rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"Machine: {machine()}; jax {jax.__version__} on {jax.devices()[0].device_kind}\n")
    rng = np.random.default_rng(0)
    transposed_table(args, rng)
    conv_3x3_table("2. 3x3 convolution", CONV_3X3_SHAPES, args, rng)
    conv_3x3_table("3. Grouped 3x3 convolution (groups of 16 channels)", GROUPED_SHAPES, args, rng)
    conv_3x3_table("4. 3x3 convolutions of restorers", RESTORER_SHAPES, args, rng)
    cyclegan_transposed_table(args, rng)


if __name__ == "__main__":
    main()
