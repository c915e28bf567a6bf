"""Name -> object registries, so that a config string selects a model, loss, dataset or metric.

An unknown name fails with the list of valid ones, at start-up, before anything is compiled::

    LOSSES = Registry("loss", config_key="loss")

    @LOSSES.register("hinge")
    def hinge(real_logits, fake_logits): ...

    LOSSES.get("hinge")   # the function
    LOSSES.get("hnige")   # ConfigError: unknown loss 'hnige' (--config.loss); valid: hinge, ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ganjax.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to registered objects, with helpful errors.

    Args:
      kind: what the entries are, for error messages ("loss", "model", ...).
      config_key: the config field that selects an entry, named in error messages.
    """

    def __init__(self, kind: str, config_key: str):
        self.kind = kind
        self.config_key = config_key
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers its argument under `name` and returns it unchanged."""

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        """The entry registered as `name`; a ConfigError listing the valid names otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r} (--config.{self.config_key}); valid: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)
