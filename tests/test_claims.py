"""The claim checker's verdicts on hand-made tables: rankings with and without the seeds' spread, identical
and differing scores, the overfitting gap, missing tables, and the file it writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gcnn import claims

REPO = Path(__file__).resolve().parents[1]


def frame(metric_rows: dict[str, dict[str, tuple]], n: int = 3) -> pd.DataFrame:
    """A table in the aggregator's CSV layout: {run name: {metric: (mean, std, study)}}."""
    records = []
    for run, metrics in metric_rows.items():
        rec = {"model": run.upper(), "run_name": run, "n": n}
        for metric, (mean, std, study) in metrics.items():
            rec |= {f"{metric}_mean": mean, f"{metric}_std": std, f"{metric}_study": study}
        records.append(rec)
    return pd.DataFrame(records)


def table1(d4=0.80, p8=0.60, std=0.01, n=3):
    acc = {"cnn": 0.3, "p4cnn": 0.55, "p6cnn": 0.4, "p8cnn": p8, "d4cnn": d4}
    return frame({r: {"test_acc": (0.9, std, 0.95), "test_transformed_acc": (a, std, 0.5)} for r, a in acc.items()}, n)


def verdict(frames, claim_start, where_start=""):
    rows = [r for r in claims.check(frames) if r[0].startswith(claim_start) and r[1].startswith(where_start)]
    assert len(rows) == 1, rows
    return rows[0][4]


def test_a_win_larger_than_the_spread_holds_and_says_by_how_much():
    v = verdict({"table1": table1(d4=0.80, p8=0.60, std=0.01)}, "D4CNN is best")
    assert v.startswith("**holds**") and "20.0 points ahead of P8CNN" in v and "more than the seeds' spread (1.0" in v


def test_a_win_smaller_than_the_spread_is_called_within_it():
    v = verdict({"table1": table1(d4=0.62, p8=0.60, std=0.05)}, "D4CNN is best")
    assert v.startswith("**holds**") and "within the seeds' spread (5.0 points)" in v


def test_a_loss_names_the_winner_and_one_seed_has_no_spread():
    v = verdict({"table1": table1(d4=0.55, p8=0.60, std=float("nan"), n=1)}, "D4CNN is best")
    assert v.startswith("**does not hold**") and "P8CNN is 5.0 points ahead" in v and "one seed" in v


def test_a_claim_without_its_table_is_not_checked():
    v = verdict({"table1": table1()}, "P4CNN is best on Rot-MNIST")
    assert v.startswith("not checked") and "p4cnn" in v


def test_identical_and_differing_rotated_scores():
    rows = {r: {"test_iou_score": (0.7, 0.01, 0.7), "test_rotated_iou_score": (0.7, 0.01, 0.7)}
            for r in ("segnet", "p4segnet", "d4segnet", "p4segnet+")}  # fmt: skip
    rows["segnet+"] = {"test_iou_score": (0.70, 0.01, 0.767), "test_rotated_iou_score": (0.69, 0.01, 0.771)}
    frames = {"table3": frame(rows)}
    assert verdict(frames, "Group SegNets").startswith("**holds**: identical")
    assert verdict(frames, "SegNet+ is not").startswith("**holds**: they differ by 0.010")
    rows["d4segnet"]["test_rotated_iou_score"] = (0.7 + 1e-6, 0.01, 0.7)  # equal to 3 decimals, not exactly
    assert verdict({"table3": frame(rows)}, "Group SegNets").startswith("**does not hold**")


def test_the_overfitting_gap_is_train_minus_test():
    rows = {
        "segnet_t": {"train_iou_score": (0.9, 0.0, 0.829), "test_iou_score": (0.6, 0.0, 0.657)},
        "p4segnet_t": {"train_iou_score": (0.9, 0.0, 0.842), "test_iou_score": (0.7, 0.0, 0.670)},
        "d4segnet_t": {"train_iou_score": (0.8, 0.0, 0.834), "test_iou_score": (0.75, 0.0, 0.693)},
    }
    frames = {"table4": frame(rows)}
    assert verdict(frames, "D4SegNet_T overfits").startswith("**holds**: its gap is 0.150 smaller than P4SEGNET_T")
    assert verdict(frames, "D4SegNet_T is best").startswith("**holds**: 0.050 ahead")


def test_write_makes_claims_md_and_an_empty_folder_is_one_line(tmp_path):
    assert claims.write(tmp_path) is None
    proc = subprocess.run(
        [sys.executable, "-m", "gcnn.claims", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": ""},
    )  # fmt: skip
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1 and str(tmp_path) in proc.stderr
    table1().to_csv(tmp_path / "table1.csv", index=False)
    out = claims.write(tmp_path)
    text = out.read_text()
    assert out == tmp_path / "claims.md" and text.count("| D4CNN is best") == 1 and "not checked" in text


@pytest.mark.parametrize("folder", ["results/reduced_cpu", "results/demo"])
def test_the_committed_tables_are_checkable(folder):
    out = claims.check({t: pd.read_csv(REPO / folder / f"{t}.csv") for t in ("table1", "table2", "table3", "table4")})
    assert len(out) == 11 and not [r for r in out if r[4].startswith("not checked")]
