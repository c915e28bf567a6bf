"""Tiny configs and data that the tests share."""

from __future__ import annotations

import pathlib
import sys

import ml_collections
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from configs import default, toy_ring  # noqa: E402


def tiny_dcgan_config(**overrides) -> ml_collections.ConfigDict:
    """The default recipe shrunk: 8-channel DCGAN at 28x28, batch 16, a handful of steps."""
    config = default.get_config()
    config.model.g_width = 8
    config.model.d_width = 8
    config.model.latent_dim = 16
    config.train.batch_size = 16
    config.train.num_steps = 4
    config.train.log_every = 1
    config.train.sample_every = 0
    config.train.checkpoint_every = 1000
    config.train.num_samples = 4
    config.data.num_threads = 0
    config.update_from_flattened_dict(overrides)
    return config


def toy_ring_config(**overrides) -> ml_collections.ConfigDict:
    config = toy_ring.get_config()
    config.update_from_flattened_dict(overrides)
    return config


def write_digit_npz(
    path: pathlib.Path, num: int = 256, size: int = 28, seed: int = 0, channels: int | None = None
) -> pathlib.Path:
    """A small labelled .npz dataset: uint8 (num, size, size[, channels]) images of bright squares at random places
    on black, with labels (num,) in 0..9."""
    rng = np.random.default_rng(seed)
    images = np.zeros((num, size, size) + ((channels,) if channels else ()), np.uint8)
    for image in images:
        top, left = rng.integers(0, size - 8, size=2)
        image[top : top + 8, left : left + 8] = 255
    np.savez(path, images=images, labels=rng.integers(0, 10, size=num))
    return path
