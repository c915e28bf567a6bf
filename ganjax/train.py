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

import contextlib
import json
import logging
import pathlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import jax
import ml_collections
from tqdm import tqdm

from ganjax import config as config_lib
from ganjax import distributed, parallel
from ganjax.checkpoint import Checkpoints
from ganjax.compile import abstract_state, compile_train_steps, create_state, state_shardings
from ganjax.data.domains import domain_batches, open_domains
from ganjax.errors import CheckpointError, GanjaxError, NonFiniteError
from ganjax.metrics import HIGHER_IS_BETTER
from ganjax.metrics.inception_metrics import check_ready
from ganjax.scoring import Evaluation
from ganjax.state import TrainState, parameter_counts
from ganjax.task import Task
from ganjax.tasks import build_task
from ganjax.writers import METRICS_FILE, SAMPLES_DIR, Writer

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_CHECKPOINT_DIR = "best"
CONFIG_FILE = "config.json"
# The networks a task's step reports on, by the prefix of their metrics.
_NETWORKS = {"d": "discriminator", "g": "generator"}


class EvaluationInterrupted(GanjaxError):
    """A stop was requested while an evaluation ran; the evaluation was abandoned between two of its batches."""


class StopRequest:
    """Turns SIGTERM and a first SIGINT into a request to stop after the current step (main thread only).

    Inside `interrupting()` (an evaluation, which can take minutes) the request also raises EvaluationInterrupted at
    once: Python runs the handler between two of the evaluation's device calls, so the evaluation stops between
    batches. Only in a one-process run: the processes of a multi-process run evaluate together, so there a request
    is honoured after the evaluation, at the same step on every process.
    """

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}
        self._interrupting = False

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        del frame
        self.signal_name = signal.Signals(signum).name
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts at once
        if self._interrupting:
            raise EvaluationInterrupted(f"{self.signal_name} received during an evaluation")
        log.warning("%s received: stopping after this step and saving a checkpoint", self.signal_name)

    @contextlib.contextmanager
    def interrupting(self) -> Iterator[None]:
        """Within it, a stop request interrupts the work (EvaluationInterrupted) instead of waiting for its end."""
        self._interrupting = jax.process_count() == 1
        try:
            yield
        finally:
            self._interrupting = False

    def __exit__(self, *exc_info: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None


def is_due(step: int, every: int, *, last: bool) -> bool:
    """Whether something done every `every` steps (0: only at the end) is due after step `step`."""
    return last or (every > 0 and step % every == 0)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


class _Reporter:
    """Reads each step's metrics one step late, so the host never makes the devices wait; checks them for
    non-finite values and, every `log_every` steps, writes them (metrics.jsonl, TensorBoard) with the training
    throughput. Shows a progress bar when stderr is a terminal and logs a one-line status otherwise (a batch job).

    `images_per_sec` counts training only: whatever else the loop waits for (checkpoints, sample grids,
    evaluations) runs inside `paused`.
    """

    def __init__(
        self, config: ml_collections.ConfigDict, batches_per_step: int, writer: Writer | None, start_step: int
    ):
        self.log_every = config.train.log_every
        self.num_steps = config.train.num_steps
        self.images_per_step = config.train.batch_size * batches_per_step
        self.writer = writer
        self.show_status = writer is not None and not sys.stderr.isatty()
        self._pending: tuple[int, dict[str, jax.Array]] | None = None
        self._clock = (start_step, time.perf_counter())
        self.progress = tqdm(
            total=self.num_steps, initial=start_step, unit="step", dynamic_ncols=True, disable=None if writer else True
        )

    def push(self, step: int, metrics: dict[str, jax.Array]) -> None:
        """Queues step `step`'s metrics and handles those of the step before."""
        self.flush()
        self._pending = (step, metrics)

    def flush(self) -> None:
        """Handles the queued metrics now (blocks until their step is computed).

        Raises:
          NonFiniteError: naming the network and the step whose loss, gradient or parameters are not finite.
        """
        if self._pending is None:
            return
        step, metrics = self._pending
        self._pending = None
        values = {key: value.item() for key, value in jax.device_get(metrics).items()}
        losses = [f"{network}_loss" for network in _NETWORKS if f"{network}_loss" in values]
        for network, name in _NETWORKS.items():
            if values.get(f"{network}_nonfinite"):
                raise NonFiniteError(
                    f"non-finite values in the {name} at step {step}: loss {values[f'{network}_loss']}, gradient "
                    f"norm {values[f'{network}_grad_norm']}, parameter norm {values[f'{network}_param_norm']}"
                )
        self.progress.update(1)
        if step % self.log_every:
            return
        first, since = self._clock
        now = time.perf_counter()
        values["images_per_sec"] = (step - first) * self.images_per_step / (now - since)
        self._clock = (step, now)
        self.progress.set_postfix({key: f"{values[key]:.3f}" for key in losses})
        if self.writer is not None:
            self.writer.scalars(step, values)
        if self.show_status:
            remaining = (self.num_steps - step) * self.images_per_step / values["images_per_sec"]
            loss_text = "".join(f", {key} {values[key]:.4f}" for key in losses)
            log.info(
                "step %d/%d: %.0f img/s%s, ETA %s",
                step,
                self.num_steps,
                values["images_per_sec"],
                loss_text,
                _duration(remaining),
            )

    @contextlib.contextmanager
    def paused(self, step: int) -> Iterator[None]:
        """For work after step `step` that is not training: handles the step's metrics first (so its throughput
        is measured up to its end), and measures throughput again from the end of the work."""
        self.flush()
        yield
        self._clock = (step, time.perf_counter())

    def close(self) -> None:
        self.progress.close()


class BestCheckpoint:
    """Keeps the state with the best `metric` seen so far in `directory` (the lowest FID, KID or LPIPS, the highest
    PSNR or SSIM: `HIGHER_IS_BETTER`), with its scores and evaluation protocol.

    Survives restarts: the best value is read back from the checkpoint (verified; when it is damaged, a warning says
    so and the next evaluation becomes the best). Inactive when `metric` is empty.
    """

    def __init__(self, directory: pathlib.Path, metric: str):
        self.metric = metric
        self.sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0  # compares sign * value: lower is better
        self.checkpoints = Checkpoints(directory, keep=1) if metric else None
        self.best = float("inf")
        if self.checkpoints is None:
            return
        try:
            newest = self.checkpoints.newest_intact(self.checkpoints.metrics)
        except CheckpointError as damage:
            log.warning("%s; the next evaluation becomes the best", damage)
            newest = None
        if newest is not None:
            self.best = self.sign * newest[1].get(metric, self.sign * float("inf"))

    def offer(self, step: int, state: TrainState, config_json: dict, evaluation: Evaluation) -> None:
        """Saves `state` as the best if its score beats the best so far (all processes must call this)."""
        value = evaluation.scores.get(self.metric)
        if self.checkpoints is None or value is None or not self.sign * value < self.best:
            return
        self.best = self.sign * value
        self.checkpoints.save(step, state, config_json, metrics=evaluation.scores | evaluation.protocol)
        log.info("step %d: new best %s %.4g, saved in %s", step, self.metric, value, self.checkpoints.directory)

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()


def _restore_or_create(
    task: Task, config: ml_collections.ConfigDict, config_json: dict, checkpoints: Checkpoints, shardings: TrainState
) -> TrainState:
    """The state of the newest intact checkpoint (verified; damaged ones are skipped with a warning), or step 0."""
    restored = checkpoints.restore_newest(abstract_state(task, config.seed, shardings), config_json)
    if restored is None:
        log.info("starting from scratch (no checkpoint in %s)", checkpoints.directory)
        return create_state(task, config.seed, shardings)
    step, state = restored
    log.info("resuming from the checkpoint at step %d", step)
    return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> TrainState:
    """Trains the model that `config` describes (its task: ganjax/tasks/), in `workdir`, resuming from its newest
    intact checkpoint.

    Writes into workdir: config.json, checkpoints/<step>/ (state and config), metrics.jsonl, tensorboard/ and
    samples/<name>_<step>.png; with config.eval.best_metric (FID by default) among the metrics, also best/<step>/:
    the state with the best value so far, with its scores. Returns the final state.

    Connects to the other processes first when config.distributed or the environment asks for it (see
    ganjax/distributed.py), so nothing may touch a JAX device before this call.

    Raises:
      ConfigError: a bad config or data, before anything is compiled.
      CheckpointError: checkpoints exist in workdir but none of them is intact.
      DistributedError: the coordinator of a multi-process run could not be reached; nothing was written.
      NonFiniteError: training diverged; the checkpoints saved before it are kept.
    """
    workdir = pathlib.Path(workdir)
    config_lib.validate_config(config)
    distributed.initialize(config.distributed)
    check_ready(config)  # the Inception weights the metrics need
    mesh = parallel.make_mesh(config.mesh)
    config_lib.validate_layout(config, mesh, jax.process_count())
    task = build_task(config)
    sources = open_domains(config.data, config.seed)
    task.check_data(sources)
    # Made now, so that an evaluation set that cannot feed the model is refused before anything is compiled.
    sample_grid = task.sample_grid(mesh)
    evaluator = task.evaluator(mesh)
    config_json = json.loads(config.to_json())
    is_chief = jax.process_index() == 0
    log.info(
        "devices: %d x %s; mesh %s; data: %s",
        jax.device_count(),
        jax.devices()[0].platform,
        dict(mesh.shape),
        "; ".join(
            f"{domain + ': ' if domain else ''}{s.name}, {s.num_examples} examples" for domain, s in sources.items()
        ),
    )

    checkpoints = Checkpoints(workdir / CHECKPOINT_DIR, keep=config.train.keep_checkpoints)
    shardings = state_shardings(task, config.seed, mesh, config.sharding.fsdp_min_size)
    state = _restore_or_create(task, config, config_json, checkpoints, shardings)
    start_step = last_saved = int(state.step)
    if is_chief:  # only now: a refused config leaves the run's own config.json in place
        (workdir / CONFIG_FILE).write_text(config.to_json(indent=2) + "\n")
    log.info("parameters: %s", ", ".join(f"{name} {count}" for name, count in parameter_counts(state).items()))

    batch_sharding = parallel.step_batch_sharding(mesh)
    batch = task.batch_spec(config.train.batch_size, batch_sharding)
    train_steps = compile_train_steps(task, mesh, shardings, state, batch)
    batches = domain_batches(
        config.data,
        sources,
        batch_size=config.train.batch_size,
        batches_per_step=task.batches_per_step,
        seed=config.seed,
        start_step=start_step,
        num_steps=config.train.num_steps,
        process_index=parallel.process_batch_block(batch_sharding, config.train.batch_size),
        process_count=jax.process_count(),
    )
    writer = Writer(workdir, start_step) if is_chief else None
    reporter = _Reporter(config, task.batches_per_step, writer, start_step)
    best = BestCheckpoint(
        workdir / BEST_CHECKPOINT_DIR, config.eval.best_metric if config.eval.best_metric in config.eval.metrics else ""
    )
    stop_agreement = distributed.StopAgreement(mesh)

    def draw_samples(state: TrainState, step: int) -> None:
        image = sample_grid(state)
        if writer is not None:
            writer.picture(step, "samples", image)

    def keep(evaluation: Evaluation, state: TrainState, step: int) -> None:
        """Logs and writes an evaluation's scores and offers the state as the best."""
        if evaluation.scores:
            log.info("step %d: %s", step, evaluation.describe())
            if writer is not None:
                writer.scalars(step, evaluation.scores, text=evaluation.protocol)
            best.offer(step, state, config_json, evaluation)

    num_steps = config.train.num_steps
    if start_step >= num_steps:
        log.info("already trained to step %d of %d; nothing to do", start_step, num_steps)
    try:
        with StopRequest() as stop:
            for step in range(start_step + 1, num_steps + 1):
                local_batch = next(batches)
                global_batch = parallel.global_batch({key: local_batch[key] for key in batch}, batch_sharding)
                regularize = (step - 1) % task.penalty_interval == 0  # lazy regularisation: every k-th step
                state, metrics = train_steps[regularize](state, global_batch)
                reporter.push(step, metrics)
                stopping, last = stop_agreement(stop.requested), step == num_steps
                # Each `paused` first checks the step's metrics, so no non-finite state is ever saved or shown.
                if is_due(step, config.train.checkpoint_every, last=last or stopping):
                    with reporter.paused(step):
                        checkpoints.save(step, state, config_json)
                    last_saved = step
                if stopping:
                    log.warning(
                        "stopped by %s at step %d; checkpoint saved", stop.signal_name or "another process", step
                    )
                    break
                if is_due(step, config.train.sample_every, last=last):
                    with reporter.paused(step):
                        draw_samples(state, step)
                if is_due(step, config.eval.every, last=last):
                    with reporter.paused(step):
                        try:
                            with stop.interrupting():
                                evaluation = evaluator(state)
                        except EvaluationInterrupted:
                            if last_saved != step:
                                checkpoints.save(step, state, config_json)
                                last_saved = step
                            log.warning(
                                "stopped by %s during the evaluation after step %d, which was not finished; the "
                                "checkpoint of step %d is saved",
                                stop.signal_name,
                                step,
                                step,
                            )
                            break
                        keep(evaluation, state, step)
            checkpoints.wait()
        if is_chief and start_step < num_steps:
            log.info(
                "done at step %d: checkpoints in %s, metrics in %s, samples in %s",
                int(state.step),
                checkpoints.directory,
                workdir / METRICS_FILE,
                workdir / SAMPLES_DIR,
            )
    except NonFiniteError as error:
        saved = (
            f"Nothing after step {last_saved} was saved: the newest checkpoint in {checkpoints.directory} holds the "
            "last good state"
            if last_saved
            else "No checkpoint was saved"
        )
        raise NonFiniteError(
            f"{error}. {saved}. Lower the learning rates (--config.optim.g_lr, --config.optim.d_lr) or change the "
            "loss, then resume or start a new --workdir."
        ) from None
    finally:
        reporter.close()
        if writer is not None:
            writer.close()
        checkpoints.close()
        best.close()
    return state
