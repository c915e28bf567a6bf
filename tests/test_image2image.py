"""The image-to-image task (ganjax/tasks/image2image.py) and `python -m ganjax.restore`: the reconstruction losses by
hand, what the networks see, the step with and without its discriminator, exact resume of a restoration run,
restoring folders of odd-sized images (tiled and not, x4 for super-resolution), scoring as the run's evaluation
scores, and the one-line errors for inputs the task cannot use, before anything is compiled."""

from __future__ import annotations

import importlib
import os
import pathlib
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import SHARED_DATA
from helpers import (
    initial_state,
    one_error_line,
    records,
    restore_cli,
    save_untrained_run,
    tiny_dcgan_config,
    train_until_stopped,
    write_png,
)
from PIL import Image

from ganjax.config import validate_config
from ganjax.degradations import DEGRADATIONS, Degraded, apply_mask, centre_mask
from ganjax.errors import ConfigError, DataError
from ganjax.images import apply_tiled, pixels_to_model_range
from ganjax.metrics.fidelity import rgb_to_ycbcr
from ganjax.reconstruction import CHARBONNIER_EPSILON, RECONSTRUCTION_LOSSES
from ganjax.runs import load_run
from ganjax.tasks import build_task
from ganjax.tasks.image2image_evaluation import MAX_PSNR, EvaluationBatch, restored_samples
from ganjax.train import train_and_evaluate

DATA = pathlib.Path(os.environ.get("GANJAX_DATA_DIR", SHARED_DATA))
SET12 = DATA / "restoration" / "Set12"
needs_restoration_sets = pytest.mark.skipif(
    not (DATA / "restoration" / "Train400").is_dir() or not SET12.is_dir(),
    reason=f"the restoration sets (Train400, Set12) are not under {DATA / 'restoration'} (the shared data folder)",
)

# The trained run of this module: the tiny denoising recipe (DnCNN of depth 3, whose receptive field is 7 pixels:
# tiles with 8 pixels of context restore exactly as the whole image does), with its PatchGAN on so that resuming
# has a trained discriminator and its optimizer to restore too; evaluated on EVAL_CROPS, crops of Set12 of two
# sizes (faster than all of Set12, and two of one size, so the evaluation batches them together).
DENOISE = {"objective.adversarial_weight": 0.1}
NUM_STEPS = 4
STOP_AT = NUM_STEPS // 2  # the step during which the stopped run is asked to stop
EVAL_CROPS = {"a": ("01", 0, 0, 61, 47), "b": ("02", 10, 5, 61, 47), "c": ("08", 100, 200, 40, 72)}  # top, left, h, w


def _recipe(name: str, variant: str = "tiny", **overrides) -> ml_collections.ConfigDict:
    """configs/<name>.py:<variant>, reading the shared data in the calling thread, with `overrides` on top."""
    config = importlib.import_module(f"configs.{name}").get_config(variant)
    config.update_from_flattened_dict({"data.root": str(DATA), "data.num_threads": 0, **overrides})
    return config


def _random_pixels(seed: int, height: int, width: int, channels: int, low: int = 0, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=(height, width, channels), dtype=np.uint8)


# ------------------------------------------------------------------------------------------- reconstruction losses


