"""Statistics on table rows: Welch's t-test from summary statistics, paired tests on per-image results, Holm.

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

Where the runs kept each test image's result (`per_image.csv`), two rows are compared on the same images, seed by
seed (seed s of one row against seed s of the other), and the pairs of all seeds are pooled:
- `mcnemar` (classifiers): b = images only the first gets right, c = only the second, each summed over the seeds;
  p is the exact two-sided binomial test of b against b + c at 1/2 (pooling the discordant counts of the strata
  is the Mantel–Haenszel test for matched pairs), and the difference of the accuracies (b − c)/N gets the Wald
  interval ± z·√(b + c − (b − c)²/N)/N.
- `paired_permutation` (per-image scores such as the IoU score): the statistic is |Σ d| of the per-image
  differences d; each pair's sign is flipped at random, exhaustively for at most EXACT_PAIRS pairs, otherwise
  RESAMPLES times from a fixed seed (p = (1 + hits)/(1 + RESAMPLES), so the same numbers give the same p); the
  interval is the paired t interval of the mean difference.

Both paired tests hold the trained networks fixed: they ask whether these networks differ on images like the test
images, and are blind to how much another seed would have moved each row. The study's claims are about the
architectures, so a verdict needs both sources of chance, the training seed and the test images. `seeds_and_images`
reads them as a two-way random-effects model: a run's value on image i is y_si = μ + a_i + b_s + e_si (image
effect, seed effect, their interaction). The difference of two rows' means over their seeds and the same N images
then has variance

    Var(a_A − a_B)/N + (σ²_b,A + σ²_e,A/N)/n_A + (σ²_b,B + σ²_e,B/N)/n_B.

The seed terms are Welch's: the sample variance of a row's run means over its seeds estimates σ²_b + σ²_e/N. The
image term is the variance over images of the seed-averaged per-image differences, less the interaction noise
that averaging leaves in it (each side's two-way residual mean square / its seeds), floored at 0. The t statistic
gets the Welch–Satterthwaite df of the three terms (N − 1 for the image term). The image term may come from a
subset of the seeds (runs that predate per-image results); it is unbiased there too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
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
    """a − k·b with its test: the difference, its 95 % interval, the two-sided p, df, the n's (seeds) and the
    test's name; `pairs` counts the images of a test on per-image results (0 for Welch's)."""

    diff: float
    low: float
    high: float
    p: float
    df: float
    n_a: int
    n_b: int
    test: str = "Welch"
    pairs: int = 0
    within: Comparison | None = None  # the paired test of the same images, networks held fixed (seeds_and_images)

    @property
    def testable(self) -> bool:
        """A p exists: Welch's test needs two seeds a side, a paired test one pair."""
        return not math.isnan(self.p)

    @property
    def significant(self) -> bool:
        """p < 1 − LEVEL (for Welch's test, the same as the interval excluding 0)."""
        return self.testable and self.p < 1 - LEVEL


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


def prediction_interval(s: Sample, level: float = LEVEL) -> tuple[float, float]:
    """Where one more run would fall with probability `level`, from a row's runs: m ± t_{(1+level)/2, n−1}·s·√(1 + 1/n)
    (a normal model of runs; nan bounds with one run). The study reports one run per cell, so this, not the
    interval of our mean, is what its number is read against."""
    if s.n < 2 or math.isnan(s.std):
        return math.nan, math.nan
    half = _stats.t.ppf(0.5 + level / 2, s.n - 1) * s.std * math.sqrt(1 + 1 / s.n)
    return s.mean - half, s.mean + half


def sample_of(values: Sequence[float]) -> Sample:
    """The mean, sample std (NaN for one value) and n of `values`; n = 0 and NaNs for none."""
    v = np.asarray(values, float)
    if v.size == 0:
        return Sample(math.nan, math.nan, 0)
    return Sample(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size))


def differences(first: Sequence[float], second: Sequence[float]) -> Sample:
    """first_s − second_s of the same runs (train − test of one model), seed by seed: their mean, sample std and n."""
    return sample_of(np.asarray(first, float) - np.asarray(second, float))


def paired_seeds(first: Sequence[float], second: Sequence[float], level: float = LEVEL) -> Comparison:
    """The paired t-test over seeds of two metrics of the same runs (upright and rotated test of one model): the
    one-sample t-test of their per-seed differences (`scipy.stats.ttest_rel`), n − 1 df."""
    d = differences(first, second)
    name = "paired t-test over seeds"
    if d.n < 2:
        return Comparison(d.mean, math.nan, math.nan, math.nan, math.nan, d.n, d.n, name)
    if d.std == 0:
        return Comparison(d.mean, d.mean, d.mean, 1.0 if d.mean == 0 else 0.0, d.n - 1, d.n, d.n, name)
    se = d.std / math.sqrt(d.n)
    half = _stats.t.ppf(0.5 + level / 2, d.n - 1) * se
    p = float(2 * _stats.t.sf(abs(d.mean) / se, d.n - 1))
    return Comparison(d.mean, d.mean - half, d.mean + half, p, d.n - 1, d.n, d.n, name)


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


