"""Every bad input gets a clear error that says what is wrong and how to fix it, before anything is compiled."""

from __future__ import annotations

import importlib
import sys

import ml_collections
import numpy as np
import pytest
from absl import flags
from conftest import REPO
from flax.traverse_util import flatten_dict
from helpers import tiny_dcgan_config, toy_ring_config, write_digit_npz

from ganjax.cli import define_config_flag
from ganjax.config import check_data_matches_model
from ganjax.data.sources import array_source
from ganjax.errors import ConfigError
from ganjax.losses import LOSSES
from ganjax.models import MODELS, Networks
from ganjax.train import train_and_evaluate


def _train(tmp_path, npz_path, **overrides):
    config = tiny_dcgan_config(**{"data.name": "npz", "data.path": str(npz_path), **overrides})
    return train_and_evaluate(config, tmp_path / "run")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("model.name", "dcgna", rf"unknown model 'dcgna' \(--config.model.name\); valid: {', '.join(MODELS.names())}$"),
        ("loss", "hnige", rf"unknown loss 'hnige' \(--config.loss\); valid: {', '.join(LOSSES.names())}$"),
        ("data.name", "mnsit", r"unknown dataset 'mnsit' \(--config.data.name\); valid: cifar10, fashion_mnist, "),
        ("eval.metrics", ("fdi",), r"unknown metric 'fdi' \(--config.eval.metrics\); valid: "),
        ("optim.d_lr", -1.0, r"--config.optim.d_lr must be positive; got -1.0"),
        ("optim.d_steps", 0, r"--config.optim.d_steps must be at least 1; got 0"),
        ("ema.decay", 1.0, r"--config.ema.decay must be in \[0, 1\); got 1.0"),
        ("model.resolution", 30, r"DCGAN cannot build resolution 30"),
    ],
)
def test_bad_config_values(tmp_path, npz, field, value, message):
    with pytest.raises(ConfigError, match=message):
        _train(tmp_path, npz, **{field: value})
    assert not (tmp_path / "run").exists(), "nothing may be written before the config is known to be good"


def test_batch_size_that_the_devices_do_not_divide(tmp_path, npz):
    with pytest.raises(ConfigError, match=r"batch_size=12 does not divide over the 8 devices .* multiple of 8"):
        _train(tmp_path, npz, **{"train.batch_size": 12})


def test_data_that_does_not_match_the_model(tmp_path):
    rgb32 = write_digit_npz(tmp_path / "small.npz", size=32)
    with pytest.raises(
        ConfigError,
        match=r"samples of shape \(32, 32, 1\), but the model makes \(28, 28, 1\); .*"
        r"--config.model.resolution=32 --config.model.channels=1",
    ):
        _train(tmp_path, rgb32)


def test_missing_data_path_is_named(tmp_path):
    missing = tmp_path / "not_there.npz"
    with pytest.raises(ConfigError, match=f"{missing} does not exist"):
        _train(tmp_path, missing)


def test_workdir_with_a_checkpoint_from_an_incompatible_config(tmp_path, npz):
    _train(tmp_path, npz, **{"train.num_steps": 1})
    with pytest.raises(ConfigError, match=r"(?s)incompatible config.*model.d_width: 8 -> 16.*Use a new --workdir"):
        _train(tmp_path, npz, **{"train.num_steps": 2, "model.d_width": 16})


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("penalties.r1", -1.0, r"--config.penalties.r1 must be 0 \(off\) or positive; got -1.0"),
        ("penalty_interval", 0, r"--config.penalty_interval must be at least 1; got 0"),
        ("augment.policy", ("colour",), r"unknown augmentation 'colour' \(--config.augment.policy\); valid: "),
        ("augment.ada_target", 0.6, r"--config.augment.ada_target is set but --config.augment.policy is empty"),
        ("optim.schedule", "cosin", r"unknown learning-rate schedule 'cosin' \(--config.optim.schedule\); valid: "),
        ("model.dtype", "float16", r"unknown compute dtype 'float16' \(--config.model.dtype\); valid: float32, "),
        ("eval.resize", "bicubic", r"--config.eval.resize must be one of tf, pytorch; got 'bicubic'"),
        (
            "eval.best_metric",
            "precision",
            r"--config.eval.best_metric must be fid, kid, psnr, ssim, psnr_hole, edge_ssim, cycle_psnr, lpips, "
            r"lpips_vgg, nelbo, iwae_nll, ppl, lpips_diversity or '' \(none\)",
        ),
        ("eval.num", 1, r"--config.eval.num must be at least 2; got 1"),
    ],
)
def test_bad_research_settings(tmp_path, npz, field, value, message):
    with pytest.raises(ConfigError, match=message):
        _train(tmp_path, npz, **{field: value})


