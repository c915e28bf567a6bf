"""The VAE task (ganjax/tasks/vae.py): training on MNIST stops and resumes exactly, learns, evaluates its bounds
independently of batching, samples through sample.py; the VAE-GAN's reconstruction reaches the encoder through the
discriminator; and the errors for likelihoods and options that do not fit the run."""

from __future__ import annotations

import importlib
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import REPO, SHARED_DATA
from helpers import one_error_line, records, train_alone, train_until_stopped, without_timing
from PIL import Image

from ganjax.config import validate_config
from ganjax.errors import ConfigError
from ganjax.images import model_range_to_uint8
from ganjax.runs import load_run
from ganjax.tasks import build_task
from ganjax.tasks.vae import evaluation_images
from ganjax.train import train_and_evaluate

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(), reason=f"MNIST is not under {SHARED_DATA} (the shared data folder)"
)
NUM_STEPS = 4
STOP_AT = NUM_STEPS // 2


def _recipe(name: str, variant: str = "tiny", **overrides) -> ml_collections.ConfigDict:
    """configs/<name>.py:<variant> reading the shared data in the calling thread, with `overrides` on top."""
    config = importlib.import_module(f"configs.{name}").get_config(variant)
    config.update_from_flattened_dict({"data.root": str(SHARED_DATA), "data.num_threads": 0, **overrides})
    return config


@pytest.fixture(scope="module")
def vae_runs(tmp_path_factory):
    """The tiny MNIST VAE recipe trained NUM_STEPS steps straight, and stopped at STOP_AT then resumed: (straight
    workdir, resumed workdir)."""
    config = _recipe("vae_mnist")
    straight, resumed = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("resumed")
    train_and_evaluate(config, straight)
    train_until_stopped(config, resumed, STOP_AT)
    train_and_evaluate(config, resumed)
    return straight, resumed


def test_a_vae_run_resumes_exactly(vae_runs):
    straight, resumed = vae_runs
    a, b = load_run(straight), load_run(resumed)
    assert a.step == b.step == NUM_STEPS
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert without_timing(records(straight)) == without_timing(records(resumed))
    training = [record for record in records(straight) if "g_loss" in record]
    assert [record["step"] for record in training] == list(range(1, NUM_STEPS + 1))
    last = training[-1]
    assert last["g_kl"] > 0 and "d_loss" not in last
    (evaluation,) = [record for record in records(straight) if "nelbo" in record]
    assert "dynamically binarised" in evaluation["bound_images"] and "first 16" in evaluation["bound_images"]
    # The grid: a row of 8 test images, the row of their reconstructions, a row of prior samples.
    grid = Image.open(straight / "samples" / f"samples_{NUM_STEPS:08d}.png")
    assert grid.size == (2 + 8 * 30, 2 + 3 * 30)
    test_images = model_range_to_uint8(evaluation_images(a.config, 8)[0])
    np.testing.assert_array_equal(np.asarray(grid)[2:30, 2:30], test_images[0, ..., 0])


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_the_step_logs_the_negative_elbo_and_weighs_its_kl_by_beta(beta):
    config = _recipe("vae_mnist", **{"objective.beta": beta})
    task = build_task(config)
    state = task.init_state(0)
    # Every kernel zero: q(z|x) is N(m, e^v) for every image, and whatever z it gets the decoder outputs the logit b.
    m, v, b = 0.5, -1.0, 0.3
    biases = {"mean": m, "log_var": v, "Dense_1": b}  # the decoder's output layer is its second Dense

    def fixed(path, leaf):
        layer, kind = path[-2].key, path[-1].key
        return jnp.full_like(leaf, biases.get(layer, 0.0) if kind == "bias" else 0.0)

    vae = state.networks["vae"]
    params = jax.tree_util.tree_map_with_path(fixed, vae.params)
    state = state.replace(networks={**state.networks, "vae": vae.replace(params=params)})
    # Black and white images binarise to themselves: 3 all-off images, 1 all-on.
    images = jnp.concatenate([jnp.full((3, 28, 28, 1), -1.0), jnp.full((1, 28, 28, 1), 1.0)])
    _, metrics = jax.jit(task.make_step())(state, {"image": images[None]})
    # -log p(x|z) sums -log(1 - sigmoid(b)) = softplus(b) over an off image's pixels, softplus(-b) over an on one's.
    reconstruction = 28 * 28 * (3 * np.logaddexp(0, b) + np.logaddexp(0, -b)) / 4
    kl = 0.5 * config.model.latent_dim * (m**2 + np.exp(v) - 1 - v)  # KL(N(m, e^v) || N(0, 1)) in each dimension
    expected = {
        "g_reconstruction": reconstruction,
        "g_kl": kl,
        "g_nelbo": reconstruction + kl,
        "g_loss": reconstruction + beta * kl,
        "kl_weight": beta,
    }
    for name, value in expected.items():  # float32 under jit: XLA's fused softplus sums differ from numpy by ~1e-5
        np.testing.assert_allclose(float(metrics[name]), value, rtol=1e-4, err_msg=name)


