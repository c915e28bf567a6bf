"""The sweep report from a hand-made sweep with known values: its statistics, ordering, budget curve, files, plots
and TensorBoard's HParams view.

The sweep: loss (hinge, ns) x penalties.r1 (0.0, 1.0) x 3 seeds, FID evaluated at steps 100 and 200. Final FIDs:
hinge/1.0 10, 11, 12; ns/1.0 14, 15 and a run that diverged at step 150; hinge/0.0 20, 22, 24; ns/0.0 30, 33, 36.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import statistics
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from ganjax.errors import ConfigError
from ganjax.sweep.report import build_report, write_hparams
from ganjax.sweep.report.statistics import budget_curve, one_way_anova, welch_t_test

PROTOCOL = "FID of 10,000 samples against the test split; Inception weights sha256 1234abcd"
FINALS = {
    ("hinge", 1.0): [10.0, 11.0, 12.0],
    ("ns", 1.0): [14.0, 15.0, None],  # the third seed diverges at step 150
    ("hinge", 0.0): [20.0, 22.0, 24.0],
    ("ns", 0.0): [30.0, 33.0, 36.0],
}
DIVERGED_AT = 150
DIVERGED_FID = 13.0  # its one evaluation, better than any final: it must not be averaged in


def _sweep(finals=FINALS):
    """(runs, rows): at step 100 each run's FID is its final + 3, except hinge/0.0 seed 0, whose best is step 100."""
    runs, rows = [], []
    for (loss, r1), values in finals.items():
        for seed, final in enumerate(values):
            run = f"{loss}{r1:g}s{seed}"
            diverged = final is None
            runs.append(
                {
                    "run": run,
                    "configuration": f"loss={loss}, penalties.r1={r1}",
                    "factors": {"loss": loss, "penalties.r1": r1},
                    "seed": seed,
                    "status": "diverged" if diverged else "done",
                    "stopped_step": DIVERGED_AT if diverged else None,
                    "error": f"NonFiniteError: the discriminator became NaN at step {DIVERGED_AT}"
                    if diverged
                    else None,
                }
            )
            if diverged:
                rows.append({"run": run, "step": 100, "metrics": {"fid": DIVERGED_FID}, "wall_time_s": 1.0})
                continue
            early = 18.0 if (loss, r1, seed) == ("hinge", 0.0, 0) else final + 3.0
            rows.append({"run": run, "step": 100, "metrics": {"fid": early, "kid": 0.1}, "wall_time_s": 1.0})
            rows.append({"run": run, "step": 200, "metrics": {"fid": final, "kid": 0.05}, "wall_time_s": 2.0})
            # Rows without a number for the metric are missing values, not the final one.
            rows.append({"run": run, "step": 250, "metrics": {"fid": "nan"}, "wall_time_s": 2.5})
            rows.append({"run": run, "step": 300, "metrics": {"kid": 0.04}, "wall_time_s": 3.0})
    return runs, rows


