"""Train a GAN: `python train.py --workdir runs/NAME [--config configs/FILE.py] [--config.FIELD=VALUE ...]`.

Run the same command again to resume from the newest checkpoint in the workdir.
"""

import pathlib

from absl import app, flags

from ganjax.cli import (
    configure_logging,
    define_config_flag,
    enable_compilation_cache,
    run_reporting_errors,
    use_fast_cpu_convolutions,
)
from ganjax.train import train_and_evaluate

_CONFIG = define_config_flag(pathlib.Path(__file__).parent / "configs" / "default.py")
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for checkpoints, metrics and samples.", required=True)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    configure_logging()
    use_fast_cpu_convolutions()
    enable_compilation_cache()
    run_reporting_errors(train_and_evaluate, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