def test_reconstruction_losses_by_hand():
    restored = jnp.asarray([0.5, -1.0, 0.0, 0.25], jnp.float32).reshape(1, 2, 2, 1)
    clean = jnp.zeros_like(restored)
    differences = [0.5, -1.0, 0.0, 0.25]
    expected = {
        "l1": (0.5 + 1.0 + 0.0 + 0.25) / 4,
        "l2": (0.25 + 1.0 + 0.0 + 0.0625) / 4,
        "charbonnier": sum(np.sqrt(d**2 + 2e-3**2) for d in differences) / 4,
    }
    assert set(RECONSTRUCTION_LOSSES.names()) == expected.keys(), "a new reconstruction loss needs its hand value here"
    for name, value in expected.items():
        loss = RECONSTRUCTION_LOSSES.get(name)(restored, clean)
        assert loss.dtype == jnp.float32 and loss.shape == ()
        np.testing.assert_allclose(float(loss), value, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", RECONSTRUCTION_LOSSES.names())
def test_every_reconstruction_loss_is_its_minimum_for_a_perfect_restoration(name):
    images = jax.random.uniform(jax.random.PRNGKey(0), (2, 4, 4, 3), minval=-1.0, maxval=1.0)
    loss = RECONSTRUCTION_LOSSES.get(name)
    # Charbonnier's sqrt(d^2 + eps^2) is eps where d = 0 (LapSRN's differentiable L1); the others are 0.
    minimum = np.sqrt(np.float32(CHARBONNIER_EPSILON) ** 2) if name == "charbonnier" else np.float32(0.0)
    assert loss(images[:1, :1, :1, :1], images[:1, :1, :1, :1]) == minimum  # one pixel: no averaging
    np.testing.assert_allclose(float(loss(images, images)), minimum, rtol=1e-6)
    assert float(loss(images + 0.1, images)) > minimum
    gradient = np.asarray(jax.grad(lambda restored: loss(restored, images))(images))
    assert np.all(np.isfinite(gradient))
    if name != "l1":  # the smooth ones are flat there (L1 has a kink: any subgradient will do)
        np.testing.assert_array_equal(gradient, 0.0)


# ---------------------------------------------------------------------------------------- what the networks see


def _task_and_state(config: ml_collections.ConfigDict):
    """The task of `config`, its state at step 0 and its jitted `restore`."""
    task = build_task(config)
    return task, jax.jit(task.init_state)(config.seed), jax.jit(task.restore)


@pytest.fixture(scope="module")
def inpainting():
    return _task_and_state(_recipe("restore_inpaint"))  # U-Net of depth 2 (size multiple 4) on 32x32 RGB


@pytest.fixture(scope="module")
def sr4():
    return _task_and_state(_recipe("restore_sr4"))  # SRResNet x4 of one block on grey 16x16 crops


def test_inpainting_network_input_is_the_masked_image_then_the_mask_and_restoring_keeps_known_pixels(inpainting):
    task, state, restore = inpainting
    clean = jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 32, 3), minval=-1.0, maxval=1.0)
    degraded = jax.jit(task.degradation)(jax.random.PRNGKey(2), clean)
    mask = np.asarray(degraded.mask)
    assert mask.shape == (2, 32, 32, 1) and 0 < mask.mean() < 1 and set(np.unique(mask)) == {0.0, 1.0}

    x = np.asarray(task.network_input(degraded))
    assert x.shape == (2, 32, 32, 4)
    np.testing.assert_array_equal(x[..., :3], np.asarray(clean) * (1 - mask))  # holes are 0, the rest the image
    np.testing.assert_array_equal(x[..., 3:], mask)
    np.testing.assert_array_equal(np.asarray(task.condition(degraded)), x)  # no scale: D sees the same

    output = jnp.full(clean.shape, 0.7)
    composite = np.asarray(task.composite(output, degraded))
    np.testing.assert_array_equal(composite, np.where(mask == 1, 0.7, np.asarray(clean)))

    restored = np.asarray(restore(state.ema_variables("restorer"), degraded))
    known = np.broadcast_to(mask == 0, restored.shape)
    np.testing.assert_array_equal(restored[known], np.asarray(clean)[known])  # bit for bit
    assert not np.allclose(restored[~known], 0.0)  # the holes hold the network's output, not the zeros it saw


