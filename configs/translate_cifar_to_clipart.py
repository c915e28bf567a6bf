"""Photo to clip-art drawing: CycleGAN between CIFAR-10 photographs (domain A, 32x32) and the 1,209 public-domain
clip-art drawings of the shared data folder (domain B, 64x64 drawings read at 32x32 by the folder loader's resize),
two collections with no pairs between them.

    GANJAX_DATA_DIR=../shared/data python train.py --config configs/translate_cifar_to_clipart.py \\
        --workdir runs/photo2clipart --config.data.b.path=../shared/data/clipart64
    python -m ganjax.restore --workdir runs/photo2clipart --input my_photos/ --out drawings/
    python -m ganjax.restore --workdir runs/photo2clipart --input drawings/ --out photos/ --direction b2a
    python benchmarks/translation.py --workdir runs/photo2clipart

Without --config.data.b.path the drawings are looked for in $GANJAX_DATA_DIR/clipart64. The full recipe is the
official CycleGAN at this size: ResNet generators of 64 channels with 6 residual blocks, 70x70 PatchGANs with
instance norm (at 32x32 their 2 stride-2 layers give 6x6 logits of 34x34-pixel patches), least-squares loss, cycle
weight 10, identity 5, pools of 50, Adam(2e-4, 0.5) held for half the run and decayed linearly to 0; batch 16,
40,000 steps. Evaluation translates the first 1,000 CIFAR-10 test photos to drawings and scores them by KID and FID
against all the drawings (there is no held-out set of drawings: the reference is the training domain), by the
edge-map SSIM between each photo and its drawing, and by the cycle's PSNR. `cpu` is the same with 32-channel
generators of 4 blocks and 3,000 steps of batch 8, for about half an hour on a 2-core CPU;
`tiny` is a smoke test.
"""

import os
import pathlib

import ml_collections

from configs import default

VARIANTS = ("cpu", "tiny")


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    default.check_variant("translate_cifar_to_clipart", variant, VARIANTS)
    config = default.translation_config()
    config.model.update(resolution=32, width=64, depth=6, d_width=64, d_layers=2)
    data_dir = os.environ.get("GANJAX_DATA_DIR")
    clipart = str(pathlib.Path(data_dir) / "clipart64") if data_dir else None
    config.data.a.update(name="cifar10", split="train", eval_split="test")
    config.data.b.update(name="folder", path=clipart, eval_split="train")
    config.data.b.resize = config.model.get_ref("resolution")
    config.eval.update(num=1_000, every=10_000, batch_size=100)
    config.train.update(batch_size=16, num_steps=40_000, log_every=100, sample_every=2_000, checkpoint_every=2_000)
    if variant == "cpu":
        config.model.update(width=32, depth=4)
        config.train.update(batch_size=8, num_steps=3_000, sample_every=500, checkpoint_every=500)
        config.eval.update(every=0)
    if variant == "tiny":
        config.model.update(width=4, depth=1, d_width=4)
        config.eval.update(num=16, batch_size=8, metrics=("edge_ssim", "cycle_psnr"), best_metric="cycle_psnr")
        config.objective.pool_size = 6
        default.train_briefly(config)
    return config
