"""The report of a sweep: which configuration is best, which factor matters, and by how much beyond seed noise.

`build_report` writes <sweep_dir>/report/: `index.html` (one offline file, its plots inlined as PNG data URIs),
`report.md` (the same tables, its plots as PNG files beside it) and `summary.csv` (one row per configuration).
`write_hparams` gives TensorBoard's HParams view of the same runs. The plots need matplotlib (the `report` extra),
which is imported only when a report is built.

A run's final value is the metric at its last evaluated step, its best value the best over its evaluations; rows
without a finite number for the metric count as missing. A configuration's statistics are over its completed runs
(status "done") that have a value: diverged and failed runs stopped early, so their last evaluation is from another
point of training; they are counted and listed, never averaged in. Deviations are sample standard deviations over
seeds (ddof=1).
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import math
import pathlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorboardX
from tensorboardX.proto import api_pb2, plugin_hparams_pb2
from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

from ganjax.errors import ConfigError

REPORT_DIR = "report"
PLOTS = ("curves.png", "budget.png", "strips.png", "heatmap.png")
MAX_CURVES = 10
DPI = 90
SIGNIFICANCE = 0.05
BUDGET_BAND = (0.1, 0.9)
VARIANCE_NOTE = "mean ± sample standard deviation over seeds (ddof=1); n=1 shows no deviation"
UNSET = "(unset)"
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


@dataclasses.dataclass
class RunValues:
    """One run's evaluations of the metric: (step, value) pairs in step order, and its final and best value."""

    curve: list[tuple[int, float]]
    final: float
    final_step: int
    best: float
    best_step: int


@dataclasses.dataclass
class Configuration:
    """One configuration over its seeds.

    `finals` and `bests` hold one value per completed run with a value, in seed order; `runs` all of its runs,
    whatever their status.
    """

    label: str
    factors: dict[str, Any]
    runs: list[dict]
    values: dict[str, RunValues]
    finals: np.ndarray
    bests: np.ndarray

    @property
    def n(self) -> int:
        return len(self.finals)

    @property
    def mean(self) -> float:
        return float(self.finals.mean()) if self.n else math.nan

    @property
    def std(self) -> float:
        return float(self.finals.std(ddof=1)) if self.n > 1 else math.nan

    @property
    def low(self) -> float:
        return float(self.finals.min()) if self.n else math.nan

    @property
    def high(self) -> float:
        return float(self.finals.max()) if self.n else math.nan

    @property
    def best_mean(self) -> float:
        return float(self.bests.mean()) if self.n else math.nan

    @property
    def best_std(self) -> float:
        return float(self.bests.std(ddof=1)) if self.n > 1 else math.nan

    def stopped(self, status: str) -> list[int | None]:
        """The steps at which this configuration's runs of `status` ("diverged", "failed") stopped."""
        return [run["stopped_step"] for run in self.runs if run["status"] == status]

    def unfinished(self) -> int:
        return sum(run["status"] in ("pending", "running") for run in self.runs)

    def completed_runs(self) -> list[dict]:
        """Its completed runs with a value, in seed order (the runs `finals` and `bests` come from)."""
        return [run for run in self.runs if run["status"] == "done" and run["run"] in self.values]


class BudgetCurve(NamedTuple):
    """The best configuration mean found when k = 1..K configurations are tried in random order.

    `expected[k - 1]` is its expectation; `low` and `high` the 10th and 90th percentiles of its distribution.
    """

    k: np.ndarray
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, a string such as "nan", a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def run_values(rows: Sequence[dict], metric: str, higher_is_better: bool) -> dict[str, RunValues]:
    """Each run's evaluations of `metric` (runs without any are left out); a step logged twice keeps its last row."""
    steps: dict[str, dict[int, float]] = {}
    for row in rows:
        value = _number(row.get("metrics", {}).get(metric))
        if value is not None:
            steps.setdefault(row["run"], {})[int(row["step"])] = value
    values = {}
    for run, by_step in steps.items():
        curve = sorted(by_step.items())
        best_step, best = (max if higher_is_better else min)(curve, key=lambda pair: pair[1])
        values[run] = RunValues(curve, curve[-1][1], curve[-1][0], best, best_step)
    return values


