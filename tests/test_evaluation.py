"""Evaluation with the real Inception weights: FID/KID inside training, the best checkpoint, the reference-feature
cache and `python -m ganjax.evaluate`, on a few tiny images (the Inception network itself: test_inception.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import REPO, SHARED_DATA
from helpers import tiny_dcgan_config, write_digit_npz

from ganjax.checkpoint import Checkpoints
from ganjax.cli import CPU_FLAGS_ENV
from ganjax.data.local import read_npz
from ganjax.errors import ConfigError
from ganjax.metrics import features, inception, statistics
from ganjax.train import train_and_evaluate

INCEPTION = SHARED_DATA / "inception_fid" / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not INCEPTION.is_file(), reason=f"the Inception weights are not at {INCEPTION}"),
]
NUM = 16  # images per side: far too few for a meaningful FID, enough to check the plumbing


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """A run evaluated at steps 2 and 4 with a copy of the weights that no search path finds."""
    folder = tmp_path_factory.mktemp("evaluated")
    npz = write_digit_npz(folder / "digits.npz", num=64)
    weights = folder / "weights" / "my_inception.pt"
    weights.parent.mkdir()
    shutil.copyfile(INCEPTION, weights)
    config = tiny_dcgan_config(
        **{
            "data.name": "npz",
            "data.path": str(npz),
            "train.num_steps": 4,
            "eval.every": 2,
            "eval.metrics": ("fid", "kid"),
            "eval.num": NUM,
            "eval.num_reference": NUM,
            "eval.batch_size": 8,
            "eval.inception": str(weights),
            "eval.cache_dir": str(folder / "cache"),
        }
    )
    with pytest.warns(UserWarning, match="singular"):
        train_and_evaluate(config, folder / "run")
    return folder, npz, weights


def test_training_logs_fid_and_kid_with_their_protocol_and_keeps_the_best_checkpoint(evaluated_run):
    folder, _, weights = evaluated_run
    records = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    evaluations = {record["step"]: record for record in records if "fid" in record}
    assert sorted(evaluations) == [2, 4]
    protocol = {"weights": str(weights), "weights_sha256": inception.weights_sha256(INCEPTION), "resize": "tf"}
    for record in evaluations.values():
        assert record["fid"] > 0 and {key: record[key] for key in protocol} == protocol
    assert evaluations[2]["fid"] != evaluations[4]["fid"]  # the generator trained in between
    best_step = min(evaluations, key=lambda step: evaluations[step]["fid"])
    best = Checkpoints(folder / "run" / "best")
    assert best.steps() == [best_step]
    saved = best.metrics(best_step)
    assert saved["fid"] == evaluations[best_step]["fid"] and saved["weights_sha256"] == protocol["weights_sha256"]
    best.close()


@pytest.fixture(scope="module")
def direct_features(evaluated_run) -> np.ndarray:
    """What the network gives, in this process, for the first 2 * NUM images of the run's dataset."""
    _, npz, _ = evaluated_run
    module, variables = inception.load_inception(INCEPTION)
    return features.extract_features(read_npz(npz)[0][: 2 * NUM], module, variables, batch_size=8, progress=False)


def test_reference_features_are_cached_with_their_description(evaluated_run, direct_features):
    folder, _, _ = evaluated_run
    (cached,) = (folder / "cache").glob("*.npy")
    description = json.loads(cached.with_suffix(".json").read_text())
    assert description["dataset"] == "npz" and description["num"] == NUM and description["resize"] == "tf"
    assert description["weights_sha256"] == inception.weights_sha256(INCEPTION)
    # The cache holds what the network gives for the first NUM images of the dataset.
    np.testing.assert_allclose(np.load(cached), direct_features[:NUM], rtol=1e-5, atol=1e-5)


def _evaluate(*flags, **environment: str):
    """`python -m ganjax.evaluate FLAGS` where no Inception weights are found unless a flag or the run names them,
    with `environment` added to its environment."""
    env = {key: value for key, value in os.environ.items() if key not in ("GANJAX_INCEPTION", "GANJAX_DATA_DIR")}
    env["HOME"] = str(REPO / ".pytest_cache" / "no_home")  # no ~/.cache/ganjax weights either
    env.update(environment)
    command = [sys.executable, "-m", "ganjax.evaluate", *flags]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


