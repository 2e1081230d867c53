"""The claim checker: the claims file loads, every claim reads cells that exist, a claims file naming an unknown
table, row, column, relation or test is refused in one line; the verdicts on hand-made tables with known answers
(significant wins and losses, a win within the spread, one seed, ratios, "the same", "about the same", the
overfitting gap and its low-train caveat, the parameter budget, Holm within a table). The paired tests, the
machines and the committed claims.md files are in test_claims_folders.py."""

from __future__ import annotations

import fnmatch
import json
import math
import subprocess
import sys
import tomllib

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from gcnn_study.report import claims

from gcnn_study.report.claims import data as claims_data
from gcnn_study.report.stats import Sample, holm, welch
from gcnn_study.config.specs import TABLES
from helpers import REPO

CATALOGUE = claims.load()


def frame(table: str, metric_rows: dict[str, dict[str, tuple]], n: int = 3, params=None) -> pd.DataFrame:
    """A table in the aggregator's CSV layout: {run name: {metric: (mean, std, study)}}; labels from
    gcnn_study.config.specs."""
    labels = {name: label for label, name in TABLES[table].rows}
    records = []
    for run, metrics in metric_rows.items():
        rec = {"model": labels[run], "run_name": run, "n": n, "params": (params or {}).get(run, 1000)}
        for metric, (mean, std, study) in metrics.items():
            rec |= {f"{metric}_mean": mean, f"{metric}_std": std, f"{metric}_study": study, f"{metric}_n": n}
        records.append(rec)
    return pd.DataFrame(records)


def table1(trans=None, std=0.01, n=3, up=None):
    trans = {"cnn": 0.3, "p4cnn": 0.55, "p6cnn": 0.4, "p8cnn": 0.60, "d4cnn": 0.80} | (trans or {})
    up = {"cnn": 0.98, "p4cnn": 0.95, "p6cnn": 0.95, "p8cnn": 0.95, "d4cnn": 0.94} | (up or {})
    rows = {r: {"test_acc": (up[r], std, 0.95), "test_transformed_acc": (a, std, 0.5)} for r, a in trans.items()}
    return frame("table1", rows, n)


def outcome(frames, claim_id) -> claims.Outcome:
    return dict((c.id, o) for c, o in claims.check(frames))[claim_id]


def by_statement(start: str) -> str:
    (claim,) = [c for c in CATALOGUE.claims if c.statement.startswith(start)]
    return claim.id


D4_BEST, P4_DOUBLES, A_THIRD = by_statement("D4CNN is best"), by_statement("P4CNN's"), by_statement("CNN's")


# ----------------------------------------------------------------------------------------------- the catalogue
def test_every_claim_quotes_the_study_and_reads_cells_that_exist():
    ids = [c.id for c in CATALOGUE.claims] + [u.id for u in CATALOGUE.not_checkable]
    assert len(ids) == len(set(ids)) and len(CATALOGUE.claims) == 28
    for claim in CATALOGUE.claims:
        assert claim.quote and claim.source and claim.statement and claim.test.describe()
    for claim in CATALOGUE.claims:  # every cell names a row and a column of gcnn_study.config.specs
        for cell in _cells(claim.test):
            assert cell.label and cell.column
    for u in CATALOGUE.not_checkable:
        assert u.quote and u.reason


def _cells(test):
    if isinstance(test, claims.Higher):
        return [
            c
            for q in (test.subject, *test.rivals)
            for c in ([q] if isinstance(q, claims.Cell) else [q.first, q.second])
        ]
    if isinstance(test, claims.Identical):
        return [claims.Cell(test.table, m, r) for r in test.runs for m in (test.metric, test.other)]
    if isinstance(test, claims.SmallestGap):
        return [claims.Cell(test.table, m, r) for _, r in TABLES[test.table].rows for m in (test.train, test.test)]
    if isinstance(test, claims.SimilarParameters):
        return []
    return [test.a, test.b]


