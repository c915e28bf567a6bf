"""The VAE-GAN (Larsen et al. 2016) on CIFAR-10: the convolutional VAE of configs/vae_cifar10.py whose decoder is also
the generator of a GAN with DCGAN's discriminator; reconstructions are measured in the discriminator's last
convolutional features instead of pixels. Non-saturating loss, Adam 2e-4 (b1 0.5) for both sides, as DCGAN trains;
FID of 10,000 decoded prior samples against the test set.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/vaegan_cifar10.py --workdir runs/vaegan_cifar10

Any registered loss and penalty applies (`--config.loss=hinge --config.penalties.r1=1`). `--config.data.name=mnist
--config.model.resolution=28 --config.model.channels=1` trains it on MNIST (benchmarks/vae.py does, for the
comparison with the DCGAN default recipe). benchmarks/RESULTS.md, "VAEs", has what the `cpu` variant reaches. `tiny`
is a 4-step smoke test.
"""

import ml_collections

from configs import default

VARIANTS = ("cpu", "tiny")


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("vaegan_cifar10", variant, VARIANTS)
    config = default.vae_config()
    config.model.update(name="conv", resolution=32, channels=3, latent_dim=128, width=64, d_width=64)
    config.objective.update(likelihood="discriminator", feature_weight=1e-2)
    config.loss = "non_saturating"
    config.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999)
    config.data.name = "cifar10"
    config.train.update(batch_size=64, num_steps=50_000, log_every=100, sample_every=5_000, checkpoint_every=5_000)
    config.eval.update(metrics=("fid",), every=10_000, best_metric="fid")
    if variant == "cpu":
        config.train.update(num_steps=2_000, sample_every=500, checkpoint_every=500)
        config.eval.update(every=0)
    if variant == "tiny":
        config.model.update(width=8, latent_dim=4, d_width=8)
        config.eval.update(metrics=(), best_metric="")
        default.train_briefly(config)
    return config
