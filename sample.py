"""Write a PNG of samples from a trained run: `python sample.py --workdir runs/NAME [--num 64] [--seed 0]`.

Uses the newest checkpoint (or --step), its EMA generator and the config saved with it: no other flags are needed.
`--interpolate` writes strips of --frames images that walk the latent space between random endpoints instead.
For a class-conditional model, `--class K` draws every sample from class K; without it the grid has one row per
class, --per_class images wide.

For a VAE run the samples are decoded prior latents (the likelihood's mean image), and `--interpolate` walks between
the encodings of two test images: each strip starts with the first image, decodes --frames points on the line
between the two posterior means, and ends with the second image (pairs drawn by --seed from the run's eval split).
"""

import logging
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from ganjax.cli import configure_logging, run_reporting_errors, use_fast_cpu_convolutions
from ganjax.errors import ConfigError
from ganjax.runs import SavedRun, load_run
from ganjax.sampling import (
    class_rows,
    generate_ema,
    interpolation_latents,
    make_generate,
    normal_latents,
    picture,
    random_labels,
    save_png,
)
from ganjax.tasks.gan import GanTask
from ganjax.tasks.vae import VaeTask, evaluation_images

_WORKDIR = flags.DEFINE_string("workdir", None, "The run's folder, as given to train.py.", required=True)
_NUM = flags.DEFINE_integer("num", 64, "How many samples (with --interpolate: strips = num // frames, at least 1).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents: the same seed gives the same samples.")
_OUT = flags.DEFINE_string("out", None, "Output PNG; default <workdir>/samples/sample_<step>_seed<seed>.png.")
_INTERPOLATE = flags.DEFINE_bool("interpolate", False, "Write latent interpolation strips, one per row.")
_FRAMES = flags.DEFINE_integer("frames", 8, "Images per interpolation strip.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to sample from; default the newest intact one.")
_CLASS = flags.DEFINE_integer("class", None, "Conditional models: draw every sample from this class.")
_PER_CLASS = flags.DEFINE_integer("per_class", 8, "Conditional models without --class: images per class row.")

log = logging.getLogger("ganjax.sample")


def vae_picture(run: SavedRun) -> tuple[np.ndarray, int, str]:
    """A VAE run's picture, the number of images in it, and its kind (file name prefix)."""
    task = run.task
    if _CLASS.value is not None:
        raise ConfigError(f"--class={_CLASS.value}: VAE runs are unconditional; drop --class")
    if not _INTERPOLATE.value:
        z = normal_latents(_SEED.value, _NUM.value, task.networks.latent_dim)
        samples = np.asarray(jax.jit(task.sample)(run.state.ema_params, z))
        return picture(samples, math.ceil(math.sqrt(_NUM.value))), len(samples), "sample"
    strips, frames = max(1, _NUM.value // _FRAMES.value), _FRAMES.value
    test, _ = evaluation_images(run.config, 0)
    pairs = np.random.default_rng(_SEED.value).choice(len(test), size=(strips, 2), replace=len(test) < 2 * strips)
    start, end = jnp.asarray(test[pairs[:, 0]]), jnp.asarray(test[pairs[:, 1]])
    decoded = np.asarray(jax.jit(task.interpolate, static_argnums=3)(run.state.ema_params, start, end, frames))
    decoded = decoded.reshape(strips, frames, *decoded.shape[1:])
    rows = np.concatenate([np.asarray(start)[:, None], decoded, np.asarray(end)[:, None]], axis=1)
    return picture(rows.reshape(-1, *rows.shape[2:]), frames + 2), strips * frames, "interpolation"


def write_samples() -> pathlib.Path:
    run = load_run(_WORKDIR.value, _STEP.value)
    if isinstance(run.task, VaeTask):
        image, count, kind = vae_picture(run)
        default = pathlib.Path(_WORKDIR.value) / "samples" / f"{kind}_{run.step:08d}_seed{_SEED.value}.png"
        path = save_png(image, _OUT.value or default)
        log.info("wrote %d samples of step %d to %s", count, run.step, path)
        return path
    if not isinstance(run.task, GanTask):
        raise ConfigError(
            f"{_WORKDIR.value} is a {run.config.task} run, which sample.py cannot draw from: for restoration and "
            f"translation runs use python -m ganjax.restore --workdir {_WORKDIR.value}"
        )
    networks = run.task.gan.networks
    latent_dim, num_classes = networks.latent_dim, networks.num_classes
    if _CLASS.value is not None and not 0 <= _CLASS.value < max(num_classes, 1):
        valid = f"0 to {num_classes - 1}" if num_classes else "none: the model is unconditional"
        raise ConfigError(f"--class={_CLASS.value} is not a class of this model; valid: {valid}")
    if _INTERPOLATE.value:
        strips = max(1, _NUM.value // _FRAMES.value)
        z = interpolation_latents(_SEED.value, strips, _FRAMES.value, latent_dim)
        labels = jnp.repeat(random_labels(_SEED.value + 1, strips, num_classes), _FRAMES.value) if num_classes else None
        columns, kind = _FRAMES.value, "interpolation"
    elif num_classes and _CLASS.value is None:
        z, labels = class_rows(_SEED.value, num_classes, _PER_CLASS.value, latent_dim)
        columns, kind = _PER_CLASS.value, "classes"
    else:
        z, labels = normal_latents(_SEED.value, _NUM.value, latent_dim), None
        columns, kind = math.ceil(math.sqrt(_NUM.value)), "sample"
    if _CLASS.value is not None:
        labels = jnp.full((len(z),), _CLASS.value, jnp.int32)
        kind = f"{kind}_class{_CLASS.value}"
    samples = generate_ema(make_generate(networks), run.state, z, labels)
    default = pathlib.Path(_WORKDIR.value) / "samples" / f"{kind}_{run.step:08d}_seed{_SEED.value}.png"
    path = save_png(picture(samples, columns), _OUT.value or default)
    log.info("wrote %d samples of step %d to %s", len(samples), run.step, path)
    return path


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _NUM.value < 1 or _FRAMES.value < 2 or _PER_CLASS.value < 1:
        raise app.UsageError("--num and --per_class must be at least 1 and --frames at least 2")
    configure_logging()
    use_fast_cpu_convolutions()
    run_reporting_errors(write_samples)


if __name__ == "__main__":
    app.run(main)
