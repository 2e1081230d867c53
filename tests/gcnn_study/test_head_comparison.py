"""scripts/head_comparison.py on hand-made records: the means, spreads and Welch tests it writes are the ones the
records give, and a folder without the runs is one line."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from helpers import REPO, load_script
from scipy import stats

from gcnn_study.config import layout

head_comparison = load_script("head_comparison")

# (experiment, seed) -> (train score, test score, last training loss, validation scores per epoch)
RECORDS = {
    ("head_notebook", 0): (0.86, 0.60, 0.36, [0.3, 0.5, 0.55]),
    ("head_notebook", 1): (0.85, 0.62, 0.37, [0.2, 0.58, 0.56]),
    ("head_notebook", 2): (0.87, 0.61, 0.36, [0.4, 0.5, 0.54]),
    ("head_conv1x1", 0): (0.93, 0.61, 0.12, [0.3, 0.56, 0.55]),
    ("head_conv1x1", 1): (0.94, 0.60, 0.13, [0.5, 0.52, 0.51]),
    ("head_conv1x1", 2): (0.92, 0.63, 0.11, [0.2, 0.4, 0.6]),
}


def _write(results: Path, runs: dict = RECORDS, model: str = "segnet_t") -> None:
    for (experiment, seed), (train, test, loss, val) in runs.items():
        run_dir = layout.run_dir(results, experiment, model, seed)
        run_dir.mkdir(parents=True)
        record = {
            "seed": seed,
            "params": 1,
            "epochs": len(val),
            "train_seconds": 1.0,
            "dataset": "ph2",
            "device": "cpu",
            "synthetic": False,
            "metrics": {"train_iou_score": train, "test_iou_score": test},
        }
        (run_dir / "metrics.json").write_text(json.dumps(record))
        with open(run_dir / "history.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, ["epoch", "train_loss", "val_iou_score"])
            writer.writeheader()
            for epoch, v in enumerate(val, 1):
                writer.writerow({"epoch": epoch, "train_loss": loss if epoch == len(val) else 1.0, "val_iou_score": v})


def test_the_table_is_what_the_records_give(tmp_path):
    _write(tmp_path)
    assert head_comparison.main(["--results-dir", str(tmp_path), "--command", "make head-comparison"]) == 0
    rows = {r["head"]: r for r in csv.DictReader(open(tmp_path / "head_comparison.csv"))}
    train = {e: [v[0] for (x, _), v in RECORDS.items() if x == e] for e in ("head_notebook", "head_conv1x1")}
    for head, values in train.items():
        assert float(rows[head]["train_iou_score_mean"]) == pytest.approx(sum(values) / 3)
        assert float(rows[head]["train_iou_score_std"]) == pytest.approx(stats.tstd(values))
    assert float(rows["head_notebook"]["best_val_epoch_mean"]) == pytest.approx((3 + 3 + 2) / 3)
    assert float(rows["head_conv1x1"]["final_train_loss_mean"]) == pytest.approx(0.12)
    text = (tmp_path / "head_comparison.md").read_text()
    p = stats.ttest_ind(train["head_notebook"], train["head_conv1x1"], equal_var=False).pvalue
    line = next(x for x in text.splitlines() if x.startswith("| segnet_t | train IoU score |"))
    diff = sum(train["head_notebook"]) / 3 - sum(train["head_conv1x1"]) / 3
    assert f"| {diff:+.3f} |" in line and f"| {p:.3g} |" in line
    test = {e: [v[1] for (x, _), v in RECORDS.items() if x == e] for e in train}
    p_test = stats.ttest_ind(test["head_notebook"], test["head_conv1x1"], equal_var=False).pvalue
    holm = min(1.0, max(2 * min(p, p_test), max(p, p_test)))  # Holm over the two tests: the larger p's adjusted
    assert line.endswith(f"| {min(1.0, 2 * min(p, p_test)):.3g} |") or math.isclose(p, p_test)
    assert f"| {holm:.3g} |" in text
    assert "Made by: `make head-comparison`" in text


def test_a_folder_without_the_runs_is_one_line(tmp_path, capsys):
    assert head_comparison.main(["--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "make head-comparison" in err


def test_at_full_size_the_tables_face_their_1x1_records_and_a_lone_run_is_not_tested(tmp_path):
    """--at full: Tables 3-4 (the notebook's models) against table{3,4}_conv1x1; a model with two seeds a side is
    tested as at 65×65, one with a single 1×1 run is shown and named as not tested, and the rows follow the tables."""
    both = {("table4", s): v for (e, s), v in RECORDS.items() if e == "head_notebook" and s < 2}
    both |= {("table4_conv1x1", s): v for (e, s), v in RECORDS.items() if e == "head_conv1x1" and s < 2}
    _write(tmp_path, both, "segnet_t")
    lone = {("table3", s): v for (e, s), v in RECORDS.items() if e == "head_notebook"}
    lone[("table3_conv1x1", 0)] = (0.92, 0.69, 0.11, [float("nan")])  # an older run: no validation score
    _write(tmp_path, lone, "segnet")
    assert head_comparison.main(["--results-dir", str(tmp_path), "--at", "full", "--command", "x"]) == 0
    text = (tmp_path / "head_comparison.md").read_text()
    lines = [x for x in text.splitlines() if x.startswith("| segnet")]
    assert [x.split(" | ")[:2] for x in lines[:4]] == [
        ["| segnet", "notebook (conv → ReLU → BN)"],
        ["| segnet", "1×1 conv"],
        ["| segnet_t", "notebook (conv → ReLU → BN)"],
        ["| segnet_t", "1×1 conv"],
    ]
    assert lines[1].endswith("| 0.920 (n=1) | 0.690 (n=1) | 0.110 (n=1) | – | – |")
    assert "Holm-adjusted over the 2 tests of this table" in text
    train = [RECORDS[("head_notebook", s)][0] for s in (0, 1)], [RECORDS[("head_conv1x1", s)][0] for s in (0, 1)]
    p = stats.ttest_ind(*train, equal_var=False).pvalue
    assert any(x.startswith("| segnet_t | train IoU score |") and f"| {p:.3g} |" in x for x in text.splitlines())
    assert "Not tested, one run on a side (notebook against 1×1 seeds): segnet (3 against 1)." in text
    assert "differ in more than the head" in text
    rows = list(csv.DictReader(open(tmp_path / "head_comparison.csv")))
    assert [(r["model"], r["head"]) for r in rows][:2] == [("segnet", "table3"), ("segnet", "table3_conv1x1")]


@pytest.mark.records
@pytest.mark.skipif(not (REPO / "results/full/runs").is_dir(), reason="no results/full/runs in this checkout")
def test_the_committed_full_size_comparison_is_what_the_records_give():
    full = REPO / "results/full"
    committed = (full / "head_comparison.md").read_text()
    command = committed.rsplit("Made by: `", 1)[1].split("`")[0]
    rows = head_comparison.runs(full, head_comparison.COMPARISONS["full"]["experiments"])
    assert head_comparison.table(rows, command, "full")[0] == committed, (
        "results/full/head_comparison.md is stale: run `make head-comparison-full`"
    )