def test_super_resolution_condition_is_the_input_nearest_upsampled_to_the_output_size(sr4):
    task = sr4[0]
    low = jnp.arange(6, dtype=jnp.float32).reshape(1, 2, 3, 1)  # [[0 1 2] [3 4 5]]
    condition = np.asarray(task.condition(Degraded(low, None)))
    assert condition.shape == (1, 8, 12, 1)
    np.testing.assert_array_equal(condition[0, :4, :, 0], [[0] * 4 + [1] * 4 + [2] * 4] * 4)
    np.testing.assert_array_equal(condition[0, 4:, :, 0], [[3] * 4 + [4] * 4 + [5] * 4] * 4)
    np.testing.assert_array_equal(np.asarray(task.network_input(Degraded(low, None))), np.asarray(low))

    clean = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16, 1), minval=-1.0, maxval=1.0)
    degraded = jax.jit(task.degradation)(jax.random.PRNGKey(1), clean)
    assert degraded.image.shape == (2, 4, 4, 1) and task.condition(degraded).shape == clean.shape


def test_restore_pads_odd_sizes_to_the_size_multiple_and_returns_the_input_size(inpainting):
    task, state, restore = inpainting
    assert task.restorer.size_multiple == 4
    clean = jax.random.uniform(jax.random.PRNGKey(3), (1, 33, 21, 3), minval=-1.0, maxval=1.0)
    degraded = apply_mask(clean, centre_mask(33, 21, 0.5))
    restored = np.asarray(restore(state.ema_variables("restorer"), degraded))
    assert restored.shape == (1, 33, 21, 3) and np.all(np.isfinite(restored))
    known = np.broadcast_to(np.asarray(degraded.mask) == 0, restored.shape)
    np.testing.assert_array_equal(restored[known], np.asarray(clean)[known])

    # A size that is already a multiple is not padded: exactly the network's output (composited), both compiled
    # (XLA compiles a network alone and inside `restore` to the same arithmetic; op by op it may round differently).
    inner = jax.tree.map(lambda x: x[:, :32, :20], degraded)
    variables = state.ema_variables("restorer")

    @jax.jit
    def direct(variables, inner):
        return task.composite(task.restorer.module.apply(variables, task.network_input(inner), train=False), inner)

    np.testing.assert_array_equal(np.asarray(restore(variables, inner)), np.asarray(direct(variables, inner)))


def test_restore_upscales_odd_sizes_by_the_scale(sr4):
    _, state, restore = sr4
    low = jax.random.uniform(jax.random.PRNGKey(4), (2, 7, 5, 1), minval=-1.0, maxval=1.0)
    restored = restore(state.ema_variables("restorer"), Degraded(low, None))
    assert restored.shape == (2, 28, 20, 1)


# ------------------------------------------------------------------------------------------------------ the step


@pytest.mark.parametrize("weight", [0.0, 0.1])
def test_the_discriminator_trains_only_with_an_adversarial_weight(weight):
    config = _recipe("restore_sr4", **{"objective.adversarial_weight": weight, "loss": "non_saturating"})
    task, state, _ = _task_and_state(config)
    clean = jax.random.uniform(jax.random.PRNGKey(5), (4, 16, 16, 1), minval=-1.0, maxval=1.0)
    new_state, metrics = jax.jit(task.make_step())(state, {"image": clean[None]})
    metrics = {key: float(value) for key, value in metrics.items()}
    assert int(new_state.step) == 1

    def changed(before, after) -> list[bool]:
        return [not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)]

    assert all(changed(state.networks["restorer"].params, new_state.networks["restorer"].params))
    # The restorer's losses by hand: its output in training mode (batch statistics) on the x4 bicubic downscale
    # (deterministic: no key drawn), the L1 distance to the clean batch, and the non-saturating loss softplus(-l)
    # of the logits that the discriminator as this step left it gives the output beside its condition.
    g = state.networks["restorer"]
    low = task.degradation(None, clean).image
    restored, _ = task.restorer.module.apply(
        {"params": g.params, **g.collections}, low, train=True, mutable=list(g.collections)
    )
    reconstruction = np.mean(np.abs(np.asarray(restored) - np.asarray(clean)))
    np.testing.assert_allclose(metrics["g_reconstruction"], reconstruction, rtol=1e-6)
    if weight == 0:  # no discriminator: the state holds the restorer alone, before the step and after
        assert set(state.networks) == set(new_state.networks) == {"restorer"}
        assert not [key for key in metrics if key.startswith("d_")], metrics
        assert "g_adversarial" not in metrics
        np.testing.assert_allclose(metrics["g_loss"], reconstruction, rtol=1e-6)
    else:
        assert set(state.networks) == set(new_state.networks) == {"restorer", "discriminator"}
        before, after = state.networks["discriminator"], new_state.networks["discriminator"]
        assert jax.tree.leaves(before.params)
        assert all(changed(before.params, after.params))
        assert {"d_loss", "d_real_logit", "d_fake_logit", "d_grad_norm", "d_nonfinite"} <= metrics.keys()
        condition = np.repeat(np.repeat(np.asarray(low), 4, axis=1), 4, axis=2)  # nearest-neighbour x4
        logits, _ = task.adversary.module.apply(
            {"params": after.params, **after.collections},
            restored,
            condition,
            train=False,
            mutable=list(after.collections),
        )
        adversarial = np.mean(np.logaddexp(0.0, -np.asarray(logits, np.float64)))
        np.testing.assert_allclose(metrics["g_adversarial"], adversarial, rtol=1e-5)
        np.testing.assert_allclose(metrics["g_loss"], reconstruction + weight * adversarial, rtol=1e-5)
    assert metrics["g_nonfinite"] == 0 and metrics.get("d_nonfinite", 0) == 0


