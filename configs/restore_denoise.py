"""Gaussian denoising, sigma 25, of grey images: DnCNN (Zhang et al. 2017) trained on 40x40 crops of the 400 BSD
training images with random flips and rotations, evaluated on BSD68 at its own sizes.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/restore_denoise.py --workdir runs/denoise25
    python -m ganjax.restore --workdir runs/denoise25 --input noisy/ --out restored/
    python benchmarks/restoration.py --task denoise --set BSD68 --workdir runs/denoise25

The full recipe is DnCNN-S: 17 layers of 64 channels with batch norm, residual learning, an L2 loss, batch 128,
Adam 1e-3 decayed to 0 over 100,000 steps (the paper trains 50 epochs of about 240,000 patches).

The CPU variants spend their convolutions at a quarter of the pixels: `ffdnet` (ganjax/models/corrective.py), the
DnCNN body on the 2x2 pixel-unshuffled image, on larger crops, with the cosine decay ending at the budget. `cpu` is
the recipe for 15 minutes of 2 CPU cores, start to finish (CPU_STEPS steps), `cpu_long` for 60 minutes (a wider,
deeper body, CPU_LONG_STEPS steps); benchmarks/RESULTS.md, "recipes that win on a CPU budget", has what each reaches
beside BM3D. `tiny` is a smoke test of 4 steps (the tests train it).
`--config.degradation.sigma_max=55` with `--config.degradation.sigma=0` trains a blind model (DnCNN-B).
benchmarks/RESULTS.md, "Restoration", has what each variant reaches and how long it trains.
"""

import ml_collections

from configs import default

VARIANTS = ("cpu", "cpu_long", "tiny")
CPU_STEPS = 5_500
CPU_LONG_STEPS = 8_500


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("restore_denoise", variant, VARIANTS)
    config = default.image2image_config()
    config.model.update(name="dncnn", channels=1, width=64, depth=17)
    config.degradation.update(name="noise", sigma=25.0)
    config.objective.reconstruction = "l2"
    config.data.update(name="restoration_sets", split="Train400", crop=40, flip_rotate=True)
    config.eval.update(split="BSD68", every=10_000)
    config.train.update(batch_size=128, num_steps=100_000, log_every=100, sample_every=5_000, checkpoint_every=5_000)
    if variant in ("cpu", "cpu_long"):
        config.model.update(name="ffdnet", width=48, depth=10)
        config.data.crop = 48
        config.train.update(batch_size=32, num_steps=CPU_STEPS, log_every=50, sample_every=500, checkpoint_every=500)
        config.eval.every = 0
    if variant == "cpu_long":
        config.model.update(width=64, depth=15)
        config.train.num_steps = CPU_LONG_STEPS
    if variant == "tiny":
        config.model.update(width=8, depth=3, d_width=8, d_layers=2)
        config.data.crop = 16
        config.eval.update(split="Set12", batch_size=4)
        default.train_briefly(config)
    return config
