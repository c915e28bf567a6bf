"""Every error that ganjax expects and reports to the user as one clear message (and exit status 2 from the CLIs).

Each says what was wrong and how to fix it. They share the base `GanjaxError`, so a command-line entry point catches
all of them with one `except` (ganjax/cli.py) and imports nothing else to do so. Anything else that escapes is a bug
and keeps its traceback.
"""

from __future__ import annotations


class GanjaxError(Exception):
    """An expected failure with a message for the user."""


class ConfigError(GanjaxError, ValueError):
    """A configuration or input problem, reported before any expensive work starts."""


class DataError(ConfigError):
    """Missing or malformed data: names the path and says what was expected."""


class UnsafeArchiveError(GanjaxError, ValueError):
    """A weights file is not what it should be (a TorchScript archive of tensors and module state, a pickle of numpy
    arrays in dicts), or names code that is not allowed."""


class NoClassifierError(ConfigError):
    """Classifier logits were asked of Inception weights that end at the pool3 features."""


class CheckpointError(GanjaxError):
    """No checkpoint of a run could be used: each was damaged, or none exists where one was asked for."""


class DistributedError(GanjaxError, RuntimeError):
    """The processes of a multi-process run could not connect."""


class NonFiniteError(GanjaxError, RuntimeError):
    """A loss, gradient or parameter became NaN or infinite; nothing after the last good checkpoint was saved."""


def check(condition: bool, message: str) -> None:
    """Raises ConfigError(message) unless `condition` holds: how config checks read."""
    if not condition:
        raise ConfigError(message)
