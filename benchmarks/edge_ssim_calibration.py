"""Edge-map SSIM (ganjax/metrics/translation.py) of CIFAR-10 test photos against outputs that keep their structure
to a known degree, for several smoothing sigmas: the measurement behind `EDGE_SMOOTHING_SIGMA`.

    python benchmarks/edge_ssim_calibration.py [--num 500] [--sigmas 0 0.5 1 1.5 2]

Rows: the photo itself; a random clip-art drawing (an unrelated image of the same style as a translation's target,
drawn with a fixed seed); the classical translation baselines (benchmarks/classical.py); a Gaussian blur of sigma
1 px and JPEG at qualities 50 and 20 (degradations that keep the structure). Per sigma: the mean and standard
deviation of each row, and the separation of the cartoon filter from the random drawings, and of the blur and JPEG
from the cartoon filter, as the difference of the means in pooled standard deviations. Needs OpenCV.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import cv2
import jax
import jax.numpy as jnp
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import classical  # noqa: E402
from common import machine, print_table  # noqa: E402

from ganjax.data.local import read_cifar10_webp, read_image_folder  # noqa: E402
from ganjax.metrics.fidelity import ssim  # noqa: E402
from ganjax.metrics.translation import edge_map  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def _jpeg(photo: np.ndarray, quality: int) -> np.ndarray:
    """uint8 (H, W, 3) -> the same image encoded and decoded as JPEG (OpenCV) at `quality` (0-100)."""
    _, encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


def _separation(higher: np.ndarray, lower: np.ndarray) -> float:
    """The difference of the means in pooled standard deviations."""
    return float((higher.mean() - lower.mean()) / np.sqrt((higher.var() + lower.var()) / 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=500, help="the first NUM CIFAR-10 test images")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0], help="pixels")
    args = parser.parse_args()

    photos = read_cifar10_webp(DATA / "cifar10", "test")[0][: args.num]
    drawings = read_image_folder(DATA / "clipart64", 32)[0]
    translations = {
        name: np.stack([baseline(photo, classical.Context()) for photo in photos])
        for name, baseline in classical.BASELINES["translate"].items()
    }
    rows = {
        "identity": photos,
        "random clip-art": drawings[np.random.default_rng(0).integers(0, len(drawings), len(photos))],
        **translations,
        "blur sigma 1": np.stack([classical.gaussian_filter(photo, 1.0) for photo in photos]),
        "jpeg q50": np.stack([_jpeg(photo, 50) for photo in photos]),
        "jpeg q20": np.stack([_jpeg(photo, 20) for photo in photos]),
    }
    inputs = jnp.asarray(photos, jnp.float32)
    scores = {}  # (row, sigma) -> (N,)
    for sigma in args.sigmas:

        @jax.jit
        def score(x, y, sigma=sigma):
            return ssim(edge_map(y, smoothing_sigma=sigma), edge_map(x, smoothing_sigma=sigma))

        for name, outputs in rows.items():
            scores[name, sigma] = np.asarray(score(inputs, jnp.asarray(outputs, jnp.float32)))

    print(f"Edge-map SSIM, mean +- std over the first {len(photos)} CIFAR-10 test images; {machine()}")
    table = [
        [name] + [f"{scores[name, s].mean():.3f} +- {scores[name, s].std():.3f}" for s in args.sigmas] for name in rows
    ]
    for higher, lower in [("cartoon", "random clip-art"), ("blur sigma 1", "cartoon"), ("jpeg q50", "cartoon")]:
        table.append(
            [f"separation, {higher} from {lower}"]
            + [f"{_separation(scores[higher, s], scores[lower, s]):.2f}" for s in args.sigmas]
        )
    print_table(["output"] + [f"smoothing {s:g} px" for s in args.sigmas], table)


if __name__ == "__main__":
    main()
