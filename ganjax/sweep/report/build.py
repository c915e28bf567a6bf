"""The report's pages: `build_report` writes <sweep_dir>/report/ from a sweep's runs and results.

It ranks the configurations (summary.py), tests the best one's lead and each factor's effect against noise
(statistics.py), draws the figures (plots.py) and renders the same blocks as index.html and report.md
(document.py); summary.csv holds one row per configuration.
"""

from __future__ import annotations

import csv
import math
import pathlib

from ganjax.sweep.report import plots
from ganjax.sweep.report.document import Document, mean_std_text, number_text
from ganjax.sweep.report.statistics import budget_curve, factor_effects, pooled_std, welch_t_test
from ganjax.sweep.report.summary import Configuration, summarise, varying_factors

REPORT_DIR = "report"
PLOTS = ("curves.png", "budget.png", "strips.png", "heatmap.png")
# The most configurations whose curves share the curves plot (the best ones).
MAX_CURVES = 10
# The p-value below which a difference counts as beyond noise.
SIGNIFICANCE = 0.05
VARIANCE_NOTE = "mean ± sample standard deviation over seeds (ddof=1); n=1 shows no deviation"
# summary.csv's columns; the factors' columns (one per swept key, its values as text) come after "configuration".
CSV_HEADERS = [
    "rank",
    "configuration",
    "runs",
    "n",
    "final_mean",
    "final_std",
    "final_min",
    "final_max",
    "best_mean",
    "best_std",
    "diverged",
    "diverged_steps",
    "failed",
    "failed_steps",
    "unfinished",
]


def _stopped_text(steps: list[int | None], total: int, verb: str) -> str:
    """'0/5', '1/5 diverged at step 120', '2/5 diverged at steps 120, 340' (unknown steps are not listed)."""
    if not steps:
        return f"0/{total}"
    known = sorted(step for step in steps if step is not None)
    where = f" at step{'s' if len(known) > 1 else ''} {', '.join(map(str, known))}" if known else ""
    return f"{len(steps)}/{total} {verb}{where}"


def _error_line(error: str | None) -> str:
    """The line of an error that says what happened: the exception at the end of a traceback, else the first."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _headline(ranked: list[Configuration], metric: str) -> str:
    """The best configuration, and whether its lead over the second is more than seed noise (Welch's t-test)."""
    if not ranked:
        return f"No completed run has a value of {metric} yet."
    best = ranked[0]
    text = f"Best configuration: {best.label}, final {metric} {mean_std_text(best.mean, best.std)} (n={best.n})."
    if len(ranked) == 1:
        return text + " It is the only configuration with a value, so there is nothing to compare it with."
    second = ranked[1]
    gap = abs(best.mean - second.mean)
    text += (
        f" Second: {second.label}, {mean_std_text(second.mean, second.std)} (n={second.n}); the best is better by"
        f" {number_text(gap)}."
    )
    if best.n < 2 or second.n < 2:
        return text + " Seed noise cannot be estimated from one seed, so whether this is more than noise is unknown."
    t, df, p = welch_t_test(best.finals, second.finals)
    verdict = "exceeds seed noise" if p < SIGNIFICANCE else "is within seed noise"
    if math.isnan(df):
        test = "Their final values do not vary between seeds at all"
    else:
        test = (
            f"Welch's t-test on their final values: t = {abs(t):.3g}, {df:.3g} degrees of freedom,"
            f" two-sided p = {p:.2g}"
        )
    return text + (
        f" {test}, so the advantage {verdict} at the {SIGNIFICANCE:.0%} level (the two were picked as the top of"
        f" {len(ranked)} after seeing the results, which makes the test optimistic)."
    )


def _factor_table(
    document: Document, configurations: list[Configuration], factors: list[str], metric: str, sign: float
) -> None:
    """The table of main effects: each factor's mean per value, its spread, and whether it is beyond noise."""
    seed_std = pooled_std(configurations)
    effects = factor_effects(configurations, factors)
    document.heading("Which factor matters")
    document.paragraph(
        f"For each swept factor: the mean final {metric} over the configurations at each of its values (best first);"
        " the spread between its best and worst value, also in units of the seed standard deviation (pooled over"
        f" configurations: {number_text(seed_std)}); and the p-value of a one-way ANOVA F-test that all its values"
        " give the same mean. The test compares configuration means, so the other factors' effects count as noise,"
        " or, when each value is a single configuration, the runs' final values, so seed noise is the noise. In a"
        " full grid every value is averaged over the same other factors; otherwise not."
    )
    rows = []
    for effect in effects:
        ordered = sorted(effect.level_means.items(), key=lambda item: sign * item[1])
        p = effect.p_value
        verdict = "n/a" if math.isnan(p) else "yes" if p < SIGNIFICANCE else "no"
        rows.append(
            [
                effect.factor,
                ", ".join(f"{level}: {number_text(mean)}" for level, mean in ordered),
                number_text(effect.spread),
                number_text(effect.spread / seed_std) if seed_std > 0 else "n/a",
                "n/a" if math.isnan(p) else f"{p:.2g} (noise: {effect.noise})",
                verdict,
            ]
        )
    document.table(
        ["factor", f"mean final {metric} per value", "spread", "spread / seed std", "F-test p", "matters (p < 5%)"],
        rows,
    )


def _write_csv(path: pathlib.Path, ranked: list[Configuration], factors: list[str]) -> None:
    def number(value: float) -> str:
        return "" if math.isnan(value) else repr(value)

    def steps(values: list[int | None]) -> str:
        return " ".join(str(step) for step in values if step is not None)

    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_HEADERS[:2] + factors + CSV_HEADERS[2:])
        for rank, c in enumerate(ranked, 1):
            levels = [str(c.factors[key]) if key in c.factors else "" for key in factors]
            numbers = [number(x) for x in (c.mean, c.std, c.low, c.high, c.best_mean, c.best_std)]
            diverged, failed = c.stopped("diverged"), c.stopped("failed")
            counts = [len(diverged), steps(diverged), len(failed), steps(failed), c.unfinished()]
            writer.writerow([rank, c.label, *levels, len(c.runs), c.n, *numbers, *counts])


