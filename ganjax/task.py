"""What the training loop, the CLIs and the sweeps need from a kind of model: the `Task` protocol, and `TASKS`,
where each task registers its class (ganjax/tasks/).

A task is built from a validated config by `ganjax.tasks.build_task` and is then the whole description of the
model: nothing is passed to it twice. It supplies its state at step 0, its train step, the batch that step takes,
the checks of data against model, its sample grid, its evaluation and its inference (what sample.py and
`python -m ganjax.restore` call). Everything else (config validation, mesh and shardings, data, the loop,
checkpoints, resume, logging) is shared and knows a task only through this protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar, Protocol

import jax
import ml_collections
import numpy as np

from ganjax.data import Source
from ganjax.errors import ConfigError, check
from ganjax.registry import Registry
from ganjax.scoring import Evaluation
from ganjax.state import TrainState
from ganjax.updates import ONE_DEVICE, Batch, Layout, Metrics

StepFn = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]
# Task classes by name; each has `from_config(config) -> task`.
TASKS: Registry = Registry("task", config_key="task")
# Options only some tasks read: each with the value that leaves it off and what it does. A task lists in `refuses`
# those it does not read, so that a run never silently ignores one.
OPTIONS_OFF = {
    "augment.policy": (
        (),
        "augments a GAN discriminator's inputs (image tasks augment their data instead, with "
        "--config.data.flip_rotate)",
    ),
    "optim.d_steps": (1, "gives a GAN's discriminator several updates per generator update"),
    "data.crop": (0, "trains on random crops (VAE runs model whole images: set --config.model.resolution)"),
}


def check_task_options(config: ml_collections.ConfigDict, task: Task) -> None:
    """ConfigError when the config turns on an option `task` refuses, or asks for a metric another task scores."""
    for option in task.refuses:
        section, field = option.split(".")
        value, (off, what) = config[section][field], OPTIONS_OFF[option]
        check(
            tuple(value) == off if isinstance(off, tuple) else value == off or not (value or off),  # None is 0
            f"--config.{option}={value!r} {what}, which {task.name} runs do not do: set --config.{option}={off!r}",
        )
    scored_by = {metric: name for name in TASKS.names() for metric in TASKS.get(name).metrics}
    for metric in config.eval.metrics:
        check(
            scored_by.get(metric, task.name) == task.name,
            f"--config.eval.metrics asks for {metric}, which only {scored_by.get(metric)} runs score; this run's "
            f"task is {task.name}",
        )


@dataclasses.dataclass(frozen=True)
class DrawRequest:
    """What sample.py asks a generative task to draw.

    Attributes:
      num: how many samples (with `interpolate`: strips = num // frames, at least 1).
      seed: the seed of the latents (and of the images a VAE interpolates between).
      interpolate: strips that walk the latent space, `frames` images each, instead of independent samples.
      frames: images per strip.
      label: a conditional model draws every sample from this class; None: one row per class, `per_class` wide.
      per_class: images per class row.
      truncation_psi: a generator with a mapping network (stylegan2) draws its styles towards their tracked mean:
        w_avg + psi (w - w_avg), psi in [0, 1] (1: no truncation).
      truncation_cutoff: truncate only the first this many style layers; None: all of them.
      style_mix_layers: a generator with a mapping network draws the style-mixing figure instead: `num` rows and
        `num` columns of latents, each cell a row's styles with these style layers taken from the column's.
    """

    num: int
    seed: int
    interpolate: bool = False
    frames: int = 8
    label: int | None = None
    per_class: int = 8
    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None
    style_mix_layers: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Drawing:
    """A picture sample.py writes: `picture` uint8 (H, W, C), the number of samples in it, and its kind (the file
    name's prefix: "sample", "interpolation", "classes", ...)."""

    picture: np.ndarray
    count: int
    kind: str


@dataclasses.dataclass(frozen=True)
class ImageMapper:
    """One trained network in inference mode, as `python -m ganjax.restore` applies it to images of any size.

    Attributes:
      apply: (variables, degraded) -> output, jitted: the network's variables (`TrainState.ema_variables(network)`)
        and degraded.image (1, h, w, channels) in the model range (with degraded.mask (1, h, w, 1) when `masked`)
        -> (1, h * scale, w * scale, channels out).
      network: the name of the network in the state.
      channels: the input images' channels.
      scale: the output's size over the input's.
      masked: whether the inputs come with masks of holes (inpainting).
      description: what it does, for the log.
    """

    apply: Callable[..., jax.Array]
    network: str
    channels: int
    scale: int
    masked: bool
    description: str


@dataclasses.dataclass(frozen=True)
class FolderScores:
    """What `python -m ganjax.restore --clean --degrade` writes: per image of the folder, in the folder's order, a
    strip (uint8 (H, W, C): degraded | restored | clean) and its scores, and the protocol they were computed in.

    Attributes:
      strips: one picture per image.
      per_image: {metric name: (N,) float64}.
      protocol: what produced the scores, as text.
    """

    strips: list[np.ndarray]
    per_image: dict[str, np.ndarray]
    protocol: dict[str, str]


class Task(Protocol):
    """A kind of model, built by its class's `from_config(config)`. Implementations are frozen dataclasses
    (hashable, so `jax.jit` can take them as static arguments) that keep the config as `config` (not compared).

    Attributes:
      name: the name the task is registered under (`--config.task`).
      metrics: the metrics only this task scores (ganjax/metrics/), beside the Inception ones every image task
        scores; `check_task_options` refuses another task's.
      refuses: the options of `OPTIONS_OFF` this task does not read, which must stay off.
      batches_per_step: real batches one train step consumes (a GAN's discriminator updates per step).
      penalty_interval: the penalties apply on every this many steps (lazy regularisation); 1 when every step is
        the same program.
    """

    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    refuses: ClassVar[tuple[str, ...]]
    batches_per_step: int
    penalty_interval: int

    def init_state(self, seed: int | jax.Array) -> TrainState:
        """The state at step 0, a pure function of the seed (jitted with out_shardings to create it sharded)."""
        ...

    def make_step(self, layout: Layout = ONE_DEVICE, *, regularize: bool = True) -> StepFn:
        """The pure train step (state, batch) -> (state, metrics), written for the global batch laid out as
        `layout` says. Its metrics hold `<side>_loss` and `<side>_nonfinite` (with gradient and parameter norms)
        for each side it updates, `g` (what generates) and `d` (what judges), which the loop checks and logs."""
        ...

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        """The global batch the step takes: {"image": (batches_per_step, B, H, W, C), ...}."""
        ...

    def check_data(self, sources: dict[str, Source]) -> None:
        """ConfigError or DataError, before anything is compiled, when the data cannot feed the model. `sources`
        are the run's datasets by domain (ganjax/data/domains.py): {"": source} for one dataset."""
        ...

    def sample_grid(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], np.ndarray]:
        """state -> the run's sample picture, uint8 (H, W, C), always of the same inputs. Made once per run (it
        holds the compiled inference function); every process can read the picture."""
        ...

    def evaluator(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], Evaluation]:
        """state -> every metric in config.eval.metrics, the same on every process. Made once per run, so that an
        evaluation set that cannot feed the model is refused before training starts."""
        ...

    def draw(self, state: TrainState, request: DrawRequest) -> Drawing:
        """sample.py: samples of the EMA networks; ConfigError for a task that does not generate from noise."""
        ...

    def image_mapper(self, direction: str | None) -> ImageMapper:
        """`python -m ganjax.restore`: the network that maps images (in `direction` for a translation run);
        ConfigError for a task that does not map images."""
        ...

    def score_folder(self, state: TrainState, folder: str, tile: int, overlap: int) -> FolderScores:
        """`python -m ganjax.restore --clean`: the clean images of `folder` degraded as the run's evaluation
        degrades them, restored (in tiles of `tile` input pixels, `overlap` of context) and scored as it scores
        them; ConfigError for a task that does not restore."""
        ...


class Generative:
    """The inference of a task that generates from noise: it maps no images."""

    name: ClassVar[str]

    def image_mapper(self, direction: str | None) -> ImageMapper:
        del direction
        raise self._maps_no_images()

    def score_folder(self, state: TrainState, folder: str, tile: int, overlap: int) -> FolderScores:
        del state, folder, tile, overlap
        raise self._maps_no_images()

    def _maps_no_images(self) -> ConfigError:
        return ConfigError(
            f"{self.name} runs generate images from noise: python -m ganjax.restore works on runs "
            "of configs/restore_*.py and configs/translate_*.py; draw samples with python sample.py --workdir W"
        )


class Mapping:
    """The inference of a task that maps images to images: it draws nothing from noise."""

    name: ClassVar[str]

    def draw(self, state: TrainState, request: DrawRequest) -> Drawing:
        del state, request
        raise ConfigError(
            f"{self.name} runs map images to images: sample.py draws from GANs and VAEs; restore or "
            "translate images with python -m ganjax.restore --workdir W"
        )
