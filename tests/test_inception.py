"""The FID Inception network: the safe archive reader, damaged archives, the resize conventions, the evaluation
protocol, and the port against torch.jit.

The reference is the archive itself run by PyTorch (`torch.jit.load`), the network FID is defined with. Agreement of
features is measured as max |ganjax - torch| / max |torch| over all images and features.
"""

from __future__ import annotations

import pickle
import re
import zipfile

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import SHARED_DATA

from ganjax import parallel
from ganjax.data import local
from ganjax.errors import ConfigError, NoClassifierError, UnsafeArchiveError
from ganjax.metrics import METRICS, Samples, features, inception, inception_metrics
from ganjax.metrics.torchscript import load_tensors

FID_ARCHIVE = SHARED_DATA / "inception_fid" / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"
FID_ARCHIVE_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"  # shared/data/README.md
TORCH_REASON = "PyTorch runs the reference: pip install torch==2.13.0 (a CPU wheel)"
WEIGHTS_REASON = f"the Inception weights are not at {FID_ARCHIVE} (the shared data folder)"
FEATURE_TOLERANCE = 1e-4  # max |difference| / max |reference|

# PyTorch 2.13 deprecates TorchScript, which is what the reference archives are.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")

needs_weights = pytest.mark.skipif(not FID_ARCHIVE.is_file(), reason=WEIGHTS_REASON)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason=TORCH_REASON)


@pytest.fixture(scope="module")
def fid_inception():
    if not FID_ARCHIVE.is_file():
        pytest.skip(WEIGHTS_REASON)
    return inception.load_inception(FID_ARCHIVE)


@pytest.fixture(scope="module")
def torch_reference(torch):
    if not FID_ARCHIVE.is_file():
        pytest.skip(WEIGHTS_REASON)
    torch.set_num_threads(2)  # modest, beside other test processes
    return torch.jit.load(str(FID_ARCHIVE)).eval()


def _relative_error(actual: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(actual - reference).max() / np.abs(reference).max())


# --- the archive reader --------------------------------------------------------------------------------------------


def _injected(original: bytes, module: str, name: str, argument: str) -> bytes:
    """`original` (a protocol-2 pickle) with `module.name(argument)` called and discarded before anything else.

    An ordinary unpickler runs the call (and only then fails on the `__torch__` classes it cannot import).
    """
    call = f"c{module}\n{name}\n".encode() + pickle.dumps(argument, protocol=2)[2:-1] + b"\x85R0"
    return original[:2] + call + original[2:]


@needs_weights
@pytest.mark.parametrize(
    "module, name, command",
    [("os", "system", "touch {marker}"), ("builtins", "exec", "open({marker!r}, 'w').close()")],
    ids=["os.system", "builtins.exec"],
)
def test_tampered_archive_is_refused_and_nothing_runs(tmp_path, module, name, command):
    marker = tmp_path / "pwned"
    tampered = tmp_path / "tampered.pt"
    with zipfile.ZipFile(FID_ARCHIVE) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                data = _injected(data, module, name, command.format(marker=str(marker)))
            target.writestr(info, data)
    with pytest.raises(UnsafeArchiveError, match=f"refusing to load {module}.{name} from {tampered}.*tampered"):
        load_tensors(tampered)
    with pytest.raises(UnsafeArchiveError, match=f"{module}.{name}"):
        inception.load_inception(tampered)
    assert not marker.exists()


def test_missing_or_foreign_files_are_named(tmp_path):
    missing = tmp_path / "nowhere" / "inception.pt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_tensors(missing)
    with pytest.raises(FileNotFoundError, match=str(missing)):
        inception.load_inception(missing)
    not_zip = tmp_path / "legacy.pt"
    not_zip.write_bytes(pickle.dumps({"weight": 1}))
    with pytest.raises(UnsafeArchiveError, match=f"{not_zip} is not a zip archive"):
        load_tensors(not_zip)


@needs_weights
def test_archive_tensors_equal_torch_state_dict_and_checksum(torch, torch_reference):
    tensors = load_tensors(FID_ARCHIVE)
    state = torch_reference.state_dict()
    assert tensors.keys() == state.keys() and len(tensors) == 376
    for key, value in state.items():
        np.testing.assert_array_equal(tensors[key], value.numpy(), err_msg=key)
    assert sum(value.size for value in tensors.values()) == 21_802_784
    assert inception.weights_sha256(FID_ARCHIVE) == FID_ARCHIVE_SHA256


