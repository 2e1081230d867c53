"""scripts/compare_tables.py: the cells that differ between two results folders, and the largest difference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
from helpers import REPO


def _table(folder: Path, acc: list[float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "model": ["CNN", "P4CNN"],
            "run_name": ["cnn", "p4cnn"],
            "test_acc_mean": acc,
            "test_acc_std": [None, None],
            "train_seconds_mean": [1.0, 9.0],
        }
    )
    frame.to_csv(folder / "table2.csv", index=False)


def test_compare_lists_the_differing_cells_and_the_largest_difference(tmp_path):
    _table(tmp_path / "a", [0.90, 0.80])
    _table(tmp_path / "b", [0.90, 0.83])
    cmd = [sys.executable, str(REPO / "scripts" / "compare_tables.py"), str(tmp_path / "a"), str(tmp_path / "b")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "| table2 | P4CNN | test_acc | 0.8000 | 0.8300 | +0.0300 |" in out
    assert "CNN | test_acc" not in out.replace("P4CNN", "")  # equal cells are not listed; seconds never compared
    assert "- table2: 2 cells compared, largest difference 0.0300" in out
    assert "- table1: missing in" in out
