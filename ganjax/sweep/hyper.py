"""The helpers a sweep spec builds its runs with: this module itself is the `h` of a spec's `get_sweep(h)`.

A run is a dict {dotted config field: value}; each helper returns a list of runs::

    h.sweep("loss", ["hinge", "wasserstein"])           # [{"loss": "hinge"}, {"loss": "wasserstein"}]
    h.product([h.sweep("loss", [...]), h.seeds(3)])     # every combination, the last factor varying fastest
    h.zip([h.sweep("optim.g_lr", [1e-3, 1e-4]), h.sweep("optim.d_lr", [4e-3, 4e-4])])   # pairs
    h.random(8, {"optim.d_lr": h.loguniform(1e-5, 1e-2)}, seed=0)                      # seeded random search

Lists of runs also combine with `+` (one list after the other). Bad arguments raise ConfigError while the spec is
loaded, before anything is built.
"""

from __future__ import annotations

import builtins
import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from ganjax.errors import ConfigError

Runs = list[dict[str, Any]]


class Distribution(Protocol):
    """What `random` draws a field's values from."""

    def draw(self, rng: np.random.Generator) -> Any:
        """One value, drawn with `rng`."""


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Floats whose logarithm is uniform: as likely in [1e-4, 1e-3] as in [1e-3, 1e-2]. 0 < low < high."""

    low: float
    high: float

    def __post_init__(self):
        if not 0 < self.low < self.high:
            raise ConfigError(f"h.loguniform({self.low}, {self.high}): needs 0 < low < high")

    def draw(self, rng: np.random.Generator) -> float:
        # exp(log(high)) may round one ulp above high.
        return min(self.high, math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Floats uniform in [low, high). low < high."""

    low: float
    high: float

    def __post_init__(self):
        if not self.low < self.high:
            raise ConfigError(f"h.uniform({self.low}, {self.high}): needs low < high")

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of `values`, each equally likely; the value itself, as given."""

    values: tuple[Any, ...]

    def __post_init__(self):
        if not self.values:
            raise ConfigError("h.choice([]): no values; give at least one")

    def draw(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]


def loguniform(low: float, high: float) -> LogUniform:
    """Log-uniform floats in [low, high], for `random`; a ConfigError unless 0 < low < high."""
    return LogUniform(low, high)


def uniform(low: float, high: float) -> Uniform:
    """Uniform floats in [low, high), for `random`; a ConfigError unless low < high."""
    return Uniform(low, high)


def choice(values: Iterable[Any]) -> Choice:
    """One of `values` (non-empty), uniformly, for `random`."""
    return Choice(tuple(values))


def sweep(key: str, values: Iterable[Any]) -> Runs:
    """One run per value: [{key: value} for value in values]. `key` is a dotted config field ("optim.d_lr")."""
    if not isinstance(key, str):
        raise ConfigError(f"h.sweep({key!r}, ...): the key must be a dotted config field name, e.g. 'optim.d_lr'")
    runs = [{key: value} for value in values]
    if not runs:
        raise ConfigError(f"h.sweep({key!r}, ...): no values; give at least one")
    return runs


def seeds(n: int) -> Runs:
    """n runs that differ only in --config.seed: 0, 1, ..., n - 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"h.seeds({n!r}): needs a whole number of seeds, at least 1")
    return sweep("seed", range(n))


def product(factors: Sequence[Runs]) -> Runs:
    """Every combination of one run from each factor, merged; the last factor varies fastest:
    product([sweep("a", [1, 2]), sweep("b", [3, 4])]) is a=1 b=3, a=1 b=4, a=2 b=3, a=2 b=4."""
    _check_factors("h.product", factors)
    return [_merge(runs) for runs in itertools.product(*factors)]


def zip(factors: Sequence[Runs]) -> Runs:
    """The i-th runs of all factors merged, for each i; the factors must have the same length:
    zip([sweep("a", [1, 2]), sweep("b", [3, 4])]) is a=1 b=3, a=2 b=4."""
    _check_factors("h.zip", factors)
    lengths = [len(factor) for factor in factors]
    if len(set(lengths)) > 1:
        raise ConfigError(
            f"h.zip: the factors have different lengths ({', '.join(map(str, lengths))}); zip pairs runs one to one"
        )
    return [_merge(runs) for runs in builtins.zip(*factors, strict=True)]


def random(n: int, distributions: dict[str, Distribution], seed: int) -> Runs:
    """n runs whose values are drawn from `distributions` ({key: loguniform(...) | uniform(...) | choice(...)}) with
    numpy's default_rng(seed): run by run, the keys in sorted order, so the runs depend only on the arguments (and
    the first k of n runs are the runs of n=k)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"h.random({n!r}, ...): needs a whole number of runs, at least 1")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"h.random(..., seed={seed!r}): the seed must be an int, so the search can be repeated")
    if not distributions:
        raise ConfigError("h.random: no distributions; give {key: h.loguniform(...), ...}")
    for key, distribution in distributions.items():
        if not isinstance(key, str) or not callable(getattr(distribution, "draw", None)):
            raise ConfigError(
                f"h.random: {key!r}: {distribution!r} is not a distribution; use h.loguniform, h.uniform or h.choice"
            )
    rng = np.random.default_rng(seed)
    return [{key: distributions[key].draw(rng) for key in sorted(distributions)} for _ in range(n)]


def _check_factors(helper: str, factors: Sequence[Runs]) -> None:
    """Refuses no factors, a factor that is not a non-empty list of runs, and a key set by two factors."""
    if not factors:
        raise ConfigError(f"{helper}([]): no factors; give a list of lists of runs, e.g. [h.sweep(...), h.seeds(3)]")
    owners: dict[str, int] = {}
    for index, factor in enumerate(factors):
        if not isinstance(factor, list | tuple) or not factor or not all(isinstance(run, dict) for run in factor):
            raise ConfigError(
                f"{helper}: factor {index} is {factor!r:.80}, not a non-empty list of runs (e.g. h.sweep(...))"
            )
        for key in {key for run in factor for key in run}:
            if key in owners:
                raise ConfigError(
                    f"{helper}: {key!r} is set by factors {owners[key]} and {index}; set each key in one factor"
                )
            owners[key] = index


def _merge(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {key: value for run in runs for key, value in run.items()}
