"""`train_and_evaluate(config, workdir)`: the loop that ties config, data, step, state and checkpoints together.

Data flows one way: config -> data -> step -> state -> checkpoint / metrics / samples. Everything that can be
checked is checked before the step is compiled. Training resumes by itself from the newest checkpoint in the
workdir and continues exactly where it stopped: the step in the state fixes the data position and the randomness.

Stopping: SIGTERM (what a preempting scheduler sends) or a first Ctrl-C finishes the current step, saves a
checkpoint and returns; a second Ctrl-C aborts at once. A kill -9 loses only the steps since the last checkpoint.
In a multi-process run (ganjax/distributed.py) a signal to any process stops all of them one step later, at the same
step, with one checkpoint that they write together; only process 0 logs, draws progress and writes files other than
checkpoints.
"""

from __future__ import annotations

import functools
import json
import logging
import pathlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from tqdm import tqdm

from ganjax import config as config_lib
from ganjax import distributed, parallel
from ganjax.checkpoint import Checkpoints
from ganjax.data import open_source, train_batches
from ganjax.errors import NonFiniteError
from ganjax.metrics import METRICS, Samples
from ganjax.metrics.inception_metrics import check_ready
from ganjax.sampling import (
    EVAL_SEED_OFFSET,
    GRID_SEED_OFFSET,
    Generate,
    class_rows,
    generate_ema,
    latents,
    make_generate,
    picture,
    random_labels,
)
from ganjax.state import Gan, TrainState, build_gan, init_state
from ganjax.step import make_train_step
from ganjax.writers import METRICS_FILE, SAMPLES_DIR, Writer

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_CHECKPOINT_DIR = "best"
CONFIG_FILE = "config.json"


class StopRequest:
    """Turns SIGTERM and a first SIGINT into a request to stop after the current step (main thread only)."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        del frame
        self.signal_name = signal.Signals(signum).name
        log.warning("%s received: stopping after this step and saving a checkpoint", self.signal_name)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts at once

    def __exit__(self, *exc_info: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None


def _count_parameters(params: Any) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(params))


class _Reporter:
    """Reads each step's metrics one step late, so the host never makes the devices wait; checks them for
    non-finite values, logs every `log_every` steps and drives the progress bar."""

    def __init__(
        self, config: ml_collections.ConfigDict, writer: Writer | None, start_step: int, checkpoint_dir: pathlib.Path
    ):
        self.log_every = config.train.log_every
        self.images_per_step = config.train.batch_size * config.optim.d_steps
        self.writer = writer
        self.checkpoint_dir = checkpoint_dir
        self.last_good_checkpoint = start_step  # updated by the trainer after each save
        self._pending: tuple[int, dict[str, jax.Array]] | None = None
        self._clock = (start_step, time.perf_counter())
        self.progress = tqdm(
            total=config.train.num_steps,
            initial=start_step,
            unit="step",
            dynamic_ncols=True,
            disable=None if writer is not None else True,
        )

    def push(self, step: int, metrics: dict[str, jax.Array]) -> None:
        """Queues step `step`'s metrics and handles those of the step before."""
        self.flush()
        self._pending = (step, metrics)

    def flush(self) -> None:
        """Handles the queued metrics now (blocks until their step is computed)."""
        if self._pending is None:
            return
        step, metrics = self._pending
        self._pending = None
        values = {key: value.item() for key, value in jax.device_get(metrics).items()}
        for network, name in (("d", "discriminator"), ("g", "generator")):
            if values[f"{network}_nonfinite"]:
                raise NonFiniteError(
                    f"non-finite values in the {name} at step {step}: loss {values[f'{network}_loss']}, gradient "
                    f"norm {values[f'{network}_grad_norm']}, parameter norm {values[f'{network}_param_norm']}. "
                    f"Nothing after step {self.last_good_checkpoint} was saved; the checkpoints in "
                    f"{self.checkpoint_dir} are intact. Lower the learning rates (--config.optim.g_lr, "
                    "--config.optim.d_lr) or change the loss, then resume or start a new --workdir."
                )
        self.progress.update(1)
        if step % self.log_every == 0:
            now = time.perf_counter()
            first, since = self._clock
            values["images_per_sec"] = (step - first) * self.images_per_step / (now - since)
            self._clock = (step, now)
            self.progress.set_postfix(d_loss=f"{values['d_loss']:.3f}", g_loss=f"{values['g_loss']:.3f}")
            if self.writer is not None:
                self.writer.scalars(step, values)

    def close(self) -> None:
        self.progress.close()


