"""Section inception: pool3 features of CIFAR-10's training images, ganjax's FIDInceptionV3 against torch.jit.load of
the same archive, and the FID of the training against the test images; and the CIFAR-10 and Inception readers the
speedrun shares."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable

from suite.budget import OutOfBudget, Section, Skip

# The table's (header, row key) pairs.
COLUMNS = [
    ("what", "what"),
    ("images", "images"),
    ("seconds", "seconds"),
    ("images/s", "images_per_s"),
    ("compile s", "compile_s"),
    ("note", "note"),
]


def read_cifar10(data: pathlib.Path, split: str, num: int | None = None):
    """CIFAR-10 uint8 images (N, 32, 32, 3) and labels from the WebP grids, only as many grids as `num` needs."""
    import numpy as np

    from ganjax.data import local

    folder = data / "cifar10"
    names = [f"data_batch_{i}.webp" for i in range(1, 6)] if split == "train" else ["test_batch.webp"]
    if num is not None:
        names = names[: -(-num // 10_000)]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise Skip(f"CIFAR-10 not found: {folder}/{missing[0]} (--data)")
    grids = [np.asarray(local.open_image(folder / name).convert("RGB")) for name in names]
    images = np.concatenate(
        [grid.reshape(100, 32, 100, 32, 3).transpose(0, 2, 1, 3, 4).reshape(10_000, 32, 32, 3) for grid in grids]
    )
    labels = np.load(folder / f"{split}_labels.npy")[: len(images)].astype(np.int32)
    return (images, labels) if num is None else (images[:num], labels[:num])


def inception_path(args) -> pathlib.Path:
    if args.inception is None or not args.inception.is_file():
        raise Skip(f"Inception weights not found: {args.inception} (--inception)")
    return args.inception


_EXTRACTORS: dict = {}


def extractor(args):
    import ml_collections

    from ganjax.metrics.inception_metrics import make_extractor

    key = (str(args.inception), args.inception_batch)
    if key not in _EXTRACTORS:
        eval_config = ml_collections.ConfigDict(
            dict(resize="tf", inception=str(inception_path(args)), batch_size=args.inception_batch)
        )
        _EXTRACTORS[key] = make_extractor(eval_config)
    return _EXTRACTORS[key]


def jax_features(extractor) -> Callable:
    """uint8 images -> (N, 2048) features through ganjax's extractor's network and resize, without a progress bar."""
    from ganjax.metrics.features import extract_features

    def features(images):
        return extract_features(
            images,
            extractor.module,
            extractor.variables,
            batch_size=extractor.batch_size,
            resize=extractor.resize,
            progress=False,
        )

    return features


def chunked_features(features: Callable, images, section: Section | None, chunk: int):
    """Features of `images` in chunks of `chunk`, stopping (with what is done) when the section's budget runs out."""
    import numpy as np

    parts = []
    for start in range(0, len(images), chunk):
        if section is not None and section.left() <= 0:
            break
        parts.append(features(images[start : start + chunk]))
    return np.concatenate(parts) if parts else np.zeros((0, 2048), np.float32)