# ----------------------------------------------------------------------------------- a trained restoration run


@pytest.fixture(scope="module")
def denoise_runs(tmp_path_factory):
    """The tiny denoising recipe (with its discriminator) trained NUM_STEPS steps straight, and stopped half-way
    then resumed with the same config: (straight workdir, resumed workdir, the evaluation set's folder). (Training
    fewer steps first and more after would be another run: the learning rate's cosine decay spans num_steps.)"""
    if not (DATA / "restoration" / "Train400").is_dir() or not SET12.is_dir():
        pytest.skip(f"the restoration sets (Train400, Set12) are not under {DATA / 'restoration'}")
    eval_set = tmp_path_factory.mktemp("eval_set")
    for name, (source, top, left, height, width) in EVAL_CROPS.items():
        pixels = np.asarray(Image.open(SET12 / f"{source}.png"))[top : top + height, left : left + width, None]
        write_png(eval_set / f"{name}.png", pixels)
    config = _recipe("restore_denoise", **DENOISE, **{"eval.path": str(eval_set)})
    straight, resumed = tmp_path_factory.mktemp("straight"), tmp_path_factory.mktemp("resumed")
    train_and_evaluate(config, straight)
    train_until_stopped(config, resumed, STOP_AT)
    train_and_evaluate(config, resumed)
    return straight, resumed, eval_set


def _evaluation(workdir: pathlib.Path, step: int) -> dict:
    (record,) = [record for record in records(workdir) if record["step"] == step and "psnr" in record]
    return record


@needs_restoration_sets
def test_a_restoration_run_resumes_exactly(denoise_runs):
    straight, resumed, eval_set = denoise_runs
    a, b = load_run(straight), load_run(resumed)
    assert a.step == b.step == NUM_STEPS
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # Both networks trained, so the comparison covers the discriminator and its optimizer too.
    initial = initial_state(a.task, a.config.seed)
    assert set(a.state.networks) == {"restorer", "discriminator"}
    for net in ("restorer", "discriminator"):
        before, after = jax.tree.leaves(initial.networks[net].params), jax.tree.leaves(a.state.networks[net].params)
        assert not any(np.array_equal(x, y) for x, y in zip(before, after, strict=True)), net

    def training(workdir):
        return [
            {key: value for key, value in record.items() if key != "images_per_sec"}
            for record in records(workdir)
            if "g_loss" in record
        ]

    assert [record["step"] for record in training(straight)] == list(range(1, NUM_STEPS + 1))
    assert training(straight) == training(resumed)
    assert {"d_loss", "g_reconstruction", "g_adversarial"} <= training(straight)[-1].keys()
    final = _evaluation(straight, NUM_STEPS)
    assert final == _evaluation(resumed, NUM_STEPS)
    assert final["set"] == str(eval_set) and np.isfinite(final["psnr"]) and 0 < final["ssim"] < 1
    # The sample grid: rows degraded, restored, clean, of a centre crop of each evaluation image (40, their least side).
    grid = Image.open(straight / "samples" / f"samples_{NUM_STEPS:08d}.png")
    assert grid.size == (2 + len(EVAL_CROPS) * 42, 2 + 3 * 42)


