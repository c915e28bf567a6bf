"""The default MNIST DCGAN (configs/default.py): 3 losses x R1 off or on x 3 seeds, 18 runs ranked by KID.

    GANJAX_DATA_DIR=../shared/data python -m ganjax.sweep run sweeps/mnist_loss_x_penalty.py --workdir runs/mnist

The runs with R1 and those without are two groups (a penalty that is off in some members is structural), so the
sweep compiles two programs of 9 members each. KID is computed on 2,000 samples against 2,000 test images with the
FID Inception weights (docs/evaluation.md). On 2 CPU cores a group's 3,000 steps take far longer than one run's
(benchmarks/RESULTS.md, "Sweeps"); shorten with --config.train.num_steps=500.
"""

import ml_collections

from configs import default

METRIC = "kid"


def get_config() -> ml_collections.ConfigDict:
    config = default.get_config()
    config.eval.metrics = ("kid", "fid")
    config.eval.best_metric = "kid"
    config.eval.num = 2_000
    config.eval.num_reference = 2_000
    config.eval.every = 1_000
    return config


def get_sweep(h):
    return h.product(
        [
            h.sweep("loss", ["non_saturating", "hinge", "least_squares"]),
            h.sweep("penalties.r1", [0.0, 1.0]),
            h.seeds(3),
        ]
    )
