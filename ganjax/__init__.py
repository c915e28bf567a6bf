"""ganjax: generative adversarial networks in JAX.

Start at `ganjax.train.train_and_evaluate(config, workdir)`; the README maps the rest of the package.
"""
