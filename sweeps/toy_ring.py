"""The toy ring (configs/toy_ring.py): 2 losses x 2 discriminator learning rates x 3 seeds, 12 runs trained as one
program, in about a minute on a CPU.

    python -m ganjax.sweep run sweeps/toy_ring.py --workdir runs/ring_sweep
"""

BASE = "toy_ring"
METRIC = "high_quality_share"


def get_sweep(h):
    return h.product(
        [
            h.sweep("loss", ["non_saturating", "hinge"]),
            h.sweep("optim.d_lr", [1e-3, 3e-4]),
            h.seeds(3),
        ]
    )
