"""Data: datasets by name (`sources`) and deterministic per-process batches (`pipeline`)."""

from ganjax.data.pipeline import train_batches
from ganjax.data.sources import DATA_DIR_ENV, DATASETS, Source, open_source

__all__ = ["DATASETS", "DATA_DIR_ENV", "Source", "open_source", "train_batches"]