def build_report(
    sweep_dir: pathlib.Path,
    runs: list[dict],
    rows: list[dict],
    *,
    metric: str,
    higher_is_better: bool,
    protocol: str,
) -> dict[str, pathlib.Path]:
    """Writes the sweep's report into <sweep_dir>/report/, replacing an earlier one.

    Args:
      sweep_dir: the sweep's folder.
      runs: one dict per run: "run" (id), "configuration" (label, shared by its seeds), "factors" (the swept keys
        other than the seed), "seed", "status" (done, diverged, failed, pending, running), "stopped_step" and
        "error" (of a diverged or failed run, else None).
      rows: the sweep's results.jsonl rows, one per run and evaluation: "run", "step", "metrics" (name -> value).
      metric: the metric configurations are ranked by ("fid", say).
      higher_is_better: its direction.
      protocol: one line describing how the metric was evaluated; printed in the report.

    Returns:
      {"html": index.html, "markdown": report.md, "csv": summary.csv}, all under <sweep_dir>/report/.
    """
    Figure = plots.figure_class()
    out = pathlib.Path(sweep_dir) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    configurations = summarise(runs, rows, metric=metric, higher_is_better=higher_is_better)
    ranked = [c for c in configurations if c.n]
    factors = varying_factors(configurations)
    all_factors = list(dict.fromkeys(key for c in configurations for key in c.factors))
    sign = -1.0 if higher_is_better else 1.0
    direction = "higher" if higher_is_better else "lower"

    document = Document(f"Sweep report: {metric}")
    document.paragraph(f"Evaluation protocol: {protocol}")
    document.paragraph(
        f"{len(runs)} runs in {len(configurations)} configurations, ranked by mean final {metric} ({direction} is"
        f" better). Final: the {metric} at a run's last evaluated step; best over steps: its best evaluation. Shown:"
        f" {VARIANCE_NOTE}. n counts a configuration's completed runs with a value; diverged and failed runs are"
        " counted in their own columns and listed below, not averaged in, since they stopped early."
    )
    unfinished = sum(c.unfinished() for c in configurations)
    if unfinished:
        document.paragraph(f"{unfinished} runs are not finished (pending or running) and are left out.")
    document.heading("Headline")
    document.paragraph(_headline(ranked, metric))

    document.heading("Configurations")
    document.table(
        [
            "rank",
            "configuration",
            "n",
            f"final {metric}",
            "final min / max",
            f"best {metric} over steps",
            "diverged",
            "failed",
        ],
        [
            [
                str(rank),
                c.label,
                str(c.n),
                mean_std_text(c.mean, c.std),
                f"{number_text(c.low)} / {number_text(c.high)}" if c.n else "n/a",
                mean_std_text(c.best_mean, c.best_std),
                _stopped_text(c.stopped("diverged"), len(c.runs), "diverged"),
                _stopped_text(c.stopped("failed"), len(c.runs), "failed"),
            ]
            for rank, c in enumerate(configurations, 1)
        ],
    )
    if factors and ranked:
        _factor_table(document, configurations, factors, metric, sign)

    document.heading("Plots")
    images = {}
    if ranked:
        shown = ranked[:MAX_CURVES]
        which = f"the best {len(shown)} of {len(ranked)} configurations" if len(ranked) > len(shown) else "each"
        images["curves.png"] = (
            plots.plot_curves(Figure, shown, metric),
            f"{metric} against training step for {which} configuration: mean over its completed seeds, band from"
            " their minimum to their maximum.",
        )
    if len(ranked) > 1:
        curve = budget_curve([c.mean for c in ranked], higher_is_better=higher_is_better)
        images["budget.png"] = (
            plots.plot_budget(Figure, curve, metric),
            f"Budget curve (Lucic et al. 2018): the best mean final {metric} found when k of the {len(ranked)}"
            " configurations are tried in random order, computed exactly from the order statistics of the"
            f" configuration means (band: 10th to 90th percentile, also exact). k=1: {number_text(curve.expected[0])}"
            f" (a random configuration); k={len(ranked)}: {number_text(curve.expected[-1])} (the best).",
        )
    if ranked:
        images["strips.png"] = (
            plots.plot_strips(Figure, ranked, metric),
            f"Final {metric} of each completed seed (one dot each, jittered vertically); the bar is the mean.",
        )
    grid = plots.heatmap_grid(configurations, factors)
    if grid is not None and ranked:
        images["heatmap.png"] = (
            plots.plot_heatmap(Figure, grid, factors, metric, higher_is_better),
            f"Mean final {metric} for each combination of {factors[0]} (rows) and {factors[1]} (columns); n/a: no"
            " completed run with a value.",
        )
    if not images:
        document.paragraph(f"No plots: no completed run has a value of {metric}.")
    for name in PLOTS:
        if name in images:
            png, caption = images[name]
            (out / name).write_bytes(png)
            document.image(name, png, caption)
        else:
            (out / name).unlink(missing_ok=True)

    stopped = [run for c in configurations for run in c.runs if run["status"] in ("diverged", "failed")]
    document.heading("Diverged and failed runs")
    if stopped:
        document.table(
            ["run", "configuration", "seed", "status", "stopped at step", "error"],
            [
                [
                    run["run"],
                    run["configuration"],
                    str(run["seed"]),
                    run["status"],
                    str(run["stopped_step"]),
                    _error_line(run["error"]),
                ]
                for run in stopped
            ],
        )
    else:
        document.paragraph("None.")

    document.heading("Runs")
    table = []
    for c in configurations:
        for run in c.runs:
            value = c.values.get(run["run"])
            table.append(
                [
                    run["run"],
                    c.label,
                    str(run["seed"]),
                    run["status"],
                    f"{number_text(value.final)} (step {value.final_step})" if value else "n/a",
                    f"{number_text(value.best)} (step {value.best_step})" if value else "n/a",
                ]
            )
    document.table(["run", "configuration", "seed", "status", f"final {metric}", f"best {metric}"], table)

    paths = {"html": out / "index.html", "markdown": out / "report.md", "csv": out / "summary.csv"}
    paths["html"].write_text(document.html(), encoding="utf-8")
    paths["markdown"].write_text(document.markdown(), encoding="utf-8")
    _write_csv(paths["csv"], configurations, all_factors)
    return paths