def _build(sweep_dir, runs, rows, **kwargs):
    return build_report(
        sweep_dir, runs, rows, **{"metric": "fid", "higher_is_better": False, "protocol": PROTOCOL, **kwargs}
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweep")
    runs, rows = _sweep()
    return _build(sweep_dir, runs, rows)


def test_summary_csv_holds_the_hand_computed_statistics_best_first(report):
    with report["csv"].open() as file:
        table = list(csv.DictReader(file))
    assert [row["configuration"] for row in table] == [
        "loss=hinge, penalties.r1=1.0",
        "loss=ns, penalties.r1=1.0",
        "loss=hinge, penalties.r1=0.0",
        "loss=ns, penalties.r1=0.0",
    ]
    assert [row["rank"] for row in table] == ["1", "2", "3", "4"]
    bests = {("hinge", 0.0): [18.0, 22.0, 24.0]}
    for row, key in zip(table, [("hinge", 1.0), ("ns", 1.0), ("hinge", 0.0), ("ns", 0.0)], strict=True):
        finals = [value for value in FINALS[key] if value is not None]
        best = bests.get(key, finals)
        assert (row["loss"], float(row["penalties.r1"])) == key
        assert int(row["runs"]) == 3
        assert int(row["n"]) == len(finals)
        assert float(row["final_mean"]) == pytest.approx(statistics.mean(finals))
        assert float(row["final_std"]) == pytest.approx(statistics.stdev(finals))
        assert float(row["final_min"]) == min(finals)
        assert float(row["final_max"]) == max(finals)
        assert float(row["best_mean"]) == pytest.approx(statistics.mean(best))
        assert float(row["best_std"]) == pytest.approx(statistics.stdev(best))
        assert int(row["failed"]) == 0
    assert [(row["diverged"], row["diverged_steps"]) for row in table] == [
        ("0", ""),
        ("1", str(DIVERGED_AT)),
        ("0", ""),
        ("0", ""),
    ]


def test_a_diverged_run_is_counted_and_listed_with_its_step_and_error(report):
    for path in (report["html"], report["markdown"]):
        text = path.read_text()
        assert f"1/3 diverged at step {DIVERGED_AT}" in text
        assert f"NonFiniteError: the discriminator became NaN at step {DIVERGED_AT}" in text
        assert "0/3" in text


def test_index_html_is_one_offline_file_with_the_plots_and_the_table_values(report):
    text = report["html"].read_text()
    assert text.count("data:image/png;base64,") == 4  # curves, budget, strips, heatmap
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    assert "<script" not in text and "<link" not in text
    for value in ("11 ± 1", "14.5 ± 0.7071", "22 ± 2", "33 ± 3", "10 / 12", "21.33 ± 3.055"):
        assert f"<td>{value}</td>" in text
    assert PROTOCOL in text
    assert "mean ± sample standard deviation over seeds (ddof=1); n=1 shows no deviation" in text


def test_the_headline_names_the_best_and_tests_its_advantage_against_seed_noise(report):
    text = report["markdown"].read_text()
    t, df, p = welch_t_test(np.array([10.0, 11.0, 12.0]), np.array([14.0, 15.0]))
    assert p < 0.05
    assert "Best configuration: loss=hinge, penalties.r1=1.0, final fid 11 ± 1 (n=3)" in text
    assert "Second: loss=ns, penalties.r1=1.0, 14.5 ± 0.7071 (n=2)" in text
    assert f"Welch's t-test on their final values: t = {abs(t):.3g}, {df:.3g} degrees of freedom" in text
    assert "exceeds seed noise at the 5% level" in text


def test_the_factor_table_gives_each_value_its_mean_over_configurations(report):
    text = report["markdown"].read_text()
    assert "| loss | hinge: 16.5, ns: 23.75 | 7.25 |" in text
    assert "| penalties.r1 | 1.0: 12.75, 0.0: 27.5 | 14.75 |" in text


def test_report_md_references_its_plots_as_files_beside_it(report):
    text = report["markdown"].read_text()
    folder = report["markdown"].parent
    for name in ("curves.png", "budget.png", "strips.png", "heatmap.png"):
        assert f"]({name})" in text
        assert (folder / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_budget_curve_is_exact_at_one_two_and_all_configurations():
    means = [11.0, 14.5, 22.0, 33.0]
    curve = budget_curve(means, higher_is_better=False)
    assert list(curve.k) == [1, 2, 3, 4]
    assert curve.expected[0] == pytest.approx(statistics.mean(means))
    # Two of four: the best is 11 in 3 of the 6 pairs, 14.5 in 2, 22 in 1.
    assert curve.expected[1] == pytest.approx((3 * 11.0 + 2 * 14.5 + 22.0) / 6)
    assert curve.expected[-1] == 11.0
    assert (curve.low[-1], curve.high[-1]) == (11.0, 11.0)
    higher = budget_curve(means, higher_is_better=True)
    assert higher.expected[0] == pytest.approx(statistics.mean(means))
    assert higher.expected[-1] == 33.0


def test_budget_curve_equals_the_average_over_every_order_of_trying():
    means = [3.0, 1.0, 4.0, 1.5, 9.0]
    curve = budget_curve(means, higher_is_better=False)
    orders = list(itertools.permutations(means))
    for k in range(1, len(means) + 1):
        bests = sorted(min(order[:k]) for order in orders)
        assert curve.expected[k - 1] == pytest.approx(statistics.mean(bests))
        assert curve.low[k - 1] == bests[math.ceil(0.1 * len(bests)) - 1]
        assert curve.high[k - 1] == bests[math.ceil(0.9 * len(bests)) - 1]


def test_welch_and_anova_p_values_match_the_closed_form_at_two_degrees_of_freedom():
    # Two groups of two with equal variances: 2 degrees of freedom, where p = 1 - |t| / sqrt(2 + t^2). The F-test of
    # two groups is the pooled t-test (F = t^2, 1 and 2 degrees of freedom), which Welch's equals here.
    t, df, p = welch_t_test(np.array([0.0, 2.0]), np.array([3.0, 5.0]))
    assert (t, df) == pytest.approx((-3 / math.sqrt(2), 2.0))
    assert p == pytest.approx(1 - abs(t) / math.sqrt(2 + t * t), rel=1e-10)
    assert one_way_anova([np.array([0.0, 2.0]), np.array([3.0, 5.0])]) == pytest.approx(p, rel=1e-10)


def test_welch_and_anova_without_spread_or_degrees_of_freedom():
    assert welch_t_test(np.array([1.0, 1.0]), np.array([2.0, 2.0]))[::2] == (-math.inf, 0.0)
    assert welch_t_test(np.array([1.0, 1.0]), np.array([1.0, 1.0]))[2] == 1.0
    assert one_way_anova([np.array([1.0, 1.0]), np.array([2.0]), np.array([])]) == 0.0
    assert one_way_anova([np.array([1.0, 1.0]), np.array([1.0])]) == 1.0
    assert math.isnan(one_way_anova([np.array([1.0, 2.0])]))  # one group
    assert math.isnan(one_way_anova([np.array([1.0]), np.array([2.0])]))  # no group with two values


def test_a_one_factor_sweep_has_no_heatmap_and_lists_failed_runs(tmp_path):
    runs, rows = _sweep()
    # Make it the two-factor report first, so that the one-factor one must remove the stale heatmap.
    _build(tmp_path, runs, rows)
    assert (tmp_path / "report" / "heatmap.png").exists()
    runs = [dict(run, factors={"loss": run["factors"]["loss"]}) for run in runs if run["factors"]["penalties.r1"]]
    for run in runs:
        run["configuration"] = f"loss={run['factors']['loss']}"
    failed = runs[0]
    failed.update(
        status="failed", stopped_step=40, error="Traceback (most recent call last):\n  ...\nOSError: disk full"
    )
    paths = _build(tmp_path, runs, rows)
    assert not (tmp_path / "report" / "heatmap.png").exists()
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "heatmap" not in paths["markdown"].read_text()
    assert "1/3 failed at step 40" in html
    assert "<td>OSError: disk full</td>" in html
    # hinge keeps seeds 1 and 2 (11, 12), ns seeds 0 and 1 (14, 15): apart by 3 with deviations of 0.71.
    assert "Best configuration: loss=hinge, final fid 11.5 ± 0.7071 (n=2)" in html
    with paths["csv"].open() as file:
        assert [row["failed"] for row in csv.DictReader(file)] == ["1", "0"]


def test_a_close_second_is_within_seed_noise(tmp_path):
    finals = {("hinge", 1.0): [10.0, 12.0, 14.0], ("ns", 1.0): [11.0, 13.0, 15.0]}
    runs, rows = _sweep(finals)
    text = _build(tmp_path, runs, rows)["markdown"].read_text()
    assert "the advantage is within seed noise at the 5% level" in text


def test_a_sweep_without_any_value_still_gets_a_report(tmp_path):
    runs, _ = _sweep()
    runs = [dict(run, status="pending", stopped_step=None, error=None) for run in runs]
    paths = _build(tmp_path, runs, [])
    text = paths["html"].read_text()
    assert "No completed run has a value of fid yet." in text
    assert "12 runs are not finished" in text
    assert "data:image/png" not in text


def test_without_matplotlib_the_report_is_one_config_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    runs, rows = _sweep()
    with pytest.raises(ConfigError, match=re.escape("the sweep report needs matplotlib: pip install 'ganjax[report]'")):
        _build(tmp_path, runs, rows)
    assert not (tmp_path / "report").exists()


def _plugin_data(accumulator: EventAccumulator, tag: str) -> plugin_data_pb2.HParamsPluginData:
    return plugin_data_pb2.HParamsPluginData.FromString(accumulator.SummaryMetadata(tag).plugin_data.content)


def test_hparams_sessions_read_back_with_tensorboard(tmp_path):
    runs, rows = _sweep()
    write_hparams(tmp_path, runs, rows, metric="fid", higher_is_better=False)
    write_hparams(tmp_path, runs, rows, metric="fid", higher_is_better=False)  # replaces, never appends
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(run["run"] for run in runs)
    for run in runs:
        assert len(list((tmp_path / run["run"]).glob("events.out.tfevents.*"))) == 1
        accumulator = EventAccumulator(str(tmp_path / run["run"]))
        accumulator.Reload()
        start = _plugin_data(accumulator, "_hparams_/session_start_info").session_start_info
        assert start.hparams["loss"].string_value == run["factors"]["loss"]
        assert start.hparams["penalties.r1"].number_value == run["factors"]["penalties.r1"]
        assert start.hparams["seed"].number_value == run["seed"]
        end = _plugin_data(accumulator, "_hparams_/session_end_info").session_end_info
        assert end.status == (api_pb2.STATUS_SUCCESS if run["status"] == "done" else api_pb2.STATUS_FAILURE)
        ((final,),) = [accumulator.Scalars("final/fid")]
        ((best,),) = [accumulator.Scalars("best/fid")]
        if run["status"] == "diverged":
            assert (final.step, final.value, best.value) == (100, DIVERGED_FID, DIVERGED_FID)
        else:
            key = (run["factors"]["loss"], run["factors"]["penalties.r1"])
            assert (final.step, final.value) == (200, FINALS[key][run["seed"]])
            assert best.value == (18.0 if run["run"] == "hinge0s0" else FINALS[key][run["seed"]])


@pytest.mark.filterwarnings(
    "ignore:html5lib's sanitizer is deprecated:DeprecationWarning"
)  # TensorBoard's vendored bleach
def test_tensorboards_hparams_plugin_lists_every_run_with_all_values_of_each_factor(tmp_path):
    from tensorboard.backend.application import TensorBoardWSGI
    from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.base_plugin import TBContext
    from tensorboard.plugins.hparams.hparams_plugin import HParamsPlugin
    from werkzeug.test import Client

    runs, rows = _sweep()
    write_hparams(tmp_path, runs, rows, metric="fid", higher_is_better=False)
    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    context = TBContext(logdir=str(tmp_path), data_provider=MultiplexerDataProvider(multiplexer, str(tmp_path)))
    client = Client(TensorBoardWSGI([HParamsPlugin(context)]))
    experiment = client.post("/data/plugin/hparams/experiment", json={"experimentName": ""}).get_json()
    infos = {info["name"]: info for info in experiment["hparamInfos"]}
    assert sorted(infos["loss"]["domainDiscrete"]) == ["hinge", "ns"]
    assert infos["penalties.r1"]["domainInterval"] == {"minValue": 0.0, "maxValue": 1.0}
    assert sorted(info["name"]["tag"] for info in experiment["metricInfos"]) == ["best/fid", "final/fid"]
    statuses = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
    groups = client.post(
        "/data/plugin/hparams/session_groups", json={"startIndex": 0, "sliceSize": 100, "allowedStatuses": statuses}
    ).get_json()
    sessions = {group["name"]: group["sessions"][0]["status"] for group in groups["sessionGroups"]}
    assert sessions == {run["run"]: "STATUS_SUCCESS" if run["status"] == "done" else "STATUS_FAILURE" for run in runs}