@needs_restoration_sets
def test_tiles_with_more_context_than_the_receptive_field_restore_as_the_whole_image(denoise_runs):
    run = load_run(denoise_runs[0])
    restore, variables = jax.jit(run.task.restore), run.state.ema_variables("restorer")
    noisy = jax.random.uniform(jax.random.PRNGKey(6), (1, 37, 53, 1), minval=-1.0, maxval=1.0)

    def restore_tiled(tile: int, overlap: int) -> np.ndarray:
        return apply_tiled(lambda x: restore(variables, x), Degraded(noisy, None), 1, tile=tile, overlap=overlap)

    whole = restore_tiled(tile=64, overlap=8)
    tiled = restore_tiled(tile=24, overlap=8)
    assert whole.shape == tiled.shape == (1, 37, 53, 1)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # Without the context, the tiles' borders differ: the test above does see the seams.
    seams = restore_tiled(tile=24, overlap=0)
    assert np.abs(seams - whole).max() > 1e-3


@pytest.mark.slow
@needs_restoration_sets
def test_restore_cli_restores_a_folder_of_odd_sizes_tiled_or_not(tmp_path, denoise_runs):
    straight = denoise_runs[0]
    inputs, out = tmp_path / "noisy", tmp_path / "restored"
    images = {
        "small": _random_pixels(0, 21, 17, 1),  # smaller than the tile: restored whole
        "odd": _random_pixels(1, 37, 53, 1),  # 2 x 3 tiles, the last ones partial
        "colour": _random_pixels(2, 64, 31, 3, low=60, high=200),  # RGB for a grey model: its luminance, tiled
    }
    for name, pixels in images.items():
        write_png(inputs / f"{name}.png", pixels)
    result = restore_cli(f"--workdir={straight}", f"--input={inputs}", f"--out={out}", "--tile=24", "--overlap=8")
    assert result.returncode == 0, result.stderr

    assert sorted(path.name for path in out.iterdir()) == ["colour.png", "odd.png", "small.png"]
    for name, pixels in images.items():
        restored = Image.open(out / f"{name}.png")
        assert restored.size == (pixels.shape[1], pixels.shape[0]), name
        assert restored.mode == ("L" if pixels.shape[-1] == 1 else "RGB"), name

    # The tiled image is the whole image's restoration (up to the rounding to 8 bits of values 1e-5 apart).
    run = load_run(straight)
    odd = jnp.asarray(images["odd"][None], jnp.float32) / 127.5 - 1.0
    whole = jax.jit(run.task.restore)(run.state.ema_variables("restorer"), Degraded(odd, None))
    expected = np.clip(np.round((np.asarray(whole[0], np.float64) + 1.0) * 127.5), 0, 255)
    written = np.asarray(Image.open(out / "odd.png"), np.float64)[..., None]
    assert np.abs(written - expected).max() <= 1
    assert np.abs(written - images["odd"]).max() > 1  # restored, not copied
    # A grey model carries the colour of an RGB image over: Cb and Cr as they were, up to the 8-bit rounding.
    colour = np.asarray(Image.open(out / "colour.png"), np.float64)
    chroma_in, chroma_out = rgb_to_ycbcr(images["colour"].astype(np.float64))[..., 1:], rgb_to_ycbcr(colour)[..., 1:]
    unclipped = np.all((colour > 0) & (colour < 255), axis=-1)  # where the new luminance did not push RGB out
    assert unclipped.mean() > 0.5
    assert np.abs(chroma_out - chroma_in)[unclipped].max() < 1.5


