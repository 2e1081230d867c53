"""The paired tests of gcnn_study.report.stats on hand-made per-image results with known answers: McNemar's exact
test and its Wald interval, pooled over seeds; the paired sign-flip permutation test, exact and Monte Carlo; the
t-test over seeds and images, which reduces to Welch's test and to a one-sample t-test at its two ends."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as _stats

from gcnn_study.report import stats
from gcnn_study.report.stats import Sample, mcnemar, paired_permutation, seeds_and_images, welch


def test_mcnemar_counts_the_discordant_images():
    """First right on all 20, second on the first 10: b = 10, c = 0, p = 2 · 2⁻¹⁰; the accuracies differ by
    0.5 ± 1.959964 · √(10 − 10²/20)/20."""
    first, second = [np.ones(20, bool)], [np.arange(20) < 10]
    c = mcnemar(first, second)
    assert c.p == pytest.approx(2 / 1024) and c.diff == 0.5 and c.pairs == 20 and (c.n_a, c.n_b) == (1, 1)
    half = 1.959963984540054 * math.sqrt(5) / 20
    assert (c.low, c.high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert c.testable and c.significant and c.test == "McNemar"
    flipped = mcnemar(second, first)
    assert flipped.diff == -0.5 and flipped.p == c.p


@pytest.mark.parametrize(
    "only_first,only_second,p",
    [(3, 0, 0.25), (1, 0, 1.0), (0, 0, 1.0), (2, 2, 1.0), (5, 1, 0.21875)],  # 2·P(X ≤ min) for X ~ B(b + c, 1/2)
)
def test_mcnemar_p_is_the_exact_binomial_test(only_first, only_second, p):
    a = [True] * only_first + [False] * only_second + [True] * 7
    b = [False] * only_first + [True] * only_second + [True] * 7
    assert mcnemar([a], [b]).p == pytest.approx(p)


def test_mcnemar_pools_the_seeds_by_summing_their_discordant_counts():
    """Seed 0: b = 4, c = 0; seed 1: b = 0, c = 1: pooled b = 4, c = 1 over 30 pairs, p = 2·6/32 = 0.375."""
    seed0 = (np.array([1, 1, 1, 1] + [1] * 11, bool), np.array([0, 0, 0, 0] + [1] * 11, bool))
    seed1 = (np.array([0] + [1] * 14, bool), np.array([1] + [1] * 14, bool))
    c = mcnemar([seed0[0], seed1[0]], [seed0[1], seed1[1]])
    assert c.p == pytest.approx(0.375) and c.diff == pytest.approx(3 / 30) and c.pairs == 30 and c.n_a == 2


def test_the_permutation_test_enumerates_small_samples():
    """Differences 1, 2, 3: of the 8 sign patterns, +++ and −−− reach |Σ| = 6: p = 0.25; the t interval
    2 ± t(0.975, 2) · 1/√3."""
    c = paired_permutation([[1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0]])
    assert c.p == 0.25 and c.diff == 2 and c.pairs == 3 and c.test == "paired permutation"
    half = 4.302652729911275 / math.sqrt(3)
    assert (c.low, c.high) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert not c.significant  # 3 pairs can never reach p < 0.05: the smallest p is 2/8


def test_no_difference_gives_p_one_and_one_pair_no_interval():
    same = paired_permutation([[0.7, 0.8]], [[0.7, 0.8]])
    assert same.p == 1 and same.diff == 0 and same.low == same.high == 0
    one = paired_permutation([[0.9]], [[0.5]])
    assert one.p == 1 and one.testable and math.isnan(one.low)  # both signs reach |Σ|: a single pair decides nothing


def test_large_samples_are_resampled_from_a_fixed_seed():
    """40 pairs all +0.1: only the all-plus and all-minus patterns reach |Σ| (2 in 2⁴⁰), so p is the smallest
    the resampling gives, 1/(RESAMPLES + 1); the same input gives the same p."""
    c = paired_permutation([[0.8] * 40], [[0.7] * 40])
    assert c.p == pytest.approx(1 / (stats.RESAMPLES + 1)) and c.pairs == 40
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.7, 0.1, 30), rng.normal(0.68, 0.1, 30)
    assert paired_permutation([a], [b]).p == paired_permutation([a], [b]).p


def test_the_resampled_p_approaches_the_exact_one(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.7, 0.1, 14), rng.normal(0.66, 0.1, 14)
    exact = paired_permutation([a], [b]).p  # 14 ≤ EXACT_PAIRS: all 16384 patterns
    monkeypatch.setattr(stats, "EXACT_PAIRS", 0)
    resampled = paired_permutation([a], [b]).p
    assert 0.01 < exact < 0.99 and resampled == pytest.approx(exact, abs=0.02)  # se of 9999 draws ≤ 0.005


def test_unmatched_sides_are_refused():
    with pytest.raises(ValueError, match="same seeds and the same images"):
        paired_permutation([[0.1, 0.2]], [[0.1]])
    with pytest.raises(ValueError, match="same seeds"):
        mcnemar([[True], [True]], [[True]])


# ----------------------------------------------------------------------------------------------- seeds and images
def _same(c, expected) -> bool:
    return all(getattr(c, f) == pytest.approx(getattr(expected, f)) for f in ("diff", "low", "high", "p", "df"))


def test_without_image_differences_it_is_welchs_test():
    """Every image differs by the same amount in every seed: the image term is 0 and the seeds decide alone."""
    a, b = Sample(0.8, 0.02, 3), Sample(0.7, 0.01, 3)
    first, second = [[0.8] * 5] * 3, [[0.7] * 5] * 3
    c = seeds_and_images(a, b, first, second)
    assert _same(c, welch(a, b)) and c.test == stats.SEEDS_AND_IMAGES and c.pairs == 5 and (c.n_a, c.n_b) == (3, 3)


def test_without_seed_spread_it_is_a_one_sample_t_test_of_the_image_differences():
    """Seeds that agree exactly (std 0): se² = var(d)/N with N − 1 df, the one-sample t-test of the per-image
    differences d = 0.1, 0.3, 0.1, 0.3, 0.2."""
    d = np.array([0.1, 0.3, 0.1, 0.3, 0.2])
    a, b = Sample(0.5 + d.mean(), 0.0, 2), Sample(0.5, 0.0, 2)
    c = seeds_and_images(a, b, [0.5 + d, 0.5 + d], [np.full(5, 0.5)] * 2)
    expected = _stats.ttest_1samp(d, 0.0)
    assert c.p == pytest.approx(expected.pvalue) and c.df == pytest.approx(4)
    half = _stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (c.low, c.high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))


def test_per_image_differences_that_are_seed_noise_add_nothing():
    """Row A's two seeds get images {0, 1} and {0, 2} right: its image means 1, .5, .5, 0 vary (variance 1/6)
    only because the seeds disagree, and the two-way residual mean square, 1/3 over 2 seeds, is exactly that
    1/6: the image term is 0 and the test is Welch's."""
    a, b = Sample(0.5, 0.1, 2), Sample(0.0, 0.1, 2)
    c = seeds_and_images(a, b, [[1, 1, 0, 0], [1, 0, 1, 0]], [[0, 0, 0, 0]])
    assert _same(c, welch(a, b))


