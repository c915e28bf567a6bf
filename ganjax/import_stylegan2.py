"""Official StyleGAN2-ADA networks as a ganjax run, from the command line:

    python -m ganjax.import_stylegan2 network-snapshot.pkl --workdir runs/imported [--config configs/FILE.py]

reads the pickle (ganjax/stylegan2_snapshot.py: no PyTorch, none of its code run), builds the model config its
constructor arguments describe (`model_config`) inside the training settings of `--config` (default
configs/cifar10_stylegan2.py), lays the tensors out as the variables of ganjax/models/stylegan2.py, and writes a
checkpoint at step 0: G and D as trained, G_ema as the EMA, the optimizers started fresh. sample.py and `python -m
ganjax.evaluate` read it as any run; train.py fine-tunes it with the command the importer prints (the recipe's
config with the snapshot's model fields).

Layouts: a dense weight (out, in) becomes a kernel (in, out); a convolution weight (out, in, kh, kw) a kernel (kh, kw,
in, out), spatially flipped for the synthesis layers that upsample (the official code convolves there, where
ganjax, like every flax layer, cross-correlates); the learned constant (C, 4, 4) becomes (4, 4, C), a layer's fixed
noise (r, r) becomes (r, r, 1); the discriminator's 4x4 dense layer reads its input flattened as (H, W, C) instead
of (C, H, W). Every official tensor is used once and every ganjax variable is filled, or the import is refused with
one line that names what differs; the FIR filters the official layers carry must be StyleGAN2's [1, 3, 3, 1].
"""

from __future__ import annotations

import json
import logging
import pathlib
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from flax.traverse_util import flatten_dict, unflatten_dict
from ml_collections import config_flags

from ganjax.checkpoint import Checkpoints
from ganjax.cli import configure_logging, define_config_flag, run_reporting_errors
from ganjax.errors import ConfigError
from ganjax.models.stylegan2 import D_ARCHITECTURES
from ganjax.models.stylegan2_layers import STYLEGAN2_FIR
from ganjax.state import NetworkState, TrainState
from ganjax.stylegan2_snapshot import Module, read_snapshot
from ganjax.tasks import build_task
from ganjax.tasks.gan import DISCRIMINATOR, GENERATOR, Gan
from ganjax.train import CHECKPOINT_DIR, CONFIG_FILE

log = logging.getLogger("ganjax.import_stylegan2")

Variables = dict[str, dict]


def model_config(generator: Module, discriminator: Module) -> ml_collections.ConfigDict:
    """`config.model` of ganjax's stylegan2 for the official networks' constructor arguments (their defaults where
    an argument was not given), without style_mixing_prob, a training setting that the networks do not hold.
    ConfigError for an architecture ganjax does not have."""
    g, d = generator.init_kwargs, discriminator.init_kwargs
    mapping, synthesis = g.get("mapping_kwargs", {}), g.get("synthesis_kwargs", {})
    if synthesis.get("architecture", "skip") != "skip":
        raise ConfigError(f"the snapshot's generator is {synthesis['architecture']!r}; ganjax has the 'skip' one")
    if d.get("architecture", "resnet") not in D_ARCHITECTURES:
        raise ConfigError(
            f"the snapshot's discriminator is {d['architecture']!r}; ganjax has {', '.join(D_ARCHITECTURES)}"
        )
    if g["img_resolution"] != d["img_resolution"] or g["c_dim"] != d["c_dim"]:
        raise ConfigError("the snapshot's generator and discriminator differ in resolution or classes")
    return ml_collections.ConfigDict(
        dict(
            name="stylegan2",
            resolution=g["img_resolution"],
            channels=g["img_channels"],
            latent_dim=g["z_dim"],
            w_dim=g["w_dim"],
            mapping_layers=mapping.get("num_layers", 8),
            d_mapping_layers=d.get("mapping_kwargs", {}).get("num_layers", 8),
            channel_base=synthesis.get("channel_base", 32768),
            channel_max=synthesis.get("channel_max", 512),
            num_classes=g["c_dim"],
            mbstd_group_size=d.get("epilogue_kwargs", {}).get("mbstd_group_size", 4),
            d_architecture=d.get("architecture", "resnet"),
            conv_clamp=float(synthesis.get("conv_clamp") or 0.0),
            bfloat16_resolutions=synthesis.get("num_fp16_res", 0),
            w_avg_beta=mapping.get("w_avg_beta", 0.995),
        )
    )


def _dense(weight: np.ndarray) -> np.ndarray:
    return weight.T


def _conv(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 1, 0)


def _flipped_conv(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 1, 0)[::-1, ::-1]


def _as_is(value: np.ndarray) -> np.ndarray:
    return value


def _channels_last(value: np.ndarray) -> np.ndarray:
    return value.transpose(1, 2, 0)


