"""A convolutional VAE on CIFAR-10 with a discretised logistic decoder (256 levels, a learned scale per sub-pixel),
sized like the CIFAR-10 DCGAN (configs/cifar10_dcgan.py): width 64, 128 latents, Adam 1e-3, batch 128, 50,000 steps;
the test ELBO in nats and bits per dimension and FID (10,000 decoded prior samples against the test set).

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/vae_cifar10.py --workdir runs/vae_cifar10

`--config.objective.likelihood=gaussian` uses a discretised Gaussian instead. benchmarks/RESULTS.md, "VAEs", has
what the `cpu` variant (2,000 steps of batch 64) reaches in its time. `tiny` is a 4-step smoke test.
"""

import ml_collections

from configs import default

VARIANTS = ("cpu", "tiny")


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("vae_cifar10", variant, VARIANTS)
    config = default.vae_config()
    config.model.update(name="conv", resolution=32, channels=3, latent_dim=128, width=64)
    config.objective.likelihood = "logistic"
    config.data.name = "cifar10"
    config.train.update(batch_size=128, num_steps=50_000, log_every=100, sample_every=5_000, checkpoint_every=5_000)
    config.eval.update(metrics=("elbo", "fid"), every=10_000, best_metric="fid")
    if variant == "cpu":
        config.train.update(batch_size=64, num_steps=2_000, sample_every=500, checkpoint_every=500)
        config.eval.update(every=0)
    if variant == "tiny":
        config.model.update(width=8, latent_dim=4)
        config.eval.update(metrics=("elbo",), best_metric="nelbo", num_bound_images=16, batch_size=8)
        default.train_briefly(config)
    return config
