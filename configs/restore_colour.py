"""Colourisation of CIFAR-10: a pix2pix U-Net from the ITU-R BT.601 luminance to RGB, the same machinery as
restoration with the `grey` degradation (any degradation pairs this way). Scored on the CIFAR-10 test images by PSNR
and SSIM against the originals, and FID.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/restore_colour.py --workdir runs/colour
    python benchmarks/restoration.py --task colour --workdir runs/colour

The full recipe: a 3-level U-Net of 64 channels with the conditional PatchGAN (pix2pix: L1 plus the adversarial loss,
here weighted 0.1), 50,000 steps; `cpu` is 32 channels for minutes on a CPU, scored on the first 1,000 test images;
`tiny` is a smoke test.
"""

import ml_collections

from configs import default

VARIANTS = ("cpu", "tiny")


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("restore_colour", variant, VARIANTS)
    config = default.image2image_config()
    config.model.update(name="unet", channels=3, resolution=32, width=64, depth=3, d_layers=2)
    config.degradation.name = "grey"
    config.data.update(name="cifar10")
    config.loss = "hinge"
    config.objective.adversarial_weight = 0.1
    config.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5)
    config.eval.update(split="test", num=10_000, every=10_000, batch_size=250)
    config.eval.metrics = ("psnr", "ssim", "fid")
    config.train.update(batch_size=64, num_steps=50_000, log_every=100, sample_every=5_000, checkpoint_every=5_000)
    if variant == "cpu":
        config.model.update(width=32, d_width=32)
        config.train.update(num_steps=2_000, sample_every=500, checkpoint_every=500)
        config.eval.update(num=1_000, every=0)
    if variant == "tiny":
        config.model.update(width=8, depth=2, d_width=8)
        config.eval.update(num=16, metrics=("psnr", "ssim"), batch_size=8)
        default.train_briefly(config)
    return config
