"""x4 super-resolution of luminance: SRResNet (Ledig et al. 2017) trained on 96x96 crops of the 400 grey BSD training
images (the luminance, as VDSR and DnCNN train), evaluated on the Y channel (ITU-R BT.601) of Set5 with 4 border
pixels cropped, the low-resolution inputs made by MATLAB's bicubic imresize: the protocol of the published tables.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/restore_sr4.py --workdir runs/sr4
    GANJAX_DATA_DIR=../shared/data python train.py --config configs/restore_sr4.py:gan --workdir runs/sr4_gan
    python benchmarks/restoration.py --task sr --set Set5 --workdir runs/sr4

The full recipe: 16 residual blocks of 64 channels, L1 loss, batch 16, Adam 1e-3 decayed to 0 over 100,000 steps;
`gan` adds the conditional PatchGAN with weight 0.01 (SRGAN's perceptual direction, without its VGG loss, whose
weights cannot be fetched here). `cpu` is the recipe for 30 minutes of 2 CPU cores, start to finish (CPU_STEPS
steps): `edsr` (ganjax/models/corrective.py), an EDSR-baseline trunk without batch norm at the low resolution that
corrects bicubic upscaling, L1, the cosine decay ending at the budget; benchmarks/RESULTS.md, "recipes that win on a
CPU budget", has what it reaches beside bicubic. `cpu_gan` is its twin with only the conditional PatchGAN added
(32 channels, weight 0.01, its own Adam 1e-4): what the adversarial term buys in LPIPS and costs in PSNR
(`benchmarks/restoration.py --lpips alex` with both runs). `tiny` is a smoke test.
Evaluate on Set14 with --config.eval.split=Set14.
"""

import ml_collections

from configs import default

VARIANTS = ("cpu", "cpu_gan", "gan", "tiny")
CPU_STEPS = 6_000


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("restore_sr4", variant, VARIANTS)
    config = default.image2image_config()
    config.model.update(name="srresnet", channels=1, width=64, depth=16)
    config.degradation.update(name="downscale", scale=4)
    config.data.update(name="restoration_sets", split="Train400", crop=96, flip_rotate=True)
    config.eval.update(split="Set5", y_channel=True, crop_border=4, every=10_000)
    config.train.update(batch_size=16, num_steps=100_000, log_every=100, sample_every=5_000, checkpoint_every=5_000)
    if variant == "gan":
        config.objective.adversarial_weight = 0.01
        config.optim.update(g_lr=1e-4, d_lr=1e-4, b1=0.9, schedule="constant")
    if variant in ("cpu", "cpu_gan"):
        config.model.update(name="edsr", width=48, depth=6, batch_norm=False)
        config.train.update(num_steps=CPU_STEPS, sample_every=500, checkpoint_every=500)
        config.eval.every = 500
    if variant == "cpu_gan":
        config.objective.adversarial_weight = 0.01
        config.model.d_width = 32
        config.optim.d_lr = 1e-4
    if variant == "tiny":
        config.model.update(width=8, depth=1, d_width=8, d_layers=2)
        config.data.crop = 16
        config.objective.adversarial_weight = 0.01
        default.train_briefly(config)
    return config
