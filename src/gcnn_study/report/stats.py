"""Statistics on table rows: Welch's t-test and t-based confidence intervals from summary statistics.

The tables keep, for every metric of every row, the mean, the sample standard deviation (ddof = 1) and n over
seeds; that is all Welch's test needs (`scipy.stats.ttest_ind_from_stats(..., equal_var=False)` gives the same
t and p for a plain difference). Here the contrast may carry a factor, a − k·b, so that a ratio claim
("P4CNN almost doubles the CNN") is tested the same way:

    se² = s_a²/n_a + k²·s_b²/n_b,    t = (m_a − k·m_b) / se,
    df  = se⁴ / ((s_a²/n_a)²/(n_a − 1) + (k²·s_b²/n_b)²/(n_b − 1))          (Welch–Satterthwaite)

and the 95 % interval of the difference is (m_a − k·m_b) ± t_{0.975, df}·se. A ratio m_a/m_b gets the
delta-method interval r ± t_{0.975, df}·se(a − r·b)/|m_b|. With one seed on either side there is no spread, so
nothing but the direction can be read (`Comparison.testable` is False).

A report that makes m tests reads each p against the family, not alone: `holm` gives Holm's step-down adjusted
p-values (sort the p ascending, multiply the i-th smallest, i = 0, 1, …, by m − i, keep them non-decreasing, cap
at 1), and a test is significant in its family when its adjusted p is below 1 − LEVEL. That keeps the chance of
any false finding in the family at most 1 − LEVEL, whatever the tests' dependence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _stats

LEVEL = 0.95  # confidence level of every interval; a two-sided p below 1 − LEVEL is "significant"


@dataclass(frozen=True)
class Sample:
    """One metric of one table row: mean, sample std (ddof = 1, nan for one seed) and the number of seeds."""

    mean: float
    std: float
    n: int

    @property
    def var_of_mean(self) -> float:
        return self.std**2 / self.n if self.n > 1 else math.nan


def gap(a: Sample, b: Sample) -> Sample:
    """The row's a − b when a and b come from the same runs (train − test of one model).

    The tables keep no per-seed values, so the covariance of a and b is unknown; the std given is the upper
    bound s_a + s_b (Cauchy–Schwarz, reached at correlation −1), which makes any test on it conservative."""
    n = min(a.n, b.n)
    std = a.std + b.std if n > 1 else math.nan
    return Sample(a.mean - b.mean, std, n)


@dataclass(frozen=True)
class Comparison:
    """a − k·b with its Welch test: the difference, its 95 % interval, the two-sided p, df and the n's."""

    diff: float
    low: float
    high: float
    p: float
    df: float
    n_a: int
    n_b: int

    @property
    def testable(self) -> bool:
        return self.n_a > 1 and self.n_b > 1

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (equivalently p < 1 − LEVEL)."""
        return self.testable and (self.low > 0 or self.high < 0)


def welch(a: Sample, b: Sample, factor: float = 1.0, level: float = LEVEL) -> Comparison:
    """Welch's t-test of m_a − factor·m_b = 0 and the t-based interval of that difference."""
    diff = a.mean - factor * b.mean
    if a.n < 2 or b.n < 2:
        return Comparison(diff, math.nan, math.nan, math.nan, math.nan, a.n, b.n)
    va, vb = a.var_of_mean, factor**2 * b.var_of_mean
    se2 = va + vb
    if se2 == 0:  # no spread on either side: every seed gave the same number
        p = 1.0 if diff == 0 else 0.0
        return Comparison(diff, diff, diff, p, math.inf, a.n, b.n)
    df = se2**2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    se = math.sqrt(se2)
    t = diff / se
    half = _stats.t.ppf(0.5 + level / 2, df) * se
    return Comparison(diff, diff - half, diff + half, float(2 * _stats.t.sf(abs(t), df)), df, a.n, b.n)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values of one family of tests, in the order given.

    A nan p (a comparison that one seed cannot test) stays nan and is not counted in the family's size m."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(tested)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))  # never below a smaller p's adjusted value
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Ratio:
    """m_a / m_b with its delta-method interval (nan bounds when either side has one seed)."""

    value: float
    low: float
    high: float
    n_a: int
    n_b: int

    @property
    def testable(self) -> bool:
        return self.n_a > 1 and self.n_b > 1


def ratio(a: Sample, b: Sample, level: float = LEVEL) -> Ratio:
    """m_a / m_b and the interval r ± t·se(a − r·b)/|m_b| (Welch–Satterthwaite df of that contrast); all nan
    when m_b = 0."""
    if b.mean == 0:
        return Ratio(math.nan, math.nan, math.nan, a.n, b.n)
    r = a.mean / b.mean
    contrast = welch(a, b, factor=r, level=level)  # diff = 0 by construction; its half-width is what we need
    if not contrast.testable:
        return Ratio(r, math.nan, math.nan, a.n, b.n)
    half = (contrast.high - contrast.low) / 2 / abs(b.mean)
    return Ratio(r, r - half, r + half, a.n, b.n)
