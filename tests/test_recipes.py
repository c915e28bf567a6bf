"""Every registered image architecture, through its CIFAR-10 recipe shrunk to tiny widths: builds, trains, saves,
resumes and samples at 32x32 on CPU."""

from __future__ import annotations

import importlib
import json

import jax
import numpy as np
import pytest
from helpers import write_digit_npz

from ganjax.models import MODELS
from ganjax.sampling import generate_ema, latents, load_run, make_generate
from ganjax.train import train_and_evaluate

# Recipe -> the overrides that make it tiny. Each exercises a different part of the step: DCGAN with batch norm,
# SNGAN with several D steps and spectral norm, BigGAN conditional with self-attention, R3GAN with R1 + R2.
TINY = {
    "cifar10_dcgan": {"model.g_width": 8, "model.d_width": 8},
    "cifar10_sngan": {"model.g_width": 16, "model.d_width": 16, "optim.d_steps": 2},
    "cifar10_biggan": {
        "model.g_width": 16,
        "model.d_width": 16,
        "model.embedding_dim": 8,
        "model.attention_resolution": 16,
        "optim.d_steps": 2,
    },
    "cifar10_r3gan": {"model.widths": (16, 16, 16, 16), "model.group_size": 8},
}


def _recipe(name: str, npz, **overrides):
    config = importlib.import_module(f"configs.{name}").get_config()
    config.update_from_flattened_dict(
        {
            **TINY[name],
            "data.name": "npz",
            "data.path": str(npz),
            "data.num_threads": 0,
            "train.batch_size": 8,
            "train.log_every": 1,
            "train.sample_every": 2,
            "train.num_samples": 20,
            **overrides,
        }
    )
    return config


def test_every_image_architecture_has_a_recipe_under_test():
    families = {importlib.import_module(f"configs.{name}").get_config().model.name for name in TINY}
    assert families == set(MODELS.names()) - {"mlp"}


@pytest.fixture(scope="module")
def cifar_like(tmp_path_factory):
    return write_digit_npz(tmp_path_factory.mktemp("data") / "rgb32.npz", size=32, channels=3)


@pytest.mark.parametrize("name", sorted(TINY))
def test_recipe_trains_saves_resumes_and_samples(tmp_path, cifar_like, name):
    workdir = tmp_path / name
    train_and_evaluate(_recipe(name, cifar_like, **{"train.num_steps": 2}), workdir)
    train_and_evaluate(_recipe(name, cifar_like, **{"train.num_steps": 3}), workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [1, 2, 3]
    assert all(np.isfinite(record["d_loss"]) and np.isfinite(record["g_loss"]) for record in records)

    run = load_run(workdir)
    assert run.step == 3
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(run.state))
    networks = run.gan.networks
    labels = jax.numpy.arange(4) % networks.num_classes if networks.num_classes else None
    images = generate_ema(make_generate(networks), run.state, latents(0, 4, networks.latent_dim), labels)
    assert images.shape == (4, 32, 32, 3) and np.all(np.abs(images) <= 1)
    assert (workdir / "samples" / "samples_00000002.png").exists()
