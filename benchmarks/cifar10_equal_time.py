"""CIFAR-10 DCGAN at equal wall time: the same network and step in PyTorch (benchmarks/torch_models.py), trained on
ganjax's own batches for as long as ganjax's `configs/cifar10_dcgan.py:cpu` run took, then scored exactly as that run
is: the FID and KID of 10,000 EMA samples against the CIFAR-10 test set through ganjax's scoring path (the same
Inception weights, resize and cached reference features as `python -m ganjax.evaluate --workdir`).

    /usr/bin/time python train.py --config configs/cifar10_dcgan.py:cpu --workdir runs/cifar10_dcgan_cpu   # W seconds
    python -m ganjax.evaluate --workdir runs/cifar10_dcgan_cpu --num 10000 --metrics fid,kid
    python benchmarks/cifar10_equal_time.py --seconds W --out runs/cifar10_dcgan_torch

The clock starts when this script starts: imports, data and model set-up count, as they do in train.py's wall time.
Needs PyTorch (`pip install torch`, a CPU wheel). Writes results.json and a grid of 64 EMA samples into --out.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from common import machine  # noqa: E402
from torch_models import torch_training  # noqa: E402

from configs import cifar10_dcgan  # noqa: E402
from ganjax import parallel  # noqa: E402
from ganjax.cli import enable_compilation_cache, use_fast_cpu_convolutions  # noqa: E402
from ganjax.data.domains import domain_batches, open_domains  # noqa: E402
from ganjax.images import picture, save_png  # noqa: E402
from ganjax.metrics import Samples  # noqa: E402
from ganjax.scoring import score  # noqa: E402

SAMPLE_CHUNK = 500  # latents generated at once


def real_batch_supplier(config):
    """real() -> (images (B, C, H, W) float32 in [-1, 1], None): the run's training batches in train.py's order,
    one discriminator update's batch per call."""
    stream = domain_batches(
        config.data,
        open_domains(config.data, config.seed),
        batch_size=config.train.batch_size,
        batches_per_step=config.optim.d_steps,
        seed=config.seed,
        start_step=0,
        num_steps=100 * config.train.num_steps,  # past any step this clock reaches
        process_index=0,
        process_count=1,
    )
    pending: list[torch.Tensor] = []

    def real() -> tuple[torch.Tensor, None]:
        if not pending:
            images = next(stream)["image"]  # (d_steps, B, H, W, C)
            pending.extend(torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))) for batch in images)
        return pending.pop(0), None

    return real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, required=True, help="wall time to train for, from the script's start")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for results.json and samples.png")
    parser.add_argument("--num", type=int, default=10_000, help="EMA samples scored")
    parser.add_argument("--num_reference", type=int, default=0, help="test images compared with (0: all 10,000)")
    args = parser.parse_args()
    use_fast_cpu_convolutions()  # as the evaluate CLI, whose scores this one's stand beside
    enable_compilation_cache()
    config = cifar10_dcgan.get_config("cpu")
    torch.manual_seed(config.seed)
    training = torch_training(
        config, config.train.batch_size, dtype="float32", device="cpu", real_batches=real_batch_supplier(config)
    )
    steps = 0
    while time.perf_counter() - STARTED < args.seconds:
        training.run()
        steps += 1
    wall_s = time.perf_counter() - STARTED
    print(f"torch: {steps} steps in {wall_s:.0f} s ({torch.get_num_threads()} threads)", flush=True)

    latents = torch.Generator().manual_seed(config.eval.seed)

    def draw(num: int) -> np.ndarray:
        z = torch.randn(num, config.model.latent_dim, generator=latents)
        chunks = [training.ema_samples(part) for part in z.split(SAMPLE_CHUNK)]
        return torch.cat(chunks).permute(0, 2, 3, 1).numpy()

    config.eval.update(metrics=("fid", "kid"), num=args.num, num_reference=args.num_reference)
    samples = Samples(draw, parallel.local_mesh())
    evaluation = score(samples, config)
    args.out.mkdir(parents=True, exist_ok=True)
    save_png(picture(samples.draw(args.num)[:64], 8), args.out / "samples.png")
    results = {
        "framework": f"torch {torch.__version__}",
        "machine": machine(),
        "steps": steps,
        "wall_s": round(wall_s, 1),
        "images_per_s": round(steps * config.train.batch_size * config.optim.d_steps / wall_s, 1),
        **evaluation.scores,
        **evaluation.protocol,
        "num_images": args.num,
        "num_reference": args.num_reference or "all",
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(evaluation.describe())


if __name__ == "__main__":
    main()