def summarise(
    runs: Sequence[dict], rows: Sequence[dict], *, metric: str, higher_is_better: bool
) -> list[Configuration]:
    """The configurations of a sweep, best first by mean final metric; those without any value come last."""
    values = run_values(rows, metric, higher_is_better)
    grouped: dict[str, list[dict]] = {}
    for run in runs:
        grouped.setdefault(run["configuration"], []).append(run)
    configurations = []
    for label, members in grouped.items():
        members = sorted(members, key=lambda run: run["seed"])
        completed = [values[run["run"]] for run in members if run["status"] == "done" and run["run"] in values]
        configurations.append(
            Configuration(
                label=label,
                factors=members[0]["factors"],
                runs=members,
                values={run["run"]: values[run["run"]] for run in members if run["run"] in values},
                finals=np.array([value.final for value in completed]),
                bests=np.array([value.best for value in completed]),
            )
        )
    sign = -1.0 if higher_is_better else 1.0
    return sorted(configurations, key=lambda c: (c.n == 0, sign * c.mean if c.n else 0.0, c.label))


def budget_curve(means: Sequence[float], *, higher_is_better: bool) -> BudgetCurve:
    """The budget curve of Lucic et al. 2018 ("Are GANs Created Equal?"), exactly, from order statistics.

    Trying k of the K configurations in random order (without replacement), the best of them is the i-th best of
    all K with probability C(K - i, k - 1) / C(K, k): the i-th best must be among the k and the other k - 1 among the
    K - i worse ones. The expectation and percentiles follow from that distribution; no sampling.
    """
    ranked = sorted(means, reverse=higher_is_better)
    count = len(ranked)
    expected, low, high = [], [], []
    for k in range(1, count + 1):
        probabilities = [math.comb(count - i, k - 1) / math.comb(count, k) for i in range(1, count + 1)]
        expected.append(sum(p * value for p, value in zip(probabilities, ranked, strict=True)))
        # Percentiles of the value itself: walk the values in ascending order (the tolerance absorbs the rounding
        # of the cumulative sums, so that a percentile that falls exactly on a step takes the lower value).
        ascending = sorted(zip(ranked, probabilities, strict=True))
        cumulative = np.cumsum([p for _, p in ascending])
        low.append(ascending[int(np.searchsorted(cumulative, BUDGET_BAND[0] - 1e-12))][0])
        high.append(ascending[int(np.searchsorted(cumulative, BUDGET_BAND[1] - 1e-12))][0])
    return BudgetCurve(np.arange(1, count + 1), np.array(expected), np.array(low), np.array(high))


def _regularized_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz), to ~1e-14."""
    if x <= 0.0 or x >= 1.0:
        return float(x >= 1.0)
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only below this point
        return 1.0 - _regularized_beta(1.0 - x, b, a)
    tiny = 1e-300
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * fraction / a


def welch_t_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Welch's t-test of mean(a) - mean(b): (t statistic, Welch-Satterthwaite degrees of freedom, two-sided p).

    Both need at least two values. With no spread in either, t is infinite (p = 0) unless the means are equal.
    """
    diff = float(a.mean() - b.mean())
    var_a, var_b = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    variance = var_a + var_b
    if variance == 0.0:
        return (math.copysign(math.inf, diff), math.nan, 0.0) if diff else (math.nan, math.nan, 1.0)
    t = diff / math.sqrt(variance)
    df = variance**2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    return t, df, _regularized_beta(df / (df + t * t), df / 2.0, 0.5)


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4g}"


def _mean_std(mean: float, std: float) -> str:
    return _fmt(mean) if math.isnan(std) else f"{_fmt(mean)} ± {_fmt(std)}"


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


