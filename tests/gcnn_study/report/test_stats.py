"""gcnn_study.report.stats on inputs with known answers: Welch's test from summary statistics against the textbook
numbers
and against scipy on the raw values, the contrast with a factor, the ratio interval, one seed, no spread."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from gcnn_study.report.stats import Sample, gap, holm, prediction_interval, ratio, welch


def sample(values) -> Sample:
    v = np.asarray(values, dtype=float)
    return Sample(float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v))


def test_welch_matches_the_textbook_example():
    """[1, 2, 3] against [4, 5, 6]: difference −3, se = √(2/3), t = −3.674, df = 4, p = 0.0213."""
    c = welch(sample([1, 2, 3]), sample([4, 5, 6]))
    assert c.diff == -3 and c.df == pytest.approx(4)
    assert c.p == pytest.approx(0.021311641128756, rel=1e-9)
    half = 2.7764451051977987 * math.sqrt(2 / 3)  # t_{0.975, 4} · se
    assert (c.low, c.high) == (pytest.approx(-3 - half), pytest.approx(-3 + half))
    assert c.testable and c.significant and (c.n_a, c.n_b) == (3, 3)


@pytest.mark.parametrize("seed", range(5))
def test_welch_from_summaries_equals_scipy_on_the_raw_values(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.6, 0.05, 3), rng.normal(0.55, 0.2, 4)  # unequal spreads and sizes
    c = welch(sample(a), sample(b))
    ref = sps.ttest_ind(a, b, equal_var=False)
    low, high = ref.confidence_interval(0.95)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-9) and c.df == pytest.approx(ref.df, rel=1e-9)
    assert (c.low, c.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_a_factor_tests_a_minus_k_b_as_welch_on_k_times_b():
    a, b = [10, 12, 14], [4, 5, 6]
    c = welch(sample(a), sample(b), factor=2)
    ref = sps.ttest_ind(a, [2 * v for v in b], equal_var=False)
    assert c.diff == pytest.approx(2) and c.p == pytest.approx(ref.pvalue, rel=1e-9) and c.df == pytest.approx(4)


def test_one_seed_gives_a_direction_and_no_test():
    c = welch(sample([0.9]), sample([0.8, 0.7, 0.75]))
    assert c.diff == pytest.approx(0.15) and not c.testable and not c.significant
    assert math.isnan(c.p) and math.isnan(c.low) and math.isnan(c.high)


def test_no_spread_on_either_side():
    same, other = welch(sample([0.5] * 3), sample([0.5] * 3)), welch(sample([0.6] * 3), sample([0.5] * 3))
    assert same.p == 1 and not same.significant and other.p == 0 and other.significant and other.low > 0


def test_the_ratio_interval_reduces_to_the_t_interval_when_the_divisor_has_no_spread():
    """b = 2 exactly: r = mean(a)/2 and its interval is the t interval of a (df 2) divided by 2."""
    r = ratio(sample([1, 2, 3]), sample([2, 2, 2]))
    half = 4.302652729911275 * (1 / math.sqrt(3)) / 2  # t_{0.975, 2} · s/√n / 2
    assert r.value == 1 and (r.low, r.high) == (pytest.approx(1 - half), pytest.approx(1 + half))
    assert not ratio(sample([1.0]), sample([2, 2.1])).testable
    assert math.isnan(ratio(sample([1.0, 2.0]), sample([0.0, 0.0])).value)  # a zero divisor: no ratio


def test_the_ratio_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        r = ratio(sample(rng.normal(0.6, 0.05, 5)), sample(rng.normal(0.3, 0.03, 5)))
        hits += r.low <= 2 <= r.high
    assert 0.93 < hits / 2000 < 0.97


def test_the_gap_of_one_rows_two_metrics_bounds_its_spread():
    g = gap(Sample(0.8, 0.03, 3), Sample(0.6, 0.04, 3))
    assert g.mean == pytest.approx(0.2) and g.std == pytest.approx(0.07) and g.n == 3
    assert math.isnan(gap(Sample(0.8, math.nan, 1), Sample(0.6, math.nan, 1)).std)


def test_holm_adjusts_hand_made_p_values():
    """m = 4: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → 0.06 (never below a smaller p's)."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == [] and holm([0.2]) == [0.2]  # one test: its own p


def test_holm_leaves_untestable_comparisons_out_of_the_family():
    adjusted = holm([0.01, math.nan, 0.02])  # m = 2, not 3
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)


def test_holm_turns_a_lone_p_of_0_015_among_twelve_into_no_finding():
    """The P6 ablation's family: its smallest p, 0.015, is significant alone and not among 12 tests."""
    adjusted = holm([0.015, *[0.1 + 0.05 * i for i in range(11)]])
    assert adjusted[0] == pytest.approx(12 * 0.015) and adjusted[0] > 0.05


