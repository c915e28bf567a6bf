"""A sweep spec: a Python file that names a base config and the runs that change it.

    \"\"\"What the sweep asks.\"\"\"
    BASE = "toy_ring"                # configs/toy_ring.py (":variant" as --config takes it); or define get_config()
    METRIC = "high_quality_share"    # optional: the score a report ranks the runs by

    def get_sweep(h):                # h: ganjax/sweep/hyper.py
        return h.product([h.sweep("loss", ["non_saturating", "hinge"]), h.seeds(3)])

`load_spec` runs the file and checks every run against the base config: each key must name a field and each value
must fit the field's type, and no two runs may be the same. `resolve_runs` adds the command line's overrides and
gives each run its config. A run is known by its id, a hash of its overrides, never by its position in the spec: a
reordered spec keeps its runs' ids.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import hashlib
import importlib.util
import json
import pathlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import ml_collections

from ganjax.cli import config_field_problem, tuple_from_text
from ganjax.errors import ConfigError
from ganjax.sweep import hyper

# The folder holding the ganjax package and the repository's configs/.
REPO = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Spec:
    """A loaded, checked sweep spec."""

    path: pathlib.Path
    sha256: str  # hex sha256 of the spec file's bytes
    base: ml_collections.ConfigDict  # the base config
    runs: tuple[dict[str, Any], ...]  # each run's overrides {dotted key: value}, typed as the field, in spec order
    metric: str | None  # the spec's METRIC, or None


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a sweep, ready to train."""

    id: str  # run_id(overrides)
    overrides: dict[str, Any]  # the spec's overrides of this run (not the command line's)
    config: ml_collections.ConfigDict  # base + command-line overrides + this run's overrides


def load_spec(path: str | pathlib.Path) -> Spec:
    """Runs the spec file at `path` (with the current directory and the repository root importable, so that it may
    `from configs import default`) and checks its runs against its base config.

    Raises:
      ConfigError: one line, starting with the path, for a missing file, no get_sweep, not exactly one of BASE and
        get_config, an unknown BASE, no runs or runs that are not dicts, an unknown key, a value that does not fit
        its field, two runs with the same overrides, or two runs with the same id.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"no sweep spec at {path}: give the path of a Python file that defines get_sweep(h)")
    try:
        return _load(path)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


def parse_overrides(base: ml_collections.ConfigDict, flags: list[str]) -> dict[str, Any]:
    """Command-line overrides ["train.num_steps=100", "loss=hinge", "augment.policy=color,cutout"] as {key: value},
    each value typed as its field in `base`: str fields take the text as it is, bool fields also true/false, tuple
    fields comma-separated items or a Python literal (as train.py reads them), the others a Python literal.

    Raises:
      ConfigError: naming the flag, for one without '=', an unknown field, a key given twice, or a value that does
        not fit its field.
    """
    scratch, overrides = copy.deepcopy(base), {}
    for flag in flags:
        key, has_value, text = flag.partition("=")
        if not has_value or not key:
            raise ConfigError(f"{flag!r}: an override is KEY=VALUE, e.g. train.num_steps=100")
        problem = config_field_problem(base, key)
        if problem:
            raise ConfigError(problem)
        if key in overrides:
            raise ConfigError(f"{flag!r}: {key} is given twice; give it once")
        section, name = _section(base, key)
        value = _literal(text, section.get_type(name))
        overrides.update(_apply(scratch, {key: value}, repr(flag)))
    return overrides


def run_id(overrides: dict[str, Any]) -> str:
    """10 hex digits of the sha256 of the overrides as canonical JSON (sorted keys, tuples as lists, floats by their
    shortest repr): the same for the same values whatever the order of the keys or of the runs (1e-3 and 0.001 are
    one value)."""
    return hashlib.sha256(_canonical(overrides).encode()).hexdigest()[:10]


def resolve_runs(spec: Spec, command_line: dict[str, Any]) -> list[Run]:
    """The runs of `spec` in spec order, each with its config: the base, then `command_line` (parse_overrides), then
    the run's own overrides.

    Raises:
      ConfigError: a command-line key the spec sweeps (which of the two should win is unclear), an unknown key or a
        value that does not fit.
    """
    with_command_line = copy.deepcopy(spec.base)
    command_line = _apply(with_command_line, command_line, "the command line")
    swept = sorted({key for run in spec.runs for key in run} & set(command_line))
    if swept:
        raise ConfigError(
            f"{', '.join(swept)}: set on the command line and swept by {spec.path}; set each in one of them"
        )
    runs = []
    for index, overrides in enumerate(spec.runs):
        config = copy.deepcopy(with_command_line)
        _apply(config, overrides, f"{spec.path}: run {index}")
        runs.append(Run(run_id(overrides), dict(overrides), config))
    return runs


def configuration(overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides without "seed": what the runs of one configuration, repeated over seeds, share."""
    return {key: value for key, value in overrides.items() if key != "seed"}


def configuration_label(overrides: dict[str, Any]) -> str:
    """The overrides as one short line, keys sorted: "loss=hinge, optim.d_lr=0.001"; "base" when there are none."""
    shown = (f"{key}={value if isinstance(value, str) else repr(value)}" for key, value in sorted(overrides.items()))
    return ", ".join(shown) or "base"