@needs_weights
def test_torch_save_state_dict_loads(tmp_path, torch, torch_reference):
    state = {key.removeprefix("net."): value for key, value in torch_reference.state_dict().items()}
    saved = tmp_path / "state_dict.pt"
    torch.save(state, saved)
    module, variables = inception.load_inception(saved)
    assert module.num_classes == 0
    kernel = variables["params"]["mixed_4"]["tower_1_conv_2"]["kernel"]
    np.testing.assert_array_equal(kernel, state["layers.mixed_4.tower_1.conv_2.weight"].numpy().transpose(2, 3, 1, 0))


# --- damaged archives: one line naming the file and what is wrong, never a traceback ------------------------------

FIRST_STORAGE = "out_jit_module/data/0"  # the first conv's kernel, 32 x 3 x 3 x 3 float32
PICKLE = "out_jit_module/data.pkl"
# In the protocol-2 pickle, the first tensor's size (32, 3, 3, 3): MARK, BININT1 32, 3 x BININT1 3, TUPLE.
FIRST_SIZE, HALVED_FIRST_SIZE = b"(K K\x03K\x03K\x03t", b"(K\x10K\x03K\x03K\x03t"


def _rewritten(target, change) -> None:
    """Writes the FID archive to `target` with each member's bytes replaced by change(name, bytes); None drops it."""
    with zipfile.ZipFile(FID_ARCHIVE) as source, zipfile.ZipFile(target, "w") as archive:
        for info in source.infolist():
            data = change(info.filename, source.read(info))
            if data is not None:
                archive.writestr(info, data)


