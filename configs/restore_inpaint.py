"""Inpainting of CIFAR-10 (32x32 RGB): a pix2pix U-Net that sees the masked image and the mask, trained on free-form
brush-stroke holes of 5-60% of the image (DeepFill v2 / LaMa style), its output keeping the known pixels; evaluated
on the CIFAR-10 test images with fixed masks whose hole areas fill the 10% buckets of ganjax/degradations.py, by
PSNR, SSIM and PSNR inside the holes per bucket, and FID of the inpainted test set against the clean one.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/restore_inpaint.py --workdir runs/inpaint
    GANJAX_DATA_DIR=../shared/data python train.py --config configs/restore_inpaint.py:gan --workdir runs/inpaint_gan
    python benchmarks/restoration.py --task inpaint --workdir runs/inpaint --workdir runs/inpaint_gan

The full recipe: a 3-level U-Net of 64 channels, L1 loss, Adam 1e-3 decayed to 0 (cosine), batch 64, 50,000 steps,
all 10,000 test images; `gan` adds the conditional PatchGAN (hinge loss, weight 0.1) with pix2pix's Adam(2e-4, 0.5).

`cpu` is the recipe for 15 minutes of 2 CPU cores, start to finish: `fill_unet` (ganjax/models/corrective.py), a
3-level U-Net of 32 channels with a full-resolution head that corrects a classical membrane fill of the holes,
trained with the same L1 objective for CPU_STEPS steps and scored on the first 1,000 test images by PSNR and SSIM
only (FID's 10,000 reference images would take most of the budget on a CPU: benchmarks/restoration.py --fid adds
it). `cpu_gan` is its twin with only the conditional PatchGAN added (32 channels, hinge, weight 0.1, its own Adam
2e-4): what the adversarial term buys in LPIPS and FID and costs in PSNR (`benchmarks/restoration.py --fid --lpips
alex` with both runs). benchmarks/RESULTS.md,
"recipes that win on a CPU budget", has what `cpu` reaches beside Telea, Navier-Stokes and the other fills.
`tiny` is a smoke test. Centre holes: --config.degradation.mask=centre.
"""

import ml_collections

from configs import default

VARIANTS = ("cpu", "cpu_gan", "gan", "tiny")
CPU_STEPS = 3_000


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("restore_inpaint", variant, VARIANTS)
    config = default.image2image_config()
    config.model.update(name="unet", channels=3, resolution=32, width=64, depth=3, d_layers=2)
    config.degradation.update(name="inpaint", mask="free_form", area_min=0.05, area_max=0.6)
    config.data.update(name="cifar10")
    config.loss = "hinge"
    config.eval.update(split="test", num=10_000, every=10_000, batch_size=250)
    config.eval.metrics = ("psnr", "ssim", "psnr_hole", "fid")
    config.train.update(batch_size=64, num_steps=50_000, log_every=100, sample_every=5_000, checkpoint_every=5_000)
    if variant in ("gan", "tiny"):  # pix2pix's Adam; the L1 models keep Adam(1e-3, 0.9)
        config.objective.adversarial_weight = 0.1
        config.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5)
    if variant in ("cpu", "cpu_gan"):
        config.model.update(name="fill_unet", width=32)
        config.train.update(num_steps=CPU_STEPS, sample_every=500, checkpoint_every=500)
        config.eval.update(num=1_000, every=0, metrics=("psnr", "ssim", "psnr_hole"))
    if variant == "cpu_gan":
        config.objective.adversarial_weight = 0.1
        config.model.d_width = 32
        config.optim.d_lr = 2e-4
    if variant == "tiny":
        config.model.update(width=8, depth=2, d_width=8)
        config.eval.update(num=16, metrics=("psnr", "ssim", "psnr_hole"), batch_size=8)
        default.train_briefly(config)
    return config
