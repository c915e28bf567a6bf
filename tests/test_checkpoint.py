"""Checkpoints: exact round trip, retention, integrity (damaged files and non-finite states are detected and skipped,
a save without its record does not count), and a clear refusal to restore into an incompatible config."""

from __future__ import annotations

import json
import logging
import pathlib
import re

import jax
import numpy as np
import pytest
from helpers import tiny_dcgan_config

from ganjax.checkpoint import RECORD_NAME, Checkpoints
from ganjax.errors import CheckpointError, ConfigError
from ganjax.state import STATE_LAYOUT
from ganjax.tasks import build_task

CONFIG = {"model": {"width": 4}}


def _abstract(gan, seed):
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.eval_shape(gan.init_state, seed)
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract)


def _tiny_state(seed: int = 0) -> dict[str, np.ndarray]:
    """64 KiB of random (incompressible) float32 weights and an int32 step counter."""
    weights = np.random.default_rng(seed).standard_normal(16384).astype(np.float32)
    return {"params": {"w": weights}, "step": np.int32(seed)}


def _abstract_tiny() -> dict:
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), _tiny_state())


def _save(directory: pathlib.Path, states: dict[int, dict], keep: int = 3) -> Checkpoints:
    """Saves {step: state} in order, closes, and returns the folder reopened."""
    checkpoints = Checkpoints(directory, keep=keep)
    for step, state in states.items():
        checkpoints.save(step, state, CONFIG)
    checkpoints.close()
    return Checkpoints(directory, keep=keep)


def _largest_file(folder: pathlib.Path) -> pathlib.Path:
    return max((path for path in folder.rglob("*") if path.is_file()), key=lambda path: path.stat().st_size)


def _flip_bytes(path: pathlib.Path) -> None:
    """Inverts 4 KiB in the middle of the file."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2 - 2048
    data[start : start + 4096] = bytes(byte ^ 0xFF for byte in data[start : start + 4096])
    path.write_bytes(bytes(data))


def _truncate(path: pathlib.Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {
    "flipped bytes": (_flip_bytes, "does not match its recorded SHA-256"),
    "truncated": (_truncate, r"has \d+ bytes, not the \d+ recorded"),
    "missing": (pathlib.Path.unlink, "missing"),
}


def test_round_trip_is_exact(tmp_path):
    config = tiny_dcgan_config()
    gan = build_task(config)
    state = jax.device_get(gan.init_state(3))
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(7, state, config.to_dict())
    checkpoints.close()

    reopened = Checkpoints(tmp_path)
    assert reopened.steps()[-1] == 7
    restored = reopened.restore(7, _abstract(gan, 3), config.to_dict())
    assert reopened.config(7)["model"]["g_width"] == config.model.g_width
    reopened.close()
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for saved, loaded in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        assert saved.dtype == loaded.dtype
        np.testing.assert_array_equal(saved, np.asarray(loaded))


def test_keeps_only_the_newest(tmp_path):
    checkpoints = _save(tmp_path, {step: _tiny_state(step) for step in (1, 2, 3)}, keep=2)
    assert checkpoints.steps() == [2, 3]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["2", "3"]


def test_metrics_round_trip_and_default_to_empty(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(1, _tiny_state(1), CONFIG)
    checkpoints.save(2, _tiny_state(2), CONFIG, metrics={"fid": 12.5})
    checkpoints.close()
    reopened = Checkpoints(tmp_path)
    assert reopened.metrics(1) == {}
    assert reopened.metrics(2) == {"fid": 12.5}
    assert reopened.config(2) == CONFIG


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_file_is_detected_before_it_is_read(tmp_path, damage):
    checkpoints = _save(tmp_path, {1: _tiny_state(1)})
    folder = tmp_path / "1"
    victim = _largest_file(folder)
    damage_file, what = DAMAGES[damage]
    damage_file(victim)

    with pytest.raises(CheckpointError) as error:
        checkpoints.restore(1, _abstract_tiny(), CONFIG)
    message = str(error.value)
    assert "\n" not in message
    name = re.escape(victim.relative_to(folder).as_posix())
    assert re.fullmatch(rf"checkpoint {re.escape(str(folder))} is damaged: {name} {what}", message)


def test_damaged_config_and_metrics_raise_checkpoint_error(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(1, _tiny_state(1), CONFIG, metrics={"fid": 12.5})
    checkpoints.close()
    _flip_bytes(tmp_path / "1" / "config" / "metadata")
    _truncate(tmp_path / "1" / "metrics" / "metrics")

    reopened = Checkpoints(tmp_path)
    with pytest.raises(CheckpointError, match=r"is damaged: config/metadata does not match"):
        reopened.config(1)
    with pytest.raises(CheckpointError, match=r"is damaged: metrics/metrics has \d+ bytes"):
        reopened.metrics(1)


def test_restore_newest_skips_a_damaged_checkpoint_with_one_warning(tmp_path, caplog):
    checkpoints = _save(tmp_path, {1: _tiny_state(1), 2: _tiny_state(2)})
    _flip_bytes(_largest_file(tmp_path / "2"))

    with caplog.at_level(logging.INFO, logger="ganjax.checkpoint"):
        step, state = checkpoints.restore_newest(_abstract_tiny(), CONFIG)
    assert step == 1
    np.testing.assert_array_equal(np.asarray(state["params"]["w"]), _tiny_state(1)["params"]["w"])
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"checkpoint {tmp_path / '2'} is damaged: ")
    assert f"checkpoint {tmp_path / '1'} verified" in caplog.text


def test_restore_newest_refuses_when_every_checkpoint_is_damaged(tmp_path, caplog):
    checkpoints = _save(tmp_path, {1: _tiny_state(1), 2: _tiny_state(2)})
    _truncate(_largest_file(tmp_path / "1"))
    (tmp_path / "2" / "state" / "_METADATA").unlink()

    with pytest.raises(CheckpointError) as error:
        checkpoints.restore_newest(_abstract_tiny(), CONFIG)
    message = str(error.value)
    assert "\n" not in message
    assert f"none of the 2 checkpoints in {tmp_path} is intact" in message
    assert "move the folder away" in message
    assert len([record for record in caplog.records if record.levelno == logging.WARNING]) == 2


def test_restore_newest_without_checkpoints_is_none(tmp_path):
    assert Checkpoints(tmp_path).restore_newest(_abstract_tiny(), CONFIG) is None


def test_a_state_with_nan_is_refused(tmp_path):
    state = _tiny_state(1)
    state["params"]["w"][5] = np.nan
    checkpoints = _save(tmp_path, {1: state})
    with pytest.raises(CheckpointError, match=rf"^checkpoint {tmp_path / '1'} is damaged: NaN or infinite values in "):
        checkpoints.restore(1, _abstract_tiny(), CONFIG)


def test_a_folder_without_its_record_is_not_a_checkpoint_until_saved_again(tmp_path):
    """A kill after Orbax's finalize but before the record: the previous checkpoint stays the newest done one."""
    (_save(tmp_path, {1: _tiny_state(1), 2: _tiny_state(2)}).directory / "2" / RECORD_NAME).unlink()

    checkpoints = Checkpoints(tmp_path)
    assert checkpoints.steps() == [1]
    assert checkpoints.steps()[-1] == 1
    with pytest.raises(CheckpointError, match=f"is damaged: {RECORD_NAME} missing"):
        checkpoints.restore(2, _abstract_tiny(), CONFIG)
    step, _ = checkpoints.restore_newest(_abstract_tiny(), CONFIG)
    assert step == 1

    checkpoints.save(2, _tiny_state(2), CONFIG)
    checkpoints.close()
    assert Checkpoints(tmp_path).steps() == [1, 2]


