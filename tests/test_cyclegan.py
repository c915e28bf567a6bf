"""The CycleGAN task (ganjax/tasks/cyclegan.py): its objective by hand, the image pool's rule, what one step updates,
exact resume through train.py, translation through the restore CLI, and the errors for data that does not fit."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from conftest import SHARED_DATA
from flax import linen as nn
from helpers import (
    REPO,
    initial_state,
    records,
    restore_cli,
    save_untrained_run,
    train_until_stopped,
    without_timing,
    write_png,
)
from PIL import Image

from configs import translate_cifar_to_clipart, translate_folders
from ganjax.adversarial import Adversary
from ganjax.cli import CPU_FLAGS_ENV
from ganjax.errors import ConfigError, DataError
from ganjax.losses import LOSSES
from ganjax.models.restorers import Restorer
from ganjax.penalties import Inputs
from ganjax.reconstruction import Perceptual
from ganjax.runs import load_run
from ganjax.tasks import build_task
from ganjax.tasks.cyclegan import CycleGan
from ganjax.tasks.image_pool import empty_pool, query_pool
from ganjax.train import train_and_evaluate
from ganjax.updates import Ema

NUM_STEPS = 4  # the tiny recipe's
STOP_AT = NUM_STEPS // 2  # the step during which the stopped run is asked to stop


# ------------------------------------------------------------------------------------------------ the objective


class _Scale(nn.Module):
    """y = w * x, w a scalar parameter starting at `start`."""

    start: float

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        del train
        return self.param("w", lambda key: jnp.float32(self.start)) * x


class _MeanCritic(nn.Module):
    """One logit per image: the mean of its pixels plus a bias starting at 0."""

    @nn.compact
    def __call__(self, x: jax.Array, condition: None, *, train: bool) -> jax.Array:
        del condition, train
        return jnp.mean(x, axis=(1, 2, 3))[:, None, None] + self.param("b", nn.initializers.zeros, ())


def _toy_cyclegan(identity_weight: float) -> CycleGan:
    """a2b(x) = 0.5 x, b2a(x) = 3 x, each critic the mean pixel: a CycleGAN whose objective is worked by hand."""
    critic = Adversary(_MeanCritic(), LOSSES.get("least_squares"), optax.sgd(1.0))
    return CycleGan(
        a2b=Restorer(_Scale(0.5), 1, 1),
        b2a=Restorer(_Scale(3.0), 1, 1),
        adversary_a=critic,
        adversary_b=critic,
        shape_a=(2, 2, 1),
        shape_b=(2, 2, 1),
        adversarial_weight=2.0,
        cycle_weight=10.0,
        identity_weight=identity_weight,
        perceptual=Perceptual(),
        pool_size=0,
        g_optimizer=optax.sgd(1.0),
        ema=Ema(),
    )


def _generators(state) -> tuple[dict, dict]:
    """The generators' parameters and collections by direction, as `generator_objective` takes them."""
    directions = ("a2b", "b2a")
    return {d: state.networks[d].params for d in directions}, {d: state.networks[d].collections for d in directions}


def _discriminators(state) -> dict:
    """The discriminators by the domain they judge."""
    return {"a": state.networks["d_a"], "b": state.networks["d_b"]}


@pytest.mark.parametrize("identity_weight", [5.0, 0.0])
def test_the_generators_objective_by_hand(identity_weight):
    task = _toy_cyclegan(identity_weight)
    state = task.init_state(0)
    real_a, real_b = jnp.full((1, 2, 2, 1), 0.2), jnp.full((1, 2, 2, 1), -0.4)
    total, (_, fakes, terms) = task.generator_objective(*_generators(state), _discriminators(state), real_a, real_b)
    # a2b(a) = 0.1, b2a(b) = -1.2; cycles: b2a(0.1) = 0.3 (|0.3 - 0.2| = 0.1), a2b(-1.2) = -0.6 (|-0.6 + 0.4| = 0.2);
    # identities: a2b(b) = -0.2 (|-0.2 + 0.4| = 0.2), b2a(a) = 0.6 (|0.6 - 0.2| = 0.4); least squares' generator
    # side, 1/2 (D(fake) - 1)^2 with D the mean: 1/2 (0.1 - 1)^2 = 0.405 and 1/2 (-1.2 - 1)^2 = 2.42.
    expected = {"adversarial_a2b": 0.405, "adversarial_b2a": 2.42, "cycle_a": 0.1, "cycle_b": 0.2}
    if identity_weight:
        expected |= {"identity_a2b": 0.2, "identity_b2a": 0.4}
    assert set(terms) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(terms[name], value, rtol=1e-5, err_msg=name)
    # 2 * (0.405 + 2.42) + 10 * (0.1 + 0.2) [+ 5 * (0.2 + 0.4)]
    np.testing.assert_allclose(total, 8.65 + (3.0 if identity_weight else 0.0), rtol=1e-5)
    np.testing.assert_allclose(fakes["b"], 0.1, rtol=1e-6)
    np.testing.assert_allclose(fakes["a"], -1.2, rtol=1e-6)


