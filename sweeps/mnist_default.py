"""The default MNIST DCGAN (configs/default.py) at its budget of 3,000 steps: the learning rate's schedule x its
size, and the hinge loss, ranked by FID of 1,000 samples against the 10,000 MNIST test images at the end of each run
(on 2 CPU cores a run trains in about 4 minutes and its evaluation takes 1 more; FID at 1,000 samples is biased
upward, so compare runs with each other, not with the 10,000-sample figures).

    GANJAX_DATA_DIR=../shared/data python -m ganjax.sweep run sweeps/mnist_default.py --workdir runs/mnist_default

What this sweep chose for configs/default.py is in benchmarks/RESULTS.md, "The default recipe, tuned".
"""

import ml_collections

from configs import default

METRIC = "fid"


def get_config() -> ml_collections.ConfigDict:
    config = default.get_config()
    config.eval.metrics = ("fid",)
    config.eval.num = 1_000
    return config


def get_sweep(h):
    learning_rates = h.zip([h.sweep("optim.g_lr", [2e-4, 5e-4]), h.sweep("optim.d_lr", [2e-4, 5e-4])])
    return h.product([h.sweep("optim.schedule", ["constant", "linear"]), learning_rates]) + h.product(
        [
            h.sweep("optim.schedule", ["linear"]),
            h.sweep("optim.g_lr", [5e-4]),
            h.sweep("optim.d_lr", [5e-4]),
            h.sweep("loss", ["hinge"]),
        ]
    )
