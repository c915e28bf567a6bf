"""A convolutional VAE on dynamically binarised MNIST, sized like the DCGAN default recipe (configs/default.py): a
DCGAN-discriminator encoder and a DCGAN-generator decoder (without batch norm) of width 64, 32 latents, a Bernoulli
decoder, Adam 1e-3 over 20,000 steps of batch 128 with the KL warmed up over the first 2,000, the test ELBO every
2,000 steps.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/vae_conv_mnist.py --workdir runs/vae_conv_mnist
    python -m ganjax.evaluate --workdir runs/vae_conv_mnist --metrics iwae       # the IWAE bound, 5,000 samples

benchmarks/RESULTS.md, "VAEs", has the bounds it reaches, the training time and that of the IWAE bound. The `tiny`
variant is a 4-step smoke test.
"""

import ml_collections

from configs import default

VARIANTS = ("tiny",)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("vae_conv_mnist", variant, VARIANTS)
    config = default.vae_config()
    config.model.update(name="conv", resolution=28, channels=1, latent_dim=32, width=64)
    config.objective.update(likelihood="bernoulli", kl_warmup_steps=2_000)
    config.data.name = "mnist"
    config.train.update(batch_size=128, num_steps=20_000, log_every=100, sample_every=2_000, checkpoint_every=2_000)
    config.eval.update(metrics=("elbo",), every=2_000)
    if variant == "tiny":
        config.model.update(width=8, latent_dim=4)
        config.objective.kl_warmup_steps = 2
        config.eval.update(num_bound_images=16, iwae_samples=8, batch_size=8)
        default.train_briefly(config)
    return config
