"""Model families, registered by name; `build_networks(config.model)` builds the one a config names."""

from __future__ import annotations

import ml_collections

from ganjax.models import corrective, dcgan, mlp, r3gan, sngan_biggan  # noqa: F401  (importing registers the families)
from ganjax.models.base import MODELS, Networks


def build_networks(model_config: ml_collections.ConfigDict) -> Networks:
    """Builds the generator and discriminator that `model_config.name` selects, from the rest of `model_config`."""
    return MODELS.get(model_config.name)(model_config)


__all__ = ["MODELS", "Networks", "build_networks"]
