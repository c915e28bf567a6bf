"""Official StyleGAN2-ADA pickles read without PyTorch or their code (ganjax/stylegan2_snapshot.py) and imported
(ganjax/import_stylegan2.py): a pickle that names code is refused before anything is called, as are damaged files and
pickles without the three networks; against the official code itself (where a checkout of it is named by
$GANJAX_STYLEGAN2_OFFICIAL and PyTorch is installed) the imported networks give the official numbers."""

from __future__ import annotations

import os
import pathlib
import pickle
import sys

import pytest
from conftest import REPO

from configs import cifar10_stylegan2
from ganjax.errors import ConfigError, UnsafeArchiveError
from ganjax.import_stylegan2 import import_snapshot
from ganjax.runs import load_run
from ganjax.stylegan2_snapshot import read_snapshot
from ganjax.task import DrawRequest

OFFICIAL = os.environ.get("GANJAX_STYLEGAN2_OFFICIAL")


class _RunsAShellCommand:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_a_pickle_that_names_code_is_refused_before_anything_runs(tmp_path, capfd):
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(pickle.dumps({"G": _RunsAShellCommand()}))
    with pytest.raises(UnsafeArchiveError, match=rf"^{path}: refusing to load posix\.system: not a tensor"):
        read_snapshot(path)
    assert "this must never run" not in capfd.readouterr().out


def test_damaged_files_and_pickles_without_the_networks_are_one_line_errors(tmp_path):
    missing = tmp_path / "dict.pkl"
    missing.write_bytes(pickle.dumps({"G": None, "D": None}))
    with pytest.raises(UnsafeArchiveError, match=r"is not a StyleGAN2-ADA network pickle: it has no G, D, G_ema$"):
        read_snapshot(missing)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps({"G": list(range(1000))})[:-50])
    with pytest.raises(UnsafeArchiveError, match="is damaged"):
        read_snapshot(truncated)
    with pytest.raises(FileNotFoundError, match="no StyleGAN2-ADA network pickle at"):
        read_snapshot(tmp_path / "absent.pkl")


needs_official_code = pytest.mark.skipif(
    not (OFFICIAL and pathlib.Path(OFFICIAL, "training", "networks.py").is_file()),
    reason="set GANJAX_STYLEGAN2_OFFICIAL to a stylegan2-ada-pytorch checkout (and install torch) to compare with it",
)


@pytest.fixture(scope="module")
def agreement():
    """benchmarks/stylegan2_agreement.py, which builds the official networks (PyTorch)."""
    pytest.importorskip("torch", reason="the official code runs in PyTorch: pip install torch==2.13.0")
    sys.path.insert(0, str(REPO / "benchmarks"))
    import stylegan2_agreement

    return stylegan2_agreement


@pytest.mark.slow
@needs_official_code
def test_imported_official_networks_give_the_official_numbers(agreement):
    for name, configuration in agreement.CONFIGURATIONS.items():
        errors = agreement.compare(pathlib.Path(OFFICIAL), configuration)
        assert max(errors.values()) < 1e-4, (name, errors)


@pytest.mark.slow
@needs_official_code
def test_an_imported_snapshot_is_a_run_that_samples_and_names_its_fine_tuning_flags(agreement, tmp_path):
    networks = agreement._official_networks(pathlib.Path(OFFICIAL), 32, 10, "orig", 512, 32, 2)
    snapshot = tmp_path / "network-snapshot.pkl"
    snapshot.write_bytes(pickle.dumps(dict(G=networks[0], D=networks[1], G_ema=networks[0])))
    recipe = cifar10_stylegan2.get_config()
    overrides = import_snapshot(str(snapshot), tmp_path / "run", recipe)
    assert "--config.model.channel_base=512" in overrides and "--config.model.w_dim=16" in overrides
    assert not any(flag.startswith(("--config.model.num_classes=", "--config.model.resolution=")) for flag in overrides)
    run = load_run(tmp_path / "run")
    assert run.step == 0 and run.config.model.channel_max == 32 and run.config.loss == recipe.loss
    drawing = run.task.draw(run.state, DrawRequest(num=4, seed=0, label=3))
    assert drawing.count == 4
    with pytest.raises(ConfigError, match="already holds checkpoints: import into a new --workdir"):
        import_snapshot(str(snapshot), tmp_path / "run", recipe)