def test_the_claims_the_issue_found_missing_are_there():
    statements = [c.statement for c in CATALOGUE.claims]
    for s in [
        "CNN is the worst on Rot-MNIST",
        "D4CNN is below P4CNN on Rot-MNIST",
        "Without augmentation, P4SegNet beats SegNet and D4SegNet (test)",
        "With augmentation, P4SegNet+ beats SegNet+ (test)",
        "P4SegNet+ ≈ P4SegNet (test)",
        "SegNet+ beats D4SegNet (test)",
        "SegNet+ beats D4SegNet (rotated test)",
        "SegNet scores lower on the rotated test set",
        "P4CNN's \"+transforms\" accuracy is about twice the CNN's",
    ]:
        assert s in statements
    assert any("1.5 faster" in u.quote for u in CATALOGUE.not_checkable)


def test_between_rows_claims_ask_for_a_paired_test_and_two_columns_of_one_row_for_welch():
    for claim in CATALOGUE.claims:
        if isinstance(claim.test, claims.Higher) and isinstance(claim.test.subject, claims.Cell):
            between_rows = all(r.run != claim.test.subject.run for r in claim.test.rivals)
            assert claim.test.paired == between_rows, claim.id


# ----------------------------------------------------------------------------------------------- the claims file
GOOD = {
    "id": "x1",
    "source": "§0",
    "quote": "P4 beats P6.",
    "statement": "P4CNN beats P6CNN",
    "relation": "above",
    "test": "paired",
    "table": "table1",
    "column": "test_acc",
    "subject": "p4cnn",
    "rivals": ["p6cnn"],
}


def _claims_file(tmp_path, **changes):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [{**GOOD, **changes}], "not_checkable": []}, allow_unicode=True))
    return path


def test_a_good_claims_file_loads_into_tests(tmp_path):
    (claim,) = claims.load(_claims_file(tmp_path)).claims
    p4, p6 = claims.Cell("table1", "test_acc", "p4cnn"), claims.Cell("table1", "test_acc", "p6cnn")
    assert claim.test == claims.Higher(p4, (p6,), lower=False, paired=True)
    everyone = claims.load(_claims_file(tmp_path, rivals="all", relation="below")).claims[0].test
    assert everyone.lower and [r.run for r in everyone.rivals] == ["cnn", "p6cnn", "p8cnn", "d4cnn"]


@pytest.mark.parametrize(
    "changes,what",
    [
        ({"table": "table9"}, "unknown table 'table9'"),
        ({"subject": "p5cnn"}, "unknown row 'p5cnn' of table1"),
        ({"rivals": [{"row": "p6cnn", "column": "test_iou"}]}, "unknown column 'test_iou' of table1"),
        ({"relation": "beats"}, "unknown relation 'beats'"),
        ({"test": "ttest"}, "test 'ttest' does not fit relation above (no such test)"),
        ({"test": "exact"}, "test 'exact' does not fit relation above"),
        ({"rivals": [{"row": "p4cnn", "column": "test_transformed_acc"}]}, "a paired test compares the same column"),
        ({"rival": ["p6cnn"]}, "unknown field 'rival'"),
        ({"quote": ""}, "lacks quote"),
    ],
)
def test_a_claims_file_with_an_unknown_name_is_refused_in_one_line(tmp_path, changes, what):
    path = _claims_file(tmp_path, **changes)
    with pytest.raises(claims.ClaimsFileError) as err:
        claims.load(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: claim x1: {what}") and "; " in message
    fix = message.rsplit("; ", 1)[1]
    assert re.match(r"(use|add|write|list|fix|name|swap)", fix), message  # it says what to do


def test_a_repeated_id_and_an_unreadable_file_are_refused(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [GOOD, GOOD]}))
    with pytest.raises(claims.ClaimsFileError, match="claim x1 appears twice"):
        claims.load(path)
    path.write_text("claims: [unclosed")
    with pytest.raises(claims.ClaimsFileError, match="cannot be read as YAML"):
        claims.load(path)


def test_the_command_refuses_a_bad_claims_file_in_one_line(tmp_path):
    table1().to_csv(tmp_path / "table1.csv", index=False)
    path = _claims_file(tmp_path, subject="p5cnn")
    proc = subprocess.run(
        [sys.executable, "-m", "gcnn_study.report.claims", "--results-dir", str(tmp_path), "--claims", str(path)],
        capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": ""},
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f"error: {path}: claim x1: unknown row 'p5cnn' of table1; use one of cnn, p4cnn, p6cnn, p8cnn, d4cnn"
    ]
    assert not (tmp_path / "claims.md").exists()