def _noise(value: np.ndarray) -> np.ndarray:
    return value[:, :, None]


def _dense_after_flatten(weight: np.ndarray) -> np.ndarray:
    """(out, C * 4 * 4) reading (C, H, W) -> (H * W * C, out) reading (H, W, C)."""
    out, features = weight.shape
    channels = features // 16
    return weight.reshape(out, channels, 4, 4).transpose(2, 3, 1, 0).reshape(features, out)


# (ganjax collection, variable path pattern) -> (official name template, transform); groups of the pattern fill the
# template. A layer's parameters come from the official layer of the same name with a dot for each slash.
_GENERATOR_RULES: list[tuple[str, str, str, Callable]] = [
    ("stats", r"mapping_network/w_avg", "mapping.w_avg", _as_is),
    ("params", r"mapping_network/(embed|fc\d+)/kernel", "mapping.{0}.weight", _dense),
    ("params", r"mapping_network/(embed|fc\d+)/bias", "mapping.{0}.bias", _as_is),
    ("params", r"synthesis_network/const", "synthesis.b4.const", _channels_last),
    ("params", r"synthesis_network/b(\d+)_(conv\d|torgb)/affine/kernel", "synthesis.b{0}.{1}.affine.weight", _dense),
    ("params", r"synthesis_network/b(\d+)_(conv\d|torgb)/affine/bias", "synthesis.b{0}.{1}.affine.bias", _as_is),
    ("params", r"synthesis_network/b(\d+)_(conv0)/kernel", "synthesis.b{0}.{1}.weight", _flipped_conv),
    ("params", r"synthesis_network/b(\d+)_(conv1|torgb)/kernel", "synthesis.b{0}.{1}.weight", _conv),
    ("params", r"synthesis_network/b(\d+)_(conv\d|torgb)/(bias|noise_strength)", "synthesis.b{0}.{1}.{2}", _as_is),
    ("noise_const", r"synthesis_network/b(\d+)_(conv\d)/noise", "synthesis.b{0}.{1}.noise_const", _noise),
]
_DISCRIMINATOR_RULES: list[tuple[str, str, str, Callable]] = [
    ("params", r"fromrgb/kernel", "b{resolution}.fromrgb.weight", _conv),
    ("params", r"fromrgb/bias", "b{resolution}.fromrgb.bias", _as_is),
    ("params", r"b(\d+)/(conv0|conv1|skip)/kernel", "b{0}.{1}.weight", _conv),
    ("params", r"b(\d+)/(conv0|conv1)/bias", "b{0}.{1}.bias", _as_is),
    ("params", r"b4_conv/kernel", "b4.conv.weight", _conv),
    ("params", r"b4_(conv|fc|out)/bias", "b4.{0}.bias", _as_is),
    ("params", r"b4_fc/kernel", "b4.fc.weight", _dense_after_flatten),
    ("params", r"b4_out/kernel", "b4.out.weight", _dense),
    ("params", r"mapping/(embed|fc\d+)/kernel", "mapping.{0}.weight", _dense),
    ("params", r"mapping/(embed|fc\d+)/bias", "mapping.{0}.bias", _as_is),
]


def _filled(
    official: Module, abstract: Variables, rules: list[tuple[str, str, str, Callable]], what: str, **names: int
) -> Variables:
    """`abstract` (a tree of ShapeDtypeStructs, as jax.eval_shape gives a module's init) filled from `official`."""
    tensors = dict(official.tensors)
    for name in [name for name in tensors if name.endswith("resample_filter")]:
        if not np.allclose(tensors.pop(name), STYLEGAN2_FIR, atol=1e-7):
            raise ConfigError(f"the snapshot's {what} {name} is not StyleGAN2's [1, 3, 3, 1] filter")
    filled = {}
    for path, leaf in flatten_dict(abstract).items():
        collection, variable = path[0], "/".join(path[1:])
        source, transform = _source(collection, variable, rules, what, names)
        if source not in tensors:
            raise ConfigError(f"the snapshot's {what} has no {source} (for ganjax's {collection} {variable})")
        value = np.asarray(transform(tensors.pop(source)), np.float32)
        if value.shape != leaf.shape:
            raise ConfigError(
                f"the snapshot's {what} {source} gives {collection} {variable} of shape {value.shape}, "
                f"ganjax's is {leaf.shape}"
            )
        filled[path] = value
    if tensors:
        raise ConfigError(f"the snapshot's {what} has tensors ganjax's does not: {', '.join(sorted(tensors)[:5])}")
    return unflatten_dict(filled)