def test_a_penalty_name_that_is_not_registered(tmp_path, npz):
    config = tiny_dcgan_config(**{"data.name": "npz", "data.path": str(npz)})
    config.penalties.r3 = 1.0  # a typo in a config file: ml_collections lets a file add keys
    with pytest.raises(ConfigError, match=r"unknown penalty 'r3' \(--config.penalties\); valid: bcr, r1, r2, wgan_gp"):
        train_and_evaluate(config, tmp_path / "run")


def test_a_conditional_model_needs_labelled_data_with_the_same_classes():
    unlabelled = array_source("pictures", np.zeros((4, 8, 8, 3), np.uint8))
    labelled = array_source("pictures", np.zeros((4, 8, 8, 3), np.uint8), np.array([0, 1, 2, 3]), num_classes=5)
    conditional = Networks(generator=None, discriminator=None, latent_dim=4, sample_shape=(8, 8, 3), num_classes=10)
    with pytest.raises(ConfigError, match=r"conditional \(--config.model.num_classes=10\) but pictures has no labels"):
        check_data_matches_model(unlabelled, conditional)
    with pytest.raises(ConfigError, match=r"pictures has 5 classes but --config.model.num_classes=10"):
        check_data_matches_model(labelled, conditional)


def test_augmenting_data_that_are_not_images(tmp_path):
    config = toy_ring_config(**{"augment.policy": ("flip",), "train.num_steps": 1})
    with pytest.raises(ConfigError, match=r"augments images, but ring of 8 Gaussians has samples of shape \(2,\)"):
        train_and_evaluate(config, tmp_path / "run")


def test_image_metrics_on_the_ring_are_refused(tmp_path):
    config = toy_ring_config(**{"eval.metrics": ("ring", "fid")})
    with pytest.raises(ConfigError, match=r"asks for fid, which compare images; the ring dataset has 2-d points"):
        train_and_evaluate(config, tmp_path / "run")


def _parsed(argv: list[str], monkeypatch) -> ml_collections.ConfigDict:
    """The config that train.py's `--config` flag (cli.define_config_flag) gives for the command line `argv`."""
    monkeypatch.setattr(sys, "argv", argv)
    flag_values = flags.FlagValues()
    holder = define_config_flag(REPO / "configs" / "default.py", flag_values)
    flag_values(argv)
    return holder.value


@pytest.mark.parametrize(
    ("flags_given", "expected"),
    [
        (["--config.eval.metrics=psnr,ssim"], ("psnr", "ssim")),  # as a user writes it
        (["--config.eval.metrics=psnr, ssim,"], ("psnr", "ssim")),
        (["--config.eval.metrics=psnr"], ("psnr",)),
        (["--config.eval.metrics="], ()),
        (["--config.eval.metrics=('psnr', 'ssim')"], ("psnr", "ssim")),  # a Python literal, as before
        (["--config.eval.metrics=[]"], ()),
        (["--config.eval.metrics='psnr,ssim'"], ("psnr,ssim",)),  # a quoted item keeps its comma
        (["--config.eval.metrics=psnr", "--config.eval.metrics=ssim"], ("psnr", "ssim")),  # repeated
    ],
)
def test_a_tuple_override_reads_the_items_as_written(monkeypatch, flags_given, expected):
    assert _parsed(["train.py", *flags_given], monkeypatch).eval.metrics == expected


def _tuple_fields() -> list[tuple[str, str, tuple]]:
    """(recipe, field, value) of every non-empty tuple field of every recipe in configs/."""
    fields = []
    for path in sorted((REPO / "configs").glob("*.py")):
        config = importlib.import_module(f"configs.{path.stem}").get_config()
        for field, value in flatten_dict(config.to_dict(), sep=".").items():
            if isinstance(value, tuple) and value:
                fields.append((path.stem, field, value))
    return fields


@pytest.mark.parametrize(("recipe", "field", "value"), _tuple_fields())
def test_every_tuple_field_reads_its_items_comma_separated(monkeypatch, recipe, field, value):
    """`--config.model.widths=8,8,16,16,16`, `--config.augment.policy=cutout,translation,color,color`: a field's
    items joined by commas (here the default's reversed and its first again, so that they differ from it)."""
    items = (*reversed(value), value[0])
    text = ",".join(str(item) for item in items)
    argv = ["train.py", f"--config={REPO / 'configs' / recipe}.py", f"--config.{field}={text}"]
    assert flatten_dict(_parsed(argv, monkeypatch).to_dict(), sep=".")[field] == items
