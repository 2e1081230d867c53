"""docs/ablation_p6.md's reading of the P6 ablation, every number and verdict it states checked against the
committed report's CSV (results/reduced_cpu/ablation_p6.csv), the tables and figures CSVs beside it and the
single-layer table: a number that drifts from its CSV, or a reading the statistics no longer support, fails here."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from gcnn_study import measure
from gcnn_study.report import ablation
from gcnn_study.report.figures.rows import equivariance_csv
from gcnn_study.report.stats import LEVEL
from helpers import REPO

pytestmark = pytest.mark.records  # they read the committed results

REDUCED = REPO / "results" / "reduced_cpu"
DOC = re.sub(r"\s+", " ", (REPO / "docs" / "ablation_p6.md").read_text())  # a sentence reads as one line
ALPHA = 1 - LEVEL


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """The committed comparisons, by (a, b)."""
    path = REDUCED / ablation.CSV
    assert path.is_file(), f"{path} is missing: run `make ablation-report RESULTS=results/reduced_cpu`"
    return pd.read_csv(path).set_index(["a", "b"])


def quoted(row) -> str:
    """A comparison as the reading quotes it: a − b in points, its 95 % interval, Welch's and Holm's p."""
    d, lo, hi = (f"{100 * x:+.1f}" for x in (row.difference, row.ci_low, row.ci_high))
    return f"{d} points (95 % CI [{lo}, {hi}], Welch p = {row.welch_p:.3f}, Holm p = {row.holm_p:.3f})"


def points(row) -> str:
    return f"{100 * row.difference:+.1f}"


ACTION = {m: (f"{m}_harmonic", f"{m}_harmonic_bilinear") for m in ("p6cnn", "p8cnn")}  # the transform alone
SMOOTH = {m: (f"{m}_harmonic_bilinear", f"{m}_bilinear") for m in ("p6cnn", "p8cnn")}  # the filters alone


def test_the_reading_quotes_every_comparison_as_the_csv_has_it(rows):
    """Each comparison the reading cites, with its interval and both p, at the seeds and family size it says."""
    cited = [
        ("p8cnn_harmonic", "p8cnn"),
        *(("p6cnn_harmonic", b) for b in ("p8cnn_harmonic", "p4cnn_harmonic", "p4cnn")),
    ]
    cited += [*ACTION.values(), *SMOOTH.values()]
    for pair in cited:
        assert quoted(rows.loc[pair]) in DOC, pair
    assert (rows.status == "tested").all() and (rows.n_a == 3).all() and (rows.n_b == 3).all()
    family = int(rows.family.iloc[0])
    assert family == len(rows) == len(ablation.CONTRASTS)
    assert f"Holm's correction for the report's {family} comparisons" in DOC
    assert "For P6 neither cause is shown at n = 3" in DOC


def test_the_verdicts_follow_the_p_values(rows):
    p8_filters = rows.loc["p8cnn_harmonic", "p8cnn"]
    assert not p8_filters.significant and "Smooth filters alone: not shown." in DOC
    vs_p8, vs_p4 = rows.loc["p6cnn_harmonic", "p8cnn_harmonic"], rows.loc["p6cnn_harmonic", "p4cnn_harmonic"]
    assert vs_p8.difference < 0 and vs_p4.difference < 0 and "With exact filters P6 still trails in the means" in DOC
    assert vs_p8.welch_p < ALPHA <= vs_p8.holm_p
    assert f"Holm p = {vs_p8.holm_p:.3f}), significant alone but not after Holm's correction" in DOC
    assert vs_p4.welch_p >= ALPHA and f"Holm p = {vs_p4.holm_p:.3f}), not significant even alone" in DOC
    one_factor = rows[rows.one_factor]
    assert not one_factor.significant.any() and "No one-factor difference is significant at 95 %" in DOC
    causes = [rows.loc[pair] for pairs in (ACTION, SMOOTH) for pair in pairs.values()]
    assert all(r.welch_p >= ALPHA for r in causes) and "None of the four is significant, even alone." in DOC


def test_which_cause_is_larger_in_the_means_follows_the_differences(rows):
    action = {m: rows.loc[pair] for m, pair in ACTION.items()}
    smooth = {m: rows.loc[pair] for m, pair in SMOOTH.items()}
    assert action["p6cnn"].difference > smooth["p6cnn"].difference
    assert smooth["p8cnn"].difference > action["p8cnn"].difference
    assert (
        f"the group action for P6CNN ({points(action['p6cnn'])} points against {points(smooth['p6cnn'])}), "
        f"smooth filters for P8CNN ({points(smooth['p8cnn'])} points against {points(action['p8cnn'])})" in DOC
    )
    assert "for P6 the group action carries the gain" in DOC and "for P8 the smooth filters do" in DOC


def test_the_trained_and_the_single_layer_errors():
    errors = ablation.model_errors(equivariance_csv(REDUCED))["p6cnn_harmonic"]
    assert errors["60°"] >= errors["30°"] and "the harmonic P6CNN is no more invariant at 60°" in DOC
    assert f"logit error {errors['60°']:.2f} against {errors['30°']:.2f}" in DOC
    layers = measure.layer_error_table(ablation.layer_variants())
    exact = [layers["p6", kind]["harmonic (exact)"] for kind in ("lifting", "group")]
    resampled = [layers["p6", kind]["harmonic, resampled bilinear"] for kind in ("lifting", "group")]
    assert all(e < r / 5 for e, r in zip(exact, resampled))  # "close to equivariant", next to the resampled ones
    assert (
        f"({exact[0]:.3f} for the lifting layer and {exact[1]:.3f} for the group layer, against {resampled[0]:.3f} "
        f"and {resampled[1]:.3f} with the same filters resampled)" in DOC
    )


def test_rot_mnist_has_one_seed_per_row():
    table2 = pd.read_csv(REDUCED / f"{ablation.TABLE2}.csv")
    assert (table2.test_acc_n == 1).all() and "has one seed per row: its table gives directions only" in DOC