def test_the_prediction_interval_by_hand_and_by_coverage():
    """Three runs 0.4, 0.5, 0.6 (mean 0.5, std 0.1): 0.5 ± t(0.975, 2) · 0.1 · √(4/3) = 0.5 ± 0.4969. Over many
    draws of three runs and one more, the fourth falls inside about 95 % of the time; one run gives no interval."""
    low, high = prediction_interval(Sample(0.5, 0.1, 3))
    assert (low, high) == (pytest.approx(0.5 - 4.302652729911275 * 0.1 * math.sqrt(4 / 3)), pytest.approx(1 - low))
    rng = np.random.default_rng(0)
    draws = rng.normal(0.0, 1.0, (20_000, 4))
    inside = [
        lo <= d[3] <= hi for d in draws for lo, hi in [prediction_interval(Sample(d[:3].mean(), d[:3].std(ddof=1), 3))]
    ]
    assert np.mean(inside) == pytest.approx(0.95, abs=0.006)  # binomial se of 20,000 draws: 0.0015
    assert all(math.isnan(b) for b in prediction_interval(Sample(0.5, math.nan, 1)))


def test_the_tables_say_where_the_studys_run_lies_against_ours():
    from gcnn_study.config.specs import TABLES
    from gcnn_study.report.rows import compared_cells, study_reads

    row = {"test_acc_mean": 0.5, "test_acc_std": 0.1, "test_acc_n": 3}
    assert [study_reads(v, row, "test_acc") for v in (1.0, 0.9, 0.01, 0.0)] == ["above", "inside", "inside", "below"]
    assert study_reads(0.9, {**row, "test_acc_std": math.nan, "test_acc_n": 1}, "test_acc") == ""
    cells = {"model": "CNN", "n": 3, "test_transformed_acc_mean": 0.3, "test_transformed_acc_std": 0.0}
    cells |= {"test_transformed_acc_n": 3, "test_transformed_acc_study": 0.34}
    cells |= {
        **row,
        "test_acc_study": 0.982,
        "test_acc_study_reads": "inside",
        "test_transformed_acc_study_reads": "above",
    }
    assert compared_cells(TABLES["table1"], cells) == [
        "50.00 ± 10.00 % (n=3)",
        "98.20 % (inside)",
        "30.00 ± 0.00 % (n=3)",
        "34.00 % (above)",
    ]


def test_two_metrics_of_the_same_runs_are_compared_seed_by_seed():
    """Upright 0.90, 0.80, 0.70 and rotated 0.85, 0.74, 0.66 of the same three runs: Welch's test sees two wide rows
    (p = 0.55); their per-seed differences 0.05, 0.06, 0.04 are the ttest_rel of scipy (p = 0.013)."""
    from gcnn_study.report.stats import differences, paired_seeds

    up, rot = [0.90, 0.80, 0.70], [0.85, 0.74, 0.66]
    c, expected = paired_seeds(up, rot), sps.ttest_rel(up, rot)
    assert c.p == pytest.approx(expected.pvalue) and c.df == 2 and c.diff == pytest.approx(0.05) and c.significant
    unpaired = welch(Sample(0.8, 0.1, 3), Sample(np.mean(rot), np.std(rot, ddof=1), 3))
    assert unpaired.p > 0.5 and c.test == "paired t-test over seeds"
    assert differences(up, rot) == Sample(pytest.approx(0.05), pytest.approx(0.01), 3)
    assert not paired_seeds([0.9], [0.8]).testable


def test_a_ratio_of_two_metrics_of_the_same_runs_pairs_by_seed():
    """With a divisor that never moves, the paired interval is `ratio`'s; when every seed keeps the same ratio
    (0.27/0.9, 0.30/1.0, 0.33/1.1 = 0.3) it has no width, while the unpaired one spans both rows' spread."""
    from gcnn_study.report.stats import paired_ratio

    a = [0.30, 0.36, 0.42]
    paired, unpaired = paired_ratio(a, [1.0] * 3), ratio(Sample(0.36, float(np.std(a, ddof=1)), 3), Sample(1.0, 0.0, 3))
    assert (paired.value, paired.low, paired.high) == pytest.approx((unpaired.value, unpaired.low, unpaired.high))
    same = paired_ratio([0.27, 0.30, 0.33], [0.9, 1.0, 1.1])
    assert same.value == pytest.approx(0.3) and same.high - same.low == pytest.approx(0, abs=1e-12)
    unpaired_same = ratio(Sample(0.3, 0.03, 3), Sample(1.0, 0.1, 3))
    assert unpaired_same.high - unpaired_same.low == pytest.approx(0.136, abs=0.001)  # 0.232 to 0.368


def test_sample_of_values_is_their_mean_sample_std_and_count():
    from gcnn_study.report.stats import sample_of

    s = sample_of([1.0, 3.0, 8.0])
    assert (s.mean, s.n) == (4.0, 3) and s.std == pytest.approx(math.sqrt(13.0))  # (9 + 1 + 16) / 2
    one, none = sample_of([2.5]), sample_of([])
    assert (one.mean, one.n) == (2.5, 1) and math.isnan(one.std)
    assert none.n == 0 and math.isnan(none.mean) and math.isnan(none.std)
