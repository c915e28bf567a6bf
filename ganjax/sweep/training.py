"""`train_unit`: the training loop of `train.py` (ganjax/train.py) for the members of one unit at once.

Each member keeps a normal run folder: config.json, checkpoints/ (its own state, unstacked, so `sample.py`,
`python -m ganjax.evaluate` and `python -m ganjax.sweep export` read it as any run), metrics.jsonl, tensorboard/,
samples/, best/; and, for the sweep, status.json and evaluations.jsonl. Members are checkpointed, sampled and
evaluated at the steps their (shared) config says, and resume together from the newest step that all of them saved,
exactly as `train.py` resumes one run: the step fixes the data position and the randomness.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import time
from collections.abc import Callable, Iterator, Sequence

import jax
import ml_collections
import numpy as np

from ganjax import config as config_lib
from ganjax import parallel
from ganjax.checkpoint import Checkpoints
from ganjax.data import ring
from ganjax.data.domains import domain_batches, domain_configs
from ganjax.data.sources import SEEDED_DATASETS, Source, open_source
from ganjax.metrics.inception_metrics import INCEPTION_METRICS, check_ready
from ganjax.state import TrainState
from ganjax.sweep import plan as plan_lib
from ganjax.sweep.members import MemberGroup, compile_members, member_mesh, pad, slots
from ganjax.tasks import build_task
from ganjax.train import (
    BEST_CHECKPOINT_DIR,
    CHECKPOINT_DIR,
    BestCheckpoint,
    EvaluationInterrupted,
    StopRequest,
    is_due,
)
from ganjax.writers import Writer, truncate_metrics

log = logging.getLogger(__name__)

# How a unit's training ended: every member finished or diverged; stopped by a signal (checkpoints saved); or its
# claim was taken over by another launcher (nothing written after that).
FINISHED, STOPPED, LOST = "finished", "stopped", "lost"


def _stack(states: Sequence[TrainState], sharding: jax.sharding.Sharding) -> TrainState:
    return jax.tree.map(lambda *leaves: jax.device_put(np.stack([np.asarray(x) for x in leaves]), sharding), *states)


def _open_sources(configs: Sequence[ml_collections.ConfigDict]) -> list[dict[str, Source]]:
    """Every member's datasets by domain; a dataset is read once and shared unless its samples depend on the seed."""
    opened: dict[str, Source] = {}
    member_sources = []
    for config in configs:
        sources = {}
        for domain, data in domain_configs(config.data).items():
            key = json.dumps([data.to_dict(), config.seed if data.name in SEEDED_DATASETS else None], default=repr)
            if key not in opened:
                opened[key] = open_source(data, config.seed)
            sources[domain] = opened[key]
        member_sources.append(sources)
    return member_sources


def _common_step(checkpoints: Sequence[Checkpoints]) -> int:
    """The newest step that every member has a done checkpoint of (0: none)."""
    common = set.intersection(*(set(c.steps()) for c in checkpoints)) if checkpoints else set()
    return max(common, default=0)


class _Member:
    """One member's folder and what writes into it."""

    def __init__(self, run_id: str, config: ml_collections.ConfigDict, folder: pathlib.Path):
        self.id, self.config, self.folder = run_id, config, folder
        self.config_json = json.loads(config.to_json())
        self.checkpoints = Checkpoints(folder / CHECKPOINT_DIR, keep=config.train.keep_checkpoints)
        metric = config.eval.best_metric if config.eval.best_metric in config.eval.metrics else ""
        self.best = BestCheckpoint(folder / BEST_CHECKPOINT_DIR, metric)
        self.writer: Writer | None = None
        self.trained_s = 0.0  # seconds trained before this launch, from the status at its checkpoint
        self.launched = time.perf_counter()

    def open(self, start_step: int) -> None:
        """Opens the writers at `start_step`, dropping records of later steps (a killed launch's)."""
        self.writer = Writer(self.folder, start_step)
        truncate_metrics(self.folder / plan_lib.EVALUATIONS_FILE, start_step)
        self.trained_s = (plan_lib.read_status(self.folder)["wall_time_s"] or 0.0) if start_step else 0.0
        self.launched = time.perf_counter()
        plan_lib.write_status(self.folder, plan_lib.RUNNING, start_step, wall_time_s=self.trained_s)

    def wall_time_s(self) -> float:
        return self.trained_s + time.perf_counter() - self.launched

    def close(self) -> None:
        for closing in (self.writer, self.checkpoints, self.best):
            if closing is not None:
                closing.close()


def evaluation_settings(config: ml_collections.ConfigDict) -> dict[str, str]:
    """The part of the evaluation protocol that the config sets: for the Inception metrics the samples drawn and the
    reference split and size; for the ring metric its sample count."""
    settings = {}
    if any(name in INCEPTION_METRICS for name in config.eval.metrics):
        settings["samples"] = str(config.eval.num)
        if "split" in config.eval:
            settings["reference_split"] = config.eval.split
        settings["reference_images"] = str(config.eval.num_reference or "all")
    if "ring" in config.eval.metrics:
        settings["ring_samples"] = str(ring.NUM_EVAL_SAMPLES)
    return settings


