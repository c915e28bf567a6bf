"""Reconstruction objectives of image-conditioned models: pure functions of a restored batch and its clean target,
chosen by name (`--config.objective.reconstruction=l1`).

Each takes `restored` and `clean`, (B, H, W, C) float32 in the model range [-1, 1], and returns a float32 scalar,
the mean over every pixel and channel. With `--config.objective.adversarial_weight=0` a reconstruction loss is the
whole objective (the PSNR-oriented model); above 0 it is added to the adversarial loss of ganjax/losses.py.
To add one, write it here and register it; tests/test_image2image.py checks every registered objective.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ganjax.registry import Registry

RECONSTRUCTION_LOSSES: Registry = Registry("reconstruction loss", config_key="objective.reconstruction")

# Charbonnier's epsilon, in model-range units (1e-3 of the [0, 1] scale, as LapSRN uses, is 2e-3 here).
CHARBONNIER_EPSILON = 2e-3


@RECONSTRUCTION_LOSSES.register("l1")
def l1(restored: jax.Array, clean: jax.Array) -> jax.Array:
    """Mean absolute error (pix2pix, EDSR): E |x_hat - x|."""
    return jnp.mean(jnp.abs(restored - clean))


@RECONSTRUCTION_LOSSES.register("l2")
def l2(restored: jax.Array, clean: jax.Array) -> jax.Array:
    """Mean squared error (DnCNN, SRResNet), the loss PSNR measures: E (x_hat - x)^2."""
    return jnp.mean((restored - clean) ** 2)


@RECONSTRUCTION_LOSSES.register("charbonnier")
def charbonnier(restored: jax.Array, clean: jax.Array) -> jax.Array:
    """Charbonnier loss (LapSRN), a differentiable L1: E sqrt((x_hat - x)^2 + eps^2)."""
    return jnp.mean(jnp.sqrt((restored - clean) ** 2 + CHARBONNIER_EPSILON**2))