# ------------------------------------------------------------------------------------------------------ the pool


def _official_pool(stored: list, images: list, draws: list[tuple[float, int]], size: int) -> list:
    """The official ImagePool.query on plain lists, with the uniform numbers and slots given: returns what D sees
    and changes `stored` in place."""
    shown = []
    for image, (uniform, slot) in zip(images, draws, strict=True):
        if len(stored) < size:
            stored.append(image)
            shown.append(image)
        elif uniform > 0.5:
            shown.append(stored[slot])
            stored[slot] = image
        else:
            shown.append(image)
    return shown


def test_the_pool_follows_the_official_rule_with_draws_from_its_key():
    size, batch = 3, 2
    pool = empty_pool(size, (1, 1, 1))
    stored: list[float] = []
    query = jax.jit(query_pool)
    for step in range(6):
        key = jax.random.fold_in(jax.random.PRNGKey(4), step)
        values = [10.0 * step + i for i in range(batch)]  # every image is its own number
        uniform_key, slot_key = jax.random.split(key)
        draws = list(
            zip(
                np.asarray(jax.random.uniform(uniform_key, (batch,))).tolist(),
                np.asarray(jax.random.randint(slot_key, (batch,), 0, size)).tolist(),
                strict=True,
            )
        )
        expected = _official_pool(stored, values, draws, size)
        pool, shown = query(pool, jnp.asarray(values, jnp.float32).reshape(batch, 1, 1, 1), key)
        assert np.asarray(shown).ravel().tolist() == expected, step
        assert np.asarray(pool.images).ravel()[: len(stored)].tolist() == stored
        assert int(pool.count) == len(stored)
    assert len(stored) == size  # the pool filled, then swapped: both branches of the rule were exercised


def test_a_pool_of_size_zero_shows_the_newest_images():
    images = jnp.arange(4.0).reshape(4, 1, 1, 1)
    pool, shown = query_pool(empty_pool(0, (1, 1, 1)), images, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(shown, images)
    assert pool.images.shape == (0, 1, 1, 1)


# ------------------------------------------------------------------------------------------------ one train step


def _write_folder(folder: pathlib.Path, seed: int, count: int, shape: tuple[int, int, int]) -> pathlib.Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)
    for index, image in enumerate(pixels):
        write_png(folder / f"{index:02d}.png", image)
    return folder


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    """Two folders of random RGB images, 12 of 40x48 (A, centre-cropped and resized to 32) and 10 of 32x32 (B)."""
    root = tmp_path_factory.mktemp("domains")
    return _write_folder(root / "a", 0, 12, (40, 48, 3)), _write_folder(root / "b", 1, 10, (32, 32, 3))


def _tiny_config(domains, **overrides) -> ml_collections.ConfigDict:
    config = translate_folders.get_config("tiny")
    config.update_from_flattened_dict(
        {"data.a.path": str(domains[0]), "data.b.path": str(domains[1]), "data.num_threads": 0, **overrides}
    )
    return config


