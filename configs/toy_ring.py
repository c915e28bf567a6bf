"""Toy problem: a mixture of 8 Gaussians on a ring, small MLPs. Proves the machinery learns, in seconds on a CPU.

    python train.py --config configs/toy_ring.py --workdir runs/ring

Reports modes covered (of 8) and the share of high-quality samples (within 3 standard deviations of a mode) at the
end; samples/ holds density pictures of the generated points.
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
    config = default.shared_config()
    config.model = ml_collections.ConfigDict(
        dict(name="mlp", latent_dim=2, output_dim=2, hidden=128, depth=3, num_classes=0)
    )
    config.loss = "non_saturating"
    config.optim.g_lr = 1e-3
    config.optim.d_lr = 1e-3
    config.ema.decay = 0.99
    config.data = ml_collections.ConfigDict(dict(name="ring", num_threads=0, crop=None, flip_rotate=False))
    config.train.batch_size = 256
    config.train.num_steps = 2000
    config.train.log_every = 100
    config.train.sample_every = 500
    config.train.checkpoint_every = 1000
    config.train.num_samples = 2500
    config.eval.every = 500
    config.eval.metrics = ("ring",)
    return config
