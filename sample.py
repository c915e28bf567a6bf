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
import pathlib

from absl import app, flags

from ganjax.cli import configure_logging, run_reporting_errors, use_fast_cpu_convolutions
from ganjax.images import save_png
from ganjax.runs import load_run
from ganjax.task import DrawRequest

_WORKDIR = flags.DEFINE_string("workdir", None, "The run's folder, as given to train.py.", required=True)
_NUM = flags.DEFINE_integer("num", 64, "How many samples (with --interpolate: strips = num // frames, at least 1).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents: the same seed gives the same samples.")
_OUT = flags.DEFINE_string("out", None, "Output PNG; default <workdir>/samples/sample_<step>_seed<seed>.png.")
_INTERPOLATE = flags.DEFINE_bool("interpolate", False, "Write latent interpolation strips, one per row.")
_FRAMES = flags.DEFINE_integer("frames", 8, "Images per interpolation strip.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to sample from; default the newest intact one.")
_CLASS = flags.DEFINE_integer("class", None, "Conditional models: draw every sample from this class.")
_PER_CLASS = flags.DEFINE_integer("per_class", 8, "Conditional models without --class: images per class row.")
_PSI = flags.DEFINE_float("truncation_psi", 1.0, "StyleGAN2: styles drawn towards their mean, psi in [0, 1]; 1: none.")
_CUTOFF = flags.DEFINE_integer("truncation_cutoff", None, "StyleGAN2: truncate only the first this many style layers.")
_MIX = flags.DEFINE_list("style_mix_layers", [], "StyleGAN2: the style-mixing figure, num x num, with these layers.")

log = logging.getLogger("ganjax.sample")


def write_samples() -> pathlib.Path:
    """Draws what the flags ask of the run's task (ganjax/task.py: `Task.draw`) and writes it as a PNG."""
    run = load_run(_WORKDIR.value, _STEP.value)
    request = DrawRequest(
        num=_NUM.value,
        seed=_SEED.value,
        interpolate=_INTERPOLATE.value,
        frames=_FRAMES.value,
        label=_CLASS.value,
        per_class=_PER_CLASS.value,
        truncation_psi=_PSI.value,
        truncation_cutoff=_CUTOFF.value,
        style_mix_layers=tuple(int(layer) for layer in _MIX.value),
    )
    drawing = run.task.draw(run.state, request)
    default = pathlib.Path(_WORKDIR.value) / "samples" / f"{drawing.kind}_{run.step:08d}_seed{_SEED.value}.png"
    path = save_png(drawing.picture, _OUT.value or default)
    log.info("wrote %d samples of step %d to %s", drawing.count, run.step, path)
    return path


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _NUM.value < 1 or _FRAMES.value < 2 or _PER_CLASS.value < 1:
        raise app.UsageError("--num and --per_class must be at least 1 and --frames at least 2")
    if not all(layer.strip().isdigit() for layer in _MIX.value):
        raise app.UsageError(f"--style_mix_layers takes style layer numbers, e.g. 0,1,2,3; got {','.join(_MIX.value)}")
    configure_logging()
    use_fast_cpu_convolutions()
    run_reporting_errors(write_samples)


if __name__ == "__main__":
    app.run(main)
