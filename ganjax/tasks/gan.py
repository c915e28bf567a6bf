"""The GAN task: unconditional and class-conditional generators from latents (ganjax/state.py's `Gan`, trained by
ganjax/step.py's step, evaluated by ganjax/evaluation.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from ganjax import config as config_lib
from ganjax import parallel
from ganjax.data import Source
from ganjax.data.pipeline import crop_shape
from ganjax.evaluation import Evaluation, evaluate
from ganjax.sampling import GRID_SEED_OFFSET, generate_ema, grid_inputs, make_generate, picture
from ganjax.state import Gan, TrainState, build_gan, init_state
from ganjax.step import StepFn, batch_spec, make_train_step
from ganjax.tasks import TASKS


@dataclasses.dataclass(frozen=True)
class GanTask:
    """A GAN as a task of the training loop; `gan` is its static description."""

    gan: Gan

    @property
    def batches_per_step(self) -> int:
        return self.gan.d_steps

    @property
    def penalty_interval(self) -> int:
        return self.gan.penalty_interval if self.gan.penalties else 1

    def init_state(self, seed: int | jax.Array) -> TrainState:
        return init_state(self.gan, seed)

    def make_step(
        self,
        data_sharding: jax.sharding.Sharding | None = None,
        *,
        regularize: bool = True,
        param_sharding: jax.sharding.Sharding | None = None,
    ) -> StepFn:
        return make_train_step(self.gan, data_sharding, regularize=regularize, param_sharding=param_sharding)

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        return batch_spec(self.gan, batch_size, sharding)

    def check_data(self, sources: dict[str, Source], data_config: ml_collections.ConfigDict) -> None:
        source = sources[""]
        cropped = dataclasses.replace(source, sample_shape=crop_shape(source.sample_shape, data_config.crop))
        config_lib.check_data_matches_model(cropped, self.gan.networks, self.gan.augmentation.policy)

    def sample_grid(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], np.ndarray]:
        generate = make_generate(self.gan.networks, parallel.replicated(mesh))
        latents, labels, columns = grid_inputs(
            config.seed + GRID_SEED_OFFSET, config.train.num_samples, self.gan.networks
        )
        return lambda state: picture(generate_ema(generate, state, latents, labels), columns)

    def evaluator(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], Evaluation]:
        generate = make_generate(self.gan.networks, parallel.replicated(mesh))
        return lambda state: evaluate(config, generate, state, self.gan)


@TASKS.register("gan")
def build_gan_task(config: ml_collections.ConfigDict) -> GanTask:
    return GanTask(build_gan(config))
