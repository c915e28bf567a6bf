"""What the command-line entry points share: the compilation cache and how errors reach the user."""

from __future__ import annotations

import logging
import os
import pathlib
import sys
from collections.abc import Callable
from typing import TypeVar

import jax
from absl import flags
from absl import logging as absl_logging

from ganjax.errors import GanjaxError

T = TypeVar("T")
CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def configure_logging() -> None:
    """ganjax's own messages at INFO; the libraries' (Orbax, TFDS, grain log through absl) only from WARNING,
    unless --verbosity is given."""
    logging.getLogger("ganjax").setLevel(logging.INFO)
    if not flags.FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)


def enable_compilation_cache() -> None:
    """Keeps compiled programs on disk so that a restarted or resumed run skips compilation.

    The folder is $JAX_COMPILATION_CACHE_DIR when set (JAX reads it itself), else ~/.cache/ganjax/jax.
    """
    if not os.environ.get(CACHE_ENV):
        jax.config.update("jax_compilation_cache_dir", str(pathlib.Path.home() / ".cache" / "ganjax" / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def run_reporting_errors(function: Callable[..., T], *args, **kwargs) -> T:
    """Calls function(*args, **kwargs); every expected failure (ganjax/errors.py) becomes its message on stderr and
    exit status 2."""
    try:
        return function(*args, **kwargs)
    except GanjaxError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
