"""Inception feature extraction speed: ganjax's jitted FIDInceptionV3 against torch.jit.load of the same archive.

    python benchmarks/inception_speed.py                           # 200 images of 32x32, batch 50, 3 repeats
    python benchmarks/inception_speed.py --num 1000 --batch 100 --size 64 --repeats 5
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution python benchmarks/inception_speed.py

Needs the archive (shared/data/inception_fid/, or --weights) and PyTorch for the reference (`pip install
torch==2.13.0`, a CPU wheel); without PyTorch only ganjax is timed. Both sides do the same work on random uint8 RGB
images: resize to 299x299 by the "tf" convention (ganjax: inside its compiled program; PyTorch: NVIDIA's shifted
grid_sample), scale to (x - 128) / 128, run the network to the 2048-d pool3 features, and hand them back as numpy.
Each figure is the median over --repeats of one pass over --num images, after a warm-up pass; the two frameworks take
turns, repeat by repeat, so that a drifting machine affects both alike. The header shows XLA_FLAGS: on XLA:CPU the
flag above (convolutions on XLA's Eigen path instead of YNNPACK) changes ganjax's speed severalfold here.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import flax
import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import interleaved_seconds_per_call, machine, print_table  # noqa: E402

from ganjax.metrics import inception  # noqa: E402
from ganjax.metrics.features import extract_features  # noqa: E402

DEFAULT_WEIGHTS = REPO.parent / "shared" / "data" / "inception_fid" / "fid_inception_v3_2015-12-05_pool3_torchscript.pt"


def ganjax_runner(weights: pathlib.Path, images: np.ndarray, batch_size: int):
    """(run, sync): every image through `extract_features` on the default device."""
    module, variables = inception.load_inception(weights)

    def run():
        return extract_features(images, module, variables, batch_size=batch_size, progress=False)

    return run, lambda _: None


def torch_runner(weights: pathlib.Path, images: np.ndarray, batch_size: int):
    """(run, sync): the same work with the TorchScript archive, NVIDIA's resize in front of it."""
    import torch
    import torch.nn.functional as F

    network = torch.jit.load(str(weights)).eval()
    nchw = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())

    def features(batch: torch.Tensor) -> np.ndarray:
        size, channels, height, width = batch.shape
        theta = torch.eye(2, 3)
        theta[0, 2] += theta[0, 0] / width - theta[0, 0] / 299
        theta[1, 2] += theta[1, 1] / height - theta[1, 1] / 299
        grid = F.affine_grid(theta.repeat(size, 1, 1), [size, channels, 299, 299], align_corners=False)
        x = F.grid_sample(batch.to(torch.float32), grid, "bilinear", "border", align_corners=False)
        return network((x - 128) / 128).numpy()

    def run():
        with torch.inference_mode():
            return np.concatenate([features(nchw[i : i + batch_size]) for i in range(0, len(nchw), batch_size)])

    return run, lambda _: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=200, help="images per timed pass")
    parser.add_argument("--batch", type=int, default=50, help="images per network call")
    parser.add_argument("--size", type=int, default=32, help="side of the square input images (resized to 299)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", type=pathlib.Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    images = np.random.default_rng(0).integers(0, 256, (args.num, args.size, args.size, 3), dtype=np.uint8)
    versions = f"jax {jax.__version__}, flax {flax.__version__} on {jax.devices()[0].device_kind}"
    runners = {"ganjax": ganjax_runner(args.weights, images, args.batch)}
    if torch is not None:
        torch.set_num_threads(os.cpu_count())
        versions += f"; torch {torch.__version__} ({torch.get_num_threads()} threads)"
        runners["torch"] = torch_runner(args.weights, images, args.batch)
    print(f"Inception pool3 features of {args.num} {args.size}x{args.size} RGB images, batch {args.batch}.")
    print(f"Machine: {machine()}; {versions}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}\n")
    seconds = interleaved_seconds_per_call(runners, warmup=1, calls=1, repeats=args.repeats)
    rows = [
        [
            name,
            f"{elapsed:.2f}",
            f"{args.num / elapsed:,.1f}",
            f"{seconds['torch'] / elapsed:.2f}x" if "torch" in seconds else "-",
        ]
        for name, elapsed in seconds.items()
    ]
    print_table(["framework", "s per pass", "images/s", "speed vs torch"], rows)


if __name__ == "__main__":
    main()
