"""The flax VAE example on dynamically binarised MNIST: an MLP encoder and decoder (one hidden layer of 500 ReLU units
each way), 20 latents, a Bernoulli decoder, Adam 1e-3, batch 128, 10 epochs of that example (3,900 steps: 390 per
epoch, as its 50,000-image training set gives; about 8.3 passes over MNIST's 60,000), and the test ELBO after each.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/vae_mnist.py --workdir runs/vae_mnist
    python -m ganjax.evaluate --workdir runs/vae_mnist --metrics elbo,iwae
    python sample.py --workdir runs/vae_mnist --interpolate

The example reads the statically binarised MNIST of TFDS (`binarized_mnist`); ganjax binarises MNIST afresh each
time an image is drawn (dynamic binarisation) and binarises the test images once, with a fixed seed.
`benchmarks/vae.py --anchor` measures this recipe against the example's reported test ELBO; benchmarks/RESULTS.md,
"VAEs", has what it reaches and how long it takes. The `tiny` variant is a 4-step smoke test.
"""

import ml_collections

from configs import default

VARIANTS = ("tiny",)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("vae_mnist", variant, VARIANTS)
    config = default.vae_config()
    config.model.update(name="mlp", resolution=28, channels=1, latent_dim=20, hidden=500)
    config.objective.likelihood = "bernoulli"
    config.data.name = "mnist"
    config.train.update(batch_size=128, num_steps=3_900, log_every=100, sample_every=390, checkpoint_every=390)
    config.eval.update(metrics=("elbo",), every=390)
    if variant == "tiny":
        config.model.update(hidden=32, latent_dim=4)
        config.eval.update(num_bound_images=16, iwae_samples=8, batch_size=8)
        default.train_briefly(config)
    return config