@pytest.mark.slow
@needs_restoration_sets
def test_restore_cli_degrades_and_scores_as_the_runs_evaluation(tmp_path, denoise_runs):
    straight, _, eval_set = denoise_runs
    out = tmp_path / "scored"
    result = restore_cli(f"--workdir={straight}", f"--clean={eval_set}", "--degrade", f"--out={out}")
    assert result.returncode == 0, result.stderr

    names = sorted(EVAL_CROPS)
    assert sorted(path.stem for path in out.glob("*.png")) == names
    for name in names:  # degraded | restored | clean, side by side
        height, width = EVAL_CROPS[name][3:]
        assert Image.open(out / f"{name}.png").size == (2 + 3 * (width + 2), 2 + height + 2), name
    table = (out / "scores.md").read_text()
    assert table in result.stdout
    rows = re.findall(r"^\| (\S+) \| ([\d.]+) \| ([\d.]+) \|$", table, re.MULTILINE)
    assert [row[0] for row in rows] == names
    (mean,) = re.findall(r"^\| \*\*mean\*\* \| \*\*([\d.]+)\*\* \| \*\*([\d.]+)\*\* \|$", table, re.MULTILINE)
    # The same degradations (the run's evaluation seed) and restorations as the in-loop evaluation, which batched
    # a and b together: an image's degradation does not depend on its batch.
    evaluation = _evaluation(straight, NUM_STEPS)
    assert f"- eval_seed: {evaluation['eval_seed']}" in table
    assert f"- degradation: {evaluation['degradation']}" in table
    assert float(mean[0]) == pytest.approx(evaluation["psnr"], abs=1e-4)
    assert float(mean[1]) == pytest.approx(evaluation["ssim"], abs=1e-4)
    assert float(mean[0]) == pytest.approx(np.mean([float(row[1]) for row in rows]), abs=1e-3)


@pytest.mark.slow
def test_restore_cli_enlarges_by_the_super_resolution_scale(tmp_path):
    workdir = save_untrained_run(_recipe("restore_sr4"), tmp_path / "sr4")
    inputs, out = tmp_path / "small", tmp_path / "large"
    sizes = {"a": (13, 9, 1), "b": (10, 23, 3)}  # b is wider than the tile: restored in tiles
    for name, (height, width, channels) in sizes.items():
        write_png(inputs / f"{name}.png", _random_pixels(3, height, width, channels))
    result = restore_cli(f"--workdir={workdir}", f"--input={inputs}", f"--out={out}", "--tile=16", "--overlap=4")
    assert result.returncode == 0, result.stderr
    for name, (height, width, channels) in sizes.items():
        restored = Image.open(out / f"{name}.png")
        assert restored.size == (4 * width, 4 * height) and restored.mode == ("L" if channels == 1 else "RGB")


# ---------------------------------------------------------------------------- bad inputs: one line, compiling nothing


def _refused(config: ml_collections.ConfigDict, workdir: pathlib.Path, error: type, match: str) -> None:
    """train_and_evaluate refuses `config` with `error` before it compiles or writes anything."""
    with pytest.raises(error, match=match):
        train_and_evaluate(config, workdir)
    assert not (workdir / "checkpoints").exists() and not (workdir / "config.json").exists()


def test_an_sr_scale_that_does_not_divide_the_crop_is_refused(tmp_path):
    config = _recipe("restore_sr4", **{"data.crop": 30})
    _refused(config, tmp_path, ConfigError, r"the x4 super-resolution scale does not divide the training crop 30")


def test_an_unknown_degradation_lists_the_valid_ones(tmp_path):
    config = _recipe("restore_denoise", **{"degradation.name": "blurr"})
    valid = ", ".join(DEGRADATIONS.names())
    match = rf"unknown degradation 'blurr' \(--config.degradation.name\); valid: {valid}$"
    _refused(config, tmp_path, ConfigError, match)