def test_one_step_updates_each_network_by_the_gradient_of_its_own_objective(domains):
    task = build_task(_tiny_config(domains))
    task = dataclasses.replace(
        task,
        g_optimizer=optax.sgd(1.0),
        adversary_a=dataclasses.replace(task.adversary_a, optimizer=optax.sgd(1.0)),
        adversary_b=dataclasses.replace(task.adversary_b, optimizer=optax.sgd(1.0)),
    )
    state = initial_state(task, 0)
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    real = {
        domain: jax.random.uniform(key, (4, 32, 32, 3), minval=-1.0, maxval=1.0)
        for domain, key in zip("ab", keys, strict=True)
    }
    batch = {"a_image": real["a"][None], "b_image": real["b"][None]}
    new_state, metrics = jax.jit(task.make_step())(state, batch)

    def step_taken(old, new):  # SGD with rate 1: old - new is the gradient
        return jax.tree.map(lambda x, y: np.asarray(x) - np.asarray(y), old, new)

    params, collections = _generators(state)
    g_grads, (_, fakes, _) = jax.jit(jax.grad(task.generator_objective, has_aux=True))(
        params, collections, _discriminators(state), real["a"], real["b"]
    )
    taken = step_taken(params, _generators(new_state)[0])
    for direction in ("a2b", "b2a"):
        for got, want in zip(jax.tree.leaves(taken[direction]), jax.tree.leaves(g_grads[direction]), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-5)
        assert all(np.abs(x).max() > 0 for x in jax.tree.leaves(taken[direction])), direction
    # The pools start empty and hold more than a batch: each discriminator sees the images just generated.
    for domain in ("a", "b"):
        d, adversary = _discriminators(state)[domain], task.adversary(domain)
        assert adversary.penalties == ()  # the loss alone

        def own(params, domain=domain, d=d, adversary=adversary):
            return adversary.objective(
                params,
                d.collections,
                Inputs(real[domain], None),
                Inputs(fakes[domain], None),
                jax.random.PRNGKey(0),
                regularize=True,
            )[0]

        d_grads = jax.jit(jax.grad(own))(d.params)
        taken = step_taken(d.params, _discriminators(new_state)[domain].params)
        for got, want in zip(jax.tree.leaves(taken), jax.tree.leaves(d_grads), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-5)
        assert all(np.abs(x).max() > 0 for x in jax.tree.leaves(taken)), domain
        pool = new_state.pools[domain]
        np.testing.assert_allclose(pool.images[:4], fakes[domain], atol=1e-6)
        assert int(pool.count) == 4
    assert int(new_state.step) == 1
    assert {"g_cycle_a", "g_identity_b2a", "d_a_loss", "d_b_real_logit", "g_nonfinite"} <= metrics.keys()


# ---------------------------------------------------------------------------------------- a trained tiny run


def _train_cli(workdir: pathlib.Path, domains) -> subprocess.CompletedProcess:
    """train.py on the tiny recipe, computing as this process does: on 8 CPU devices (conftest.py) and with XLA's
    default convolutions (GANJAX_CPU_FLAGS=0), so that its numbers can equal this process's bit for bit."""
    command = [
        sys.executable,
        str(REPO / "train.py"),
        f"--config={REPO / 'configs' / 'translate_folders.py'}:tiny",
        f"--workdir={workdir}",
        f"--config.data.a.path={domains[0]}",
        f"--config.data.b.path={domains[1]}",
        "--config.data.num_threads=0",
        f"--config.distributed.local_device_count={jax.device_count()}",
    ]
    environment = os.environ | {CPU_FLAGS_ENV: "0"}
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=environment)


@pytest.fixture(scope="module")
def translation_runs(tmp_path_factory, domains):
    """The tiny recipe trained NUM_STEPS steps straight, and stopped half-way then resumed by train.py:
    (straight workdir, resumed workdir)."""
    config = _tiny_config(domains)
    straight, resumed = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("resumed")
    train_and_evaluate(config, straight)
    train_until_stopped(config, resumed, STOP_AT)
    result = _train_cli(resumed, domains)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from the checkpoint at step {STOP_AT}" in result.stderr
    return straight, resumed


