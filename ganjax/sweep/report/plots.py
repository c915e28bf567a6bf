"""The report's figures, each returned as PNG bytes: the metric's curves over training, the budget curve, the seeds'
final values, and a two-factor heatmap.

They are drawn on matplotlib's Figure (no pyplot: no global state, no GUI backend); matplotlib is the `report`
extra, imported only when a report is built (`figure_class`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ganjax.errors import ConfigError
from ganjax.sweep.report.document import number_text
from ganjax.sweep.report.statistics import BudgetCurve
from ganjax.sweep.report.summary import Configuration, level, sorted_levels

# Dots per inch of every PNG.
DPI = 90


class HeatmapGrid(NamedTuple):
    """The mean final metric for every combination of two factors' values: `rows` and `columns` (their values as
    text, in order) and `means`, (len(rows), len(columns)), NaN where no completed run has a value."""

    rows: list[str]
    columns: list[str]
    means: np.ndarray


def heatmap_grid(configurations: Sequence[Configuration], factors: Sequence[str]) -> HeatmapGrid | None:
    """With exactly two varying factors and every combination present once: their grid, else None."""
    if len(factors) != 2:
        return None
    rows, columns = (sorted_levels(configurations, key) for key in factors)
    cells = {(level(c.factors, factors[0]), level(c.factors, factors[1])): c.mean for c in configurations}
    if len(cells) != len(configurations) or len(cells) != len(rows) * len(columns):
        return None
    return HeatmapGrid(rows, columns, np.array([[cells[row, column] for column in columns] for row in rows]))


def figure_class():
    """matplotlib's Figure class, or a ConfigError naming the extra that installs it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the sweep report needs matplotlib: pip install 'ganjax[report]'") from None
    return Figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def plot_curves(Figure, shown: Sequence[Configuration], metric: str) -> bytes:
    """The metric against the training step for each configuration in `shown` (ranked 1, 2, ... in that order):
    the mean over its completed seeds, with a band from their minimum to their maximum."""
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


def plot_budget(Figure, curve: BudgetCurve, metric: str) -> bytes:
    """The budget curve's expectation against the number of configurations tried, with its percentile band."""
    figure = Figure(figsize=(6.0, 3.6))
    axes = figure.add_subplot()
    axes.fill_between(curve.k, curve.low, curve.high, alpha=0.2, label="10th to 90th percentile")
    axes.plot(curve.k, curve.expected, marker=".", label="expected")
    axes.set_xlabel("configurations tried (random order)")
    axes.set_ylabel(f"best mean final {metric}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def plot_strips(Figure, configurations: Sequence[Configuration], metric: str) -> bytes:
    """One row per configuration (ranked in the given order): a dot per completed seed's final value, jittered
    vertically, and a bar at their mean."""
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


def plot_heatmap(Figure, grid: HeatmapGrid, factors: Sequence[str], metric: str, higher_is_better: bool) -> bytes:
    """The grid's means as colours (the better, the brighter), each cell labelled with its value."""
    figure = Figure(figsize=(1.6 + 0.9 * len(grid.columns), 1.2 + 0.5 * len(grid.rows)))
    axes = figure.add_subplot()
    masked = np.ma.masked_invalid(grid.means)
    image = axes.imshow(masked, cmap="viridis" if higher_is_better else "viridis_r", aspect="auto")
    for (i, j), value in np.ndenumerate(grid.means):
        if math.isnan(value):
            colour = "black"
        else:
            red, green, blue, _ = image.cmap(image.norm(value))
            colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        axes.text(j, i, number_text(value), ha="center", va="center", fontsize=8, color=colour)
    axes.set_xticks(range(len(grid.columns)), grid.columns, fontsize=8)
    axes.set_yticks(range(len(grid.rows)), grid.rows, fontsize=8)
    axes.set_xlabel(factors[1])
    axes.set_ylabel(factors[0])
    better = "higher" if higher_is_better else "lower"
    figure.colorbar(image, ax=axes, label=f"mean final {metric} ({better} is better)")
    return _png(figure)
