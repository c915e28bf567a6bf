"""FID agreement with a reference pipeline: ganjax vs torch.jit features + NumPy/SciPy statistics, same run.

    python benchmarks/fid_agreement.py                    # 2,000 CIFAR-10 train vs 2,000 test images
    python benchmarks/fid_agreement.py --num 500

For each resize convention, the same uint8 images go through
- ganjax: `ganjax.metrics.features` (its own resize) around `ganjax.metrics.inception` (the Flax port), and
  `ganjax.metrics.statistics` (float64, eigh);
- the reference: the resize done in PyTorch as the references do it ("tf": NVIDIA's shifted `affine_grid` +
  `grid_sample(bilinear, border)`; "pytorch": pytorch-fid's `F.interpolate(bilinear, align_corners=False)`), the
  TorchScript archive run by `torch.jit.load`, and FID as pytorch-fid computes it (`scipy.linalg.sqrtm`).
The table gives both FIDs and their relative difference (the goal is under 1e-3), and the largest relative
difference of the features. Needs PyTorch (`pip install torch==2.13.0`) and the shared data folder.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import jax  # noqa: E402
from common import machine, print_table  # noqa: E402

from ganjax.data.local import read_cifar10_webp  # noqa: E402
from ganjax.metrics import features, inception, statistics  # noqa: E402

DATA = REPO.parent / "shared" / "data"
ARCHIVE = DATA / "inception_fid" / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"


def torch_resize(images: torch.Tensor, convention: str) -> torch.Tensor:
    """(N, 3, H, W) float -> (N, 3, 299, 299), as the reference implementations resize."""
    if convention == "pytorch":
        return F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
    theta = torch.eye(2, 3, dtype=images.dtype)
    theta[0, 2] += theta[0, 0] / images.shape[3] - theta[0, 0] / 299
    theta[1, 2] += theta[1, 1] / images.shape[2] - theta[1, 1] / 299
    grid = F.affine_grid(theta[None].repeat(len(images), 1, 1), [len(images), 3, 299, 299], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def torch_features(model, images: np.ndarray, convention: str, batch: int) -> np.ndarray:
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch]).permute(0, 3, 1, 2).float()
            x = (torch_resize(x, convention) - 128) / 128
            outputs.append(model(x).reshape(len(x), -1).numpy())
    return np.concatenate(outputs)


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID as pytorch-fid computes it: float64 statistics and scipy.linalg.sqrtm."""
    mu_a, mu_b = a.mean(0, dtype=np.float64), b.mean(0, dtype=np.float64)
    sigma_a, sigma_b = np.cov(a.astype(np.float64), rowvar=False), np.cov(b.astype(np.float64), rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=2000, help="images per set")
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(
        f"FID of {args.num} CIFAR-10 train vs {args.num} test images. Machine: {machine()}; jax {jax.__version__}, "
        f"torch {torch.__version__}\n"
    )
    train = read_cifar10_webp(DATA / "cifar10", "train")[0][: args.num]
    test = read_cifar10_webp(DATA / "cifar10", "test")[0][: args.num]
    module, variables = inception.load_inception(ARCHIVE)
    reference_model = torch.jit.load(str(ARCHIVE), map_location="cpu").eval()
    rows = []
    for convention in features.RESIZE_CONVENTIONS:
        started = time.perf_counter()
        ours = [
            features.extract_features(x, module, variables, batch_size=args.batch, resize=convention, progress=False)
            for x in (train, test)
        ]
        ours_seconds = time.perf_counter() - started
        started = time.perf_counter()
        theirs = [torch_features(reference_model, x, convention, args.batch) for x in (train, test)]
        theirs_seconds = time.perf_counter() - started
        fid_ours = statistics.frechet_distance(*(statistics.fit_gaussian(x) for x in ours))
        fid_theirs = reference_fid(*theirs)
        feature_error = max(np.abs(o - t).max() / np.abs(t).max() for o, t in zip(ours, theirs, strict=True))
        difference = abs(fid_ours - fid_theirs) / fid_theirs
        speeds = (2 * args.num / ours_seconds, 2 * args.num / theirs_seconds)
        rows.append(
            [
                convention,
                f"{fid_ours:.6f}",
                f"{fid_theirs:.6f}",
                f"{difference:.2e}",
                f"{feature_error:.2e}",
                *(f"{speed:.1f}" for speed in speeds),
            ]
        )
        print(f"measured {rows[-1]}", file=sys.stderr, flush=True)
    print_table(
        [
            "resize",
            "FID ganjax",
            "FID reference",
            "relative difference",
            "max feature difference / max",
            "ganjax img/s",
            "reference img/s",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
