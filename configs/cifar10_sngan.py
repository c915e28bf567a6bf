"""SNGAN's ResNet on CIFAR-10 (Miyato et al. 2018): hinge loss, spectral norm in D, 5 D steps per G step.

    python train.py --config configs/cifar10_sngan.py --workdir runs/cifar10_sngan

The paper's setting for the ResNet: Adam(2e-4, b1=0, b2=0.9), batch 64, 50,000 generator updates with the learning
rate decayed linearly to 0; unconditional (its reported FID is 21.7). `--config.model.num_classes=10` gives the
projection-discriminator variant (Miyato & Koyama 2018). On a GPU add --config.model.dtype=bfloat16.

The `tiny` variant is the same recipe at 16 channels with 2 D steps per G step, for 4 steps of batch 8: a smoke
test in seconds on a CPU (the tests train it):

    python train.py --config configs/cifar10_sngan.py:tiny --workdir runs/cifar10_sngan_tiny
"""

import ml_collections

from configs import default

VARIANTS = ("tiny",)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("cifar10_sngan", variant, VARIANTS)
    config = default.shared_config()
    config.model = ml_collections.ConfigDict(
        dict(
            name="sngan",
            resolution=32,
            channels=3,
            latent_dim=128,
            g_width=256,
            d_width=128,
            num_classes=0,
            dtype="float32",
            g_spectral_norm=False,
            d_spectral_norm=True,
        )
    )
    config.loss = "hinge"
    config.optim.g_lr = config.optim.d_lr = 2e-4
    config.optim.b1, config.optim.b2 = 0.0, 0.9
    config.optim.d_steps = 5
    config.optim.schedule = "linear"
    config.data.name = "cifar10"
    config.train.batch_size = 64
    config.train.num_steps = 50_000
    config.train.log_every = 100
    config.train.sample_every = 2_000
    config.train.checkpoint_every = 5_000
    if variant == "tiny":
        config.model.update(g_width=16, d_width=16, latent_dim=16)
        config.optim.d_steps = 2
        default.train_briefly(config)
    return config
