"""Datasets: real files against their published checksums, TFDS through mock data, the pipeline's guarantees."""

from __future__ import annotations

import hashlib
import pathlib
import struct

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import SHARED_DATA
from PIL import Image

from ganjax.data import DATA_DIR_ENV, local, open_source, train_batches
from ganjax.data.pipeline import check_patches, crop_shape, example_indices, position_integers, step_positions
from ganjax.data.sources import array_source, read_restoration_set
from ganjax.errors import DataError

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real datasets not found at {SHARED_DATA} (the workplace's shared data folder)"
)


def _data_config(**fields) -> ml_collections.ConfigDict:
    config = dict(name="mnist", split="train", root=None, tfds_dir=None, path=None, resize=None)
    config.update(fields)
    return ml_collections.ConfigDict(config)


# md5 of the decompressed IDX files, from shared/data/README.md.
IDX_MD5 = {
    ("mnist", "train", "images"): "6bbc9ace898e44ae57da46a324031adb",
    ("mnist", "train", "labels"): "a25bea736e30d166cdddb491f175f624",
    ("mnist", "test", "images"): "2646ac647ad5339dbf082846283269ea",
    ("mnist", "test", "labels"): "27ae3e4e09519cfbb04c329615203637",
    ("fashion_mnist", "train", "images"): "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ("fashion_mnist", "train", "labels"): "9018921c3c673c538a1fc5bad174d6f9",
    ("fashion_mnist", "test", "images"): "8181f5470baa50b63fa0f6fddb340f0a",
    ("fashion_mnist", "test", "labels"): "15d484375f8d13e6eb1aabb0c3f46965",
}