def _load(path: pathlib.Path) -> Spec:
    """load_spec without the path in front of its errors."""
    with _importable(pathlib.Path.cwd(), REPO):
        module = _execute(path, "_ganjax_sweep_spec")
        if not callable(getattr(module, "get_sweep", None)):
            raise ConfigError(
                "no get_sweep(h): define get_sweep(h) returning the runs, e.g. "
                "h.product([h.sweep('loss', ['hinge', 'wasserstein']), h.seeds(3)])"
            )
        if hasattr(module, "BASE") == hasattr(module, "get_config"):
            raise ConfigError(
                "define the base config once: BASE = '<name of a config in configs/>' or get_config() returning an "
                f"ml_collections.ConfigDict; {'both are' if hasattr(module, 'BASE') else 'neither is'} defined"
            )
        base = _named_config(module.BASE) if hasattr(module, "BASE") else module.get_config()
        if not isinstance(base, ml_collections.ConfigDict):
            raise ConfigError(f"get_config() returned a {type(base).__name__}, not an ml_collections.ConfigDict")
        runs = module.get_sweep(hyper)
    metric = getattr(module, "METRIC", None)
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"METRIC = {metric!r}: name the score to rank by as a str, e.g. 'fid'")
    return Spec(path, hashlib.sha256(path.read_bytes()).hexdigest(), base, tuple(_checked_runs(base, runs)), metric)


def _checked_runs(base: ml_collections.ConfigDict, runs: Any) -> list[dict[str, Any]]:
    """The runs of get_sweep(h), each checked against `base` and typed as its fields; no two the same."""
    if not isinstance(runs, list | tuple):
        raise ConfigError(f"get_sweep(h) returned a {type(runs).__name__}, not a list of runs (e.g. h.sweep(...))")
    if not runs:
        raise ConfigError("get_sweep(h) returned no runs; return at least one, e.g. h.seeds(1)")
    checked, seen = [], {}
    for index, run in enumerate(runs):
        if not isinstance(run, dict):
            raise ConfigError(f"get_sweep(h) run {index} is {run!r:.80}, not a dict {{key: value}}")
        overrides = _apply(copy.deepcopy(base), run, f"run {index}")
        identity = run_id(overrides)
        if identity in seen:
            other = seen[identity]
            if _canonical(checked[other]) == _canonical(overrides):
                raise ConfigError(
                    f"runs {other} and {index} are the same run ({configuration_label(overrides)}); remove one"
                )
            raise ConfigError(
                f"runs {other} ({configuration_label(checked[other])}) and {index} ({configuration_label(overrides)}) "
                f"have the same id {identity}; change a value of one slightly"
            )
        seen[identity] = index
        checked.append(overrides)
    return checked


def _apply(config: ml_collections.ConfigDict, overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Sets each override in `config` (which it changes) and returns them typed as their fields (an int given to a
    float field becomes a float, a list given to a tuple field a tuple). ml_collections decides what fits a field,
    except that a bool fits no int or float field and None only a field that is None (a placeholder)."""
    typed = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}: the key {key!r} is not a dotted config field name, e.g. 'optim.d_lr'")
        problem = config_field_problem(config, key)
        if problem:
            raise ConfigError(f"{where}: {problem}")
        section, name = _section(config, key)
        if isinstance(section[name], ml_collections.ConfigDict):
            raise ConfigError(f"{where}: --config.{key} is a section, not a field; set its fields, e.g. {key}.x")
        field_type = section.get_type(name)
        fits = not (isinstance(value, bool) and field_type in (int, float)) and (
            value is not None or section[name] is None
        )
        if fits:
            try:
                section[name] = value
            except TypeError:
                fits = False
        if not fits:
            raise ConfigError(
                f"{where}: {value!r} ({type(value).__name__}) does not fit --config.{key} ({field_type.__name__})"
            )
        typed[key] = float(section[name]) if isinstance(section[name], float) else section[name]
        try:
            _canonical(typed[key])
        except TypeError:
            raise ConfigError(
                f"{where}: {value!r} for --config.{key} is not a number, str, bool, None or a tuple of them"
            ) from None
    return typed


def _section(config: ml_collections.ConfigDict, key: str) -> tuple[ml_collections.ConfigDict, str]:
    """The section that holds the field `key` ("optim.d_lr": config.optim) and the field's name in it ("d_lr")."""
    *parents, name = key.split(".")
    for parent in parents:
        config = config[parent]
    return config, name


def _literal(text: str, field_type: type) -> Any:
    """The value of a command-line override's text for a field of `field_type`: a tuple field's as train.py reads it
    (`cli.tuple_from_text`: `color,cutout` or a Python literal); text that is no Python literal stays text, so that
    the field's type check names it."""
    if field_type is str:
        return text
    if field_type is tuple:
        return tuple_from_text(text)
    if field_type is bool and text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _canonical(value: Any) -> str:
    """`value` as canonical JSON: sorted keys, tuples as lists, floats as their shortest repr."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _named_config(base: Any) -> ml_collections.ConfigDict:
    """The config BASE names: "<name>[:variant]" is configs/<name>.py in the current directory if it is there, else in
    the repository, with get_config(variant) as --config calls it."""
    name, _, variant = base.partition(":") if isinstance(base, str) else ("", "", "")
    folders = [pathlib.Path.cwd() / "configs", REPO / "configs"]
    paths = [folder / f"{name}.py" for folder in folders if name.isidentifier()]
    path = next((path for path in paths if path.is_file()), None)
    if path is None:
        names = sorted({file.stem for folder in folders for file in folder.glob("*.py")} - {"__init__"})
        raise ConfigError(f"BASE = {base!r} names no config in configs/; valid: {', '.join(names) or 'none'}")
    module = _execute(path, f"_ganjax_sweep_base_{name}")
    return module.get_config(variant) if variant else module.get_config()


def _execute(path: pathlib.Path, name: str) -> ModuleType:
    """Runs the Python file at `path` as a module called `name` (not added to sys.modules)."""
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _importable(*folders: pathlib.Path) -> Iterator[None]:
    """Puts `folders` at the front of sys.path for the duration (those not already on it), then takes them off."""
    added = [str(folder) for folder in folders if str(folder) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            sys.path.remove(folder)
