"""No bogus result: a run whose loss goes NaN or infinite gets failed.json, never metrics.json; a metrics.json
that is not a finished run's record (the wrong shape, or a NaN written by an older version) is refused in one
line by the trainer and listed, not averaged, by the aggregator, which still builds the table from the others."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gcnn_study.engine import NonFinite
from gcnn_study.run import records
from gcnn_study.run.rundir import RunDirError
from gcnn_study.report.tables import build_table
from gcnn_study.train import run
from helpers import REPO, SAMPLE_RUN, compose_cfg, tiny

TINY = [*tiny(epochs=1, limit_eval_batches=1), "logger=none"]


def _cfg(results: Path, *more: str):
    return compose_cfg(*SAMPLE_RUN, f"paths.results_dir={results}", *TINY, *more)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory) -> Path:
    """Two finished CNN runs (seeds 0 and 1); tests copy this folder and damage one record."""
    root = tmp_path_factory.mktemp("finished")
    for seed in (0, 1):
        run(_cfg(root, f"seed={seed}"))
    return root


def _row(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {label} |"))


def test_a_diverged_run_gets_failed_json_not_a_result_and_is_never_skipped(tmp_path):
    with pytest.raises(NonFinite) as err:
        run(_cfg(tmp_path, "trainer.lr=1e30", "trainer.epochs=2"))
    assert "at epoch" in str(err.value) and "step" in str(err.value) and "trainer.lr" in str(err.value)
    run_dir = tmp_path / "runs/table1/cnn/seed=0"
    assert not (run_dir / "metrics.json").exists()
    assert "NonFinite" in json.loads((run_dir / "failed.json").read_text())["error"]
    with pytest.raises(NonFinite):  # the same command again: not "finished", it diverges again
        run(_cfg(tmp_path, "trainer.lr=1e30", "trainer.epochs=2"))
    text = build_table("table1", tmp_path, seeds=[0]).read_text()
    assert "(n=" not in _row(text, "CNN") and "cnn seed=0: failed: NonFinite: the training loss is nan" in text


def test_a_diverged_run_on_the_command_line_is_one_line_and_exit_1(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HYDRA_FULL_ERROR": ""}
    cmd = [
        sys.executable,
        "-m",
        "gcnn_study.train",
        *SAMPLE_RUN,
        *TINY,
        "trainer.lr=1e30",
        f"paths.results_dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error: ")] == [
        proc.stderr.strip().splitlines()[-1]
    ]
    assert "the training loss is nan at epoch 1/1, step" in proc.stderr and " done: " not in proc.stderr
    assert not list(tmp_path.rglob("metrics.json")) and list(tmp_path.rglob("failed.json"))


DAMAGED = {
    "a list": [],
    "metrics null": {"metrics": None},
    "a metric as text": {"test_acc": "abc"},
    "a NaN metric": {"test_acc": float("nan")},
    "an infinite metric": {"test_acc": float("inf")},
    "launches as text": {"launches": "abc"},
    "a launch without its epochs": {"launches": [{"commit": "abc", "epochs": "1-3"}]},
}
TOP_LEVEL = ("metrics", "launches")  # the damages above that replace a key of the record, not a metric


def _damage(record_file: Path, how: str) -> None:
    change = DAMAGED[how]
    if isinstance(change, list):
        record_file.write_text(json.dumps(change))
        return
    record = json.loads(record_file.read_text())
    if set(change) <= set(TOP_LEVEL):
        record.update(change)
    else:
        record["metrics"].update(change)
    record_file.write_text(json.dumps(record))  # NaN and Infinity as Python's json writes them


@pytest.mark.parametrize("how", DAMAGED)
def test_the_aggregator_lists_a_bad_record_and_builds_the_table_from_the_others(two_seeds, tmp_path, how):
    results = tmp_path / "results"
    shutil.copytree(two_seeds, results)
    bad = results / "runs/table1/cnn/seed=1/metrics.json"
    _damage(bad, how)
    text = build_table("table1", results, seeds=[0, 1]).read_text()
    good = json.loads((results / "runs/table1/cnn/seed=0/metrics.json").read_text())["metrics"]["test_acc"]
    assert f"{good * 100:.2f} % (n=1)" in _row(text, "CNN")  # seed 0 alone
    listed = [line for line in text.splitlines() if line.startswith("- cnn seed=1: ")]
    assert len(listed) == 1 and "not averaged" in listed[0] and str(bad) in listed[0]


@pytest.mark.parametrize("how", DAMAGED)
def test_the_trainer_refuses_a_bad_record_in_one_line_naming_the_file(two_seeds, tmp_path, how):
    results = tmp_path / "results"
    shutil.copytree(two_seeds, results)
    bad = results / "runs/table1/cnn/seed=1/metrics.json"
    _damage(bad, how)
    before = bad.read_bytes()
    with pytest.raises(RunDirError) as err:
        run(_cfg(results, "seed=1"))
    message = str(err.value)
    assert str(bad) in message and "trainer.force=true" in message and "\n" not in message
    assert bad.read_bytes() == before  # refused, not overwritten


def test_the_tables_command_line_lists_a_nan_record_without_a_traceback(two_seeds, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(two_seeds, results)
    _damage(results / "runs/table1/cnn/seed=0/metrics.json", "a NaN metric")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "gcnn_study.report.tables", "table1", "--results-dir", str(results), "--seeds", "0,1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert 'metric "test_acc" is nan: the run diverged' in (results / "table1.md").read_text()


def test_the_figures_skip_a_run_whose_record_is_not_a_result(two_seeds, tmp_path):
    from gcnn_study.report.figures.runs import find_runs

    results = tmp_path / "results"
    shutil.copytree(two_seeds, results)
    assert [r.seed for r in find_runs(results)] == [0, 1]
    _damage(results / "runs/table1/cnn/seed=1/metrics.json", "a NaN metric")
    assert [r.seed for r in find_runs(results)] == [0]


# ----------------------------------------------------------------------------------------------- finite, diverged
def test_a_run_that_diverged_with_finite_numbers_is_kept_warned_and_marked_never_averaged(tmp_path, caplog):
    """`trainer.lr=1e3`: every number stays finite (train loss ~1e8, test accuracy at chance), so the run finishes and
    is recorded; the trainer says it diverged, and the table's row reads "diverged" instead of a number."""
    with caplog.at_level("WARNING", logger="gcnn_study.train"):
        result = run(_cfg(tmp_path, "trainer.lr=1e3"))
    run_dir = tmp_path / "runs/table1/cnn/seed=0"
    assert (run_dir / "metrics.json").exists() and result["metrics"]["test_acc"] <= 0.15  # on disk, at chance
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "diverged" in r.getMessage()]
    assert len(warned) == 1 and "retrain it with a smaller trainer.lr" in warned[0]
    text = build_table("table1", tmp_path, seeds=[0]).read_text()
    assert _row(text, "CNN").startswith("| CNN | diverged | 98.20 % | diverged | 34.10 % |")
    (listed,) = [line for line in text.splitlines() if line.startswith("- cnn seed=0: ")]
    assert listed.startswith("- cnn seed=0: diverged: its training loss reached ") and "not averaged" in listed
    assert (run_dir / "metrics.json").exists()  # the table read it; nothing was moved or deleted


