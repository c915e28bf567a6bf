"""BigGAN on CIFAR-10, class-conditional (Brock et al. 2019): shared class embedding into conditional batch norm,
spectral norm in both networks, projection discriminator, hinge loss, 4 D steps per G step, a slow EMA.

    python train.py --config configs/cifar10_biggan.py --workdir runs/cifar10_biggan

Follows BigGAN's CIFAR-10 setting: Adam(2e-4, b1=0, b2=0.999) for both networks, EMA decay 0.9999, no
self-attention at this size (--config.model.attention_resolution=16 adds one). Reported FID: 14.7 (paper).

The `tiny` variant is the same recipe at 16 channels, with self-attention at 16x16 and 1 D step per G step, for
4 steps of batch 8: a smoke test in seconds on a CPU (the tests train it):

    python train.py --config configs/cifar10_biggan.py:tiny --workdir runs/cifar10_biggan_tiny
"""

import ml_collections

from configs import default

VARIANTS = ("tiny",)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("cifar10_biggan", variant, VARIANTS)
    config = default.shared_config()
    config.model = ml_collections.ConfigDict(
        dict(
            name="biggan",
            resolution=32,
            channels=3,
            latent_dim=128,
            g_width=256,
            d_width=256,
            num_classes=10,
            embedding_dim=128,
            attention_resolution=0,
            g_spectral_norm=True,
            d_spectral_norm=True,
            dtype="float32",
        )
    )
    config.loss = "hinge"
    config.optim.g_lr = config.optim.d_lr = 2e-4
    config.optim.b1, config.optim.b2 = 0.0, 0.999
    config.optim.d_steps = 4
    config.ema.decay = 0.9999
    config.data.name = "cifar10"
    config.train.batch_size = 64
    config.train.num_steps = 100_000
    config.train.log_every = 100
    config.train.sample_every = 2_000
    config.train.checkpoint_every = 5_000
    if variant == "tiny":
        config.model.update(g_width=16, d_width=16, latent_dim=16, embedding_dim=8, attention_resolution=16)
        config.optim.d_steps = 1
        default.train_briefly(config)
    return config