def test_the_package_ships_the_claims_file():
    assert claims_data.default_path().name == "claims.yaml" and claims_data.default_path().exists()
    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gcnn_study"]
    assert any(fnmatch.fnmatch("reference/claims.yaml", pattern) for pattern in shipped)


# ----------------------------------------------------------------------------------------------- verdicts
def test_a_significant_win_holds_with_its_interval_p_and_n():
    o = outcome({"table1": table1(std=0.01)}, D4_BEST)
    expected = welch(Sample(0.80, 0.01, 3), Sample(0.60, 0.01, 3))
    assert o.tag == claims.HOLDS and "D4CNN 20.0 points above P8CNN" in o.detail
    assert f"95 % CI [{100 * expected.low:+.1f}, {100 * expected.high:+.1f}]" in o.detail
    assert "Welch p < 0.001" in o.detail and "n = 3, 3" in o.detail


def test_a_win_within_the_spread_holds_for_the_means_only():
    o = outcome({"table1": table1({"d4cnn": 0.62}, std=0.05)}, D4_BEST)
    p = welch(Sample(0.62, 0.05, 3), Sample(0.60, 0.05, 3)).p
    assert (
        o.tag == claims.HOLDS_MEANS
        and f"Welch p = {p:.3f}" in o.detail
        and "closest: D4CNN 2.0 points above" in o.detail
    )


def test_a_significant_loss_is_contradicted_and_a_small_one_fails_for_the_means():
    o = outcome({"table1": table1({"d4cnn": 0.50}, std=0.01)}, D4_BEST)
    assert o.tag == claims.CONTRADICTED and "D4CNN 10.0 points below P8CNN" in o.detail
    o = outcome({"table1": table1({"d4cnn": 0.59}, std=0.05)}, D4_BEST)
    assert o.tag == claims.FAILS_MEANS and "1.0 points below P8CNN" in o.detail


def test_one_seed_reads_the_direction_only():
    o = outcome({"table1": table1({"d4cnn": 0.55}, std=math.nan, n=1)}, D4_BEST)
    assert o.tag == claims.ONE_SEED and o.direction_ok is False and "the direction fails" in o.detail
    assert o.verdict.startswith("**one seed: direction only**") and "n = 1, 1" in o.detail
    o = outcome({"table1": table1(std=math.nan, n=1)}, D4_BEST)
    assert o.direction_ok is True and "the direction holds" in o.detail


def test_a_claim_without_its_table_or_column_is_not_checked():
    o = outcome({"table1": table1()}, by_statement("P4CNN is best on Rot-MNIST"))
    assert o.tag == claims.UNCHECKED and "table2.csv is missing" in o.detail
    no_column = table1().drop(columns=["test_transformed_acc_mean"])
    assert outcome({"table1": no_column}, D4_BEST).detail == "table1.csv has no column test_transformed_acc"


def test_n_is_read_per_metric():
    t = table1()
    t.loc[t.run_name == "d4cnn", "test_transformed_acc_n"] = 1  # one of the three runs reports this metric
    assert outcome({"table1": t}, D4_BEST).tag == claims.ONE_SEED


def test_a_comparison_significant_alone_is_read_against_its_table_s_family():
    """P4CNN 4.5 points above P6CNN on "+transforms" (std 1.5, n = 3): Welch p = 0.021 alone, but Table 1's claims
    make 11 comparisons (CNN against the 4 others upright, D4CNN against the 4 others and P4CNN, P8CNN against
    P6CNN on "+transforms", D4CNN's two columns), and Holm's adjusted p is 0.107: the means only."""
    up = {"cnn": 0.98, "p4cnn": 0.95, "p6cnn": 0.95, "p8cnn": 0.95, "d4cnn": 0.94}
    trans = {"cnn": 0.3, "p4cnn": 0.445, "p6cnn": 0.40, "p8cnn": 0.60, "d4cnn": 0.80}
    s = lambda v: Sample(v, 0.015, 3)  # noqa: E731
    others = ("p4cnn", "p6cnn", "p8cnn", "d4cnn")
    family = [welch(s(up["cnn"]), s(up[r])).p for r in others]
    family += [welch(s(trans["d4cnn"]), s(trans[r])).p for r in ("cnn", "p4cnn", "p6cnn", "p8cnn")]
    family += [welch(s(trans[r]), s(trans["p6cnn"])).p for r in ("p4cnn", "p8cnn")]
    family += [welch(s(up["d4cnn"]), s(trans["d4cnn"])).p]
    raw, adjusted = family[8], holm(family)[8]
    assert raw < 0.05 <= adjusted
    o = outcome({"table1": table1({"p4cnn": 0.445, "p6cnn": 0.40}, std=0.015)}, by_statement('P4CNN beats P6CNN on "+'))
    assert o.tag == claims.HOLDS_MEANS
    assert f"Welch p = {raw:.3f} (Holm p = {adjusted:.3f} over the table's 11 comparisons), n = 3, 3" in o.detail
    assert o.detail.endswith("not paired: the runs' per-image results were not read")