def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX file that holds `array` (uint8): magic 0x000008NN, big-endian dimensions, then the data."""
    return struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@needs_shared_data
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_reader_reproduces_the_official_files(name, split):
    images, labels = local.read_idx_dataset(SHARED_DATA / name, split)
    assert images.shape == ({"train": 60000, "test": 10000}[split], 28, 28, 1) and images.dtype == np.uint8
    assert hashlib.md5(_idx_bytes(images[..., 0])).hexdigest() == IDX_MD5[(name, split, "images")]
    assert hashlib.md5(_idx_bytes(labels.astype(np.uint8))).hexdigest() == IDX_MD5[(name, split, "labels")]


@needs_shared_data
def test_mnist_pixel_statistics():
    images, _ = local.read_idx_dataset(SHARED_DATA / "mnist", "train")
    pixels = images.astype(np.float64) / 255
    assert pixels.mean() == pytest.approx(0.1307, abs=1e-4)
    assert pixels.std() == pytest.approx(0.3081, abs=1e-4)


@needs_shared_data
@pytest.mark.parametrize(
    "split,sha256",
    [
        ("train", "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a"),
        ("test", "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04"),
    ],
)
def test_cifar10_reader_matches_the_published_checksum(split, sha256):
    images, labels = local.read_cifar10_webp(SHARED_DATA / "cifar10", split)
    assert images.shape == ({"train": 50000, "test": 10000}[split], 32, 32, 3)
    assert hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest() == sha256
    if split == "train":
        assert labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
        np.testing.assert_allclose(images.reshape(-1, 3).mean(0), [125.307, 122.950, 113.865], atol=1e-3)


@needs_shared_data
def test_local_source_scales_to_model_range():
    source = open_source(_data_config(root=str(SHARED_DATA)), seed=0)
    assert source.num_examples == 60000 and source.sample_shape == (28, 28, 1)
    images = source.read(np.arange(100))["image"]
    assert images.dtype == np.float32 and images.min() == -1.0 and images.max() == 1.0


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataError, match=f"data root {tmp_path} .* has no mnist/ folder"):
        open_source(_data_config(), seed=0)


def test_tfds_source_with_mock_data(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with tfds.testing.mock_data(num_examples=12):
        source = open_source(_data_config(name="cifar10"), seed=0)
        assert source.num_examples == 12 and source.sample_shape == (32, 32, 3)
        batch = next(_batches(source, batch_size=4, num_steps=1))
    assert batch["image"].shape == (1, 4, 32, 32, 3) and batch["image"].dtype == np.float32
    # uint8 k becomes k / 127.5 - 1: back on the 0..255 grid, every value is an integer there.
    levels = (batch["image"] + 1.0) * 127.5
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
    assert levels.min() > -1e-3 and levels.max() < 255 + 1e-3


def test_tfds_failure_says_how_to_use_local_files(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(tfds, "data_source", offline)
    with pytest.raises(DataError, match=f"(?s)through TensorFlow Datasets: ConnectionError.*{DATA_DIR_ENV}="):
        open_source(_data_config(), seed=0)


def test_image_folder(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    source = open_source(_data_config(name="folder", path=str(tmp_path)), seed=0)
    assert source.sample_shape == (8, 8, 3) and source.num_examples == 3
    np.testing.assert_allclose(source.read(np.array([1]))["image"], 40 / 127.5 - 1, rtol=1e-6)


def test_image_folder_of_different_sizes_needs_resize(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(DataError, match=r"a.png is 8x8, b.png is 16x12; set --config.data.resize=N"):
        open_source(_data_config(name="folder", path=str(tmp_path)), seed=0)
    source = open_source(_data_config(name="folder", path=str(tmp_path), resize=4), seed=0)
    assert source.sample_shape == (4, 4, 1)


@pytest.mark.parametrize("name", ["folder", "npz"])
def test_missing_path_is_named(tmp_path, name):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=str(missing)):
        open_source(_data_config(name=name, path=str(missing)), seed=0)
    with pytest.raises(DataError, match=f"dataset '{name}' reads --config.data.path, which is not set"):
        open_source(_data_config(name=name), seed=0)


def test_npz_errors_name_what_is_wrong(tmp_path):
    np.savez(tmp_path / "wrong_key.npz", pictures=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match="has no 'images' array; it holds: pictures"):
        open_source(_data_config(name="npz", path=str(tmp_path / "wrong_key.npz")), seed=0)
    np.savez(tmp_path / "floats.npz", images=np.zeros((2, 4, 4), np.float32))
    with pytest.raises(DataError, match=r"must be uint8 .* it is float32"):
        open_source(_data_config(name="npz", path=str(tmp_path / "floats.npz")), seed=0)


def _batches(source, **kwargs):
    """train_batches of one process, in the calling thread: 6 steps of 8 from step 0 unless `kwargs` say otherwise."""
    settings = dict(batch_size=8, batches_per_step=1, seed=0, start_step=0, num_steps=6, process_index=0)
    return train_batches(source, **(settings | dict(process_count=1, num_threads=0) | kwargs))


def _all_batches(source, **kwargs):
    return [batch["image"] for batch in _batches(source, **kwargs)]


@pytest.fixture
def numbered_source():
    """20 one-value samples whose value is their index, so a batch says which examples it holds."""
    return array_source("numbered", np.arange(20, dtype=np.float32).reshape(20, 1))


def test_each_epoch_visits_every_example_once_in_a_new_order(numbered_source):
    batches = np.concatenate(_all_batches(numbered_source, num_steps=5), axis=1).ravel()  # 40 positions = 2 epochs
    first, second = batches[:20], batches[20:]
    assert sorted(first) == list(range(20)) and sorted(second) == list(range(20))
    assert not np.array_equal(first, second)


def test_batches_are_deterministic_and_depend_on_the_seed(numbered_source):
    once, again = _all_batches(numbered_source), _all_batches(numbered_source)
    other = _all_batches(numbered_source, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(once, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(once, other, strict=True))


def test_resuming_at_a_step_gives_the_same_batches(numbered_source):
    whole = _all_batches(numbered_source, num_steps=6)
    resumed = _all_batches(numbered_source, start_step=4, num_steps=6, num_threads=2)
    assert all(np.array_equal(a, b) for a, b in zip(whole[4:], resumed, strict=True))


def test_processes_read_disjoint_shares_that_make_the_global_batch(numbered_source):
    whole = _all_batches(numbered_source, batches_per_step=2)
    shares = [_all_batches(numbered_source, batches_per_step=2, process_index=p, process_count=2) for p in (0, 1)]
    for step, batch in enumerate(whole):
        assert batch.shape == (2, 8, 1)
        np.testing.assert_array_equal(np.concatenate([shares[0][step], shares[1][step]], axis=1), batch)


def test_positions_and_indices():
    positions = step_positions(3, batch_size=4, batches_per_step=2, process_index=1, process_count=2)
    np.testing.assert_array_equal(positions, [[26, 27], [30, 31]])  # step 3 starts at 3 * 2 * 4 = 24
    indices = example_indices(np.arange(10), num_examples=5, seed=0)
    assert sorted(indices[:5]) == list(range(5)) and sorted(indices[5:]) == list(range(5))


def test_labels_come_with_the_data(tmp_path):
    for name, value in (("cats", 10), ("dogs", 200)):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((4, 4), value, np.uint8)).save(tmp_path / "pets" / name / f"{i}.png")
    source = open_source(_data_config(name="folder", path=str(tmp_path / "pets")), seed=0)
    assert source.num_classes == 2
    batch = source.read(np.array([0, 3]))
    np.testing.assert_array_equal(batch["label"], [0, 1])  # sorted class names: cats 0, dogs 1
    np.testing.assert_allclose(batch["image"][:, 0, 0, 0], [10 / 127.5 - 1, 200 / 127.5 - 1], rtol=1e-6)

    np.savez(tmp_path / "labelled.npz", images=np.zeros((3, 4, 4), np.uint8), labels=np.array([2, 0, 1]))
    source = open_source(_data_config(name="npz", path=str(tmp_path / "labelled.npz")), seed=0)
    assert source.num_classes == 3 and source.read(np.array([0]))["label"].tolist() == [2]
    batches = _batches(source, batch_size=3, batches_per_step=2, num_steps=1)
    assert next(batches)["label"].shape == (2, 3)


def test_images_directly_in_the_folder_are_unlabelled(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "sub" / "b.png")
    assert open_source(_data_config(name="folder", path=str(tmp_path)), seed=0).num_classes == 0


@pytest.fixture
def pixel_numbered_source():
    """6 images of 12x10 whose every pixel holds its own flat index into (6, 12, 10), so any window of them says
    which image it came from and where: its smallest value is its top-left pixel."""
    return array_source("pixel-numbered", np.arange(6 * 12 * 10, dtype=np.float32).reshape(6, 12, 10, 1))


def _square_symmetries(window: np.ndarray) -> list[np.ndarray]:
    """The 8 images of a square (S, S, C) window under the symmetries of the square: 4 rotations and their mirrors."""
    rotations = [np.rot90(window, k) for k in range(4)]
    return rotations + [np.fliplr(rotation) for rotation in rotations]


def _source_window(patch: np.ndarray, images: np.ndarray) -> np.ndarray:
    """The window of `images` (pixel-numbered) whose pixels `patch` holds, found from its smallest value."""
    image, top, left = np.unravel_index(int(patch.min()), images.shape[:3])
    side = patch.shape[0]
    return images[image, top : top + side, left : left + side]


def test_crops_have_the_crop_shape(pixel_numbered_source):
    batch = next(_batches(pixel_numbered_source, batches_per_step=2, num_steps=1, crop=5))
    assert batch["image"].shape == (2, 8, 5, 5, 1) and batch["image"].dtype == np.float32
    assert crop_shape((12, 10, 1), 5) == (5, 5, 1) and crop_shape((12, 10, 1), None) == (12, 10, 1)
    square = array_source("square", np.zeros((4, 6, 6, 3), np.uint8), labels=np.arange(4))
    batch = next(_batches(square, batch_size=4, num_steps=1, flip_rotate=True))
    assert batch["image"].shape == (1, 4, 6, 6, 3) and batch["label"].shape == (1, 4)


def test_every_crop_is_a_window_of_the_example_at_its_position(pixel_numbered_source):
    images = pixel_numbered_source.read(np.arange(6))["image"]
    patches = np.concatenate(_all_batches(pixel_numbered_source, crop=4)).reshape(-1, 4, 4, 1)  # 48 positions
    for patch, index in zip(patches, example_indices(np.arange(48), 6, seed=0), strict=True):
        window = _source_window(patch, images)
        np.testing.assert_array_equal(patch, window)
        assert window[0, 0, 0] // (12 * 10) == index
    corners = {tuple(np.unravel_index(int(patch[0, 0, 0]), (6, 12, 10))[1:]) for patch in patches}
    assert len(corners) > 20  # the windows move: 48 draws from 9 x 7 placements


def test_flips_and_rotations_are_the_eight_symmetries_of_the_crop(pixel_numbered_source):
    images = pixel_numbered_source.read(np.arange(6))["image"]
    patches = np.concatenate(_all_batches(pixel_numbered_source, num_steps=12, crop=4, flip_rotate=True))
    seen = set()
    for patch in patches.reshape(-1, 4, 4, 1):
        matches = [
            k
            for k, image in enumerate(_square_symmetries(_source_window(patch, images)))
            if np.array_equal(image, patch)
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))


def test_random_integers_are_uniform_and_in_range():
    draws = position_integers(np.arange(16000), seed=0, bounds=(3, 8))
    assert draws.dtype == np.int64 and draws.min() == 0 and draws.max(0).tolist() == [2, 7]
    for k, bound in enumerate((3, 8)):
        np.testing.assert_allclose(np.bincount(draws[:, k]) / 16000, 1 / bound, atol=0.015)
    np.testing.assert_array_equal(position_integers(np.arange(5, 9), seed=0, bounds=(3, 8)), draws[5:9])


PATCHES = [dict(crop=4), dict(crop=4, flip_rotate=True)]


@pytest.mark.parametrize("patches", PATCHES)
def test_patches_are_deterministic_and_depend_on_the_seed(pixel_numbered_source, patches):
    once, again = _all_batches(pixel_numbered_source, **patches), _all_batches(pixel_numbered_source, **patches)
    other = _all_batches(pixel_numbered_source, seed=1, **patches)
    assert all(np.array_equal(a, b) for a, b in zip(once, again, strict=True))
    assert not any(np.array_equal(a, b) for a, b in zip(once, other, strict=True))


@pytest.mark.parametrize("patches", PATCHES)
def test_resuming_at_a_step_gives_the_same_patches(pixel_numbered_source, patches):
    whole = _all_batches(pixel_numbered_source, num_steps=6, **patches)
    resumed = _all_batches(pixel_numbered_source, start_step=4, num_steps=6, num_threads=2, **patches)
    assert all(np.array_equal(a, b) for a, b in zip(whole[4:], resumed, strict=True))


@pytest.mark.parametrize("patches", PATCHES)
def test_processes_cut_the_patches_of_the_global_batch(pixel_numbered_source, patches):
    whole = _all_batches(pixel_numbered_source, batches_per_step=2, **patches)
    shares = [
        _all_batches(pixel_numbered_source, batches_per_step=2, process_index=p, process_count=2, **patches)
        for p in (0, 1)
    ]
    for step, batch in enumerate(whole):
        assert batch.shape == (2, 8, 4, 4, 1)
        np.testing.assert_array_equal(np.concatenate([shares[0][step], shares[1][step]], axis=1), batch)


def test_images_that_cannot_make_the_patches_are_refused_at_once(pixel_numbered_source):
    with pytest.raises(DataError, match=r"^pixel-numbered has images of 12x10, smaller than the 11x11 crop; set "):
        _batches(pixel_numbered_source, crop=11)
    with pytest.raises(DataError, match=r"12x10 images, which rotations would make 10x12; set --config.data.crop"):
        _batches(pixel_numbered_source, flip_rotate=True)
    points = array_source("points", np.zeros((8, 2), np.float32))
    with pytest.raises(DataError, match=r"points has samples of shape \(2,\), not images"):
        check_patches(points, crop=4, flip_rotate=False)
    check_patches(pixel_numbered_source, crop=10, flip_rotate=True)  # the largest square window fits


def _restoration_root(tmp_path) -> pathlib.Path:
    """A data root with restoration/Set5/ holding 3 tiny PNGs of two sizes, one grey and two RGB."""
    folder = tmp_path / "restoration" / "Set5"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((6, 4, 3), 200, np.uint8)).save(folder / "b.png")
    Image.fromarray(np.arange(24, dtype=np.uint8).reshape(4, 6)).save(folder / "a.png")
    Image.fromarray(np.zeros((6, 4, 3), np.uint8)).save(folder / "c.png")
    (folder / "notes.txt").write_text("not an image")
    return tmp_path


def test_restoration_set_keeps_each_image_at_its_size(tmp_path):
    images, names = read_restoration_set(_restoration_root(tmp_path), "Set5")
    assert names == ["a", "b", "c"]
    assert [image.shape for image in images] == [(4, 6, 1), (6, 4, 3), (6, 4, 3)]
    assert all(image.dtype == np.uint8 for image in images)
    np.testing.assert_array_equal(images[0][..., 0], np.arange(24).reshape(4, 6))


def test_restoration_sets_dataset_and_its_errors(tmp_path, monkeypatch):
    root = _restoration_root(tmp_path)
    train = root / "restoration" / "Train400"
    train.mkdir()
    for i in range(3):
        Image.fromarray(np.full((5, 5), 10 * i, np.uint8)).save(train / f"test_{i:03d}.png")
    source = open_source(_data_config(name="restoration_sets", split="Train400", root=str(root)), seed=0)
    assert source.num_examples == 3 and source.sample_shape == (5, 5, 1) and source.num_classes == 0
    with pytest.raises(DataError, match="differ in size"):
        open_source(_data_config(name="restoration_sets", split="Set5", root=str(root)), seed=0)
    with pytest.raises(
        DataError, match=r"unknown restoration set 'train' .*; valid: BSD68, Set12, Set5, Set14, Train400"
    ):
        open_source(_data_config(name="restoration_sets", root=str(root)), seed=0)
    with pytest.raises(DataError, match=r"has no restoration/BSD68/ folder; expected restoration/BSD68/\*.png"):
        read_restoration_set(root, "BSD68")
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(DataError, match=f"no TensorFlow Datasets copy: set {DATA_DIR_ENV}=.*DnCNN authors' repository"):
        open_source(_data_config(name="restoration_sets", split="Train400"), seed=0)


@needs_shared_data
def test_real_set5_and_train400():
    images, names = read_restoration_set(SHARED_DATA, "Set5")
    assert names == ["baby_GT", "bird_GT", "butterfly_GT", "head_GT", "woman_GT"]
    assert [image.shape for image in images] == [
        (512, 512, 3),
        (288, 288, 3),
        (256, 256, 3),
        (280, 280, 3),
        (344, 228, 3),
    ]
    source = open_source(_data_config(name="restoration_sets", split="Train400", root=str(SHARED_DATA)), seed=0)
    assert source.num_examples == 400 and source.sample_shape == (180, 180, 1)