def _level(factors: dict[str, Any], key: str) -> str:
    return str(factors[key]) if key in factors else UNSET


def _sorted_levels(configurations: list[Configuration], key: str) -> list[str]:
    """The values a factor takes, numbers in numeric order, anything else in text order."""
    raw = {_level(c.factors, key): c.factors.get(key) for c in configurations}
    if all(_number(value) is not None for value in raw.values()):
        return sorted(raw, key=lambda level: float(raw[level]))
    return sorted(raw)


def varying_factors(configurations: list[Configuration]) -> list[str]:
    """The factor keys whose value differs between configurations, in the order they first appear."""
    keys = list(dict.fromkeys(key for c in configurations for key in c.factors))
    return [key for key in keys if len({_level(c.factors, key) for c in configurations}) > 1]


def _pooled_std(configurations: list[Configuration]) -> float:
    """The within-configuration (seed) standard deviation pooled over configurations with two or more values."""
    dof = sum(c.n - 1 for c in configurations if c.n > 1)
    return math.sqrt(sum((c.n - 1) * c.std**2 for c in configurations if c.n > 1) / dof) if dof else math.nan


@dataclasses.dataclass
class _Table:
    headers: list[str]
    rows: list[list[str]]


@dataclasses.dataclass
class _Image:
    name: str
    png: bytes
    caption: str


class _Report:
    """The report as a list of blocks (headings, paragraphs, tables, images), rendered to Markdown and to HTML."""

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple[str, Any]] = []

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", _Table(headers, rows)))

    def image(self, name: str, png: bytes, caption: str) -> None:
        self.blocks.append(("image", _Image(name, png, caption)))

    def markdown(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"# {self.title}", ""]
        for kind, block in self.blocks:
            if kind == "heading":
                lines += [f"## {block}", ""]
            elif kind == "paragraph":
                lines += [block, ""]
            elif kind == "table":
                lines.append("| " + " | ".join(map(cell, block.headers)) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(map(cell, row)) + " |" for row in block.rows]
                lines.append("")
            else:
                lines += [f"![{block.caption}]({block.name})", "", f"*{block.caption}*", ""]
        return "\n".join(lines)

    def html(self) -> str:
        escape = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(self.title)}</title>",
            "<style>",
            "body{font-family:system-ui,sans-serif;max-width:72rem;margin:1rem auto;padding:0 1rem;color:#222}",
            "table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}",
            "th,td{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:left;vertical-align:top}",
            "th{background:#f4f4f4}figure{margin:1rem 0}img{max-width:100%}figcaption{font-size:.9rem;color:#555}",
            "</style></head><body>",
            f"<h1>{escape(self.title)}</h1>",
        ]
        for kind, block in self.blocks:
            if kind == "heading":
                parts.append(f"<h2>{escape(block)}</h2>")
            elif kind == "paragraph":
                parts.append(f"<p>{escape(block)}</p>")
            elif kind == "table":
                parts.append("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in block.headers) + "</tr>")
                parts += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block.rows]
                parts.append("</table>")
            else:
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}">'
                    f"<figcaption>{escape(block.caption)}</figcaption></figure>"
                )
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"


