"""The paired tests of gcnn_study.report.stats on hand-made per-image results with known answers: McNemar's exact
test and its Wald interval, pooled over seeds; the paired sign-flip permutation test, exact and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gcnn_study.report import stats
from gcnn_study.report.stats import mcnemar, paired_permutation


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