def test_the_bounds_do_not_depend_on_the_batching_and_iwae_is_tighter(vae_runs):
    run = load_run(vae_runs[0])
    task, params = run.task, run.state.ema["vae"]
    images = jnp.asarray(evaluation_images(run.config, 8)[0])
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(3), i))(jnp.arange(8))
    bound = jax.jit(task.negative_bounds, static_argnums=3)
    whole = bound(params, images, keys, 64)
    halves = jnp.concatenate([bound(params, images[:4], keys[:4], 64), bound(params, images[4:], keys[4:], 64)])
    np.testing.assert_allclose(whole, halves, rtol=1e-6)
    # One sample's bound averages to the ELBO; the importance-weighted bound is above it (a lower negative bound).
    many_keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(4), i))(jnp.arange(64))
    nelbo = jnp.mean(bound(params, jnp.repeat(images[:1], 64, 0), many_keys, 1))
    assert float(whole[0]) < float(nelbo) - 0.1


def test_a_small_vae_learns_mnist(tmp_path):
    train_alone(
        "vae_mnist.py:tiny",
        tmp_path,
        **{"train.num_steps": 200, "train.batch_size": 64, "model.hidden": 128, "model.latent_dim": 8},
        **{"eval.num_bound_images": 500, "eval.batch_size": 100, "train.log_every": 100, "train.sample_every": 0},
        # One checkpoint, at the end: the tiny variant's, every other step, cost more than the training.
        **{"train.checkpoint_every": 200, "data.root": str(SHARED_DATA), "data.num_threads": 0},
    )
    run = load_run(tmp_path)
    config = run.config
    untrained = run.task.init_state(config.seed)
    evaluate = run.task.evaluator(jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",)))
    before, after = evaluate(untrained).scores["nelbo"], evaluate(run.state).scores["nelbo"]
    # The best model of independent pixels for these very test images: each pixel's Bernoulli at its mean there,
    # whose expected cost is the sum of the pixels' entropies. The VAE must beat it clearly.
    on = np.clip(np.mean((evaluation_images(config, 500)[0] + 1) / 2, axis=0), 1e-6, 1 - 1e-6)
    independent_pixels = float(-np.sum(on * np.log(on) + (1 - on) * np.log(1 - on)))
    assert before > 500 and after < independent_pixels - 20, (before, after, independent_pixels)


@pytest.mark.slow
def test_sample_cli_draws_and_interpolates_between_test_images(vae_runs):
    workdir = vae_runs[0]
    sample = [sys.executable, str(REPO / "sample.py"), f"--workdir={workdir}"]
    subprocess.run([*sample, "--num=9", f"--out={workdir / 'grid.png'}"], cwd=REPO, check=True, capture_output=True)
    assert Image.open(workdir / "grid.png").size == (2 + 3 * 30, 2 + 3 * 30)
    command = [*sample, "--interpolate", "--num=8", "--frames=4", f"--out={workdir / 'walk.png'}"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, env={"GANJAX_DATA_DIR": str(SHARED_DATA)})
    walk = np.asarray(Image.open(workdir / "walk.png"))
    assert walk.shape == (2 + 2 * 30, 2 + 6 * 30)  # 2 strips: an image, 4 decoded frames, an image
    test_images = model_range_to_uint8(evaluation_images(load_run(workdir).config, 0)[0])[..., 0]
    for strip in range(2):
        for column in (0, 5):
            cell = walk[2 + 30 * strip : 30 * (strip + 1), 2 + 30 * column : 30 * (column + 1)]
            assert (test_images == cell).all(axis=(1, 2)).any(), "each strip starts and ends with a test image"


# ------------------------------------------------------------------------------------------------------ VAE-GAN


def test_the_vae_gans_reconstruction_reaches_the_encoder_through_the_discriminator():
    # With beta 0 the encoder's only loss is the reconstruction in D's features; D's learning rate 0 keeps the
    # discriminator the step judges with the one given.
    overrides = {"objective.beta": 0.0, "optim.d_lr": 0.0, "model.resolution": 28, "model.channels": 1}
    task = build_task(_recipe("vaegan_cifar10", **overrides))
    state = task.init_state(0)
    images = jax.random.uniform(jax.random.PRNGKey(1), (8, 28, 28, 1), minval=-1.0, maxval=1.0)
    step = jax.jit(task.make_step())
    new_state, metrics = step(state, {"image": images[None]})
    assert set(state.networks) == {"vae", "discriminator"}
    for net in ("encoder", "decoder"):
        before, after = state.networks["vae"].params[net], new_state.networks["vae"].params[net]
        leaves = zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
        assert all(not np.array_equal(x, y) for x, y in leaves), net
    assert {"d_loss", "g_feature_reconstruction", "g_adversarial", "g_encoder_loss"} <= set(metrics)
    # A discriminator blind to its input (every parameter zero: features and logits 0 for any image) passes the
    # VAE no gradient, so the step leaves both halves exactly as they were: the reconstruction term is 0 and the
    # adversarial one softplus(-0) = log 2 whatever the VAE outputs.
    discriminator = state.networks["discriminator"]
    blind = discriminator.replace(params=jax.tree.map(jnp.zeros_like, discriminator.params))
    blind_state, blind_metrics = step(
        state.replace(networks={**state.networks, "discriminator": blind}), {"image": images[None]}
    )
    assert float(blind_metrics["g_feature_reconstruction"]) == 0.0
    np.testing.assert_allclose(float(blind_metrics["g_adversarial"]), np.log(2.0), rtol=1e-6)
    before, after = jax.tree.leaves(state.networks["vae"].params), jax.tree.leaves(blind_state.networks["vae"].params)
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------------------- bad inputs: one line, compiling nothing


def _refused(config: ml_collections.ConfigDict, workdir: pathlib.Path, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        train_and_evaluate(config, workdir)
    assert not (workdir / "checkpoints").exists() and not (workdir / "config.json").exists()


@pytest.mark.skipif(not (SHARED_DATA / "cifar10").is_dir(), reason=f"CIFAR-10 is not under {SHARED_DATA}")
def test_a_bernoulli_likelihood_on_colour_images_is_refused(tmp_path):
    config = _recipe("vae_conv_mnist", **{"data.name": "cifar10", "model.resolution": 32})
    match = r"the bernoulli likelihood models binarised grey images .* cifar10 .* has 3-channel images; use "
    _refused(config, tmp_path, match + r"--config.objective.likelihood=logistic or gaussian$")
    with pytest.raises(ConfigError, match=r"bernoulli likelihood models binarised grey images, but .*channels=3"):
        build_task(_recipe("vae_conv_mnist", **{"model.channels": 3}))


def test_an_unknown_likelihood_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"'poisson' .*; valid: bernoulli, gaussian, logistic, discriminator$"):
        build_task(_recipe("vae_mnist", **{"objective.likelihood": "poisson"}))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"penalties.r1": 1.0}, r"penalties.r1 regularises a discriminator, and a VAE has one only as a VAE-GAN"),
        (
            {"augment.policy": ("translation",)},
            r"augment.policy=\('translation',\) augments a GAN discriminator's inputs .*, which vae runs do not do",
        ),
        ({"eval.metrics": ("elbo",), "objective.likelihood": "discriminator"}, r"a VAE-GAN .* has none"),
    ],
)
def test_gan_options_a_vae_cannot_use_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build_task(_recipe("vae_mnist", **overrides))


def test_vae_metrics_in_a_gan_config_are_refused():
    config = importlib.import_module("configs.default").get_config()
    config.eval.metrics = ("iwae",)
    validate_config(config)  # the shared fields are fine: the GAN task refuses the metric when it is built
    with pytest.raises(ConfigError, match=r"asks for iwae, which only vae runs score; this run.s task is gan"):
        build_task(config)


@pytest.mark.parametrize(
    ("arguments", "hint"),
    [
        (["--config.objective.beta=2"], "it is an option of vae runs (configs/vae_*.py, configs/vaegan_*.py)"),
        (["--config=configs/vae_mnist.py", "--config.model.g_width=8"], "it is an option of gan runs"),
    ],
)
def test_an_option_of_another_task_says_which_runs_take_it(tmp_path, arguments, hint):
    command = [sys.executable, str(REPO / "train.py"), f"--workdir={tmp_path}", *arguments]
    line = one_error_line(subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120))
    assert hint in line, line
    assert not any(tmp_path.iterdir())