def _truncated_copy(target) -> None:
    target.write_bytes(FID_ARCHIVE.read_bytes()[: FID_ARCHIVE.stat().st_size // 2])


def _flipped_byte_in_a_record(target) -> None:
    raw = bytearray(FID_ARCHIVE.read_bytes())
    with zipfile.ZipFile(FID_ARCHIVE) as source:
        start = raw.index(source.read(FIRST_STORAGE))  # stored uncompressed: the record's bytes are in the file
    raw[start + 100] ^= 0xFF
    target.write_bytes(bytes(raw))


def _short_storage(target) -> None:
    _rewritten(target, lambda name, data: data[:-100] if name == FIRST_STORAGE else data)


def _missing_storage(target) -> None:
    _rewritten(target, lambda name, data: None if name == FIRST_STORAGE else data)


def _truncated_pickle(target) -> None:
    _rewritten(target, lambda name, data: data[: len(data) // 2] if name == PICKLE else data)


def _halved_first_kernel(target) -> None:
    def change(name: str, data: bytes) -> bytes:
        if name != PICKLE:
            return data
        assert data.count(FIRST_SIZE) == 1
        return data.replace(FIRST_SIZE, HALVED_FIRST_SIZE)

    _rewritten(target, change)


DAMAGED = [
    (_truncated_copy, UnsafeArchiveError, "{path} is not a zip archive, or a truncated one"),
    (
        _flipped_byte_in_a_record,
        UnsafeArchiveError,
        f"{{path}} is damaged: BadZipFile: Bad CRC-32 for file '{FIRST_STORAGE}'",
    ),
    (_short_storage, UnsafeArchiveError, "storage '0' of {path} holds 3356 bytes, not 864 elements"),
    (_missing_storage, UnsafeArchiveError, "{path} refers to storage '0', which it does not contain"),
    (_truncated_pickle, UnsafeArchiveError, "{path} is damaged: "),
    (
        _halved_first_kernel,
        ConfigError,
        "{path} does not fit FIDInceptionV3: params/conv/kernel: (3, 3, 3, 16) in the archive, (3, 3, 3, 32) in the "
        "network",
    ),
]


@needs_weights
@pytest.mark.parametrize("damage, error, message", DAMAGED, ids=[damage.__name__[1:] for damage, *_ in DAMAGED])
def test_damaged_archive_is_one_line_naming_the_file(tmp_path, damage, error, message):
    path = tmp_path / "damaged.pt"
    damage(path)
    with pytest.raises(error) as raised:
        inception.load_inception(path)
    text = str(raised.value)
    assert message.format(path=path) in text and "\n" not in text
    path.unlink()  # 87 MB, not worth keeping after a pass


def test_an_archive_without_the_network_is_named(tmp_path):
    archive = tmp_path / "other.pt"
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("archive/data.pkl", pickle.dumps({"weight": 1}, protocol=2))
    with pytest.raises(ConfigError, match=re.escape(f"{archive} is not an Inception archive")):
        inception.load_inception(archive)


# --- resizing ------------------------------------------------------------------------------------------------------


def test_resize_matrices_by_hand():
    ramp = np.array([0.0, 10.0, 20.0, 30.0])
    # "tf": output pixel j reads source j * 4 / 6 = 0, 2/3, 4/3, 2, 8/3, 10/3 (the last clamped to pixel 3).
    tf_up = features.resize_matrix(4, 6, "tf") @ ramp
    np.testing.assert_allclose(tf_up, [0, 20 / 3, 40 / 3, 20, 80 / 3, 30], rtol=1e-6)
    tf_down = features.resize_matrix(6, 4, "tf") @ np.arange(0.0, 60.0, 10.0)  # sources 0, 1.5, 3, 4.5
    np.testing.assert_allclose(tf_down, [0, 15, 30, 45], rtol=1e-6)
    # "pytorch": (j + 0.5) * 4 / 6 - 0.5 = -1/6 (clamped to 0), 1/2, 7/6, 11/6, 5/2, 19/6 (clamped to 3).
    torch_up = features.resize_matrix(4, 6, "pytorch") @ ramp
    np.testing.assert_allclose(torch_up, [0, 5, 35 / 3, 55 / 3, 25, 30], rtol=1e-6)
    for convention in features.RESIZE_CONVENTIONS:
        np.testing.assert_array_equal(features.resize_matrix(7, 7, convention), np.eye(7))
        np.testing.assert_allclose(features.resize_matrix(32, 299, convention).sum(axis=1), 1.0, rtol=1e-6)


def test_unknown_resize_convention_is_refused_where_the_extractor_is_built():
    eval_config = ml_collections.ConfigDict({"resize": "bicubic", "inception": None, "batch_size": 8})
    refusal = "--config.eval.resize='bicubic' is not a resize convention; valid: tf, pytorch"
    with pytest.raises(ConfigError, match=re.escape(refusal)):
        inception_metrics.make_extractor(eval_config)


# PyTorch computes source coordinates in float32, off by up to ~size * 6e-8 pixels (ganjax's weights are computed in
# float64); on noise that moves values by ~1e-5 of their range at 32 pixels, ~3e-5 at 512.
RESIZE_CASES = [((2, 32, 32, 3), 1e-5), ((1, 40, 24, 1), 1e-5), ((1, 512, 384, 3), 1e-4)]


@pytest.mark.parametrize("shape, tolerance", RESIZE_CASES)
def test_tf_resize_matches_nvidia_grid_sample(torch, shape, tolerance):
    """NVIDIA's: grid_sample over an affine grid shifted by 1/in - 1/out, bilinear, border, align_corners=False."""
    functional = torch.nn.functional
    images = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    batch, channels, height, width = shape[0], shape[3], shape[1], shape[2]
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / 299
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / 299
    grid = functional.affine_grid(theta.repeat(batch, 1, 1), [batch, channels, 299, 299], align_corners=False)
    nchw = torch.from_numpy(images).permute(0, 3, 1, 2)
    reference = functional.grid_sample(nchw, grid, "bilinear", "border", align_corners=False).permute(0, 2, 3, 1)
    resized = np.asarray(features.resize_bilinear(jnp.asarray(images), 299, "tf"))
    assert _relative_error(resized, reference.numpy()) < tolerance


@pytest.mark.parametrize("shape, tolerance", RESIZE_CASES)
def test_pytorch_resize_matches_interpolate(torch, shape, tolerance):
    images = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
    nchw = torch.from_numpy(images).permute(0, 3, 1, 2)
    reference = torch.nn.functional.interpolate(nchw, size=(299, 299), mode="bilinear", align_corners=False)
    resized = np.asarray(features.resize_bilinear(jnp.asarray(images), 299, "pytorch"))
    assert _relative_error(resized, reference.permute(0, 2, 3, 1).numpy()) < tolerance


def test_preprocess_scales_and_repeats_grey():
    grey = np.random.default_rng(2).integers(0, 256, (2, 299, 299, 1), dtype=np.uint8)
    x = np.asarray(features.preprocess(grey))
    assert x.shape == (2, 299, 299, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x, np.repeat((grey.astype(np.float32) - 128) / 128, 3, axis=-1))
    with pytest.raises(TypeError, match="uint8"):
        features.preprocess(grey.astype(np.float32) / 255)


# --- what an evaluation reports about itself -----------------------------------------------------------------------


@needs_weights
def test_an_evaluation_names_its_weights_and_resize():
    eval_config = ml_collections.ConfigDict({"resize": "pytorch", "inception": str(FID_ARCHIVE), "batch_size": 8})
    samples = Samples(lambda num: np.zeros((num, 8, 8, 3), np.float32))
    assert inception_metrics.extractor_used(samples) is None  # no Inception metric has run
    config = ml_collections.ConfigDict({"eval": eval_config})
    # The Inception Score builds the extractor, then stops: these weights have no classifier. Nothing is drawn.
    with pytest.raises(ConfigError, match="inception_score needs the Inception classifier"):
        METRICS.get("inception_score")(samples, config)
    extractor = inception_metrics.extractor_used(samples)
    assert inception_metrics.protocol(extractor) == {
        "weights": str(FID_ARCHIVE),
        "weights_sha256": FID_ARCHIVE_SHA256,
        "resize": "pytorch",
    }


# --- the network against torch.jit ---------------------------------------------------------------------------------


@needs_weights
def test_features_match_torchscript(fid_inception, torch, torch_reference):
    """8 CIFAR-10 test images and 4 random ones, in uneven chunks, sharded over 8 devices, the last batch padded."""
    cifar, _ = local.read_cifar10_webp(SHARED_DATA / "cifar10", "test")
    noise = np.random.default_rng(3).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    images = np.concatenate([cifar[:8], noise])
    module, variables = fid_inception
    mesh = parallel.make_mesh({"data": -1})
    chunks = (images[start:stop] for start, stop in [(0, 5), (5, 8), (8, 12)])
    pool3 = features.extract_features(chunks, module, variables, batch_size=8, mesh=mesh, progress=False)

    pixels = np.asarray(features.preprocess(images))  # the same network input for both
    with torch.no_grad():
        reference = torch_reference(torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy())).numpy()
    assert pool3.shape == (12, 2048) and pool3.dtype == np.float32
    error = _relative_error(pool3, reference)
    print(
        f"\nInception pool3 features, ganjax vs torch.jit.load, 12 images: max |diff| / max |torch| = {error:.2e} "
        f"(max |diff| {np.abs(pool3 - reference).max():.2e}, max |torch| {np.abs(reference).max():.2f})"
    )
    assert error < FEATURE_TOLERANCE


@needs_weights
def test_fid_helper_archive_has_no_classifier(fid_inception):
    module, variables = fid_inception
    assert module.num_classes == 0
    with pytest.raises(NoClassifierError, match=r"no classifier.*NVIDIA's inception-2015-12-05\.pt"):
        module.apply(variables, jnp.zeros((1, 299, 299, 3)), with_logits=True)


@pytest.fixture(scope="module")
def nvidia_layout_archive(tmp_path_factory, torch, torch_reference):
    """The fid-helper network re-saved as NVIDIA's inception-2015-12-05.pt is laid out: the network at the root,
    a random 2048 -> 1008 `output` classifier, and the forward resizing uint8 NCHW images itself."""
    functional = torch.nn.functional

    class NvidiaLayout(torch.nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = layers
            self.output = torch.nn.Linear(2048, 1008)

        def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            batch_size, channels, height, width = img.shape
            theta = torch.eye(2, 3)
            theta[0, 2] += theta[0, 0] / width - theta[0, 0] / 299
            theta[1, 2] += theta[1, 1] / height - theta[1, 1] / 299
            theta = theta.unsqueeze(0).repeat([batch_size, 1, 1])
            grid = functional.affine_grid(theta, [batch_size, channels, 299, 299], False)
            x = functional.grid_sample(img.to(torch.float32), grid, "bilinear", "border", False)
            features = self.layers((x - 128) / 128).reshape(-1, 2048)
            return features if return_features else functional.linear(features, self.output.weight)

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("nvidia") / "inception-2015-12-05.pt"
    torch.jit.script(NvidiaLayout(torch_reference.net.layers)).save(str(path))
    return path


@needs_weights
def test_nvidia_layout_loads_with_classifier(nvidia_layout_archive, torch):
    tensors = inception.inception_tensors(nvidia_layout_archive)
    assert "layers.mixed_10.tower_2_conv.var" in tensors and tensors["output.weight"].shape == (1008, 2048)
    assert inception.inception_tensors(FID_ARCHIVE).keys() == tensors.keys() - {"output.weight", "output.bias"}
    module, variables = inception.load_inception(nvidia_layout_archive)
    assert module.num_classes == 1008

    images = np.random.default_rng(4).integers(0, 256, (3, 40, 24, 3), dtype=np.uint8)
    pool3, logits = features.extract_features(images, module, variables, batch_size=4, with_logits=True, progress=False)
    reference_model = torch.jit.load(str(nvidia_layout_archive)).eval()
    with torch.no_grad():
        nchw = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
        reference_features = reference_model(nchw, return_features=True).numpy()
        reference_logits = reference_model(nchw).numpy()
    assert pool3.shape == (3, 2048) and logits.shape == (3, 1008)
    assert _relative_error(pool3, reference_features) < FEATURE_TOLERANCE  # "tf" resize = NVIDIA's own
    assert _relative_error(logits, reference_logits) < FEATURE_TOLERANCE
    classifier = {"params": variables["params"]["output"]}
    biased = inception._Classifier(1008, use_bias=True).apply(classifier, pool3)
    np.testing.assert_allclose(biased - logits, np.broadcast_to(classifier["params"]["bias"], (3, 1008)), atol=1e-5)
