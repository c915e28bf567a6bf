"""Train a GAN: `python train.py --workdir runs/NAME [--config configs/FILE.py] [--config.FIELD=VALUE ...]`.

Run the same command again to resume from the newest checkpoint in the workdir.
"""

import pathlib

from absl import app, flags
from ml_collections import config_flags

from ganjax.cli import configure_logging, enable_compilation_cache, run_reporting_errors
from ganjax.train import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file(
    "config", str(pathlib.Path(__file__).parent / "configs" / "default.py"), "Config file (a get_config() module)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for checkpoints, metrics and samples.", required=True)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    configure_logging()
    enable_compilation_cache()
    run_reporting_errors(train_and_evaluate, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
