"""Every registered image architecture, through its CIFAR-10 recipe's `tiny` variant (the smoke test users run too):
builds, trains, saves, restores and samples at 32x32 on CPU (resuming a run is architecture-independent: test_train
checks it exactly)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest
from absl import flags
from conftest import REPO
from flax.traverse_util import flatten_dict
from helpers import records
from ml_collections import config_flags
from PIL import Image

from ganjax.errors import ConfigError
from ganjax.models import MODELS
from ganjax.runs import load_run
from ganjax.sampling import normal_latents
from ganjax.task import DrawRequest
from ganjax.train import train_and_evaluate

# Each exercises a different part of the step: DCGAN with batch norm, SNGAN with several D steps and spectral norm,
# BigGAN conditional with self-attention, R3GAN with R1 + R2, StyleGAN2 with lazy R1, ADA, its noise stream and the
# tracked mean w.
RECIPES = ("cifar10_biggan", "cifar10_dcgan", "cifar10_r3gan", "cifar10_sngan", "cifar10_stylegan2")
# What the tiny variant may change: the networks' size and precision (bfloat16 is slow on a CPU), the D steps per G
# step and the length of training.
SIZE_FIELDS = {
    "model.g_width",
    "model.d_width",
    "model.latent_dim",
    "model.w_dim",
    "model.embedding_dim",
    "model.attention_resolution",
    "model.widths",
    "model.group_size",
    "model.channel_base",
    "model.channel_max",
    "model.bfloat16_resolutions",
    "optim.d_steps",
}


def _get_config(name: str, variant: str = "") -> ml_collections.ConfigDict:
    return importlib.import_module(f"configs.{name}").get_config(variant)


def _flattened(config: ml_collections.ConfigDict) -> dict:
    """{"section.field": value} for every field of `config`."""
    return flatten_dict(config.to_dict(), sep=".")


def test_every_image_architecture_has_a_recipe_under_test():
    families = {_get_config(name).model.name for name in RECIPES}
    assert families == set(MODELS.names()) - {"mlp"}


@pytest.mark.parametrize("name", RECIPES)
def test_the_tiny_variant_is_the_recipe_at_a_smaller_size(name):
    full, tiny = _flattened(_get_config(name)), _flattened(_get_config(name, "tiny"))
    assert full.keys() == tiny.keys()
    changed = {field for field in full if full[field] != tiny[field]}
    assert {field for field in changed if not field.startswith("train.")} <= SIZE_FIELDS
    assert tiny["train.num_steps"] == 4 and tiny["train.batch_size"] == 8


@pytest.mark.parametrize("name", RECIPES)
def test_the_launch_command_selects_the_variant(name):
    """`--config configs/<recipe>.py:tiny`, parsed as train.py parses it, is get_config("tiny")."""
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", flag_values=flag_values)
    flag_values(["train.py", f"--config={REPO / 'configs' / name}.py:tiny"])
    assert _flattened(flag_values.config) == _flattened(_get_config(name, "tiny"))


@pytest.mark.parametrize("name", RECIPES)
def test_an_unknown_variant_lists_the_valid_ones(name):
    valid = ", ".join(importlib.import_module(f"configs.{name}").VARIANTS) + ", or none for the full recipe"
    with pytest.raises(
        ConfigError, match=rf"unknown variant 'huge' \(--config configs/{name}.py:VARIANT\); valid: {valid}$"
    ):
        _get_config(name, "huge")


def _tiny_recipe(name: str, npz, **overrides) -> ml_collections.ConfigDict:
    config = _get_config(name, "tiny")
    config.update_from_flattened_dict({"data.name": "npz", "data.path": str(npz), "data.num_threads": 0, **overrides})
    return config


@pytest.fixture(scope="module")
def trained_recipes(tmp_path_factory, rgb32_npz):
    """train(name): the workdir of the recipe's tiny variant trained on rgb32_npz, trained once per module."""
    workdirs = {}

    def train(name: str):
        if name not in workdirs:
            workdirs[name] = tmp_path_factory.mktemp(name)
            train_and_evaluate(_tiny_recipe(name, rgb32_npz), workdirs[name])
        return workdirs[name]

    return train


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_saves_restores_and_samples(trained_recipes, rgb32_npz, name):
    workdir = trained_recipes(name)
    tiny = _tiny_recipe(name, rgb32_npz)
    run_records = records(workdir)
    assert [record["step"] for record in run_records] == list(range(1, tiny.train.num_steps + 1))
    assert all(np.isfinite(record["d_loss"]) and np.isfinite(record["g_loss"]) for record in run_records)

    run = load_run(workdir)
    assert run.step == tiny.train.num_steps
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(run.state))
    networks = run.task.networks
    labels = jax.numpy.arange(4) % networks.num_classes if networks.num_classes else None
    images = run.task.sampler()(run.state, normal_latents(0, 4, networks.latent_dim), labels)
    assert images.shape == (4, 32, 32, 3)
    samples = sorted(path.name for path in (workdir / "samples").iterdir())
    assert samples == [f"samples_{step:08d}.png" for step in range(2, tiny.train.num_steps + 1, 2)]