def _figure_class():
    """matplotlib's Figure (no pyplot: no global state, no GUI backend), or a ConfigError naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the sweep report needs matplotlib: pip install 'ganjax[report]'") from None
    return Figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _plot_curves(Figure, shown: list[Configuration], metric: str) -> bytes:
    figure = Figure(figsize=(7.5, 4.2))
    axes = figure.add_subplot()
    for rank, configuration in enumerate(shown, 1):
        by_step: dict[int, list[float]] = {}
        for run in configuration.completed_runs():
            for step, value in configuration.values[run["run"]].curve:
                by_step.setdefault(step, []).append(value)
        steps = sorted(by_step)
        values = [np.array(by_step[step]) for step in steps]
        (line,) = axes.plot(steps, [v.mean() for v in values], marker=".", label=f"{rank}. {configuration.label}")
        axes.fill_between(
            steps, [v.min() for v in values], [v.max() for v in values], color=line.get_color(), alpha=0.15
        )
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(0.0, -0.14), fontsize=7, frameon=False)
    return _png(figure)


def _plot_budget(Figure, curve: BudgetCurve, metric: str) -> bytes:
    figure = Figure(figsize=(6.0, 3.6))
    axes = figure.add_subplot()
    axes.fill_between(curve.k, curve.low, curve.high, alpha=0.2, label="10th to 90th percentile")
    axes.plot(curve.k, curve.expected, marker=".", label="expected")
    axes.set_xlabel("configurations tried (random order)")
    axes.set_ylabel(f"best mean final {metric}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def _plot_strips(Figure, configurations: list[Configuration], metric: str) -> bytes:
    figure = Figure(figsize=(7.0, 1.0 + 0.28 * len(configurations)))
    axes = figure.add_subplot()
    jitter = np.random.default_rng(0)
    for position, configuration in enumerate(configurations):
        offsets = jitter.uniform(-0.15, 0.15, configuration.n)
        axes.scatter(configuration.finals, position + offsets, s=14, alpha=0.7, color="tab:blue")
        if configuration.n:
            axes.scatter([configuration.mean], [position], marker="|", s=300, color="black")
    axes.set_yticks(range(len(configurations)))
    axes.set_yticklabels([f"{rank}. {c.label}" for rank, c in enumerate(configurations, 1)], fontsize=7)
    axes.set_ylim(len(configurations) - 0.5, -0.5)
    axes.set_xlabel(f"final {metric}")
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def _grid(configurations: list[Configuration], factors: list[str]) -> tuple[list[str], list[str], np.ndarray] | None:
    """With exactly two varying factors and every combination present: their levels and the grid of mean finals."""
    if len(factors) != 2:
        return None
    rows, columns = (_sorted_levels(configurations, key) for key in factors)
    cells = {(_level(c.factors, factors[0]), _level(c.factors, factors[1])): c.mean for c in configurations}
    if len(cells) != len(configurations) or len(cells) != len(rows) * len(columns):
        return None
    return rows, columns, np.array([[cells[row, column] for column in columns] for row in rows])


def _plot_heatmap(Figure, grid, factors: list[str], metric: str, higher_is_better: bool) -> bytes:
    rows, columns, means = grid
    figure = Figure(figsize=(1.6 + 0.9 * len(columns), 1.2 + 0.5 * len(rows)))
    axes = figure.add_subplot()
    masked = np.ma.masked_invalid(means)
    image = axes.imshow(masked, cmap="viridis" if higher_is_better else "viridis_r", aspect="auto")
    for (i, j), value in np.ndenumerate(means):
        if math.isnan(value):
            colour = "black"
        else:
            red, green, blue, _ = image.cmap(image.norm(value))
            colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        axes.text(j, i, _fmt(value), ha="center", va="center", fontsize=8, color=colour)
    axes.set_xticks(range(len(columns)), columns, fontsize=8)
    axes.set_yticks(range(len(rows)), rows, fontsize=8)
    axes.set_xlabel(factors[1])
    axes.set_ylabel(factors[0])
    better = "higher" if higher_is_better else "lower"
    figure.colorbar(image, ax=axes, label=f"mean final {metric} ({better} is better)")
    return _png(figure)


def _headline(ranked: list[Configuration], metric: str) -> str:
    """The best configuration, and whether its lead over the second is more than seed noise (Welch's t-test)."""
    if not ranked:
        return f"No completed run has a value of {metric} yet."
    best = ranked[0]
    text = f"Best configuration: {best.label}, final {metric} {_mean_std(best.mean, best.std)} (n={best.n})."
    if len(ranked) == 1:
        return text + " It is the only configuration with a value, so there is nothing to compare it with."
    second = ranked[1]
    gap = abs(best.mean - second.mean)
    text += (
        f" Second: {second.label}, {_mean_std(second.mean, second.std)} (n={second.n}); the best is better by"
        f" {_fmt(gap)}."
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


def one_way_anova(groups: Sequence[np.ndarray]) -> float:
    """The p-value of the one-way ANOVA F-test that all groups share one mean (NaN without the degrees of freedom).

    With no spread inside any group, p is 0 if the group means differ and 1 if not.
    """
    groups = [np.asarray(group, dtype=float) for group in groups if len(group)]
    values = np.concatenate(groups) if groups else np.zeros(0)
    df_between, df_within = len(groups) - 1, len(values) - len(groups)
    if df_between < 1 or df_within < 1:
        return math.nan
    between = sum(len(group) * (group.mean() - values.mean()) ** 2 for group in groups) / df_between
    within = sum(((group - group.mean()) ** 2).sum() for group in groups) / df_within
    if within == 0.0:
        return 0.0 if between > 0.0 else 1.0
    f = float(between / within)
    return _regularized_beta(df_within / (df_within + df_between * f), df_within / 2.0, df_between / 2.0)


def _factor_effects(report: _Report, configurations: list[Configuration], factors: list[str], metric: str, sign: float):
    """The table of main effects: each factor's mean per value, its spread, and whether it is beyond noise."""
    seed_std = _pooled_std(configurations)
    measured = [c for c in configurations if c.n]
    effects = []
    for key in factors:
        at = {
            level: [c for c in measured if _level(c.factors, key) == level] for level in _sorted_levels(measured, key)
        }
        at = {level: members for level, members in at.items() if members}
        level_means = {level: float(np.mean([c.mean for c in members])) for level, members in at.items()}
        spread = max(level_means.values()) - min(level_means.values())
        # Configuration means when a value spans several configurations (the other factors' effects are noise
        # then); the runs' final values when each value is one configuration (seed noise).
        if max(len(members) for members in at.values()) > 1:
            p, noise = one_way_anova([np.array([c.mean for c in members]) for members in at.values()]), "other factors"
        else:
            p, noise = one_way_anova([members[0].finals for members in at.values()]), "seeds"
        effects.append((key, level_means, spread, p, noise))
    effects.sort(key=lambda effect: -effect[2])
    report.heading("Which factor matters")
    report.paragraph(
        f"For each swept factor: the mean final {metric} over the configurations at each of its values (best first);"
        " the spread between its best and worst value, also in units of the seed standard deviation (pooled over"
        f" configurations: {_fmt(seed_std)}); and the p-value of a one-way ANOVA F-test that all its values give the"
        " same mean. The test compares configuration means, so the other factors' effects count as noise, or, when"
        " each value is a single configuration, the runs' final values, so seed noise is the noise. In a full grid"
        " every value is averaged over the same other factors; otherwise not."
    )
    rows = []
    for key, level_means, spread, p, noise in effects:
        ordered = sorted(level_means.items(), key=lambda item: sign * item[1])
        verdict = "n/a" if math.isnan(p) else "yes" if p < SIGNIFICANCE else "no"
        rows.append(
            [
                key,
                ", ".join(f"{level}: {_fmt(mean)}" for level, mean in ordered),
                _fmt(spread),
                _fmt(spread / seed_std) if seed_std > 0 else "n/a",
                "n/a" if math.isnan(p) else f"{p:.2g} (noise: {noise})",
                verdict,
            ]
        )
    report.table(
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
    Figure = _figure_class()
    out = pathlib.Path(sweep_dir) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    configurations = summarise(runs, rows, metric=metric, higher_is_better=higher_is_better)
    ranked = [c for c in configurations if c.n]
    factors = varying_factors(configurations)
    all_factors = list(dict.fromkeys(key for c in configurations for key in c.factors))
    sign = -1.0 if higher_is_better else 1.0
    direction = "higher" if higher_is_better else "lower"

    report = _Report(f"Sweep report: {metric}")
    report.paragraph(f"Evaluation protocol: {protocol}")
    report.paragraph(
        f"{len(runs)} runs in {len(configurations)} configurations, ranked by mean final {metric} ({direction} is"
        f" better). Final: the {metric} at a run's last evaluated step; best over steps: its best evaluation. Shown:"
        f" {VARIANCE_NOTE}. n counts a configuration's completed runs with a value; diverged and failed runs are"
        " counted in their own columns and listed below, not averaged in, since they stopped early."
    )
    unfinished = sum(c.unfinished() for c in configurations)
    if unfinished:
        report.paragraph(f"{unfinished} runs are not finished (pending or running) and are left out.")
    report.heading("Headline")
    report.paragraph(_headline(ranked, metric))

    report.heading("Configurations")
    report.table(
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
                _mean_std(c.mean, c.std),
                f"{_fmt(c.low)} / {_fmt(c.high)}" if c.n else "n/a",
                _mean_std(c.best_mean, c.best_std),
                _stopped_text(c.stopped("diverged"), len(c.runs), "diverged"),
                _stopped_text(c.stopped("failed"), len(c.runs), "failed"),
            ]
            for rank, c in enumerate(configurations, 1)
        ],
    )
    if factors and ranked:
        _factor_effects(report, configurations, factors, metric, sign)

    report.heading("Plots")
    images = {}
    if ranked:
        shown = ranked[:MAX_CURVES]
        which = f"the best {len(shown)} of {len(ranked)} configurations" if len(ranked) > len(shown) else "each"
        images["curves.png"] = (
            _plot_curves(Figure, shown, metric),
            f"{metric} against training step for {which} configuration: mean over its completed seeds, band from"
            " their minimum to their maximum.",
        )
    if len(ranked) > 1:
        curve = budget_curve([c.mean for c in ranked], higher_is_better=higher_is_better)
        images["budget.png"] = (
            _plot_budget(Figure, curve, metric),
            f"Budget curve (Lucic et al. 2018): the best mean final {metric} found when k of the {len(ranked)}"
            " configurations are tried in random order, computed exactly from the order statistics of the"
            f" configuration means (band: 10th to 90th percentile, also exact). k=1: {_fmt(curve.expected[0])}"
            f" (a random configuration); k={len(ranked)}: {_fmt(curve.expected[-1])} (the best).",
        )
    if ranked:
        images["strips.png"] = (
            _plot_strips(Figure, ranked, metric),
            f"Final {metric} of each completed seed (one dot each, jittered vertically); the bar is the mean.",
        )
    grid = _grid(configurations, factors)
    if grid is not None and ranked:
        images["heatmap.png"] = (
            _plot_heatmap(Figure, grid, factors, metric, higher_is_better),
            f"Mean final {metric} for each combination of {factors[0]} (rows) and {factors[1]} (columns); n/a: no"
            " completed run with a value.",
        )
    if not images:
        report.paragraph(f"No plots: no completed run has a value of {metric}.")
    for name in PLOTS:
        if name in images:
            png, caption = images[name]
            (out / name).write_bytes(png)
            report.image(name, png, caption)
        else:
            (out / name).unlink(missing_ok=True)

    stopped = [run for c in configurations for run in c.runs if run["status"] in ("diverged", "failed")]
    report.heading("Diverged and failed runs")
    if stopped:
        report.table(
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
        report.paragraph("None.")

    report.heading("Runs")
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
                    f"{_fmt(value.final)} (step {value.final_step})" if value else "n/a",
                    f"{_fmt(value.best)} (step {value.best_step})" if value else "n/a",
                ]
            )
    report.table(["run", "configuration", "seed", "status", f"final {metric}", f"best {metric}"], table)

    paths = {"html": out / "index.html", "markdown": out / "report.md", "csv": out / "summary.csv"}
    paths["html"].write_text(report.html(), encoding="utf-8")
    paths["markdown"].write_text(report.markdown(), encoding="utf-8")
    _write_csv(paths["csv"], configurations, all_factors)
    return paths


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
            if all(_number(value) is not None for value in seen)
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
