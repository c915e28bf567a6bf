"""What the command-line entry points share: logging, XLA:CPU's fast convolutions, the compilation cache and how
errors reach the user."""

from __future__ import annotations

import ast
import difflib
import importlib.metadata
import importlib.util
import logging
import os
import pathlib
import sys
from collections.abc import Callable
from typing import TypeVar

import jax
import ml_collections
from absl import flags
from absl import logging as absl_logging
from ml_collections import config_flags
from ml_collections.config_flags import tuple_parser

from ganjax.errors import GanjaxError

T = TypeVar("T")
CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
MIN_COMPILE_TIME_ENV = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"
CPU_FLAGS_ENV = "GANJAX_CPU_FLAGS"
_CONVOLUTION_FUSION_FLAG_NAME = "xla_cpu_experimental_ynn_fusion_type"
_EIGEN_CONVOLUTIONS_FLAG = f"--{_CONVOLUTION_FUSION_FLAG_NAME}=-individual_convolution"
# jaxlib releases whose XLA is known to accept the flag: an XLA that does not know a flag in XLA_FLAGS refuses to start.
_JAXLIB_VERSIONS_WITH_CONVOLUTION_FUSION_FLAG = ("0.10.2",)

log = logging.getLogger("ganjax.cli")


def configure_logging() -> None:
    """ganjax's own messages at INFO; the libraries' (Orbax, TFDS, grain log through absl) only from WARNING,
    unless --verbosity is given."""
    logging.getLogger("ganjax").setLevel(logging.INFO)
    if not flags.FLAGS["verbosity"].present:
        absl_logging.set_verbosity(absl_logging.WARNING)


def use_fast_cpu_convolutions() -> None:
    """Adds `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution` to $XLA_FLAGS: XLA:CPU's convolutions
    then take its Eigen path instead of YNNPACK, the faster one on the CPUs ganjax was measured on
    (benchmarks/RESULTS.md, "XLA:CPU's convolutions, with and without the flag").

    Call it after configure_logging() and before anything creates a JAX backend: XLA reads $XLA_FLAGS then. It does
    nothing when $GANJAX_CPU_FLAGS is 0, when $XLA_FLAGS already names the flag, or when the installed jaxlib is not
    one the flag was verified on. It does not ask which backend JAX will use, since asking would create the backends:
    the flag changes only XLA:CPU's compiler, so on a GPU or TPU host the accelerator's programs stay as they were.
    """
    xla_flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get(CPU_FLAGS_ENV) == "0" or _CONVOLUTION_FUSION_FLAG_NAME in xla_flags:
        return
    if importlib.metadata.version("jaxlib") not in _JAXLIB_VERSIONS_WITH_CONVOLUTION_FUSION_FLAG:
        return
    os.environ["XLA_FLAGS"] = f"{xla_flags} {_EIGEN_CONVOLUTIONS_FLAG}".strip()
    log.info(
        "XLA:CPU convolutions on the Eigen path: added %s to XLA_FLAGS (%s=0 turns this off)",
        _EIGEN_CONVOLUTIONS_FLAG,
        CPU_FLAGS_ENV,
    )


def enable_compilation_cache() -> None:
    """Keeps compiled programs on disk so that a restarted or resumed run skips compilation.

    The folder is $JAX_COMPILATION_CACHE_DIR when set (JAX reads it itself), else ~/.cache/ganjax/jax. Programs that
    compiled in under $JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS are not kept (JAX reads it too), else under 0.5 s.
    """
    if not os.environ.get(CACHE_ENV):
        jax.config.update("jax_compilation_cache_dir", str(pathlib.Path.home() / ".cache" / "ganjax" / "jax"))
    if not os.environ.get(MIN_COMPILE_TIME_ENV):
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def run_reporting_errors(function: Callable[..., T], *args, **kwargs) -> T:
    """Calls function(*args, **kwargs); every expected failure (ganjax/errors.py) becomes its message on stderr and
    exit status 2."""
    try:
        return function(*args, **kwargs)
    except GanjaxError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def define_config_flag(
    default: str | pathlib.Path, flag_values: flags.FlagValues = flags.FLAGS
) -> config_flags.FlagHolder:
    """`--config FILE[:VARIANT]` (a Python file with get_config()) and its `--config.FIELD=VALUE` overrides, defined
    in `flag_values`; a tuple field also takes its items as a user writes them (`tuple_from_text`).

    A config that refuses its variant, or an override that names a field the config does not have, exits with status
    2 and one line (for a field: the valid fields of its section and the closest match) instead of the traceback
    ml_collections gives while the flag is defined.
    """
    message = _config_flag_problem(sys.argv[1:], str(default))
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    config_flags.register_flag_parser_for_type(tuple, _TupleFieldParser())
    return config_flags.DEFINE_config_file(
        "config", str(default), "Config file (a get_config() module)[:variant].", flag_values=flag_values
    )


