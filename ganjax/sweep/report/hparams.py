"""TensorBoard's HParams view of a sweep's runs: one session per run, its factors and seed as hyperparameters and
its final and best value of the metric as metrics."""

from __future__ import annotations

import pathlib

import tensorboardX
from tensorboardX.proto import api_pb2, plugin_hparams_pb2
from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

from ganjax.sweep.report.summary import finite_number, run_values


def _hparams_summary(tag: str, data: plugin_hparams_pb2.HParamsPluginData) -> Summary:
    metadata = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=data.SerializeToString())
    )
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])


def write_hparams(
    directory: pathlib.Path, runs: list[dict], rows: list[dict], *, metric: str, higher_is_better: bool
) -> None:
    """TensorBoard's HParams view of the runs: one session per run, in <directory>/<run id>/.

    Each session's hyperparameters are the run's factors and its seed; its metrics `final/<metric>` (at the step of
    the last evaluation) and `best/<metric>` (at the step of the best one), when the run has any evaluation. Its
    status is success for a completed run, failure for a diverged or failed one, and none yet for one that is
    pending or running. No experiment summary is written, so TensorBoard derives one from all sessions (with every
    value a text hyperparameter takes). The folders are this view's own: event files in <directory>/<run id>/ (an
    earlier call's) are deleted before the new ones are written.
    """
    values = run_values(rows, metric, higher_is_better)
    # TensorBoard types a hyperparameter by its values: numbers, booleans, or text for anything else or a mix.
    keys = list(dict.fromkeys(key for run in runs for key in run["factors"]))
    kinds = {}
    for key in keys:
        seen = [run["factors"][key] for run in runs if key in run["factors"]]
        kinds[key] = (
            "bool_value"
            if all(isinstance(value, bool) for value in seen)
            else "number_value"
            if all(finite_number(value) is not None for value in seen)
            else "string_value"
        )
    statuses = {"done": api_pb2.STATUS_SUCCESS, "diverged": api_pb2.STATUS_FAILURE, "failed": api_pb2.STATUS_FAILURE}
    for run in runs:
        folder = pathlib.Path(directory) / run["run"]
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()
        start = plugin_hparams_pb2.SessionStartInfo()
        for key, value in run["factors"].items():
            if kinds[key] == "bool_value":
                start.hparams[key].bool_value = value
            elif kinds[key] == "number_value":
                start.hparams[key].number_value = float(value)
            else:
                start.hparams[key].string_value = str(value)
        start.hparams["seed"].number_value = float(run["seed"])
        with tensorboardX.SummaryWriter(str(folder)) as writer:
            writer.file_writer.add_summary(
                _hparams_summary(
                    "_hparams_/session_start_info", plugin_hparams_pb2.HParamsPluginData(session_start_info=start)
                )
            )
            value = values.get(run["run"])
            if value is not None:
                writer.add_scalar(f"final/{metric}", value.final, value.final_step)
                writer.add_scalar(f"best/{metric}", value.best, value.best_step)
            if run["status"] in statuses:
                end = plugin_hparams_pb2.SessionEndInfo(status=statuses[run["status"]])
                writer.file_writer.add_summary(
                    _hparams_summary(
                        "_hparams_/session_end_info", plugin_hparams_pb2.HParamsPluginData(session_end_info=end)
                    )
                )
