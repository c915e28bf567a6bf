"""Reconstruction objectives of image-conditioned models: pure functions of a restored batch and its clean target,
chosen by name (`--config.objective.reconstruction=l1`).

Each takes `restored` and `clean`, (B, H, W, C) float32 in the model range [-1, 1], and returns a float32 scalar,
the mean over every pixel and channel. With `--config.objective.adversarial_weight=0` a reconstruction loss is the
whole objective (the PSNR-oriented model); above 0 it is added to the adversarial loss of ganjax/losses.py.
To add one, write it here and register it; tests/test_image2image.py checks every registered objective.

`Perceptual` is the perceptual term that image-to-image models and CycleGAN add to theirs
(`--config.objective.perceptual_weight`), as SRGAN, ESRGAN and pix2pixHD add a VGG feature distance: LPIPS.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections

from ganjax.errors import check
from ganjax.metrics import lpips
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


@dataclasses.dataclass(frozen=True)
class Perceptual:
    """The perceptual term of an objective: `weight` times the mean LPIPS v0.1 distance (ganjax/metrics/lpips.py)
    between each output and its target, through the backbone `network` ("vgg", the VGG16 features SRGAN-style losses
    use, or "alex"). Weight 0 leaves it out (`active` is False: nothing is loaded or computed).

    The network is frozen: its weights are read from the lpips extra's files once per process and closed over by
    the compiled step, so they are in no train state, optimizer or checkpoint, and gradients reach only the model.
    """

    weight: float = 0.0
    network: str = "vgg"

    @property
    def active(self) -> bool:
        return self.weight > 0

    @classmethod
    def from_config(cls, objective: ml_collections.ConfigDict, side: int) -> Perceptual:
        """From `objective.perceptual_weight` and `objective.perceptual_network`, for training images of `side`
        pixels; the weights are loaded here, so a missing extra is one line before anything compiles.

        Raises:
          ConfigError: a negative weight, an unknown network, images smaller than the network takes, or the lpips
            extra not installed.
        """
        weight, network = objective.perceptual_weight, objective.perceptual_network
        check(weight >= 0, f"--config.objective.perceptual_weight must be 0 (off) or positive; got {weight}")
        if weight == 0:
            return cls()
        check(
            network in lpips.NETWORKS,
            f"unknown --config.objective.perceptual_network {network!r}; valid: {', '.join(lpips.NETWORKS)}",
        )
        check(
            side >= lpips.MIN_SIZE[network],
            f"the perceptual loss's {network} needs images of at least {lpips.MIN_SIZE[network]} pixels a side; "
            f"the training images have {side}: raise --config.data.crop",
        )
        lpips.load_lpips(network)
        return cls(float(weight), network)

    def __call__(self, output: jax.Array, target: jax.Array) -> jax.Array:
        """(B, H, W, C) each in [-1, 1], C = 1 or 3 -> float32 scalar: the mean distance, unweighted."""
        module, variables = lpips.load_lpips(self.network)
        return jnp.mean(module.apply(variables, output, target))