def test_a_run_resumed_past_a_damaged_checkpoint_drops_it(tmp_path):
    checkpoints = _save(tmp_path, {10: _tiny_state(10), 20: _tiny_state(20), 30: _tiny_state(30)})
    _flip_bytes(_largest_file(tmp_path / "30"))
    step, _ = checkpoints.restore_newest(_abstract_tiny(), CONFIG)
    assert step == 20

    checkpoints.save(25, _tiny_state(25), CONFIG)
    checkpoints.close()
    assert Checkpoints(tmp_path).steps() == [10, 20, 25]


def test_incompatible_config_is_refused_with_the_differences(tmp_path):
    saved_config = tiny_dcgan_config()
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(5, build_task(saved_config).init_state(0), saved_config.to_dict())
    checkpoints.wait()

    wider = tiny_dcgan_config(**{"model.g_width": 16})
    with pytest.raises(ConfigError) as error:
        checkpoints.restore(5, _abstract(build_task(wider), 0), wider.to_dict())
    checkpoints.close()
    message = str(error.value)
    assert re.search(r"Config fields that changed:\n  model.g_width: 8 -> 16\n\d+ arrays differ", message)  # only it
    assert "ema/generator/BatchNorm_0/bias: ((16,), 'float32') -> ((32,), 'float32')" in message
    assert "Use a new --workdir, or the config that wrote the checkpoint." in message


@pytest.mark.parametrize("layout", [1, None])
def test_a_checkpoint_of_another_state_layout_is_refused_in_one_line(tmp_path, layout):
    """A checkpoint whose record says "state_layout": 1, or has none (ganjax before the state was named by its
    networks), holds a state this ganjax cannot read: a ConfigError naming the layouts, not a damaged checkpoint."""
    checkpoints = _save(tmp_path, {1: _tiny_state(1)})
    record = json.loads((tmp_path / "1" / RECORD_NAME).read_text())
    assert record["state_layout"] == STATE_LAYOUT  # what a save records
    if layout is None:
        del record["state_layout"]
    else:
        record["state_layout"] = layout
    (tmp_path / "1" / RECORD_NAME).write_text(json.dumps(record))

    for restore in (
        lambda: checkpoints.restore(1, _abstract_tiny(), CONFIG),
        lambda: checkpoints.restore_newest(_abstract_tiny(), CONFIG),
    ):
        with pytest.raises(ConfigError) as error:
            restore()
        message = str(error.value)
        assert "\n" not in message
        assert f"the checkpoint at step 1 in {tmp_path} holds a training state of layout 1" in message
        assert f"this ganjax reads layout {STATE_LAYOUT}" in message
