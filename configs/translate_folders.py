"""Unpaired translation between your own two collections of images, one folder each (subfolders are read too):
CycleGAN at 128x128, as the official code trains it below 256 pixels.

    python train.py --config configs/translate_folders.py --workdir runs/mine \\
        --config.data.a.path=photos/ --config.data.b.path=paintings/
    python -m ganjax.restore --workdir runs/mine --input more_photos/ --out painted/
    python -m ganjax.restore --workdir runs/mine --input more_paintings/ --out photographed/ --direction b2a

Each image is centre-cropped to a square and resized to --config.model.resolution (--config.data.a.resize and
--config.data.b.resize follow it unless set). Evaluation translates the first 500 images of A (held-out ones with
--config.data.a.eval_path=...) and compares them with B's (--config.data.b.eval_path) by KID and FID, the edge-map
SSIM and the cycle's PSNR. The recipe: ResNet generators of 64 channels with 6 residual blocks, 70x70 PatchGANs,
least-squares loss, cycle weight 10, identity 5, pools of 50, Adam(2e-4, 0.5) held for half the run and decayed to
0; batch 1 (the official code's) and 100,000 steps. `tiny` is a smoke test at 32x32.
"""

import ml_collections

from configs import default

VARIANTS = ("tiny",)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("translate_folders", variant, VARIANTS)
    config = default.translation_config()
    resolution = 32 if variant == "tiny" else 128
    config.model.update(resolution=resolution, width=64, depth=6, d_width=64, d_layers=3)
    for domain in ("a", "b"):
        config.data[domain].name = "folder"
        config.data[domain].resize = config.model.get_ref("resolution")
    config.eval.update(num=500, every=20_000, batch_size=16)
    config.train.update(batch_size=1, num_steps=100_000, log_every=100, sample_every=5_000, checkpoint_every=5_000)
    if variant == "tiny":
        config.model.update(width=4, depth=1, d_width=4, d_layers=2)
        config.eval.update(num=8, batch_size=8, metrics=("edge_ssim", "cycle_psnr"), best_metric="cycle_psnr")
        config.objective.pool_size = 6
        default.train_briefly(config)
    return config
