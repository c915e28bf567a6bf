"""The report's statistics: whether a difference is beyond seed noise (scipy.stats' Welch t-test and one-way ANOVA),
each factor's main effect, the pooled seed deviation, and the budget curve of Lucic et al. 2018.

All values are in the units of the sweep's metric; p-values are two-sided probabilities in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.stats

from ganjax.sweep.report.summary import Configuration, level, sorted_levels

# The percentiles of the budget curve's band.
BUDGET_BAND = (0.1, 0.9)


class BudgetCurve(NamedTuple):
    """The best configuration mean found when k = 1..K configurations are tried in random order, (K,) arrays.

    `expected[k - 1]` is its expectation; `low` and `high` the 10th and 90th percentiles of its distribution.
    """

    k: np.ndarray
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray


class FactorEffect(NamedTuple):
    """One factor's main effect.

    `level_means` maps each of its values (as text) to the mean final metric over the configurations at that value;
    `spread` is the largest minus the smallest of those means; `p_value` that of the one-way ANOVA F-test that all
    values give the same mean (NaN without the degrees of freedom), against `noise`: "seeds" or "other factors".
    """

    factor: str
    level_means: dict[str, float]
    spread: float
    p_value: float
    noise: str


def budget_curve(means: Sequence[float], *, higher_is_better: bool) -> BudgetCurve:
    """The budget curve of Lucic et al. 2018 ("Are GANs Created Equal?"), exactly, from order statistics.

    Trying k of the K configurations in random order (without replacement), the best of them is the i-th best of
    all K with probability C(K - i, k - 1) / C(K, k): the i-th best must be among the k and the other k - 1 among the
    K - i worse ones. That is the negative hypergeometric distribution of the number of untried configurations
    ranked above the best tried one (K - k of them "untried", stopping at the first of the k tried). The
    expectation and percentiles follow from it; no sampling.
    """
    ranked = sorted(means, reverse=higher_is_better)
    count = len(ranked)
    expected, low, high = [], [], []
    for k in range(1, count + 1):
        probabilities = scipy.stats.nhypergeom.pmf(np.arange(count), count, count - k, 1)
        expected.append(float(np.dot(probabilities, ranked)))
        # Percentiles of the value itself: walk the values in ascending order (the tolerance absorbs the rounding
        # of the cumulative sums, so that a percentile that falls exactly on a step takes the lower value).
        ascending = sorted(zip(ranked, probabilities, strict=True))
        cumulative = np.cumsum([p for _, p in ascending])
        low.append(ascending[int(np.searchsorted(cumulative, BUDGET_BAND[0] - 1e-12))][0])
        high.append(ascending[int(np.searchsorted(cumulative, BUDGET_BAND[1] - 1e-12))][0])
    return BudgetCurve(np.arange(1, count + 1), np.array(expected), np.array(low), np.array(high))


def welch_t_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Welch's t-test of mean(a) - mean(b) for (n_a,) and (n_b,) values, n >= 2 each: (t statistic,
    Welch-Satterthwaite degrees of freedom, two-sided p).

    With no spread in either, t is infinite (p = 0) unless the means are equal (p = 1), and the degrees of freedom
    are NaN (scipy gives NaN throughout then).
    """
    if a.var(ddof=1) == 0.0 and b.var(ddof=1) == 0.0:
        diff = float(a.mean() - b.mean())
        return (math.copysign(math.inf, diff), math.nan, 0.0) if diff else (math.nan, math.nan, 1.0)
    result = scipy.stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.df), float(result.pvalue)


def one_way_anova(groups: Sequence[np.ndarray]) -> float:
    """The p-value of the one-way ANOVA F-test that all groups, (n_i,) values each, share one mean.

    Empty groups are left out; NaN without the degrees of freedom (fewer than two groups, or no group with two
    values). With no spread inside any group, p is 0 if the group means differ and 1 if not (scipy gives NaN when
    they do not).
    """
    groups = [np.asarray(group, dtype=float) for group in groups if len(group)]
    if len(groups) < 2 or sum(len(group) for group in groups) - len(groups) < 1:
        return math.nan
    if all(group.var() == 0.0 for group in groups):
        return 1.0 if len({float(group[0]) for group in groups}) == 1 else 0.0
    return float(scipy.stats.f_oneway(*groups).pvalue)


def pooled_std(configurations: Sequence[Configuration]) -> float:
    """The within-configuration (seed) standard deviation pooled over configurations with two or more values."""
    dof = sum(c.n - 1 for c in configurations if c.n > 1)
    return math.sqrt(sum((c.n - 1) * c.std**2 for c in configurations if c.n > 1) / dof) if dof else math.nan


def factor_effects(configurations: Sequence[Configuration], factors: Sequence[str]) -> list[FactorEffect]:
    """The main effect of each of `factors` over the configurations with a value, largest spread first.

    The F-test compares configuration means when a value spans several configurations (the other factors' effects
    are the noise then), and the runs' final values when each value is a single configuration (seed noise).
    """
    measured = [c for c in configurations if c.n]
    effects = []
    for key in factors:
        at = {text: [c for c in measured if level(c.factors, key) == text] for text in sorted_levels(measured, key)}
        at = {text: members for text, members in at.items() if members}
        level_means = {text: float(np.mean([c.mean for c in members])) for text, members in at.items()}
        spread = max(level_means.values()) - min(level_means.values())
        if max(len(members) for members in at.values()) > 1:
            p_value, noise = (
                one_way_anova([np.array([c.mean for c in members]) for members in at.values()]),
                "other factors",
            )
        else:
            p_value, noise = one_way_anova([members[0].finals for members in at.values()]), "seeds"
        effects.append(FactorEffect(key, level_means, spread, p_value, noise))
    return sorted(effects, key=lambda effect: -effect.spread)
