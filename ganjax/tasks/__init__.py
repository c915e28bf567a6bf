"""Tasks: the kinds of model that the one training loop trains, chosen by `--config.task`.

A task supplies what differs between kinds of model: its static description (modules, optimizers, objective), its
state at step 0, its train step, the batch that step takes, the checks of data against model, its sample grid and its
evaluation. Everything else (config validation, mesh and shardings, data, the loop, checkpoints, resume, logging,
the CLIs) is shared and knows a task only through the `Task` protocol below.

- `gan` (ganjax/tasks/gan.py): unconditional and class-conditional GANs, from latents.
- `image2image` (ganjax/tasks/image2image.py): image-conditioned GANs: restoration (denoising, super-resolution,
  inpainting) and paired translation (colourisation), with a reconstruction loss and an optional adversarial one.
- `cyclegan` (ganjax/tasks/cyclegan.py): unpaired translation between two image domains, read from two datasets.
- `vae` (ganjax/tasks/vae.py): variational autoencoders trained on the ELBO, and the VAE-GAN.

Every task's state is a `ganjax.state.TrainState`, or a subclass that adds what else its step carries (CycleGAN's
pools of generated images), so checkpoints and shardings treat all of them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import jax
import ml_collections
import numpy as np

from ganjax.data import Source
from ganjax.evaluation import Evaluation
from ganjax.registry import Registry
from ganjax.state import TrainState
from ganjax.step import StepFn


class Task(Protocol):
    """What the loop needs from a kind of model. Implementations are frozen dataclasses (hashable, so `jax.jit`
    can take them as static arguments), rebuilt from the config.

    Attributes:
      batches_per_step: real batches one train step consumes (a GAN's discriminator updates per step).
      penalty_interval: the penalties apply on every this many steps (lazy regularisation); 1 when every step is
        the same program.
    """

    batches_per_step: int
    penalty_interval: int

    def init_state(self, seed: int | jax.Array) -> TrainState:
        """The state at step 0, a pure function of the seed (jitted with out_shardings to create it sharded)."""
        ...

    def make_step(
        self,
        data_sharding: jax.sharding.Sharding | None = None,
        *,
        regularize: bool = True,
        param_sharding: jax.sharding.Sharding | None = None,
    ) -> StepFn:
        """The pure train step (state, batch) -> (state, metrics), written for the global batch. Its metrics hold
        `<net>_loss` and `<net>_nonfinite` (and gradient and parameter norms) for each network it updates, `g` and
        `d`, which the loop checks and logs."""
        ...

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        """The global batch the step takes: {"image": (batches_per_step, B, H, W, C), ...}."""
        ...

    def check_data(self, sources: dict[str, Source], data_config: ml_collections.ConfigDict) -> None:
        """ConfigError or DataError, before anything is compiled, when the data cannot feed the model. `sources`
        are the run's datasets by domain and `data_config` their configs (ganjax/data/domains.py): {"": source}
        and `config.data` for one dataset."""
        ...

    def sample_grid(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], np.ndarray]:
        """state -> the run's sample picture, uint8 (H, W, C), always of the same inputs. Made once per run (it
        holds the compiled inference function); every process can read the picture."""
        ...

    def evaluator(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], Evaluation]:
        """state -> every metric in config.eval.metrics, the same on every process. Made once per run."""
        ...


TASKS: Registry = Registry("task", config_key="task")


def build_task(config: ml_collections.ConfigDict) -> Task:
    """The task `config.task` names ("gan" when a config predates the field), built from a validated config."""
    return TASKS.get(config.get("task", "gan"))(config)


# Importing registers the tasks; last, because they use TASKS.
from ganjax.tasks import cyclegan, gan, image2image, vae  # noqa: E402, F401