def tuple_from_text(text: str) -> tuple:
    """A tuple field's value from the text of its override: a Python literal as ml_collections reads one (`('psnr',
    'ssim')`, `(16, 8)`, `16,8`, `[]`; anything else is a 1-tuple of it), else the comma-separated items as written,
    stripped: `psnr,ssim` is ("psnr", "ssim"), `psnr` ("psnr",), and the empty text ()."""
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return tuple_parser.TupleParser().parse(text)


class _TupleFieldParser(tuple_parser.TupleParser):
    """ml_collections' parser of `--config.FIELD` for tuple fields, reading text by `tuple_from_text`; its own reads
    `psnr,ssim` as the 1-tuple ("psnr,ssim",). A repeated flag (`--config.eval.metrics=psnr --config.eval.metrics=
    ssim`) still gathers one item from each."""

    def parse(self, argument):
        return tuple_from_text(argument) if isinstance(argument, str) else super().parse(argument)


def _config_flag_problem(argv: list[str], default: str) -> str | None:
    """What is wrong with the `--config` and `--config.a.b=...` flags in argv, or None (also when the config file
    does not exist: ml_collections names it)."""
    config_spec, overrides = default, []
    for index, argument in enumerate(argv):
        name, has_value, value = argument.partition("=")
        if name == "--config":
            config_spec = value if has_value else argv[index + 1] if index + 1 < len(argv) else default
        elif name.startswith("--config."):
            overrides.append(name.removeprefix("--config."))
    path, _, variant = config_spec.partition(":")
    if not pathlib.Path(path).is_file():
        return None
    module = _load_module(path, "_ganjax_cli_config")
    try:
        config = module.get_config(variant) if variant else module.get_config()
    except GanjaxError as error:
        return str(error)
    for field in overrides:
        problem = config_field_problem(config, field)
        if problem:
            return problem + _other_tasks_hint(default, field, config.get("task", "gan"))
    return None


def _load_module(path: str | pathlib.Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _other_tasks_hint(default: str, field: str, task: str) -> str:
    """ "; it is an option of vae runs (configs/vae_*.py, ...)" when the tasks' shared configs (TASK_CONFIGS of the
    default config's module) give `field` to other tasks than `task`; else ""."""
    if not pathlib.Path(default).is_file():
        return ""
    task_configs = getattr(_load_module(default, "_ganjax_cli_default_config"), "TASK_CONFIGS", {})
    owners = [
        (name, recipes)
        for name, (get_config, recipes) in task_configs.items()
        if name != task and config_field_problem(get_config(), field) is None
    ]
    if not owners:
        return ""
    runs = " and ".join(f"{name} runs ({recipes})" for name, recipes in owners)
    return f"; it is an option of {runs}, and this is a {task} run"


def config_field_problem(config: ml_collections.ConfigDict, field: str) -> str | None:
    """What is wrong with the dotted field name `field` ("optim.d_lr") of `config`, or None when config has it: the
    first part it lacks, the closest valid name and the valid fields of that section, in one line."""
    section, parents = config, []
    for key in field.split("."):
        if not isinstance(section, ml_collections.ConfigDict) or key not in section:
            where = f"--config.{'.'.join(parents)}" if parents else "the config"
            valid = sorted(section.keys()) if isinstance(section, ml_collections.ConfigDict) else []
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"--config.{field}: {where} has no field {key!r}{hint}; valid: {', '.join(valid) or 'none'}"
        section, parents = section[key], [*parents, key]
    return None