def test_a_diverged_seed_is_listed_and_the_row_is_the_mean_of_the_others(two_seeds, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(two_seeds, results)
    history = results / "runs/table1/cnn/seed=1/history.csv"
    lines = history.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("train_loss")] = "16800000.0"  # the lr=1e3 run: 1.68e7
    history.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    text = build_table("table1", results, seeds=[0, 1]).read_text()
    good = json.loads((results / "runs/table1/cnn/seed=0/metrics.json").read_text())["metrics"]["test_acc"]
    assert f"{good * 100:.2f} % (n=1)" in _row(text, "CNN")  # seed 0 alone
    assert "- cnn seed=1: diverged: its training loss reached 1.68e+07 in epoch 1" in text


LN10, LN2 = 2.302585, 0.693147
CLASSIFIER, SEGNET = {"num_classes": 10}, {"out_channels": 1}


@pytest.mark.parametrize(
    "losses,model,metrics,diverged",
    [
        ([2.31, 2.29], CLASSIFIER, {"test_acc": 0.09}, False),  # a tiny run that learnt nothing yet: not diverged
        ([0.37, 0.01], CLASSIFIER, {"test_acc": 0.99}, False),  # the study's CNN
        ([4.9e7, 1.2e5, 3.2e4], CLASSIFIER, {"test_acc": 0.11}, True),  # lr=1e3: blew up, stayed up
        ([16.4, 2.21, 2.05], CLASSIFIER, {"test_acc": 0.105}, True),  # lr=0.1: blew up, back under ln 10, at chance
        ([16.4, 0.5, 0.2], CLASSIFIER, {"test_acc": 0.93}, False),  # blew up and recovered: its numbers are real
        ([11.0, 3.0], CLASSIFIER, {"test_acc": 0.10}, False),  # under 5 × ln 10: no blow-up
        ([0.93, 0.19], SEGNET, {"test_iou": 0.7}, False),  # D4SegNet as committed
        ([40.0, 0.9], SEGNET, {"test_iou": 0.0}, True),  # over 5 × ln 2, ended above ln 2
        ([40.0, 0.3], SEGNET, {"test_iou": 0.6}, False),
        ([], CLASSIFIER, {}, False),
    ],
)
def test_the_one_divergence_rule(losses, model, metrics, diverged):
    from gcnn_study.run.divergence import DIVERGED_FACTOR, divergence, uninformed_loss

    assert uninformed_loss(CLASSIFIER)[0] == pytest.approx(LN10, abs=1e-6)
    assert uninformed_loss(SEGNET) == (pytest.approx(LN2, abs=1e-6), None)
    assert DIVERGED_FACTOR == 5
    found = divergence(losses, model, metrics)
    assert (found is not None) == diverged, found
    if diverged:
        assert found.startswith("diverged: its training loss reached ") and "\n" not in found


def test_rows_of_a_run_resumed_across_a_new_column_keep_every_column(tmp_path):
    """Epochs trained before a commit that added cpu_seconds lack it; the file keeps both, the old cells empty."""
    path = tmp_path / "history.csv"
    records.write_rows(path, [{"epoch": 1, "seconds": 2.0}, {"epoch": 2, "seconds": 3.0, "cpu_seconds": 2.5}])
    assert path.read_text().splitlines() == ["epoch,seconds,cpu_seconds", "1,2.0,", "2,3.0,2.5"]
    assert not (tmp_path / "history.csv.tmp").exists()