def train_unit(
    directory: pathlib.Path,
    unit: plan_lib.Unit,
    group: MemberGroup,
    run_ids: Sequence[str],
    devices: Sequence[jax.Device],
    *,
    lost: Callable[[], bool] = lambda: False,
) -> str:
    """Trains the members `run_ids` (configs: `group.configs`, in that order) of `unit` to their last step on
    `devices`, resuming from their checkpoints; writes each one's status.

    Returns FINISHED, STOPPED (a signal: checkpoints saved, statuses left unfinished) or LOST (`lost()` turned
    true: another launcher holds the unit now, so this one stops at once and writes nothing more).
    """
    configs = group.configs
    for config in configs:
        config_lib.validate_config(config)
    check_ready(configs[0])
    sources = _open_sources(configs)
    tasks = [build_task(config) for config in configs]
    for task, member_sources in zip(tasks, sources, strict=True):
        task.check_data(member_sources)
    members = [
        _Member(run_id, config, plan_lib.run_dir(directory, run_id))
        for run_id, config in zip(run_ids, configs, strict=True)
    ]
    try:
        return _UnitLoop(unit, group, members, tasks, sources, devices, lost).run()
    finally:
        for member in members:
            member.close()


class _UnitLoop:
    """train.py's loop over the steps, for the members of one unit: the stacked state advances one step at a time;
    each member is checkpointed, sampled and evaluated as its lone run would be."""

    def __init__(self, unit, group, members, tasks, sources, devices, lost):
        self.unit, self.group, self.members, self.lost = unit, group, members, lost
        self.config = group.configs[0]
        self.task = tasks[0]
        first = list(devices)[:1]  # evaluation and samples: on one device, as a one-device run would make them
        evaluation_mesh = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}), first)
        self.evaluation_device = jax.sharding.SingleDeviceSharding(first[0])
        self.sample_grids = [task.sample_grid(evaluation_mesh) for task in tasks]
        self.evaluators = [task.evaluator(evaluation_mesh) for task in tasks]
        self.sources = sources
        mesh = member_mesh(group.size, devices)
        self.length = slots(group.size, mesh)
        self.programs = compile_members(group, mesh, self.length)
        self.values = jax.device_put(pad(group.values(), self.length), self.programs.state_sharding)
        self.alive = np.arange(self.length) < group.size  # on the host: read one step late
        self._pending: tuple[int, dict[str, jax.Array], jax.Array] | None = None
        self._clock = (0, time.perf_counter())

    def _initial_state(self) -> tuple[int, TrainState]:
        """(step, stacked state): the newest step that every member saved, or step 0."""
        start_step = _common_step([member.checkpoints for member in self.members])
        if not start_step:
            return 0, self.programs.init(self.values)
        abstract = jax.eval_shape(self.task.init_state, self.config.seed)
        target = jax.tree.map(lambda leaf: leaf.update(sharding=self.evaluation_device), abstract)
        restored = [member.checkpoints.restore(start_step, target, member.config_json) for member in self.members]
        padding = restored[-1:] * (self.length - self.group.size)
        log.info("unit %s: %d members resume from step %d", self.unit.id, self.group.size, start_step)
        return start_step, _stack(restored + padding, self.programs.state_sharding)

    def _alive_members(self) -> list[tuple[int, _Member]]:
        return [(index, member) for index, member in enumerate(self.members) if self.alive[index]]

    def _flush(self) -> None:
        """Reads the queued step's metrics: marks the members that diverged in it, logs the others'."""
        if self._pending is None:
            return
        step, metrics, kept = self._pending
        self._pending = None
        values = {key: np.asarray(value) for key, value in jax.device_get(metrics).items()}
        kept = np.asarray(kept)
        for index, member in self._alive_members():
            if not kept[index]:
                log.warning("run %s diverged at step %d: frozen at its last finite state", member.id, step)
                error = "non-finite loss, gradient or parameters"
                plan_lib.write_status(member.folder, plan_lib.DIVERGED, step, error, member.wall_time_s())
        self.alive &= kept
        train = self.config.train
        if step % train.log_every:
            return
        first, since = self._clock
        now = time.perf_counter()
        images_per_sec = (step - first) * train.batch_size * self.task.batches_per_step / (now - since)
        self._clock = (step, now)
        for index, member in self._alive_members():
            record = {key: value[index].item() for key, value in values.items()}
            member.writer.scalars(step, {**record, "images_per_sec": images_per_sec})
        alive = int(self.alive[: self.group.size].sum())
        log.info(
            "unit %s step %d/%d: %d of %d members alive, %.0f img/s each",
            self.unit.id,
            step,
            train.num_steps,
            alive,
            self.group.size,
            images_per_sec,
        )

    @contextlib.contextmanager
    def _paused(self, step: int) -> Iterator[None]:
        """For work after `step` that is not training: handles the step's metrics first; throughput is measured
        again from the end of the work."""
        self._flush()
        yield
        self._clock = (step, time.perf_counter())

    @staticmethod
    def _on_host(state: TrainState) -> TrainState:
        """The stacked state copied to host memory once, so that a member's state is a numpy view
        (`_member_on_host`): slicing on the device would compile and run a program per leaf and member index."""
        return jax.device_get(state)

    @staticmethod
    def _member_on_host(host_state: TrainState, index: int) -> TrainState:
        return jax.tree.map(lambda leaf: leaf[index], host_state)

    def _member_state(self, host_state: TrainState, index: int) -> TrainState:
        """Member `index`'s state, from the stacked state on the host, on the evaluation device."""
        return jax.device_put(self._member_on_host(host_state, index), self.evaluation_device)

    def _save(self, step: int, state: TrainState) -> None:
        host_state = self._on_host(state)
        for index, member in self._alive_members():
            member.checkpoints.save(step, self._member_on_host(host_state, index), member.config_json)
        for _, member in self._alive_members():
            member.checkpoints.wait()
            plan_lib.write_status(member.folder, plan_lib.RUNNING, step, wall_time_s=member.wall_time_s())

    def _evaluate(self, step: int, state: TrainState) -> None:
        host_state = self._on_host(state)
        for index, member in self._alive_members():
            member_state = self._member_state(host_state, index)
            evaluation = self.evaluators[index](member_state)
            if not evaluation.scores:
                continue
            member.writer.scalars(step, evaluation.scores, text=evaluation.protocol)
            member.best.offer(step, member_state, member.config_json, evaluation)
            row = {
                "step": step,
                "metrics": evaluation.scores,
                "protocol": {**evaluation.protocol, **evaluation_settings(member.config)},
                "wall_time_s": round(member.wall_time_s(), 3),
            }
            with (member.folder / plan_lib.EVALUATIONS_FILE).open("a") as file:
                file.write(json.dumps(row) + "\n")

    def run(self) -> str:
        start_step, state = self._initial_state()
        for member in self.members:
            member.open(start_step)
        train = self.config.train
        streams = [
            domain_batches(
                member.config.data,
                sources,
                batch_size=train.batch_size,
                batches_per_step=self.task.batches_per_step,
                seed=member.config.seed,
                start_step=start_step,
                num_steps=train.num_steps,
                process_index=0,
                process_count=1,
            )
            for member, sources in zip(self.members, self.sources, strict=True)
        ]
        sharding = self.programs.state_sharding
        batch_keys = list(self.task.batch_spec(train.batch_size, sharding))
        alive = jax.device_put(self.alive, sharding)
        self._clock = (start_step, time.perf_counter())
        with StopRequest() as stop:
            for step in range(start_step + 1, train.num_steps + 1):
                if self.lost():
                    log.warning("unit %s was taken over by another launcher: stopping without saving", self.unit.id)
                    return LOST
                local = [next(stream) for stream in streams]
                local += local[-1:] * (self.length - len(local))  # the padding's batches: never used
                batch = {key: jax.device_put(np.stack([b[key] for b in local]), sharding) for key in batch_keys}
                regularize = (step - 1) % self.task.penalty_interval == 0
                state, metrics, alive = self.programs.steps[regularize](self.values, alive, state, batch)
                self._flush()
                self._pending = (step, metrics, alive)
                last = step == train.num_steps
                # Samples and evaluations come before the checkpoint of their step: a kill between them resumes
                # from the checkpoint before, drops the later records and makes them again, identically.
                if is_due(step, train.sample_every, last=last):
                    with self._paused(step):
                        host_state = self._on_host(state)
                        for index, member in self._alive_members():
                            picture = self.sample_grids[index](self._member_state(host_state, index))
                            member.writer.picture(step, "samples", picture)
                if is_due(step, self.config.eval.every, last=last):
                    with self._paused(step):
                        try:
                            with stop.interrupting():
                                self._evaluate(step, state)
                        except EvaluationInterrupted:
                            # Its checkpoint comes after it: the members resume from their newest checkpoints and
                            # make this step's records again, as after a kill.
                            log.warning(
                                "stopped by %s during the evaluation after step %d; resuming redoes it",
                                stop.signal_name,
                                step,
                            )
                            return STOPPED
                if is_due(step, train.checkpoint_every, last=last or stop.requested):
                    with self._paused(step):
                        self._save(step, state)
                if stop.requested and not last:
                    log.warning("stopped by %s at step %d; checkpoints saved", stop.signal_name, step)
                    return STOPPED
            self._flush()
        for _, member in self._alive_members():
            plan_lib.write_status(member.folder, plan_lib.DONE, train.num_steps, wall_time_s=member.wall_time_s())
        return FINISHED
