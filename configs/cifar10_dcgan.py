"""DCGAN on CIFAR-10 (32x32 RGB), the classic recipe: non-saturating loss, Adam(2e-4, 0.5, 0.999), batch 64.

    python train.py --config configs/cifar10_dcgan.py --workdir runs/cifar10_dcgan

Published FIDs for DCGAN on CIFAR-10 are about 28-37 (protocols vary).

`cpu` is the same recipe for the 30 minutes of a 2-core CPU: 9,000 steps of batch 64 (its FID of 10,000 samples
is measured after training, by the evaluate CLI, beside the same network and step in PyTorch trained for the same wall
time: benchmarks/cifar10_equal_time.py; benchmarks/RESULTS.md has both):

    python train.py --config configs/cifar10_dcgan.py:cpu --workdir runs/cifar10_dcgan_cpu
    python -m ganjax.evaluate --workdir runs/cifar10_dcgan_cpu --num 10000 --metrics fid,kid

The `tiny` variant is the same recipe at 8 channels for 4 steps of batch 8, a smoke test in seconds on a CPU (the
tests train it):

    python train.py --config configs/cifar10_dcgan.py:tiny --workdir runs/cifar10_dcgan_tiny
"""

import ml_collections

from configs import default

VARIANTS = ("cpu", "tiny")


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("cifar10_dcgan", variant, VARIANTS)
    config = default.shared_config()
    config.model.resolution = 32
    config.model.channels = 3
    config.data.name = "cifar10"
    config.train.num_steps = 100_000
    config.train.log_every = 100
    config.train.sample_every = 2_000
    config.train.checkpoint_every = 5_000
    if variant == "cpu":
        config.train.update(num_steps=9_000, sample_every=1_000, checkpoint_every=1_000)
    if variant == "tiny":
        config.model.update(g_width=8, d_width=8, latent_dim=16)
        default.train_briefly(config)
    return config