def paired_ratio(first: Sequence[float], second: Sequence[float], level: float = LEVEL) -> Ratio:
    """mean(first) / mean(second) of two metrics of the same runs, with the interval r ± t·se(a − r·b)/|m_b| where
    the contrast a_s − r·b_s is taken seed by seed (n − 1 df): `ratio` for paired values."""
    a, b = np.asarray(first, float), np.asarray(second, float)
    if b.mean() == 0:
        return Ratio(math.nan, math.nan, math.nan, a.size, b.size)
    r = float(a.mean() / b.mean())
    contrast = differences(a, r * b)
    if contrast.n < 2:
        return Ratio(r, math.nan, math.nan, a.size, b.size)
    half = _stats.t.ppf(0.5 + level / 2, contrast.n - 1) * contrast.std / math.sqrt(contrast.n) / abs(b.mean())
    return Ratio(r, r - half, r + half, a.size, b.size)


EXACT_PAIRS = 16  # up to this many pairs the permutation test enumerates every sign pattern (2^16)
RESAMPLES = 9999  # random sign patterns beyond that, from a fixed seed


def _pooled(first: Sequence, second: Sequence, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The per-image values of every seed, concatenated; one line when a seed's two sides differ in length."""
    if len(first) != len(second) or any(len(x) != len(y) for x, y in zip(first, second)):
        raise ValueError("paired test: both sides need the same seeds and the same images in each")
    return (
        np.concatenate([np.asarray(x, dtype) for x in first]),
        np.concatenate([np.asarray(y, dtype) for y in second]),
    )


def mcnemar(first: Sequence, second: Sequence, level: float = LEVEL) -> Comparison:
    """McNemar's exact test of two classifiers' per-image correctness: first[s][i] is whether the first got image
    i of seed s right. diff = accuracy(first) − accuracy(second) over all pairs."""
    a, b = _pooled(first, second, bool)
    only_a, only_b, n = int((a & ~b).sum()), int((~a & b).sum()), a.size
    diff = (only_a - only_b) / n
    p = float(_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
    half = _stats.norm.ppf(0.5 + level / 2) * math.sqrt(only_a + only_b - (only_a - only_b) ** 2 / n) / n
    return Comparison(diff, diff - half, diff + half, min(p, 1.0), math.inf, len(first), len(second), "McNemar", n)


def paired_permutation(first: Sequence, second: Sequence, level: float = LEVEL, seed: int = 0) -> Comparison:
    """The paired sign-flip permutation test of per-image scores: first[s][i] − second[s][i], pooled over seeds.
    diff = the mean difference, with its paired t interval (nan bounds for a single pair)."""
    x, y = _pooled(first, second, float)
    d = x - y
    n, observed = d.size, abs(d.sum())
    tolerance = 1e-12 * max(1.0, float(np.abs(d).sum()))  # sums in another order may differ by round-off
    if n <= EXACT_PAIRS:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        p = float(np.mean(np.abs(signs @ d) >= observed - tolerance))
    else:
        rng, hits = np.random.default_rng(seed), 0
        for size in [1000] * (RESAMPLES // 1000) + [RESAMPLES % 1000]:
            hits += int((np.abs(rng.choice((-1, 1), size=(size, n)) @ d) >= observed - tolerance).sum())
        p = (1 + hits) / (1 + RESAMPLES)
    diff = float(d.mean())
    half = _stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    return Comparison(diff, diff - half, diff + half, p, n - 1, len(first), len(second), "paired permutation", n)


SEEDS_AND_IMAGES = "seed-and-image t-test"


def _interaction(y: np.ndarray) -> float:
    """σ²_e / k of one row's k × N per-image values: the two-way residual mean square over its seeds (0 for k = 1,
    where it cannot be told from the image term, which then keeps it: conservative)."""
    k, n = y.shape
    if k < 2 or n < 2:
        return 0.0
    residual = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0) + y.mean()
    return float((residual**2).sum() / ((k - 1) * (n - 1))) / k


def seeds_and_images(a: Sample, b: Sample, first: Sequence, second: Sequence, level: float = LEVEL) -> Comparison:
    """m_a − m_b over seeds and test images (module docstring): a, b the rows' cells over all their seeds;
    first[s][i], second[s][i] the per-image values of the seeds that kept them, the same N images on both sides.
    Untestable (nan p) with one seed on either side: nothing then measures how much a seed moves a row."""
    x = np.stack([np.asarray(v, float) for v in first])
    y = np.stack([np.asarray(v, float) for v in second])
    if x.shape[1] != y.shape[1]:
        raise ValueError("seed-and-image test: both sides need the same images")
    n_images, diff = x.shape[1], a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return Comparison(diff, math.nan, math.nan, math.nan, math.nan, a.n, b.n, SEEDS_AND_IMAGES, n_images)
    spread = float(np.var(x.mean(axis=0) - y.mean(axis=0), ddof=1)) if n_images > 1 else 0.0
    terms = [(a.var_of_mean, a.n - 1), (b.var_of_mean, b.n - 1)]
    terms.append((max(0.0, spread - _interaction(x) - _interaction(y)) / n_images, n_images - 1))
    se2 = sum(v for v, _ in terms)
    if se2 == 0:
        p = 1.0 if diff == 0 else 0.0
        return Comparison(diff, diff, diff, p, math.inf, a.n, b.n, SEEDS_AND_IMAGES, n_images)
    df = se2**2 / sum(v**2 / d for v, d in terms if v > 0)
    se = math.sqrt(se2)
    half = _stats.t.ppf(0.5 + level / 2, df) * se
    p = float(2 * _stats.t.sf(abs(diff) / se, df))
    return Comparison(diff, diff - half, diff + half, p, df, a.n, b.n, SEEDS_AND_IMAGES, n_images)
