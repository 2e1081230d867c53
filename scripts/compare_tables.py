"""How far two sets of tables differ, cell by cell: e.g. the demo made on one processor against the same demo
made on another (the same commands, seeds and settings).

    python scripts/compare_tables.py A B [--label-a "Intel Xeon"] [--label-b "AMD EPYC"]

A and B are results folders, or `<git revision>:<folder>` to read a committed version (e.g. `HEAD~3:results/demo`).
Every `<metric>_mean` column of table{1..4}.csv is compared; the output is a markdown table of the cells that
differ and, per table, how many cells were compared and the largest difference.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd

from gcnn_study.config.specs import STUDY_TABLES as TABLES  # the study's four tables, owned by specs


def read(where: str, table: str) -> pd.DataFrame | None:
    """A table's CSV from a folder or from `<rev>:<folder>` in git; None when it is not there."""
    if ":" in where and not Path(where).exists():
        rev, folder = where.split(":", 1)
        done = subprocess.run(["git", "show", f"{rev}:{folder}/{table}.csv"], capture_output=True, text=True)
        return pd.read_csv(io.StringIO(done.stdout)) if done.returncode == 0 else None
    path = Path(where) / f"{table}.csv"
    return pd.read_csv(path) if path.exists() else None


def compare(a: str, b: str, label_a: str, label_b: str) -> str:
    lines = [f"| table | model | metric | {label_a} | {label_b} | difference |"]
    lines.append("| --- | --- | --- | ---: | ---: | ---: |")
    summary = []
    for table in TABLES:
        ta, tb = read(a, table), read(b, table)
        if ta is None or tb is None:
            summary.append(f"- {table}: missing in {a if ta is None else b}")
            continue
        both = ta.merge(tb, on="run_name", suffixes=("_a", "_b"))
        metrics = [c[: -len("_mean")] for c in ta.columns if c.endswith("_mean") and c != "train_seconds_mean"]
        cells, largest = 0, 0.0
        for _, row in both.iterrows():
            for m in metrics:
                va, vb = row[f"{m}_mean_a"], row[f"{m}_mean_b"]
                if pd.isna(va) or pd.isna(vb):
                    continue
                cells += 1
                diff = float(vb) - float(va)
                largest = max(largest, abs(diff))
                if diff != 0:
                    lines.append(f"| {table} | {row['model_a']} | {m} | {va:.4f} | {vb:.4f} | {diff:+.4f} |")
        summary.append(f"- {table}: {cells} cells compared, largest difference {largest:.4f}")
    return "\n".join(lines) + "\n\n" + "\n".join(summary) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--label-a", default=None)
    p.add_argument("--label-b", default=None)
    args = p.parse_args(argv)
    sys.stdout.write(compare(args.a, args.b, args.label_a or args.a, args.label_b or args.b))


if __name__ == "__main__":
    main()
