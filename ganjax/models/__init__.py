"""Model families, registered by name: the GANs' (`MODELS`; `build_networks(config.model)` builds the one a config
names) and the image-to-image restorers (`RESTORERS`; `restorers.build_restorer`). Importing this package registers
both. The VAE's encoders and decoders have their own registry, in vae.py."""

from __future__ import annotations

import ml_collections

# Importing a family's module registers it.
from ganjax.models import (  # noqa: F401
    corrective,
    cyclegan_resnet,
    dcgan,
    dncnn,
    mlp,
    pix2pix,
    r3gan,
    sngan_biggan,
    srresnet,
    stylegan2,
)
from ganjax.models.base import MODELS, Networks


def build_networks(model_config: ml_collections.ConfigDict) -> Networks:
    """Builds the generator and discriminator that `model_config.name` selects, from the rest of `model_config`."""
    return MODELS.get(model_config.name)(model_config)


__all__ = ["MODELS", "Networks", "build_networks"]