@needs_restoration_sets
def test_a_model_built_for_other_channels_than_the_data_is_refused(tmp_path):
    config = _recipe("restore_denoise", **{"model.channels": 3})
    match = r"built for 3-channel images .* shape \(180, 180, 1\); set --config.model.channels=1$"
    _refused(config, tmp_path, ConfigError, match)


@needs_restoration_sets
def test_images_smaller_than_the_crop_are_refused(tmp_path):
    config = _recipe("restore_denoise", **{"data.crop": 400})
    match = r"has images of 180x180, smaller than the 400x400 crop; set --config.data.crop to at most 180"
    _refused(config, tmp_path, DataError, match)


def _built(config: ml_collections.ConfigDict) -> None:
    """The config checked as train.py checks it before compiling: its shared fields, then its task's options."""
    validate_config(config)
    build_task(config)


def test_restoration_metrics_in_a_gan_config_are_refused():
    with pytest.raises(ConfigError, match=r"asks for psnr, which only image2image runs score; this run.s task is gan"):
        _built(tiny_dcgan_config(**{"eval.metrics": ("fid", "psnr")}))
    _built(tiny_dcgan_config(**{"eval.metrics": ("fid",)}))  # and the GAN's own metrics are fine


@pytest.mark.slow
def test_restore_cli_refuses_a_mask_of_another_size_than_its_image(tmp_path):
    workdir = save_untrained_run(_recipe("restore_inpaint"), tmp_path / "inpaint")
    inputs, masks = tmp_path / "masked", tmp_path / "masks"
    write_png(inputs / "cat.png", _random_pixels(0, 32, 24, 3))
    write_png(masks / "cat.png", np.full((16, 24, 1), 255, np.uint8))
    result = restore_cli(f"--workdir={workdir}", f"--input={inputs}", f"--masks={masks}", f"--out={tmp_path / 'out'}")
    line = one_error_line(result)
    assert f"the mask {masks / 'cat'} is 24x16 but its image is 24x32: a mask must have its image's size" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_restore_cli_refuses_a_run_that_is_not_a_restoration_run(tmp_path):
    workdir = save_untrained_run(tiny_dcgan_config(), tmp_path / "dcgan")
    inputs = tmp_path / "images"
    write_png(inputs / "a.png", _random_pixels(0, 28, 28, 1))
    result = restore_cli(f"--workdir={workdir}", f"--input={inputs}", f"--out={tmp_path / 'out'}")
    refusal = "gan runs generate images from noise: python -m ganjax.restore works on runs of"
    assert refusal in one_error_line(result)
    assert "sample.py" in result.stderr and not (tmp_path / "out").exists()


def test_restored_samples_scores_by_group_over_batches_and_caps_exact_restorations():
    """Per-group means gather every batch's images; an exact restoration counts MAX_PSNR, not infinity."""
    clean = np.full((2, 12, 12, 1), 100.0, np.float32)
    batches = [
        EvaluationBatch(clean, Degraded(jnp.zeros((2, 12, 12, 1)), None), ["a", "b"], (0, 1)),
        EvaluationBatch(clean, Degraded(jnp.zeros((2, 12, 12, 1)), None), ["a", "b"], (2, 3)),
    ]
    exact = pixels_to_model_range(clean)
    off_by_one = pixels_to_model_range(clean + 1.0)  # every pixel one level off: 20 log10(255) dB
    config = ml_collections.ConfigDict({"eval": {"y_channel": False, "crop_border": 0, "metrics": ("psnr",)}})
    restored = [jnp.stack([exact[0], off_by_one[0]]), jnp.stack([off_by_one[0]] * 2)]
    samples = restored_samples(batches, restored, config)
    one_level = 20 * np.log10(255.0)
    means = samples.mean("psnr")
    np.testing.assert_allclose(means["psnr/a"], (MAX_PSNR + one_level) / 2, rtol=1e-5)
    np.testing.assert_allclose(means["psnr/b"], one_level, rtol=1e-5)
    np.testing.assert_allclose(means["psnr"], (MAX_PSNR + 3 * one_level) / 4, rtol=1e-5)
