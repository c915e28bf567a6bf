"""Validation of a config: clear errors that say what is wrong and how to fix it, before anything is compiled."""

from __future__ import annotations

import math

import ml_collections
from jax.sharding import Mesh

from ganjax.augment import AUGMENTATIONS
from ganjax.data import DATASETS, Source
from ganjax.data.domains import domain_configs
from ganjax.data.pipeline import crop_shape
from ganjax.distributed import MODES
from ganjax.errors import ConfigError, check
from ganjax.losses import LOSSES
from ganjax.metrics import METRICS, PER_IMAGE_METRICS, lpips, perceptual
from ganjax.metrics.features import RESIZE_CONVENTIONS
from ganjax.metrics.inception_metrics import BEST_METRICS, INCEPTION_METRICS
from ganjax.metrics.likelihood import BOUND_SCORES
from ganjax.models import Networks
from ganjax.optim import SCHEDULES
from ganjax.parallel import batch_axes
from ganjax.penalties import PENALTIES


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Checks the shared fields: names against the registries and every number against its valid range. Each task
    checks its own fields (the model's among them) when it is built (ganjax/tasks/)."""
    LOSSES.get(config.loss)
    datasets = [data.name for data in domain_configs(config.data).values()]
    for dataset in datasets:
        DATASETS.get(dataset)
    for metric in config.eval.metrics:
        METRICS.get(metric)
        network = {**lpips.METRIC_NETWORKS, **perceptual.METRIC_NETWORKS}.get(metric)
        if network:
            lpips.weights_path(network)  # says what to install when the weights are absent
    for augmentation in config.augment.policy:
        AUGMENTATIONS.get(augmentation)
    SCHEDULES.get(config.optim.schedule)
    for name, weight in config.penalties.items():
        PENALTIES.get(name)
        check(weight >= 0, f"--config.penalties.{name} must be 0 (off) or positive; got {weight}")
    check(config.penalty_interval >= 1, f"--config.penalty_interval must be at least 1; got {config.penalty_interval}")

    optim, train = config.optim, config.train
    for name in ("g_lr", "d_lr"):
        check(optim[name] > 0, f"--config.optim.{name} must be positive; got {optim[name]}")
    for name in ("b1", "b2"):
        check(0 <= optim[name] < 1, f"--config.optim.{name} must be in [0, 1); got {optim[name]}")
    check(optim.d_steps >= 1, f"--config.optim.d_steps must be at least 1; got {optim.d_steps}")
    check(0 <= config.ema.decay < 1, f"--config.ema.decay must be in [0, 1); got {config.ema.decay}")
    check(config.ema.rampup >= 0, f"--config.ema.rampup must be 0 (off) or positive; got {config.ema.rampup}")
    check(optim.warmup_steps >= 0, f"--config.optim.warmup_steps must be >= 0; got {optim.warmup_steps}")
    augment_config = config.augment
    check(0 <= augment_config.p <= 1, f"--config.augment.p must be in [0, 1]; got {augment_config.p}")
    check(augment_config.ada_kimg > 0, f"--config.augment.ada_kimg must be positive; got {augment_config.ada_kimg}")
    if augment_config.ada_target is not None:
        target = augment_config.ada_target
        check(-1 < target < 1, f"--config.augment.ada_target must be in (-1, 1) (E[sign(D(x))]); got {target}")
        check(bool(augment_config.policy), "--config.augment.ada_target is set but --config.augment.policy is empty")
    for name in ("batch_size", "num_steps", "log_every", "checkpoint_every", "keep_checkpoints", "num_samples"):
        check(train[name] >= 1, f"--config.train.{name} must be at least 1; got {train[name]}")
    check(
        train.sample_every >= 0,
        f"--config.train.sample_every must be 0 (only at the end) or positive; got {train.sample_every}",
    )
    check(
        config.eval.every >= 0, f"--config.eval.every must be 0 (only at the end) or positive; got {config.eval.every}"
    )
    eval_config = config.eval
    check(eval_config.num >= 2, f"--config.eval.num must be at least 2; got {eval_config.num}")
    check(eval_config.num_reference >= 0, f"--config.eval.num_reference must be >= 0; got {eval_config.num_reference}")
    check(eval_config.batch_size >= 1, f"--config.eval.batch_size must be at least 1; got {eval_config.batch_size}")
    check(
        eval_config.resize in RESIZE_CONVENTIONS,
        f"--config.eval.resize must be one of {', '.join(RESIZE_CONVENTIONS)}; got {eval_config.resize!r}",
    )
    inception_metrics = [name for name in eval_config.metrics if name in INCEPTION_METRICS]
    check(
        not inception_metrics or "ring" not in datasets,
        f"--config.eval.metrics asks for {', '.join(inception_metrics)}, which compare images; the ring dataset has "
        "2-d points: use --config.eval.metrics=ring",
    )
    check(eval_config.num_pairs >= 1, f"--config.eval.num_pairs must be at least 1; got {eval_config.num_pairs}")
    check(
        eval_config.ppl_sampling in perceptual.SAMPLINGS,
        f"--config.eval.ppl_sampling must be {' or '.join(perceptual.SAMPLINGS)}; got {eval_config.ppl_sampling!r}",
    )
    best_metrics = (*BEST_METRICS, *PER_IMAGE_METRICS, *BOUND_SCORES.values(), *perceptual.METRIC_NETWORKS)
    check(
        eval_config.best_metric in ("", *best_metrics),
        f"--config.eval.best_metric must be {', '.join(best_metrics)} or '' (none); got {eval_config.best_metric!r}",
    )
    check(config.data.num_threads >= 0, f"--config.data.num_threads must be >= 0; got {config.data.num_threads}")
    check(
        config.sharding.fsdp_min_size >= 1,
        f"--config.sharding.fsdp_min_size must be at least 1; got {config.sharding.fsdp_min_size}",
    )
    distributed = config.distributed
    check(
        str(distributed.enabled).lower() in MODES,
        f"--config.distributed.enabled must be one of {', '.join(MODES)}; got {distributed.enabled!r}",
    )
    for name in ("num_processes", "initialization_timeout", "local_device_count"):
        value = distributed[name]
        check(value is None or value >= 1, f"--config.distributed.{name} must be at least 1; got {value}")
    check(
        distributed.process_id is None or distributed.process_id >= 0,
        f"--config.distributed.process_id must be >= 0; got {distributed.process_id}",
    )


def validate_layout(config: ml_collections.ConfigDict, mesh: Mesh, process_count: int) -> None:
    """The global batch must split evenly over the batch axes of the mesh (data and fsdp) and over the processes."""
    axes = batch_axes(mesh)
    batch_size, batch_devices = config.train.batch_size, math.prod(mesh.shape[axis] for axis in axes)
    check(
        batch_size % batch_devices == 0,
        f"--config.train.batch_size={batch_size} does not divide over the {batch_devices} devices of the mesh's "
        f"{' and '.join(axes)} axes; use a multiple of {batch_devices}",
    )
    check(
        batch_size % process_count == 0,
        f"--config.train.batch_size={batch_size} does not divide over {process_count} processes",
    )


def check_data_matches_model(
    source: Source, networks: Networks, augment_policy: tuple[str, ...] | list[str] = ()
) -> None:
    """The dataset's samples must have the shape the generator makes, labels when the model is conditional, and be
    images when they are to be augmented."""
    check(
        not augment_policy or len(source.sample_shape) == 3,
        f"--config.augment.policy={tuple(augment_policy)} augments images, but {source.name} has samples of shape "
        f"{source.sample_shape}; set --config.augment.policy='()'",
    )
    if networks.num_classes:
        check(
            source.num_classes > 0,
            f"the model is conditional (--config.model.num_classes={networks.num_classes}) but {source.name} has no "
            "labels; set --config.model.num_classes=0, or use labelled data",
        )
        check(
            source.num_classes == networks.num_classes,
            f"{source.name} has {source.num_classes} classes but --config.model.num_classes={networks.num_classes}",
        )
    if source.sample_shape == networks.sample_shape:
        return
    hint = ""
    if len(source.sample_shape) == 3 and source.sample_shape[0] == source.sample_shape[1]:
        height, _, channels = source.sample_shape
        hint = f"; for this data set --config.model.resolution={height} --config.model.channels={channels}"
    raise ConfigError(
        f"the data and the model disagree: {source.name} has samples of shape {source.sample_shape}, but the model "
        f"makes {networks.sample_shape}{hint}"
    )


def check_images_match_model(
    source: Source, crop: int | None, wanted: tuple[int, int, int], *, what: str, channels_option: str, size_hint: str
) -> None:
    """ConfigError unless `source`'s samples, cropped to `crop` (0 or None: whole), are images of the shape `wanted`
    (H, W, C) that the model (`what`: "the restoration model", "domain b's models", ...) trains on: naming the
    option that sets the channels when they differ, and `size_hint` (how to make the sizes agree) when the size
    does."""
    shape = crop_shape(source.sample_shape, crop)
    if len(shape) != 3 or shape[-1] != wanted[-1]:
        raise ConfigError(
            f"{what} was built for {wanted[-1]}-channel images ({channels_option}), but {source.name} has samples of "
            f"shape {source.sample_shape}" + (f"; set {channels_option}={shape[-1]}" if len(shape) == 3 else "")
        )
    if shape != wanted:
        raise ConfigError(
            f"{what} trains on images of shape {wanted}, but {source.name} gives {shape} (crop {crop}); {size_hint}"
        )
