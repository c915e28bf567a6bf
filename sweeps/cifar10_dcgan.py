"""For an accelerator: the CIFAR-10 DCGAN (configs/cifar10_dcgan.py) with 2 losses x 2 discriminator learning rates
x 8 seeds, 32 runs in one program, ranked by FID on 10,000 samples against the 10,000 test images.

    GANJAX_DATA_DIR=../shared/data python -m ganjax.sweep run sweeps/cifar10_dcgan.py --workdir runs/cifar10_ablation

--dry-run shows the units and the memory each needs; --max-members caps the runs per program.
"""

METRIC = "fid"
BASE = "cifar10_dcgan"


def get_sweep(h):
    return h.product(
        [
            h.sweep("loss", ["non_saturating", "hinge"]),
            h.sweep("optim.d_lr", [2e-4, 1e-4]),
            h.seeds(8),
        ]
    )
