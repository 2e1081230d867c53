"""A table's rows: its runs averaged per model in the study's order, the study's value beside, and how each cell reads.

`aggregated` is what the table file, its csv and the README's block are all written from: the checked runs of a
table (`gcnn_study.report.collect`) averaged by `aggregate` into one row per model (mean, sample std, n and each
seed's value of every metric, the study's value from the one reference file,
`gcnn_study/reference/study_results.csv`, and where that value lies against our runs, parameters, training time and
placement).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gcnn_study.config.specs import TABLES, TableSpec, experiment_of, protocol_of, study_reference
from gcnn_study.report.collect import collect_runs, split_mixed_rows
from gcnn_study.report.placement import processors, row_placement
from gcnn_study.report.stats import Sample, prediction_interval


def aggregate(spec: TableSpec, runs: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per model of the study, in its order: mean, std and n of every metric, the study's value."""
    ref = reference[reference.table == spec.study].set_index(["model", "metric"])["value"]
    rows = []
    for label, name in spec.rows:
        sel = runs[runs.run == name] if len(runs) else runs
        row = {"model": label, "run_name": name, "n": int(len(sel))}
        for _, key in spec.columns + spec.extra:
            values = sel[key].dropna() if key in sel else pd.Series(dtype=float)
            row[f"{key}_mean"] = values.mean() if len(values) else float("nan")
            row[f"{key}_std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
            row[f"{key}_n"] = int(len(values))  # runs that report this metric (n above counts the row's runs)
            # each seed's own value, so that two metrics of the same runs can be compared seed by seed
            seeds = sel.loc[values.index, "seed"] if len(values) else []
            row[f"{key}_per_seed"] = json.dumps({int(sd): float(v) for sd, v in zip(seeds, values)})
            if (name, key) in ref.index:
                row[f"{key}_study"] = float(ref[(name, key)])
                row[f"{key}_study_reads"] = study_reads(row[f"{key}_study"], row, key)
        row["params"] = int(sel["params"].iloc[0]) if len(sel) else None
        row["train_seconds_mean"] = sel["train_seconds"].mean() if len(sel) else float("nan")
        row["placement"] = row_placement(sel, processor=len(processors(runs)) > 1)
        row["seeds"] = ",".join(str(s) for s in sorted(sel["seed"].tolist())) if len(sel) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def study_reads(value: float, row: dict, key: str) -> str:
    """Where the study's one run lies against one more of ours: "inside", "above" or "below" our 95 % prediction
    interval (`stats.prediction_interval`), "" with fewer than two of our runs."""
    low, high = prediction_interval(Sample(row[f"{key}_mean"], row[f"{key}_std"], row[f"{key}_n"]))
    if pd.isna(low) or pd.isna(value):
        return ""
    return "above" if value > high else "below" if value < low else "inside"


def aggregated(name: str, results_dir: Path, protocol: str | None = None):
    """(spec, table, runs, problems) of table `name` from the runs under `results_dir` at `protocol` (None:
    protocol_of): what the table file, its csv and the README's block are all written from."""
    if name not in TABLES:
        raise SystemExit(f"error: unknown table {name!r}; choose one of {', '.join(TABLES)}")
    spec = TABLES[name]
    results_dir = Path(results_dir)
    if not results_dir.is_dir():  # a typo must not give a table of missing runs in a new folder
        raise SystemExit(f"error: {results_dir} is not a folder: give --results-dir the paths.results_dir of the runs")
    protocol = protocol or protocol_of(name, results_dir)
    runs, problems = collect_runs(results_dir, experiment_of(name, protocol))
    runs, mixed = split_mixed_rows(runs)
    return spec, aggregate(spec, runs, study_reference()), runs, problems + mixed


# ------------------------------------------------------------------------------------------- how each cell reads
def _fmt(mean, std, n, percent) -> str:
    if pd.isna(mean):
        return "–"
    scale, unit, digits = (100, " %", 2) if percent else (1, "", 3)
    text = f"{mean * scale:.{digits}f}"
    if not pd.isna(std):
        text += f" ± {std * scale:.{digits}f}"
    return f"{text}{unit} (n={n})"


def _fmt_study(value, percent, reads=None) -> str:
    if value is None or pd.isna(value):
        return "–"
    text = f"{value * 100:.2f} %" if percent else f"{value:.3f}"
    return f"{text} ({reads})" if isinstance(reads, str) and reads else text


def ours_cell(spec: TableSpec, r, key: str, mark: str | None = None) -> str:
    """Our cell of metric `key` in one aggregated row; `mark` (see `row_marks`) in place of a number when the row has
    no averaged run."""
    if mark and not r["n"]:
        return mark
    return _fmt(r[f"{key}_mean"], r[f"{key}_std"], r[f"{key}_n"], spec.percent)


def compared_cells(spec: TableSpec, r, mark: str | None = None) -> list[str]:
    """Ours, then the study's, for each compared column of one aggregated row."""
    cells = []
    for _, key in spec.columns:
        study = _fmt_study(
            r.get(f"{key}_study"), spec.percent, None if mark and not r["n"] else r.get(f"{key}_study_reads")
        )
        cells += [ours_cell(spec, r, key, mark), study]
    return cells


def row_marks(problems: list[dict]) -> dict[str, str]:
    """{run name: what its row's cells read without an averaged run} for the rows with runs refused as another model
    or as diverged ("diverged", "not this row's model", or both)."""
    marks: dict[str, list[str]] = {}
    for p in problems:
        if p.get("mark") and p["mark"] not in marks.setdefault(p["model"], []):
            marks[p["model"]].append(p["mark"])
    return {name: " / ".join(found) for name, found in marks.items() if found}