@pytest.mark.slow
def test_a_stopped_run_resumed_by_train_py_equals_the_straight_run_pools_included(translation_runs):
    straight, resumed = translation_runs
    a, b = load_run(straight), load_run(resumed)
    assert a.step == b.step == NUM_STEPS
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # The pools filled in the first step (6 images of a batch of 8) and were swapping when the run stopped.
    assert all(int(pool.count) == a.task.pool_size for pool in a.state.pools.values())
    initial = initial_state(a.task, a.config.seed)
    assert set(a.state.networks) == {"a2b", "b2a", "d_a", "d_b"}
    for name in a.state.networks:
        before, after = initial.networks[name].params, a.state.networks[name].params
        assert not any(np.array_equal(x, y) for x, y in zip(*map(jax.tree.leaves, (before, after)), strict=True))
    assert without_timing(records(straight)) == without_timing(records(resumed))
    final = records(straight)[-1]
    assert final["step"] == NUM_STEPS and 0 < final["edge_ssim"] < 1 and np.isfinite(final["cycle_psnr"])
    # The sample grid: rows a, a2b(a), b2a(a2b(a)), b, b2a(b), a2b(b2a(b)) of 8 images of 32x32.
    grid = Image.open(straight / "samples" / f"samples_{NUM_STEPS:08d}.png")
    assert grid.size == (2 + 8 * 34, 2 + 6 * 34)


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_the_restore_cli_translates_a_folder_of_odd_sizes_in_either_direction(tmp_path, translation_runs, direction):
    workdir = translation_runs[0]
    inputs = tmp_path / "inputs"
    odd = {"wide": write_png(inputs / "wide.png", np.random.default_rng(5).integers(0, 256, (21, 30, 3), np.uint8))}
    odd["tall"] = write_png(inputs / "tall.png", np.random.default_rng(6).integers(0, 256, (37, 26, 3), np.uint8))
    result = restore_cli(
        f"--workdir={workdir}", f"--input={inputs}", f"--out={tmp_path / 'out'}", f"--direction={direction}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = load_run(workdir)
    translate = jax.jit(run.task.translate, static_argnums=0)
    for name, path in odd.items():
        pixels = np.asarray(Image.open(path))
        output = np.asarray(Image.open(tmp_path / "out" / f"{name}.png"))
        assert output.shape == pixels.shape
        expected = translate(direction, run.state.ema_variables(direction), jnp.asarray(pixels[None] / 127.5 - 1.0))
        expected = np.clip(np.round((np.asarray(expected[0]) + 1.0) * 127.5), 0, 255)
        assert np.abs(output.astype(np.float64) - expected).max() <= 1  # rounding of float32 on either side


# ------------------------------------------------------------------------------------------------------ errors


def test_a_domain_with_other_channels_than_its_models_is_refused(tmp_path, domains):
    config = _tiny_config(domains, **{"model.channels_b": 1, "objective.identity_weight": 0.0})
    with pytest.raises(
        ConfigError, match=r"domain b.s model was built for 1-channel images \(--config.model.channels_b\), but"
    ):
        train_and_evaluate(config, tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_the_identity_loss_between_domains_of_different_channels_is_refused(tmp_path, domains):
    config = _tiny_config(domains, **{"model.channels_b": 1})
    with pytest.raises(ConfigError, match=r"A has 3 and B 1: set --config.objective.identity_weight=0"):
        train_and_evaluate(config, tmp_path)


def test_an_empty_domain_is_refused_with_its_folder(tmp_path, domains):
    empty = tmp_path / "empty"
    empty.mkdir()
    config = _tiny_config(domains, **{"data.b.path": str(empty)})
    with pytest.raises(DataError, match=str(empty)):
        train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_the_restore_cli_refuses_a_direction_for_a_one_way_model(tmp_path):
    from configs import restore_denoise

    workdir = save_untrained_run(restore_denoise.get_config("tiny"), tmp_path / "denoise")
    write_png(tmp_path / "images" / "x.png", np.zeros((16, 16, 1), np.uint8))
    result = restore_cli(
        f"--workdir={workdir}", f"--input={tmp_path / 'images'}", f"--out={tmp_path / 'out'}", "--direction=b2a"
    )
    assert result.returncode != 0
    assert "--direction picks a translation direction, but" in result.stderr
    assert "image2image run, which maps one way only: drop --direction" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_evaluate_cli_scores_a_translation_run_as_its_training_did(translation_runs):
    straight = translation_runs[0]
    command = [sys.executable, "-m", "ganjax.evaluate", f"--workdir={straight}"]
    # Computing as the training process did: on its 8 CPU devices, with XLA's default convolutions.
    environment = os.environ | {"JAX_NUM_CPU_DEVICES": str(jax.device_count()), CPU_FLAGS_ENV: "0"}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    final = records(straight)[-1]
    for metric in ("edge_ssim", "cycle_psnr"):
        assert float(printed[metric]) == pytest.approx(final[metric], rel=1e-5), metric
    assert printed["direction"] == "a2b" and printed["step"] == str(NUM_STEPS)


@pytest.mark.skipif(
    not (SHARED_DATA / "cifar10").is_dir() or not (SHARED_DATA / "clipart64").is_dir(),
    reason=f"CIFAR-10 and the clip-art drawings are not under {SHARED_DATA} (the shared data folder)",
)
def test_the_photo_to_clipart_recipe_trains_on_the_shared_data(tmp_path, monkeypatch):
    monkeypatch.setenv("GANJAX_DATA_DIR", str(SHARED_DATA))  # where the recipe finds the drawings
    config = translate_cifar_to_clipart.get_config("tiny")
    config.data.num_threads = 0
    assert config.data.b.path == str(SHARED_DATA / "clipart64") and config.data.b.resize == 32
    train_and_evaluate(config, tmp_path)
    final = records(tmp_path)[-1]
    assert final["step"] == NUM_STEPS and np.isfinite(final["cycle_psnr"]) and 0 < final["edge_ssim"] < 1
    assert final["inputs"] == f"cifar10 (local files in {SHARED_DATA / 'cifar10'}), split test, first 16"
    with pytest.raises(ConfigError, match=r"unknown variant 'gpu' .* valid: cpu, tiny, or none for the full recipe"):
        translate_cifar_to_clipart.get_config("gpu")