@pytest.mark.parametrize(
    "p4,std,tag",
    [(0.58, 0.002, claims.HOLDS), (0.58, 0.05, claims.HOLDS_MEANS), (0.45, 0.05, claims.FAILS_MEANS),
     (0.40, 0.002, claims.CONTRADICTED)],
)  # fmt: skip
def test_a_ratio_claim_against_its_range(p4, std, tag):
    """P4CNN / CNN on "+transforms" with CNN at 0.30: 0.58 → 1.93 (in [1.75, 2.25]); 0.45 → 1.5; 0.40 → 1.33."""
    o = outcome({"table1": table1({"p4cnn": p4}, std=std)}, P4_DOUBLES)
    assert o.tag == tag and f"ratio {p4 / 0.3:.2f}" in o.detail and "range [1.75, 2.25]" in o.detail


def test_a_ratio_over_zero_is_not_checked():
    o = outcome({"table1": table1(up={"cnn": 0.0})}, A_THIRD)  # a tiny run may score 0 upright
    assert o.tag == claims.UNCHECKED and "undefined" in o.detail


def test_a_third_reads_two_columns_of_one_row():
    o = outcome({"table1": table1({"cnn": 0.33}, up={"cnn": 0.99}, std=0.002)}, A_THIRD)
    assert o.tag == claims.HOLDS and "ratio 0.33" in o.detail and "ratio 0.33" in o.ours


def _table3(rot=None, test=None, std=0.01):
    test = {"segnet": 0.70, "p4segnet": 0.78, "d4segnet": 0.74, "segnet+": 0.76, "p4segnet+": 0.78} | (test or {})
    rot = {**test, "segnet": 0.60, "segnet+": 0.75} | (rot or {})
    return frame("table3", {r: {"test_iou_score": (test[r], std, 0.7), "test_rotated_iou_score": (rot[r], std, 0.7)}
                            for r in test})  # fmt: skip


def test_identical_differing_and_about_the_same_scores():
    same, segplus, close = by_statement("The group SegNets"), by_statement("SegNet+'s"), by_statement("P4SegNet+ ≈")
    frames = {"table3": _table3()}
    assert outcome(frames, same).tag == claims.HOLDS and "all 9 runs" in outcome(frames, same).detail
    assert outcome({"table3": _table3({"d4segnet": 0.74 + 1e-6})}, same).tag == claims.NOT_HOLD  # equal to 3 decimals
    o = outcome(frames, segplus)
    assert o.tag == claims.HOLDS and "they differ by 0.010" in o.detail and "Welch p" in o.detail
    assert outcome(frames, close).tag == claims.CONSISTENT  # 0.78 and 0.78
    o = outcome({"table3": _table3(test={"p4segnet+": 0.70}, rot={"p4segnet+": 0.70}, std=0.005)}, close)
    assert o.tag == claims.NOT_HOLD and "difference -0.080" in o.detail


def _table4(train, test, std=0.0):
    rows = {r: {"train_iou_score": (train[r], std, 0.8), "test_iou_score": (test[r], std, 0.7)} for r in train}
    return {"table4": frame("table4", rows)}


