"""ganjax's StyleGAN2 against the official StyleGAN2-ADA code: the same networks, imported, give the same numbers.

    python benchmarks/stylegan2_agreement.py --official /path/to/stylegan2-ada-pytorch

`--official` is a checkout of NVlabs/stylegan2-ada-pytorch (its reference CPU implementations of upfirdn2d, bias_act
and the modulated convolution run without CUDA); PyTorch must be installed. For each configuration the script builds
the official generator and discriminator with a fixed seed, gives every parameter and buffer that starts at a
constant (noise strengths, biases, the tracked mean w) random values so that none is left untested, pickles them as a
training snapshot is pickled, reads the pickle with ganjax's reader (no PyTorch, no code from the pickle), imports
it, and compares on the same latents and labels: the mapping's ws (truncated, psi 0.7, first 3 layers), the images
with the fixed noise, and the discriminator's logits on those images. Prints a table of the largest difference
relative to the largest magnitude; benchmarks/RESULTS.md keeps the figures.
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import pickle
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ganjax.import_stylegan2 import (  # noqa: E402
    abstract_variables,
    discriminator_variables,
    generator_variables,
    model_config,
)
from ganjax.models import build_networks  # noqa: E402
from ganjax.models.stylegan2 import Generator  # noqa: E402
from ganjax.stylegan2_snapshot import read_snapshot  # noqa: E402

# name -> (resolution, classes, D architecture, channel_base, channel_max, mapping layers)
CONFIGURATIONS = {
    "32px conditional, orig D (cifar-like)": (32, 10, "orig", 512, 32, 2),
    "64px unconditional, resnet D": (64, 0, "resnet", 1024, 32, 4),
}
BATCH = 4
PSI, CUTOFF = 0.7, 3


def _official_networks(official: pathlib.Path, resolution, classes, architecture, base, maximum, mapping, seed=0):
    import torch

    sys.path.insert(0, str(official))
    from training.networks import Discriminator, Generator

    torch.manual_seed(seed)
    synthesis = dict(channel_base=base, channel_max=maximum, num_fp16_res=0, conv_clamp=None)
    generator = Generator(z_dim=16, c_dim=classes, w_dim=16, img_resolution=resolution, img_channels=3,
                          mapping_kwargs=dict(num_layers=mapping), synthesis_kwargs=synthesis)  # fmt: skip
    discriminator = Discriminator(
        c_dim=classes, img_resolution=resolution, img_channels=3, architecture=architecture, channel_base=base,
        channel_max=maximum, num_fp16_res=0, conv_clamp=None, mapping_kwargs=dict(num_layers=2),
        epilogue_kwargs=dict(mbstd_group_size=2),
    )  # fmt: skip
    with torch.no_grad():
        for network in (generator, discriminator):
            for name, tensor in list(network.named_parameters()) + list(network.named_buffers()):
                if "resample_filter" not in name and (tensor == tensor.flatten()[0]).all():
                    tensor.copy_(torch.randn_like(tensor) * 0.5)
    return generator.eval(), discriminator.eval()


def _relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def compare(official: pathlib.Path, configuration) -> dict[str, float]:
    import torch

    resolution, classes = configuration[:2]
    generator, discriminator = _official_networks(official, *configuration)
    with tempfile.TemporaryDirectory() as folder:
        snapshot = pathlib.Path(folder) / "network-snapshot.pkl"
        with snapshot.open("wb") as file:
            networks = dict(G=generator, D=discriminator, G_ema=copy.deepcopy(generator), augment_pipe=None,
                            training_set_kwargs=None)  # fmt: skip
            pickle.dump(networks, file)
        read = read_snapshot(snapshot)
    config = model_config(read["G"], read["D"])
    config.style_mixing_prob = 0.0
    ours = build_networks(config)
    z = np.random.default_rng(1).normal(size=(BATCH, config.latent_dim)).astype(np.float32)
    labels = np.arange(BATCH) % classes if classes else None
    one_hot = np.eye(classes, dtype=np.float32)[labels] if classes else np.zeros((BATCH, 0), np.float32)
    g_variables = generator_variables(read["G_ema"], abstract_variables(ours.generator, z, labels))
    images = jnp.zeros((BATCH, resolution, resolution, 3))
    d_variables = discriminator_variables(read["D"], abstract_variables(ours.discriminator, images, labels), resolution)

    with torch.no_grad():
        ws_official = generator.mapping(torch.from_numpy(z), torch.from_numpy(one_hot), truncation_psi=PSI,
                                        truncation_cutoff=CUTOFF)  # fmt: skip
        images_official = generator.synthesis(ws_official, noise_mode="const")
        logits_official = discriminator(images_official, torch.from_numpy(one_hot))[:, 0]
    ws = ours.generator.apply(g_variables, z, labels, train=False, psi=PSI, cutoff=CUTOFF, method=Generator.mapping)
    images_ours = ours.generator.apply(g_variables, ws, noise="const", method=Generator.synthesis)
    logits = ours.discriminator.apply(d_variables, images_ours, labels, train=False)
    return {
        "ws": _relative(ws, ws_official.numpy()),
        "images": _relative(images_ours, images_official.numpy().transpose(0, 2, 3, 1)),
        "logits": _relative(logits, logits_official.numpy()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", type=pathlib.Path, required=True, help="a stylegan2-ada-pytorch checkout")
    args = parser.parse_args()
    if not (args.official / "training" / "networks.py").is_file():
        parser.error(f"{args.official} is not a stylegan2-ada-pytorch checkout (no training/networks.py)")
    jax.config.update("jax_default_matmul_precision", "highest")
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; float32, batch {BATCH}\n")
    print("| configuration | ws (psi 0.7, 3 layers) | images (fixed noise) | D logits |")
    print("|---|---|---|---|")
    for name, configuration in CONFIGURATIONS.items():
        errors = compare(args.official, configuration)
        print(f"| {name} | {errors['ws']:.1e} | {errors['images']:.1e} | {errors['logits']:.1e} |")
    print("\nEach: max |ganjax - official| / max |official|.")


if __name__ == "__main__":
    main()