def torch_inception(path: pathlib.Path, batch_size: int):
    """features(uint8 NHWC numpy) -> (N, 2048) numpy with torch.jit.load of the archive on the GPU when there is
    one: NVIDIA's shifted grid_sample ("tf" resize), (x - 128) / 128, the network (benchmarks/inception_speed.py)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True  # PyTorch's fastest convolutions for the fixed batch shape
    network = torch.jit.load(str(path), map_location=device).eval()

    def batch_features(batch: torch.Tensor) -> torch.Tensor:
        size, channels, height, width = batch.shape
        theta = torch.eye(2, 3, device=device)
        theta[0, 2] += theta[0, 0] / width - theta[0, 0] / 299
        theta[1, 2] += theta[1, 1] / height - theta[1, 1] / 299
        grid = F.affine_grid(theta.repeat(size, 1, 1), [size, channels, 299, 299], align_corners=False)
        x = F.grid_sample(batch.to(torch.float32), grid, "bilinear", "border", align_corners=False)
        return network((x - 128) / 128)

    def features(images: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                nchw = torch.from_numpy(images[start : start + batch_size].transpose(0, 3, 1, 2).copy()).to(device)
                out.append(batch_features(nchw))
            return torch.cat(out).float().cpu().numpy()

    return features, str(device)


def run(section: Section, args) -> None:
    import numpy as np

    from ganjax.metrics.statistics import fit_gaussian, frechet_distance

    path = inception_path(args)
    num_train = args.inception_images
    train, _ = read_cifar10(args.data, "train", None if num_train >= 50_000 else num_train)
    test, _ = read_cifar10(args.data, "test", None if args.fid_test_images >= 10_000 else args.fid_test_images)
    chunk = max(args.inception_batch, min(5_000, len(train)))
    started = time.perf_counter()
    jax_extractor = extractor(args)
    features = jax_features(jax_extractor)
    features(train[: args.inception_batch])  # compiles the batch's program
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    train_features = chunked_features(features, train, section, chunk)
    seconds = time.perf_counter() - started
    done = len(train_features)
    section.rows.append(
        {
            "what": "ganjax features, CIFAR-10 train",
            "images": done,
            "seconds": round(seconds, 2),
            "images_per_s": round(done / seconds, 1),
            "compile_s": round(compile_s, 2),
            "note": f"batch {args.inception_batch}, tf resize, float32"
            + ("" if done == len(train) else f"; {len(train)} asked, budget ran out"),
        }
    )
    torch_row = {"what": "torch.jit features, CIFAR-10 train", "images": 0, "seconds": "n/a", "images_per_s": "n/a"}
    try:
        torch_features, device = torch_inception(path, args.inception_batch)
    except Exception as error:
        torch_row["note"] = f"n/a ({type(error).__name__}: {str(error)[:120]})"
    else:
        started = time.perf_counter()
        torch_features(train[: args.inception_batch])  # warm-up (cuDNN's algorithm choice)
        warm = time.perf_counter() - started
        torch_budget = section.left() - (10 if not args.tiny else 2)  # keep time for the FID
        started = time.perf_counter()
        parts = []
        for start in range(0, len(train), chunk):
            if time.perf_counter() - started > torch_budget:
                break
            parts.append(torch_features(train[start : start + chunk]))
        seconds = time.perf_counter() - started
        torch_done = sum(len(p) for p in parts)
        if torch_done:
            ours = train_features[: min(torch_done, done, 1000)]
            theirs = np.concatenate(parts)[: len(ours)]
            agreement = float(np.max(np.abs(ours - theirs)))
            torch_row.update(
                images=torch_done,
                seconds=round(seconds, 2),
                images_per_s=round(torch_done / seconds, 1),
                compile_s=round(warm, 2),
                note=f"{device}; max |ganjax - torch| over {len(ours)} images' features: {agreement:.3g}",
            )
            section.extra["ganjax_vs_torch_speed"] = round(section.rows[0]["images_per_s"] / (torch_done / seconds), 3)
    section.rows.append(torch_row)
    section.check()
    started = time.perf_counter()
    test_features = chunked_features(features, test, section, chunk)
    if len(test_features) < len(test) or done < len(train):
        raise OutOfBudget
    fid = frechet_distance(fit_gaussian(train_features), fit_gaussian(test_features))
    seconds = time.perf_counter() - started
    section.rows.append(
        {
            "what": f"FID train {done} vs test {len(test)}",
            "images": len(test),
            "seconds": round(seconds, 2),
            "images_per_s": round(len(test) / seconds, 1),
            "compile_s": 0,
            "note": f"FID {fid:.4f} (test features and the Frechet distance)",
        }
    )
    section.extra["fid_train_vs_test"] = fid
    section.extra["weights_sha256"] = jax_extractor.sha256
