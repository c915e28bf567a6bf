"""An R3GAN-style baseline on CIFAR-10, class-conditional (Huang et al. 2024): a plain ResNet without normalisation,
the relativistic pairing loss, and both zero-centred gradient penalties R1 and R2.

    python train.py --config configs/cifar10_r3gan.py --workdir runs/cifar10_r3gan

R3GAN's gamma 0.05 for R1 and R2 is a weight of 0.025 each here (ganjax adds weight * E||grad D||^2; R3GAN adds
gamma / 2 times it). Adam(2e-4, b1=0, b2=0.99) with a cosine decay. The paper trains a wider network (widths up to
768, two blocks per stage) at batch 512 to FID 1.96; this recipe is a smaller one of the same design.

The `tiny` variant is the same recipe with widths (16, 16, 8, 8), so that a stage changes width, for 4 steps of
batch 8: a smoke test in seconds on a CPU (the tests train it):

    python train.py --config configs/cifar10_r3gan.py:tiny --workdir runs/cifar10_r3gan_tiny
"""

import ml_collections

from configs import default

VARIANTS = ("tiny",)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("cifar10_r3gan", variant, VARIANTS)
    config = default.shared_config()
    config.model = ml_collections.ConfigDict(
        dict(
            name="r3gan",
            resolution=32,
            channels=3,
            latent_dim=128,
            widths=(256, 256, 256, 256),
            blocks_per_stage=1,
            expansion=2,
            group_size=16,
            num_classes=10,
            dtype="float32",
        )
    )
    config.loss = "relativistic_pairing"
    config.penalties.r1 = 0.025
    config.penalties.r2 = 0.025
    config.optim.g_lr = config.optim.d_lr = 2e-4
    config.optim.b1, config.optim.b2 = 0.0, 0.99
    config.optim.schedule = "cosine"
    config.data.name = "cifar10"
    config.train.batch_size = 256
    config.train.num_steps = 100_000
    config.train.log_every = 100
    config.train.sample_every = 2_000
    config.train.checkpoint_every = 5_000
    if variant == "tiny":
        config.model.update(widths=(16, 16, 8, 8), group_size=8, latent_dim=16)
        default.train_briefly(config)
    return config
