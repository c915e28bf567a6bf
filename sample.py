"""Write a PNG of samples from a trained run: `python sample.py --workdir runs/NAME [--num 64] [--seed 0]`.

Uses the newest checkpoint (or --step), its EMA generator and the config saved with it: no other flags are needed.
`--interpolate` writes strips of --frames images that walk the latent space between random endpoints instead.
"""

import logging
import math
import pathlib

from absl import app, flags

from ganjax.cli import configure_logging, run_reporting_errors
from ganjax.sampling import generate_ema, interpolation_latents, latents, load_run, make_generate, picture, save_png

_WORKDIR = flags.DEFINE_string("workdir", None, "The run's folder, as given to train.py.", required=True)
_NUM = flags.DEFINE_integer("num", 64, "How many samples (with --interpolate: strips = num // frames, at least 1).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents: the same seed gives the same samples.")
_OUT = flags.DEFINE_string("out", None, "Output PNG; default <workdir>/samples/sample_<step>_seed<seed>.png.")
_INTERPOLATE = flags.DEFINE_bool("interpolate", False, "Write latent interpolation strips, one per row.")
_FRAMES = flags.DEFINE_integer("frames", 8, "Images per interpolation strip.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to sample from; default the newest.")

log = logging.getLogger("ganjax.sample")


def write_samples() -> pathlib.Path:
    run = load_run(_WORKDIR.value, _STEP.value)
    latent_dim = run.gan.networks.latent_dim
    if _INTERPOLATE.value:
        strips = max(1, _NUM.value // _FRAMES.value)
        z = interpolation_latents(_SEED.value, strips, _FRAMES.value, latent_dim)
        columns, kind = _FRAMES.value, "interpolation"
    else:
        z = latents(_SEED.value, _NUM.value, latent_dim)
        columns, kind = math.ceil(math.sqrt(_NUM.value)), "sample"
    samples = generate_ema(make_generate(run.gan.networks), run.state, z)
    default = pathlib.Path(_WORKDIR.value) / "samples" / f"{kind}_{run.step:08d}_seed{_SEED.value}.png"
    path = save_png(picture(samples, columns), _OUT.value or default)
    log.info("wrote %d samples of step %d to %s", len(samples), run.step, path)
    return path


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _NUM.value < 1 or _FRAMES.value < 2:
        raise app.UsageError("--num must be at least 1 and --frames at least 2")
    configure_logging()
    run_reporting_errors(write_samples)


if __name__ == "__main__":
    app.run(main)