def test_evaluate_cli_compares_image_sets(evaluated_run, direct_features, tmp_path):
    _, npz, _ = evaluated_run
    images = read_npz(npz)[0]
    np.savez(tmp_path / "a.npz", images=images[:NUM])
    np.savez(tmp_path / "b.npz", images=images[NUM : 2 * NUM])
    result = _evaluate(
        f"--inception={INCEPTION}",
        f"--images={tmp_path / 'a.npz'}",
        f"--reference={tmp_path / 'b.npz'}",
        "--metrics=fid,precision_recall",
        "--batch_size=8",  # not the default 100: each set of NUM would be padded to 100 images
        f"--out={tmp_path / 'sets.json'}",
    )
    assert result.returncode == 0, result.stderr
    sets = json.loads((tmp_path / "sets.json").read_text())
    assert sets["resize"] == "tf" and sets["num_images"] == sets["num_reference"] == NUM
    assert sets["weights"] == str(INCEPTION) and sets["weights_sha256"] == inception.weights_sha256(INCEPTION)
    a, b = direct_features[:NUM], direct_features[NUM:]
    with pytest.warns(UserWarning, match="singular"):
        expected = statistics.frechet_distance(statistics.fit_gaussian(a), statistics.fit_gaussian(b))
    assert sets["fid"] == pytest.approx(expected, rel=1e-4)
    precision, recall = statistics.precision_recall(b, a, k=3)
    assert (sets["precision"], sets["recall"]) == pytest.approx((precision, recall))


def test_evaluate_cli_on_a_run_uses_the_runs_own_settings_and_weights(evaluated_run, tmp_path):
    """No flag but --workdir: the run's eval settings (its weights copy outside every search path, its numbers of
    images, metrics and cache), the same samples and reference as the run's last in-loop evaluation."""
    folder, _, weights = evaluated_run
    # The command computes as the in-loop evaluation did: on this process's 8 CPU devices (conftest.py), with XLA's
    # default convolutions (the command-line tools ask for its Eigen ones; GANJAX_CPU_FLAGS=0 keeps the default).
    # Then it gives the run's numbers bit for bit. Either difference alone changes the programs, and FID in its sixth
    # or seventh digit (benchmarks/RESULTS.md, "The test suite after issue 22", has the measured sizes).
    as_the_loop = {"JAX_NUM_CPU_DEVICES": str(jax.device_count()), CPU_FLAGS_ENV: "0"}
    result = _evaluate(f"--workdir={folder / 'run'}", f"--out={tmp_path / 'run.json'}", **as_the_loop)
    assert result.returncode == 0, result.stderr
    assert f"weights: {weights}\n" in result.stdout and "resize: tf\n" in result.stdout
    run = json.loads((tmp_path / "run.json").read_text())
    last = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert run["step"] == 4 and run["num_images"] == NUM and run["weights"] == str(weights)
    assert (run["fid"], run["kid"], run["kid_std"]) == (last["fid"], last["kid"], last["kid_std"])

    # A flag overrides that one setting only.
    flags = (f"--workdir={folder / 'run'}", "--metrics=fid", f"--out={tmp_path / 'fid.json'}")
    result = _evaluate(*flags, **as_the_loop)
    assert result.returncode == 0, result.stderr
    fid_only = json.loads((tmp_path / "fid.json").read_text())
    assert "kid" not in fid_only and fid_only["fid"] == run["fid"] and fid_only["weights"] == str(weights)


def test_inception_score_without_the_classifier_says_why(tmp_path):
    npz = write_digit_npz(tmp_path / "digits.npz", num=4)
    result = _evaluate(f"--inception={INCEPTION}", f"--images={npz}", f"--reference={npz}", "--metrics=inception_score")
    assert result.returncode == 2
    assert "does not hold" in result.stderr and "inception-2015-12-05.pt" in result.stderr


def test_missing_weights_are_named_before_training(tmp_path):
    config = tiny_dcgan_config(**{"eval.metrics": ("fid",), "eval.inception": str(tmp_path / "nowhere.pt")})
    with pytest.raises(ConfigError, match=r"nowhere\.pt is not a file"):
        train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