def _source(
    collection: str, variable: str, rules: list[tuple[str, str, str, Callable]], what: str, names: dict[str, int]
) -> tuple[str, Callable]:
    """The official tensor's name that fills ganjax's `collection`/`variable`, and how its layout changes."""
    for rule_collection, pattern, template, transform in rules:
        match = re.fullmatch(pattern, variable) if rule_collection == collection else None
        if match:
            return template.format(*match.groups(), **names), transform
    raise ConfigError(f"ganjax's {what} has {collection} {variable}, which no official tensor fills")


def generator_variables(official: Module, abstract: Variables) -> Variables:
    """The official generator's tensors as ganjax's generator variables ("params", "stats", "noise_const")."""
    return _filled(official, abstract, _GENERATOR_RULES, "generator")


def discriminator_variables(official: Module, abstract: Variables, resolution: int) -> Variables:
    """The official discriminator's tensors as ganjax's discriminator variables ("params")."""
    return _filled(official, abstract, _DISCRIMINATOR_RULES, "discriminator", resolution=resolution)


def abstract_variables(module, *inputs) -> Variables:
    """The shapes of `module`'s variables for `inputs` (no arrays are made)."""
    return jax.eval_shape(lambda key: module.init(key, *inputs, train=False), jax.random.PRNGKey(0))


def imported_state(task: Gan, snapshot: dict[str, Module], seed: int) -> TrainState:
    """The state at step 0 of `task` (a stylegan2 GAN) with the snapshot's networks: G and D as trained, G_ema's
    parameters as the EMA, fresh optimizer states."""
    networks = task.networks
    z = jnp.zeros((1, networks.latent_dim))
    labels = jnp.zeros((1,), jnp.int32) if networks.num_classes else None
    images = jnp.zeros((1, *networks.sample_shape))
    g_abstract = abstract_variables(networks.generator, z, labels)
    generator = generator_variables(snapshot["G"], g_abstract)
    ema = generator_variables(snapshot["G_ema"], g_abstract)["params"]
    resolution = networks.sample_shape[0]
    discriminator = discriminator_variables(
        snapshot["D"], abstract_variables(networks.discriminator, images, labels), resolution
    )

    def network(variables: dict, optimizer) -> NetworkState:
        params = variables.pop("params")
        return NetworkState(params=params, collections=variables, opt_state=optimizer.init(params))

    state = jax.jit(task.init_state)(seed)
    trained = {
        GENERATOR: network(generator, task.g_optimizer),
        DISCRIMINATOR: network(discriminator, task.adversary.optimizer),
    }
    return state.replace(networks=trained, ema={GENERATOR: ema})


def import_snapshot(snapshot_path: str, workdir: str | pathlib.Path, config: ml_collections.ConfigDict) -> list[str]:
    """Writes the snapshot as a run at step 0 into `workdir` (a new folder), with `config`'s training settings and
    the snapshot's model; returns the --config.model overrides that give train.py the same model."""
    workdir = pathlib.Path(workdir)
    if (workdir / CHECKPOINT_DIR).exists():
        raise ConfigError(f"{workdir} already holds checkpoints: import into a new --workdir")
    if config.task != "gan":
        raise ConfigError(f"--config is a {config.task!r} recipe; a StyleGAN2 snapshot imports into a 'gan' one")
    snapshot = read_snapshot(snapshot_path)
    recipe_model, config = config.model, ml_collections.ConfigDict(config.to_dict())
    config.model = model_config(snapshot["G"], snapshot["D"])
    config.model.style_mixing_prob = recipe_model.get("style_mixing_prob", 0.0)
    state = imported_state(build_task(config), snapshot, config.seed)
    checkpoints = Checkpoints(workdir / CHECKPOINT_DIR)
    checkpoints.save(0, state, json.loads(config.to_json()))
    checkpoints.close()
    (workdir / CONFIG_FILE).write_text(config.to_json(indent=2) + "\n")
    return [
        f"--config.model.{field}={value}"
        for field, value in config.model.items()
        if field not in recipe_model or recipe_model[field] != value
    ]


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("give one network pickle: python -m ganjax.import_stylegan2 NETWORK.pkl --workdir DIR")
    configure_logging()
    overrides = run_reporting_errors(import_snapshot, argv[1], _WORKDIR.value, _CONFIG.value)
    log.info("imported %s into %s at step 0; fine-tune it with\n  python train.py --workdir %s --config %s %s",
             argv[1], _WORKDIR.value, _WORKDIR.value, config_flags.get_config_filename(flags.FLAGS["config"]),
             " ".join(overrides))  # fmt: skip


if __name__ == "__main__":
    # Defined only when run as the command, so that importing the library above defines no flags.
    _CONFIG = define_config_flag(pathlib.Path(__file__).resolve().parent.parent / "configs" / "cifar10_stylegan2.py")
    _WORKDIR = flags.DEFINE_string("workdir", None, "A new folder for the imported run.", required=True)
    app.run(main)
