"""The aggregator: real tiny runs in, the study's layout out, missing and failed runs listed."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY, compose_cfg

from gcnn.tables import TABLES, build_table, study_reference
from gcnn.train import run


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Two seeds of the CNN on the sample digits, one failed P4CNN run; the other models are missing."""
    root = tmp_path_factory.mktemp("results")
    for seed in (0, 1):
        run(
            compose_cfg(
                *[
                    "experiment=table1",
                    "model=cnn",
                    "dataset=mnist_sample",
                    "dataset.max_train=64",
                    "dataset.max_test=64",
                    f"seed={seed}",
                    f"paths.results_dir={root}",
                    "logger=none",
                    *TINY,
                ]
            )
        )
    failed = root / "runs/table1/p4cnn/seed=0"
    failed.mkdir(parents=True)
    (failed / "failed.json").write_text(json.dumps({"error": "DataError: something broke"}))
    return root


def test_table_from_real_runs_lists_missing_and_failed(results):
    out = build_table("table1", results, seeds=[0, 1], command="make table1 SEEDS=0,1")
    text = out.read_text()
    table = pd.read_csv(results / "table1.csv")
    assert table["model"].tolist() == ["CNN", "P4CNN", "P6CNN", "P8CNN", "D4CNN"]  # the study's order
    accs = [
        json.loads((results / f"runs/table1/cnn/seed={s}/metrics.json").read_text())["metrics"]["test_acc"]
        for s in (0, 1)
    ]
    cnn = table.iloc[0]
    assert cnn["n"] == 2 and cnn["test_acc_mean"] == pytest.approx(sum(accs) / 2)
    assert cnn["test_acc_study"] == 0.982 and cnn["params"] == 395_882
    assert f"{sum(accs) / 2 * 100:.2f}" in text and "98.20 %" in text and "(n=2)" in text
    assert "p4cnn seed=0: failed: DataError: something broke" in text
    for name in ("p6cnn", "p8cnn", "d4cnn"):
        assert f"{name} seed=0: missing" in text and f"{name} seed=1: missing" in text
    assert "p4cnn seed=1: missing" in text
    assert "mnist_sample at 33×33, 2 epochs, cpu: 2 runs" in text
    machine = json.loads((results / "runs/table1/cnn/seed=0/metrics.json").read_text())["machine"]
    assert f"- {machine}: cnn" in text  # the footer names the machine of the runs
    assert "Made by: `make table1 SEEDS=0,1`" in text


def test_empty_results_give_a_table_of_missing_runs(tmp_path):
    text = build_table("table3", tmp_path, seeds=[0]).read_text()
    for name in ("segnet", "p4segnet", "d4segnet", "segnet+", "p4segnet+"):
        assert f"{name} seed=0: missing" in text
    assert "0.718" in text  # the study's value stands even when ours is missing


def test_reference_file_covers_every_table_cell():
    ref = study_reference()
    for name, spec in TABLES.items():
        for _, model in spec.rows:
            for _, metric in spec.columns:
                assert ((ref.table == name) & (ref.model == model) & (ref.metric == metric)).sum() == 1


def test_command_line(results):
    proc = subprocess.run(
        [sys.executable, "-m", "gcnn.tables", "table1", "--results-dir", str(results)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "| CNN |" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "gcnn.tables", "table9"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "table9" in bad.stderr
