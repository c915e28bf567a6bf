"""Section conv: the convolutions ganjax writes gradients for (ganjax/layers.py) against XLA's own gradients of the
same lax convolution, at the recipes' shapes."""

from __future__ import annotations

from suite.budget import Section, timed_calls

# The table's (header, row key) pairs.
COLUMNS = [
    ("layer", "layer"),
    ("shape", "shape"),
    ("dtype", "dtype"),
    ("measure", "measure"),
    ("hand-written ms", "hand_ms"),
    ("XLA ms", "xla_ms"),
    ("faster", "faster"),
    ("ganjax uses here", "chosen"),
    ("max |diff|", "max_diff"),
]


def conv_cases(batch: int, tiny: bool) -> list[tuple[str, str, tuple, tuple]]:
    """(layer, kind, x shape, kernel shape) at the recipes' shapes (benchmarks/conv_layers.py's), or small ones."""
    if tiny:
        return [
            ("conv_transpose_4x4_s2", "transpose", (batch, 4, 4, 16), (4, 4, 16, 8)),
            ("conv_transpose_3x3_s2", "transpose", (batch, 4, 4, 16), (3, 3, 16, 8)),
            ("conv_3x3", "conv", (batch, 8, 8, 16), (3, 3, 16, 16)),
            ("conv_3x3 grouped", "grouped", (batch, 8, 8, 32), (3, 3, 8, 32)),
        ]
    cases = []
    for size, cin, cout in [(7, 128, 64), (14, 64, 1), (4, 256, 128), (8, 128, 64), (16, 64, 3)]:  # DCGAN G
        cases.append(("conv_transpose_4x4_s2", "transpose", (batch, size, size, cin), (4, 4, cin, cout)))
    for b, size, cin, cout in [(1, 32, 128, 64), (8, 32, 128, 64), (1, 64, 128, 64), (8, 64, 128, 64)]:  # CycleGAN
        cases.append(("conv_transpose_3x3_s2", "transpose", (b, size, size, cin), (3, 3, cin, cout)))
    for size, channels in [(32, 256), (16, 256), (8, 256)]:  # SNGAN/BigGAN ResNets at width 256
        cases.append(("conv_3x3", "conv", (batch, size, size, channels), (3, 3, channels, channels)))
    for size, channels in [(40, 64)]:  # DnCNN
        cases.append(("conv_3x3", "conv", (128, size, size, channels), (3, 3, channels, channels)))
    for size in (16, 8):  # R3GAN: width 256 x expansion 2, groups of 16, batch 256
        cases.append(("conv_3x3 grouped", "grouped", (256, size, size, 512), (3, 3, 16, 512)))
    return cases


def run(section: Section, args) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    # The private pieces on either side of lax.platform_dependent in ganjax/layers.py: the hand-written gradients
    # and the plain lax convolutions that JAX differentiates itself.
    from ganjax.layers import (
        _conv_3x3,
        _conv_3x3_fast_gradient,
        _conv_transpose_s2,
        _grouped_conv_3x3_by_taps,
        conv_transpose_3x3_s2,
        conv_transpose_4x4_s2,
    )

    hand = {
        "conv_transpose_4x4_s2": conv_transpose_4x4_s2,
        "conv_transpose_3x3_s2": conv_transpose_3x3_s2,
        "conv_3x3": _conv_3x3_fast_gradient,
        "conv_3x3 grouped": _grouped_conv_3x3_by_taps,
    }
    xla = {"transpose": _conv_transpose_s2, "conv": _conv_3x3, "grouped": _conv_3x3}
    chosen = "hand-written" if jax.default_backend() == "cpu" else "XLA"
    section.notes.append(
        f"backend {jax.default_backend()}: ganjax's layers use the {chosen} path here (lax.platform_dependent)"
    )
    rng = np.random.default_rng(0)
    min_time = 0.02 if args.tiny else 0.2

    def gradients(conv):
        return jax.jit(jax.grad(lambda x, k: jnp.sum(jnp.tanh(conv(x, k).astype(jnp.float32))), argnums=(0, 1)))

    def r1(conv):
        def penalty(k, x):
            inner = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k).astype(jnp.float32))))(x)
            return jnp.sum(inner.astype(jnp.float32) ** 2)

        return jax.jit(jax.grad(penalty))

    for dtype in args.dtypes:
        for layer, kind, x_shape, k_shape in conv_cases(args.conv_batch, args.tiny):
            measures = [("fwd+bwd", gradients)] + ([("R1 grad", r1)] if kind != "transpose" else [])
            for measure, make in measures:
                section.check(0.5)
                x = jnp.asarray(rng.normal(size=x_shape), dtype)
                kernel = jnp.asarray(rng.normal(size=k_shape) * 0.05, dtype)
                ms = {}
                outputs = {}
                for side, conv in (("hand", hand[layer]), ("xla", xla[kind])):
                    fn = make(conv)
                    args_ = (x, kernel) if measure == "fwd+bwd" else (kernel, x)
                    outputs[side] = fn(*args_)
                    ms[side] = (
                        timed_calls(lambda fn=fn, a=args_: fn(*a), jax.block_until_ready, section, min_time=min_time)
                        * 1e3
                    )
                diff = max(
                    float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))))
                    for a, b in zip(jax.tree.leaves(outputs["hand"]), jax.tree.leaves(outputs["xla"]), strict=True)
                )
                faster = "hand-written" if ms["hand"] < ms["xla"] else "XLA"
                section.rows.append(
                    {
                        "layer": layer,
                        "shape": f"x {'x'.join(map(str, x_shape))}, k {'x'.join(map(str, k_shape))}",
                        "dtype": dtype,
                        "measure": measure,
                        "hand_ms": round(ms["hand"], 4),
                        "xla_ms": round(ms["xla"], 4),
                        "faster": faster,
                        "chosen": chosen,
                        "chosen_is_faster": chosen == faster,
                        "max_diff": float(f"{diff:.3g}"),
                    }
                )