def test_the_smallest_gap_says_when_it_comes_from_a_low_train_score():
    gap = by_statement("D4SegNet_T has the smallest")
    low_train = _table4({"segnet_t": 0.9, "p4segnet_t": 0.9, "d4segnet_t": 0.7},
                        {"segnet_t": 0.6, "p4segnet_t": 0.65, "d4segnet_t": 0.66}, std=0.005)  # fmt: skip
    o = outcome(low_train, gap)
    assert o.tag == claims.HOLDS and "D4SegNet_T 0.210 below P4SegNet_T" in o.detail
    assert "mostly from a lower train score (D4SegNet_T trains to 0.700 against P4SegNet_T's 0.900" in o.detail
    assert "0.040 ± 0.010 (n=3)" in o.ours  # the gap with its spread bound std(train) + std(test)
    high_test = _table4({"segnet_t": 0.9, "p4segnet_t": 0.9, "d4segnet_t": 0.88},
                        {"segnet_t": 0.6, "p4segnet_t": 0.65, "d4segnet_t": 0.80}, std=0.005)  # fmt: skip
    o = outcome(high_test, gap)
    assert o.tag == claims.HOLDS and "lower train score" not in o.detail


def test_the_parameter_budget():
    t1 = by_statement("The five classifiers")
    near = {"cnn": 1000, "p4cnn": 995, "p6cnn": 999, "p8cnn": 991, "d4cnn": 991}
    frames = {"table1": frame("table1", {r: {"test_acc": (0.9, 0.01, 0.9)} for r in near}, params=near)}
    assert outcome(frames, t1).tag == claims.HOLDS and "0.90 %" in outcome(frames, t1).detail
    far = near | {"p6cnn": 1030}
    frames = {"table1": frame("table1", {r: {"test_acc": (0.9, 0.01, 0.9)} for r in far}, params=far)}
    assert outcome(frames, t1).tag == claims.NOT_HOLD


def test_the_summary_counts_the_verdicts():
    results = claims.check({"table1": table1(std=math.nan, n=1)})
    text = claims.summary(results)
    assert text.startswith(f"{len(CATALOGUE.claims)} claims checked")
    unchecked = sum(o.tag == claims.UNCHECKED for _, o in results)
    assert f"{unchecked} not checked" in text and "one seed: direction only" in text


def _per_seed(table: pd.DataFrame, run: str, metric: str, values: list[float]) -> None:
    """Give one cell of an aggregator-layout table its seeds' values, as the aggregator writes them."""
    row = table.run_name == run
    table.loc[row, f"{metric}_per_seed"] = json.dumps(dict(enumerate(values)))
    table.loc[row, [f"{metric}_mean", f"{metric}_std"]] = [np.mean(values), np.std(values, ddof=1)]


def test_two_metrics_of_one_row_pair_seed_by_seed_and_a_gap_gets_its_own_spread():
    """SegNet upright 0.90, 0.80, 0.70 against rotated 0.85, 0.74, 0.66: Welch's test cannot separate the two wide
    columns, their per-seed differences can (stats.paired_seeds, p = 0.013). A train − test gap of 0.10, 0.11, 0.09
    reads 0.100 ± 0.010, not the bound 0.2 that std(train) + std(test) would give."""
    lower = by_statement("SegNet scores lower on the rotated")
    t3 = frame("table3", {"segnet": {"test_iou_score": (0.8, 0.1, 0.7), "test_rotated_iou_score": (0.75, 0.1, 0.6)}})
    assert "Welch p" in outcome({"table3": t3}, lower).detail  # a table without per-seed values
    _per_seed(t3, "segnet", "test_iou_score", [0.90, 0.80, 0.70])
    _per_seed(t3, "segnet", "test_rotated_iou_score", [0.85, 0.74, 0.66])
    o = outcome({"table3": t3}, lower)
    assert o.tag == claims.HOLDS and "paired t-test over seeds p = 0.013" in o.detail
    t4 = _table4(
        {"segnet_t": 0.9, "p4segnet_t": 0.9, "d4segnet_t": 0.9}, {"segnet_t": 0.8, "p4segnet_t": 0.8, "d4segnet_t": 0.8}
    )["table4"]
    _per_seed(t4, "d4segnet_t", "train_iou_score", [0.9, 1.0, 0.8])
    _per_seed(t4, "d4segnet_t", "test_iou_score", [0.8, 0.89, 0.71])
    o = outcome({"table4": t4}, by_statement("D4SegNet_T has the smallest"))
    assert "D4SegNet_T 0.100 ± 0.010 (n=3)" in o.ours