def test_two_classifiers_by_hand():
    """A right on all 20 images in both seeds; B right on the first 10 in seed 0 and the first 14 in seed 1
    (0.5, 0.7: std 0.1414). Seed terms 0 + 0.02/2; the seed-averaged differences (0 ×10, 0.5 ×4, 1 ×6) vary by
    3.8/19 = 0.2, B's residual mean square is 1.6/19, so the image term is (0.2 − 0.8/19)/20; se² = 0.0178947,
    df = se⁴ / (0.01² + (0.15/19)²/19) = 3.1005."""
    a, b = Sample(1.0, 0.0, 2), Sample(0.6, float(np.std([0.5, 0.7], ddof=1)), 2)
    first = [np.ones(20, bool)] * 2
    second = [np.arange(20) < 10, np.arange(20) < 14]
    c = seeds_and_images(a, b, first, second)
    se2 = 0.01 + (0.2 - 0.8 / 19) / 20
    df = se2**2 / (0.01**2 + ((0.2 - 0.8 / 19) / 20) ** 2 / 19)
    assert se2 == pytest.approx(0.0178947, abs=1e-7) and df == pytest.approx(3.1005, abs=1e-4)
    assert c.diff == pytest.approx(0.4) and c.df == pytest.approx(df)
    assert c.p == pytest.approx(2 * _stats.t.sf(0.4 / math.sqrt(se2), df))
    assert not c.significant and mcnemar(first, second).significant  # these networks differ; the seeds may not


def test_one_seed_a_side_is_no_test_and_different_images_are_refused():
    one = seeds_and_images(Sample(0.9, math.nan, 1), Sample(0.5, 0.1, 3), [[1.0, 0.8]], [[0.5, 0.5]])
    assert not one.testable and one.diff == pytest.approx(0.4) and one.pairs == 2
    with pytest.raises(ValueError, match="same images"):
        seeds_and_images(Sample(0.9, 0.1, 2), Sample(0.5, 0.1, 2), [[1.0, 0.8]], [[0.5]])
