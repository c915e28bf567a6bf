"""The sweep command line (docs/sweeps.md):

    python -m ganjax.sweep run SPEC --workdir DIR [--config.KEY=VALUE ...] [--dry-run] [--force] [--workers N]
    python -m ganjax.sweep status DIR
    python -m ganjax.sweep report DIR
    python -m ganjax.sweep export DIR RUN_ID DEST

`run` plans (or re-checks) the sweep, trains every unit no other launcher holds, then writes results.jsonl and the
report; run again, it resumes and redoes nothing done. It exits with status 1 when a run failed or diverged (each
listed), 2 on a bad spec or command line, 0 otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import subprocess
import sys

from ganjax.cli import configure_logging, enable_compilation_cache, run_reporting_errors, use_fast_cpu_convolutions
from ganjax.errors import ConfigError
from ganjax.sweep import runner

_CONFIG_PREFIX = "--config."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganjax.sweep", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="plan, train, evaluate and report (resumes)")
    run.add_argument("spec", help="the sweep spec, a Python file with get_sweep(h) (sweeps/*.py)")
    run.add_argument("--workdir", required=True, type=pathlib.Path, help="the sweep folder")
    run.add_argument("--dry-run", action="store_true", help="print the runs, units and memory; train nothing")
    run.add_argument("--force", action="store_true", help="accept changed runs (retrained) and removed ones")
    run.add_argument("--workers", type=int, default=1, help="processes training units side by side")
    run.add_argument("--max-members", type=int, default=None, help="at most this many runs in one program")
    run.add_argument(
        "--device-memory-gb", type=float, default=None, help="memory of one device (default: asked of the device)"
    )
    for name, help_text in (("status", "every run's status"), ("report", "rebuild the report from the files")):
        commands.add_parser(name, help=help_text).add_argument("workdir", type=pathlib.Path)
    export = commands.add_parser("export", help="one run as a normal run folder")
    export.add_argument("workdir", type=pathlib.Path)
    export.add_argument("run_id")
    export.add_argument("destination", type=pathlib.Path)
    work = commands.add_parser("work", help=argparse.SUPPRESS)  # a --workers process
    work.add_argument("workdir", type=pathlib.Path)
    return parser


def _spawn_workers(workdir: pathlib.Path, count: int) -> list[int]:
    """Starts `count` worker processes on the sweep and waits for them; returns their exit statuses.

    On a GPU host worker i sees GPU i mod (number of GPUs) alone, and the workers sharing a GPU split its memory;
    elsewhere they share the host's devices.
    """
    import jax

    gpus = [device.id for device in jax.local_devices() if device.platform == "gpu"]
    processes = []
    for index in range(count):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(gpus[index % len(gpus)])
            env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / math.ceil(count / len(gpus)):.3f}"
        processes.append(subprocess.Popen([sys.executable, "-m", "ganjax.sweep", "work", str(workdir)], env=env))
    return [process.wait() for process in processes]


def _run(arguments: argparse.Namespace, flags: list[str]) -> int:
    memory = None if arguments.device_memory_gb is None else int(arguments.device_memory_gb * 2**30)
    if arguments.workers < 1:
        raise ConfigError(f"--workers must be at least 1; got {arguments.workers}")
    if arguments.workers > 1:
        # The workers hold the devices: this process only plans, so it must not take the accelerator's memory.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    prepared = runner.prepare(
        arguments.spec,
        arguments.workdir,
        flags,
        force=arguments.force,
        dry_run=arguments.dry_run,
        max_members=arguments.max_members,
        memory_bytes=memory,
    )
    if arguments.dry_run:
        import jax

        print(runner.describe(prepared, jax.local_devices(), memory))
        return 0
    if arguments.workers > 1:
        statuses = _spawn_workers(arguments.workdir, arguments.workers)
        stopped = any(status != 0 for status in statuses)
    else:
        stopped = runner.work(arguments.workdir) == runner.STOPPED
    try:
        print(f"report: {runner.gather(arguments.workdir)['html']}")
    except ConfigError as missing:  # the training is done and results.jsonl written: say so, keep the exit status
        print(f"warning: {missing}; results in {arguments.workdir / 'results.jsonl'}", file=sys.stderr)
    if stopped:
        print("stopped before the end: run the same command again to resume", file=sys.stderr)
        return 0
    problems = runner.failures(arguments.workdir)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    flags = [argument.removeprefix(_CONFIG_PREFIX) for argument in argv if argument.startswith(_CONFIG_PREFIX)]
    arguments = _parser().parse_args([argument for argument in argv if not argument.startswith(_CONFIG_PREFIX)])
    if flags and arguments.command != "run":
        raise ConfigError(f"--config overrides belong to `run`; `{arguments.command}` takes none")
    configure_logging()
    use_fast_cpu_convolutions()
    enable_compilation_cache()
    if arguments.command == "run":
        return _run(arguments, flags)
    if arguments.command == "work":
        return 0 if runner.work(arguments.workdir) == runner.FINISHED else 3
    if arguments.command == "status":
        print(runner.status_text(arguments.workdir))
    elif arguments.command == "report":
        print(f"report: {runner.gather(arguments.workdir)['html']}")
    else:
        runner.export(arguments.workdir, arguments.run_id, arguments.destination)
        print(f"exported to {arguments.destination}")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, sys.argv[1:]))
