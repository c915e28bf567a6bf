"""The datasets a run trains on, by domain: one for most tasks, two for unpaired translation (CycleGAN).

A one-dataset run's `config.data` is that dataset's config (name, split, root, path, resize, crop, flip_rotate, ...)
and its batches have the keys "image" (and "label"). A two-domain run's `config.data` holds one such config per
domain, `config.data.a` and `config.data.b`, beside the shared `num_threads`; each domain is read in its own order,
with its own epochs, and its batch keys are prefixed with its name: "a_image", "b_image".

Each domain's order is a pure function of (its seed, position) as for one dataset (ganjax/data/pipeline.py), so both
are fixed by the step and a resumed run reads exactly what an uninterrupted one would.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import ml_collections
import numpy as np

from ganjax.data.pipeline import check_patches, train_batches
from ganjax.data.sources import Source, open_source

# The names of a two-domain run's datasets, in `config.data`.
DOMAINS = ("a", "b")


def domain_configs(data_config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
    """{domain: its dataset's config}: {"": data_config} for one dataset, {"a": data_config.a, "b": data_config.b}
    for two domains."""
    if "name" in data_config:
        return {"": data_config}
    return {domain: data_config[domain] for domain in DOMAINS}


def batch_key(domain: str, key: str) -> str:
    """The key of a domain's `key` ("image", "label") in the step's batch: "image" for one dataset, "a_image"."""
    return f"{domain}_{key}" if domain else key


def domain_seed(seed: int, domain: str) -> int:
    """The seed of a domain's order and patches: the run's seed for one dataset; for two, the run's seed offset by a
    fixed hash of the domain's name, so that the two domains' orders differ."""
    return seed + zlib.crc32(domain.encode()) if domain else seed


def open_domains(data_config: ml_collections.ConfigDict, seed: int) -> dict[str, Source]:
    """Opens every domain's dataset and checks that its images can be cut and turned as configured.

    Raises:
      DataError, ConfigError: a dataset that cannot be read, or patches its images cannot give.
    """
    sources = {}
    for domain, config in domain_configs(data_config).items():
        sources[domain] = open_source(config, seed)
        check_patches(sources[domain], crop=config.crop, flip_rotate=config.flip_rotate)
    return sources


def domain_batches(
    data_config: ml_collections.ConfigDict,
    sources: dict[str, Source],
    *,
    batch_size: int,
    batches_per_step: int,
    seed: int,
    start_step: int,
    num_steps: int,
    process_index: int,
    process_count: int,
) -> Iterator[dict[str, np.ndarray]]:
    """Every domain's `train_batches` for steps start_step, ..., num_steps - 1, one dict per step with each domain's
    keys prefixed (`batch_key`); the arguments are `train_batches`'s."""
    configs = domain_configs(data_config)
    streams = {
        domain: train_batches(
            source,
            batch_size=batch_size,
            batches_per_step=batches_per_step,
            seed=domain_seed(seed, domain),
            start_step=start_step,
            num_steps=num_steps,
            process_index=process_index,
            process_count=process_count,
            num_threads=data_config.num_threads,
            crop=configs[domain].crop,
            flip_rotate=configs[domain].flip_rotate,
        )
        for domain, source in sources.items()
    }
    for batches in zip(*streams.values(), strict=True):
        yield {
            batch_key(domain, key): value
            for domain, batch in zip(streams, batches, strict=True)
            for key, value in batch.items()
        }