@pytest.mark.slow
def test_sample_py_draws_a_conditional_recipe_by_class(trained_recipes):
    workdir = trained_recipes("cifar10_biggan")  # 10 classes
    step = load_run(workdir).step
    sample = [sys.executable, str(REPO / "sample.py"), f"--workdir={workdir}"]

    def sample_cli(*flags: str) -> None:
        result = subprocess.run([*sample, *flags], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr

    sample_cli("--class=3", "--num=4")
    assert Image.open(workdir / "samples" / f"sample_class3_{step:08d}_seed0.png").size == (2 + 2 * 34, 2 + 2 * 34)
    sample_cli("--per_class=3")
    grid = Image.open(workdir / "samples" / f"classes_{step:08d}_seed0.png")
    assert grid.size == (2 + 3 * 34, 2 + 10 * 34)  # one row per class, 3 per row, 32x32 with 2-pixel padding
    # A class the model does not have: refused in one line, before anything is drawn (sample.py prints it and exits
    # with status 2, as every ConfigError: test_cli's test_a_bad_flag_is_one_clear_line_and_exit_status_2).
    run = load_run(workdir)
    with pytest.raises(ConfigError, match=r"^--class=12 is not a class of this model; valid: 0 to 9"):
        run.task.draw(run.state, DrawRequest(num=4, seed=0, label=12))


@pytest.mark.slow
def test_truncation_draws_stylegan2_towards_the_mean_w_and_is_refused_elsewhere(trained_recipes):
    run = load_run(trained_recipes("cifar10_stylegan2"))
    plain = run.task.draw(run.state, DrawRequest(num=4, seed=0, label=1))
    assert run.task.draw(run.state, DrawRequest(num=4, seed=0, label=1, truncation_psi=1.0)).kind == plain.kind
    # psi 0: every style is the tracked mean, so with the fixed noise every image is the same, whatever z and class.
    collapsed = run.task.draw(run.state, DrawRequest(num=4, seed=0, label=1, truncation_psi=0.0))
    assert collapsed.kind == "sample_class1_psi0"
    tiles = [
        collapsed.picture[2 + 34 * row : 34 + 34 * row, 2 + 34 * col : 34 + 34 * col]
        for row in (0, 1)
        for col in (0, 1)
    ]
    assert all(np.array_equal(tile, tiles[0]) for tile in tiles) and not np.array_equal(
        collapsed.picture, plain.picture
    )
    for request, message in [
        (DrawRequest(num=4, seed=0, truncation_psi=1.5), r"--truncation_psi=1.5 is outside \[0, 1\]"),
        (DrawRequest(num=4, seed=0, truncation_psi=0.5, truncation_cutoff=9), "not between 1 and the 8 style layers"),
    ]:
        with pytest.raises(ConfigError, match=message):
            run.task.draw(run.state, request)
    biggan = load_run(trained_recipes("cifar10_biggan"))
    with pytest.raises(
        ConfigError, match="needs a generator with a mapping network \\(stylegan2\\); this run's 'biggan'"
    ):
        biggan.task.draw(biggan.state, DrawRequest(num=4, seed=0, truncation_psi=0.7))


@pytest.mark.slow
def test_the_style_mixing_figure_takes_the_named_layers_from_the_columns(trained_recipes):
    run = load_run(trained_recipes("cifar10_stylegan2"))

    def tiles(layers: tuple[int, ...]) -> np.ndarray:
        figure = run.task.draw(run.state, DrawRequest(num=2, seed=0, style_mix_layers=layers))
        assert figure.kind == "style_mixing" and figure.picture.shape == (2 + 3 * 34, 2 + 3 * 34, 3)
        return np.stack([[figure.picture[2 + 34 * r : 34 * (r + 1), 2 + 34 * c : 34 * (c + 1)] for c in range(3)]
                         for r in range(3)])  # fmt: skip

    every_layer = tiles(tuple(range(8)))
    assert (every_layer[0, 0] == 255).all()  # the blank corner
    for row in (1, 2):  # every style from the column: each cell is its column's own image
        np.testing.assert_array_equal(every_layer[row, 1:], every_layer[0, 1:])
    coarse = tiles((0, 1, 2, 3))  # the column's coarse styles, the row's fine ones: neither source
    assert not np.array_equal(coarse[1, 1], coarse[0, 1]) and not np.array_equal(coarse[1, 1], coarse[1, 0])
    with pytest.raises(ConfigError, match=r"--style_mix_layers=\(0, 8\) names layers outside 0 to 7"):
        run.task.draw(run.state, DrawRequest(num=2, seed=0, style_mix_layers=(0, 8)))
