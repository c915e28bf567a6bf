"""StyleGAN2 on CIFAR-10, class-conditional: the ADA code's `cifar` configuration (Karras et al. 2020, "Training
Generative Adversarial Networks with Limited Data"; networks in ganjax/models/stylegan2.py).

    python train.py --config configs/cifar10_stylegan2.py --workdir runs/cifar10_stylegan2

What it takes from that configuration: channel_base 32768 (512 channels at every resolution of 32x32), a mapping of 2
layers (the discriminator's label mapping keeps the default 8), minibatch std over groups of 32, the discriminator
without residual skips ("orig"), conv_clamp 256 and the four resolutions in reduced precision (bfloat16 here, float16
there; never the 4x4 block), the non-saturating logistic loss with R1 of gamma 0.01 every 16 steps (ganjax's weight
is gamma / 2), no path-length regularisation and no style mixing, batch 64, an EMA of half-life 500,000 images with
the 5% ramp-up, and ADA with target 0.6 over 500,000 images. Adam with b1 = 0 and b2 = 0.99 at the learning rates the
official code uses after its lazy-regularisation correction (0.0025 times 4/5 for G, 16/17 for D; it also raises each
network's b2 to that power, 0.992 and 0.991, which ganjax's one b2 does not). Not yet as there: ADA's `bgc` pipeline
(ganjax's ADA drives its own translation and colour ops).
Reported FID 2.42 (paper, conditional, 100,000 kimg).

The `tiny` variant is the same recipe at 4 to 16 channels, in float32, for 4 steps of batch 8: a smoke test in
seconds on a CPU (the tests train it):

    python train.py --config configs/cifar10_stylegan2.py:tiny --workdir runs/cifar10_stylegan2_tiny
"""

import ml_collections

from configs import default

VARIANTS = ("tiny",)
BATCH_SIZE = 64
LEARNING_RATE = 0.0025


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("cifar10_stylegan2", variant, VARIANTS)
    config = default.shared_config()
    config.model = ml_collections.ConfigDict(
        dict(
            name="stylegan2",
            resolution=32,
            channels=3,
            latent_dim=512,
            w_dim=512,
            mapping_layers=2,
            d_mapping_layers=8,
            channel_base=32768,
            channel_max=512,
            num_classes=10,
            mbstd_group_size=32,
            d_architecture="orig",
            conv_clamp=256.0,
            bfloat16_resolutions=4,
            w_avg_beta=0.995,
            style_mixing_prob=0.0,
        )
    )
    config.loss = "non_saturating"
    config.penalties.r1 = 0.01 / 2
    config.penalty_interval = 16
    config.optim.g_lr = LEARNING_RATE * 4 / 5
    config.optim.d_lr = LEARNING_RATE * 16 / 17
    config.optim.b1, config.optim.b2 = 0.0, 0.99
    config.ema.decay = 0.5 ** (BATCH_SIZE / 500_000)
    config.ema.rampup = 0.05
    config.augment.policy = ("translation", "color")
    config.augment.p = 0.0
    config.augment.ada_target = 0.6
    config.augment.ada_kimg = 500.0
    config.data.name = "cifar10"
    config.train.batch_size = BATCH_SIZE
    config.train.num_steps = 100_000_000 // BATCH_SIZE
    config.train.log_every = 100
    config.train.sample_every = 5_000
    config.train.checkpoint_every = 5_000
    if variant == "tiny":
        config.model.update(latent_dim=16, w_dim=16, channel_base=128, channel_max=16, bfloat16_resolutions=0)
        default.train_briefly(config)
    return config
