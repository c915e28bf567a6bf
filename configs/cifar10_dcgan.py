"""DCGAN on CIFAR-10 (32x32 RGB), the classic recipe: non-saturating loss, Adam(2e-4, 0.5, 0.999), batch 64.

    python train.py --config configs/cifar10_dcgan.py --workdir runs/cifar10_dcgan

Published FIDs for DCGAN on CIFAR-10 are about 28-37 (protocols vary).
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
    config = default.get_config()
    config.model.resolution = 32
    config.model.channels = 3
    config.data.name = "cifar10"
    config.train.num_steps = 100_000
    config.train.log_every = 100
    config.train.sample_every = 2_000
    config.train.checkpoint_every = 5_000
    return config
