"""Bad input reaches a user of the CLIs as one line on stderr and exit status 2, never a traceback, and before
anything is compiled or written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, SHARED_DATA

INCEPTION = SHARED_DATA / "inception_fid" / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True, timeout=300)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single "error: ..." line of a failed command (no traceback before or after it)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "--config.optim.lrr=1",
            "--config.optim has no field 'lrr' (did you mean 'g_lr'?); valid: b1, b2, d_lr",
        ),
        ("--config.penalties.r5=1.0", "--config.penalties has no field 'r5' (did you mean 'r2'?); valid: bcr, r1, r2"),
        (
            "--config.trian.batch_size=8",
            "the config has no field 'trian' (did you mean 'train'?); valid: augment",
        ),
    ],
)
def test_an_unknown_config_field_names_the_valid_fields_and_the_closest(tmp_path, override, expected):
    result = _run("train.py", f"--workdir={tmp_path / 'run'}", override)
    assert expected in _one_error_line(result)
    assert not (tmp_path / "run").exists()


def test_an_unknown_field_of_a_config_given_by_path_and_variant(tmp_path):
    config = REPO / "configs" / "cifar10_sngan.py"
    result = _run("train.py", f"--workdir={tmp_path / 'run'}", f"--config={config}:tiny", "--config.model.widht=3")
    assert "--config.model has no field 'widht'" in _one_error_line(result)


def test_a_file_in_an_image_folder_that_is_not_an_image_is_named(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "notes.png").write_text("not a picture")
    result = _run(
        "train.py", f"--workdir={tmp_path / 'run'}", "--config.data.name=folder", f"--config.data.path={folder}"
    )
    assert f"{folder / 'notes.png'} is not a readable image" in _one_error_line(result)


def test_an_npz_that_is_not_an_npz_is_named(tmp_path):
    fake = tmp_path / "data.npz"
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "pickled.npy").rename(fake)  # an object array: numpy refuses it with a pickle error
    result = _run("train.py", f"--workdir={tmp_path / 'run'}", "--config.data.name=npz", f"--config.data.path={fake}")
    assert f"{fake} is not a readable .npz" in _one_error_line(result)


@pytest.mark.skipif(not INCEPTION.is_file(), reason=f"the Inception weights are not at {INCEPTION}")
def test_a_tampered_inception_archive_is_one_line(tmp_path, npz):
    tampered = tmp_path / "tampered.pt"
    data = bytearray(INCEPTION.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)  # zeros over a stored tensor record
    tampered.write_bytes(bytes(data))
    result = _run("-m", "ganjax.evaluate", f"--inception={tampered}", f"--images={npz}", f"--reference={npz}")
    assert str(tampered) in _one_error_line(result)


def test_an_unknown_recipe_variant_lists_the_valid_ones(tmp_path):
    config = REPO / "configs" / "cifar10_sngan.py"
    result = _run("train.py", f"--workdir={tmp_path / 'run'}", f"--config={config}:huge")
    assert "unknown variant 'huge'" in _one_error_line(result) and "valid: tiny" in result.stderr


def test_images_that_are_neither_grey_nor_rgb_are_named(tmp_path):
    rgba = tmp_path / "rgba.npz"
    np.savez(rgba, images=np.zeros((4, 8, 8, 4), np.uint8))
    result = _run("-m", "ganjax.evaluate", f"--images={rgba}", f"--reference={rgba}")
    assert f"{rgba}: images of shape (8, 8, 4)" in _one_error_line(result)