def state_shardings(
    gan: Gan, seed: int, mesh: jax.sharding.Mesh, fsdp_min_size: int = parallel.FSDP_MIN_SIZE
) -> TrainState:
    """Where each leaf of the state lives: a tree like the state, of shardings. Replicated, except that large arrays
    are split over the mesh's fsdp axis when it has one (`parallel.fsdp_spec`)."""
    abstract = jax.eval_shape(functools.partial(init_state, gan), seed)
    return jax.tree.map(lambda leaf: parallel.state_sharding(mesh, leaf.shape, fsdp_min_size), abstract)


def jit_train_step(gan: Gan, mesh: jax.sharding.Mesh, shardings: TrainState, *, regularize: bool = True) -> Any:
    """The train step jitted for `mesh`: state laid out by `shardings` and donated, batch split over the batch axes.
    With an fsdp axis, each network's parameters are gathered where the network is applied."""
    gathered = parallel.replicated(mesh) if mesh.shape.get(parallel.FSDP_AXIS, 1) > 1 else None
    return jax.jit(
        make_train_step(gan, parallel.sample_sharding(mesh), regularize=regularize, param_sharding=gathered),
        in_shardings=(shardings, parallel.step_batch_sharding(mesh)),
        out_shardings=(shardings, parallel.replicated(mesh)),
        donate_argnums=0,
    )


def _restore_or_init(
    gan: Gan, config: ml_collections.ConfigDict, config_json: dict, checkpoints: Checkpoints, shardings: TrainState
) -> TrainState:
    latest = checkpoints.latest_step()
    if latest is None:
        log.info("starting from scratch (no checkpoint in %s)", checkpoints.directory)
        return jax.jit(init_state, static_argnums=0, out_shardings=shardings)(gan, config.seed)
    abstract = jax.eval_shape(functools.partial(init_state, gan), config.seed)
    target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings)
    log.info("resuming from the checkpoint at step %d in %s", latest, checkpoints.directory)
    return checkpoints.restore(latest, target, config_json)


def batch_spec(gan: Gan, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
    """The global batch a train step takes: real images, and labels when the networks are conditional."""
    leading = (gan.d_steps, batch_size)
    spec = {"image": jax.ShapeDtypeStruct((*leading, *gan.networks.sample_shape), jnp.float32, sharding=sharding)}
    if gan.networks.num_classes:
        spec["label"] = jax.ShapeDtypeStruct(leading, jnp.int32, sharding=sharding)
    return spec


def compile_train_steps(
    gan: Gan, mesh: jax.sharding.Mesh, shardings: TrainState, state: TrainState, batch: dict
) -> Callable[[int], Any]:
    """Compiles the train step ahead of time (with lazy regularisation, a variant with and one without penalties)
    and returns step_for(s): the compiled step to run on the state after s completed steps."""
    lazy = bool(gan.penalties) and gan.penalty_interval > 1
    started = time.perf_counter()
    compiled = {
        regularize: jit_train_step(gan, mesh, shardings, regularize=regularize).lower(state, batch).compile()
        for regularize in ((True, False) if lazy else (True,))
    }
    memory = compiled[True].memory_analysis()
    usage = (
        ""
        if memory is None
        else (
            f"; per device: {memory.argument_size_in_bytes / 2**20:.1f} MiB arguments, "
            f"{memory.temp_size_in_bytes / 2**20:.1f} MiB temporaries"
        )
    )
    log.info("train step compiled in %.1f s%s", time.perf_counter() - started, usage)
    if not lazy:
        return lambda completed: compiled[True]
    return lambda completed: compiled[completed % gan.penalty_interval == 0]


def sample_grid_inputs(config: ml_collections.ConfigDict, gan: Gan) -> tuple[jax.Array, jax.Array | None, int | None]:
    """Fixed (latents, labels, columns) for the sample grids: one row per class when the networks are conditional."""
    seed, num, num_classes = config.seed + GRID_SEED_OFFSET, config.train.num_samples, gan.networks.num_classes
    if not num_classes:
        return latents(seed, num, gan.networks.latent_dim), None, None
    per_class = max(1, num // num_classes)
    return *class_rows(seed, num_classes, per_class, gan.networks.latent_dim), per_class


def evaluate(config: ml_collections.ConfigDict, generate: Generate, state: TrainState, gan: Gan) -> dict[str, float]:
    """Every metric in config.eval.metrics, on samples of the EMA generator from fixed latents (and labels).

    Inception features are extracted on this process's devices, the batch split over them; in a multi-process run
    every process computes the same results and process 0's are used, so all processes agree on the best checkpoint.
    """
    eval_seed = config.seed + EVAL_SEED_OFFSET

    def draw(num: int) -> np.ndarray:
        labels = random_labels(eval_seed + 1, num, gan.networks.num_classes)
        return generate_ema(generate, state, latents(eval_seed, num, gan.networks.latent_dim), labels)

    local_devices = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}), jax.local_devices())
    samples = Samples(draw, local_devices)
    results: dict[str, float] = {}
    for name in config.eval.metrics:
        results.update(METRICS.get(name)(samples, config))
    if jax.process_count() > 1:  # process 0's float64 values, bit for bit (as uint32 pairs: JAX runs in 32 bits)
        names = sorted(results)
        bits = np.array([results[name] for name in names], np.float64).view(np.uint32)
        values = np.asarray(multihost_utils.broadcast_one_to_all(bits)).view(np.float64)
        results = {name: float(value) for name, value in zip(names, values, strict=True)}
    return results


