"""The 4x4 stride-2 transposed convolution of DCGAN generators, forward + backward, on DCGAN layer shapes.

    python benchmarks/upconv.py

Compares Flax's `nn.ConvTranspose` (XLA's own gradient), ganjax's `conv_transpose_4x4_s2` (the same maths with a
hand-written gradient) and PyTorch's `conv_transpose2d` when PyTorch is installed. Times are milliseconds per
forward+backward (gradients for both input and kernel), median of repeats, the three taking turns.
"""

from __future__ import annotations

import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import interleaved_seconds_per_call, machine, print_table  # noqa: E402

from ganjax.layers import conv_transpose_4x4_s2  # noqa: E402

# (batch, input size, input channels, output channels) of the DCGAN generators' layers at batch 64.
SHAPES = [(64, 7, 128, 64), (64, 14, 64, 1), (64, 4, 256, 128), (64, 8, 128, 64), (64, 16, 64, 3)]


def jax_runner(conv, x, kernel):
    grad = jax.jit(jax.grad(lambda x, k: jnp.sum(conv(x, k) ** 2), argnums=(0, 1)))
    return (lambda: grad(x, kernel)), jax.block_until_ready


def flax_conv_transpose(x, kernel):
    # Flax's layer with PyTorch's padding: kernel (4, 4, Cin, Cout), padding 2 on the dilated input.
    module = nn.ConvTranspose(kernel.shape[-1], (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)),
                              transpose_kernel=True, use_bias=False)  # fmt: skip
    return module.apply({"params": {"kernel": kernel.swapaxes(2, 3)}}, x)


def main() -> None:
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        torch = None
    print(f"Transposed convolution 4x4 stride 2, forward+backward. Machine: {machine()}; jax {jax.__version__}\n")
    rng = np.random.default_rng(0)
    rows = []
    for batch, size, cin, cout in SHAPES:
        x = jnp.asarray(rng.normal(size=(batch, size, size, cin)), jnp.float32)
        kernel = jnp.asarray(rng.normal(size=(4, 4, cin, cout)) * 0.05, jnp.float32)
        np.testing.assert_allclose(
            flax_conv_transpose(x, kernel), conv_transpose_4x4_s2(x, kernel), rtol=1e-4, atol=1e-4
        )
        runners = {
            "flax": jax_runner(flax_conv_transpose, x, kernel),
            "ganjax": jax_runner(conv_transpose_4x4_s2, x, kernel),
        }
        if torch is not None:
            tx = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()).requires_grad_()
            tk = torch.from_numpy(np.asarray(kernel).transpose(2, 3, 0, 1).copy()).requires_grad_()

            def torch_run(tx=tx, tk=tk):
                F.conv_transpose2d(tx, tk, stride=2, padding=1).square().sum().backward()

            runners["torch"] = (torch_run, lambda _: None)
        ms = {k: v * 1e3 for k, v in interleaved_seconds_per_call(runners, warmup=2, calls=10, repeats=5).items()}
        rows.append([f"{size}x{size}x{cin} -> {2 * size}x{2 * size}x{cout}", f"{ms['flax']:.1f}", f"{ms['ganjax']:.1f}",
                     f"{ms['torch']:.1f}" if "torch" in ms else "-", f"{ms['flax'] / ms['ganjax']:.1f}x"])  # fmt: skip
    print_table(["layer (batch 64)", "flax ms", "ganjax ms", "torch ms", "ganjax vs flax"], rows)


if __name__ == "__main__":
    main()