class BestCheckpoint:
    """Keeps the state with the lowest `metric` (e.g. "fid") seen so far in `directory`, with its metrics.

    Survives restarts: the best value is read back from the checkpoint. Inactive when `metric` is empty.
    """

    def __init__(self, directory: pathlib.Path, metric: str):
        self.metric = metric
        self.checkpoints = Checkpoints(directory, keep=1) if metric else None
        self.best = float("inf")
        step = self.checkpoints.latest_step() if self.checkpoints else None
        if step is not None:
            self.best = self.checkpoints.metrics(step).get(metric, float("inf"))

    def offer(self, step: int, state: TrainState, config_json: dict, results: dict[str, float]) -> None:
        """Saves `state` as the best if results[metric] beats the best so far (all processes must call this)."""
        if self.checkpoints is None or self.metric not in results or not results[self.metric] < self.best:
            return
        self.best = results[self.metric]
        self.checkpoints.save(step, state, config_json, metrics=results)
        log.info("step %d: new best %s %.4g, saved in %s", step, self.metric, self.best, self.checkpoints.directory)

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> TrainState:
    """Trains the GAN that `config` describes, in `workdir`, resuming from its newest checkpoint.

    Writes into workdir: config.json, checkpoints/<step>/ (state and config), metrics.jsonl, tensorboard/ and
    samples/<name>_<step>.png; with config.eval.best_metric (FID by default) among the metrics, also best/<step>/:
    the state with the lowest value so far, with its metrics. Returns the final state.

    Connects to the other processes first when config.distributed or the environment asks for it (see
    ganjax/distributed.py), so nothing may touch a JAX device before this call.

    Raises:
      ConfigError: a bad config or data, before anything is compiled.
      DistributedError: the coordinator of a multi-process run could not be reached; nothing was written.
      NonFiniteError: training diverged; the last good checkpoint is kept.
    """
    workdir = pathlib.Path(workdir)
    config_lib.validate_config(config)
    distributed.initialize(config.distributed)
    check_ready(config)  # the Inception weights the metrics need
    mesh = parallel.make_mesh(config.mesh)
    config_lib.validate_layout(config, mesh, jax.process_count())
    gan = build_gan(config)
    source = open_source(config.data, config.seed)
    config_lib.check_data_matches_model(source, gan.networks, gan.augmentation.policy)
    config_json = json.loads(config.to_json())
    is_chief = jax.process_index() == 0
    platform = jax.devices()[0].platform
    log.info(
        "devices: %d x %s; mesh %s; data: %s, %d examples",
        jax.device_count(),
        platform,
        dict(mesh.shape),
        source.name,
        source.num_examples,
    )

    if is_chief:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / CONFIG_FILE).write_text(config.to_json(indent=2) + "\n")
    checkpoints = Checkpoints(workdir / CHECKPOINT_DIR, keep=config.train.keep_checkpoints)
    best_metric = config.eval.best_metric if config.eval.best_metric in config.eval.metrics else ""
    best = BestCheckpoint(workdir / BEST_CHECKPOINT_DIR, best_metric)
    shardings = state_shardings(gan, config.seed, mesh, config.sharding.fsdp_min_size)
    state = _restore_or_init(gan, config, config_json, checkpoints, shardings)
    start_step = int(state.step)
    g_count, d_count = _count_parameters(state.generator.params), _count_parameters(state.discriminator.params)
    log.info("parameters: generator %d, discriminator %d", g_count, d_count)

    batch_sharding = parallel.step_batch_sharding(mesh)
    batch = batch_spec(gan, config.train.batch_size, batch_sharding)
    step_for = compile_train_steps(gan, mesh, shardings, state, batch)
    batches = train_batches(
        source,
        batch_size=config.train.batch_size,
        batches_per_step=gan.d_steps,
        seed=config.seed,
        start_step=start_step,
        num_steps=config.train.num_steps,
        process_index=parallel.process_batch_block(batch_sharding, config.train.batch_size),
        process_count=jax.process_count(),
        num_threads=config.data.num_threads,
    )
    generate = make_generate(gan.networks, parallel.replicated(mesh))  # every process can read the samples
    grid_latents, grid_labels, grid_columns = sample_grid_inputs(config, gan)
    writer = Writer(workdir, start_step) if is_chief else None
    reporter = _Reporter(config, writer, start_step, checkpoints.directory)
    stop_agreement = distributed.StopAgreement(mesh)

    def save(step: int) -> None:
        reporter.flush()  # never save a state whose step has not been checked for non-finite values
        checkpoints.save(step, state, config_json)
        reporter.last_good_checkpoint = step

    def draw_samples(step: int) -> None:
        image = picture(generate_ema(generate, state, grid_latents, grid_labels), grid_columns)
        if writer is not None:
            writer.picture(step, "samples", image)

    def run_evaluation(step: int) -> None:
        results = evaluate(config, generate, state, gan)
        if results:
            log.info(
                "step %d: %s (Inception resize %s)",
                step,
                ", ".join(f"{k} {v:.4g}" for k, v in results.items()),
                config.eval.resize,
            )
            if writer is not None:
                writer.scalars(step, results)
            best.offer(step, state, config_json, results)

    num_steps, sample_every, eval_every = config.train.num_steps, config.train.sample_every, config.eval.every
    if start_step >= num_steps:
        log.info("already trained to step %d of %d; nothing to do", start_step, num_steps)
    try:
        with StopRequest() as stop:
            for step in range(start_step + 1, num_steps + 1):
                local_batch = next(batches)
                global_batch = parallel.global_batch({key: local_batch[key] for key in batch}, batch_sharding)
                state, metrics = step_for(step - 1)(state, global_batch)
                reporter.push(step, metrics)
                stopping, last = stop_agreement(stop.requested), step == num_steps
                if step % config.train.checkpoint_every == 0 or last or stopping:
                    save(step)
                if stopping:
                    log.warning(
                        "stopped by %s at step %d; checkpoint saved", stop.signal_name or "another process", step
                    )
                    break
                if sample_every and (step % sample_every == 0 or last):
                    draw_samples(step)
                if (eval_every and step % eval_every == 0) or last:
                    run_evaluation(step)
            checkpoints.wait()
        if is_chief and start_step < num_steps:
            log.info(
                "done at step %d: checkpoints in %s, metrics in %s, samples in %s",
                int(state.step),
                checkpoints.directory,
                workdir / METRICS_FILE,
                workdir / SAMPLES_DIR,
            )
    finally:
        reporter.close()
        if writer is not None:
            writer.close()
        checkpoints.close()
        best.close()
    return state
