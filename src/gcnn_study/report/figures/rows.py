"""The measured rows' CSV files of a figures folder: where they are, reading them, keeping the rows of runs not
measured now, and listing the finished runs that no row measures.

`figures/equivariance.csv` and `figures/accuracy_vs_angle.csv` hold one row per measurement, each with the record
(`gcnn_study.run.records.record_id`) of the model it measured. Git keeps a run's records but not its checkpoint, so a
clone, or a machine that finished other runs, measures what it has and keeps the rest of the last drawing's rows
(`kept_rows`) while the run's record is the one they measured; the finished runs measured by none are written
beside (`<stem>_unmeasured.csv`), so that a report short of a run never passes for a complete one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gcnn_study.report.figures.runs import MissingRuns
from gcnn_study.run.records import record_id

FIGURES = "figures"  # the folder of a results folder that the figures and their CSVs are written to
EQUIVARIANCE_CSV, ANGLES_CSV = "equivariance.csv", "accuracy_vs_angle.csv"
UNMEASURED = ["experiment", "run", "seed", "record", "reason"]


def equivariance_csv(results_dir) -> Path:
    """The trained models' measured equivariance errors of a results folder (one row per run, seed, transform)."""
    return Path(results_dir) / FIGURES / EQUIVARIANCE_CSV


def read_rows(path: Path) -> pd.DataFrame:
    """A CSV of measured rows (equivariance.csv, accuracy_vs_angle.csv): the record column stays text, since a
    digest such as 085842874140 or 1234e5678901 would otherwise be read as a number."""
    return pd.read_csv(path, dtype={"record": str})


def measured(rows) -> set[tuple]:
    """The (experiment, run, seed) of the rows."""
    return {(r["experiment"], r["run"], int(r["seed"])) for r in rows}


def names(runs) -> list[str]:
    """'experiment/run seed=s' of each (experiment, run, seed), sorted."""
    return [f"{e}/{r} seed={s}" for e, r, s in sorted(runs)]


def kept_rows(ctx, old: pd.DataFrame | None, now: set[tuple], what: str) -> list[dict]:
    """The rows of `old` (the last drawing's CSV) of the runs not measured `now`, kept while that run's finished
    record is in `ctx.records` and is the one they were measured from (`record` column); the rows of a run
    trained again, or whose record is gone, are dropped. Each is told in a note on `ctx.notes`."""
    if old is None:
        return []
    records = {(r.experiment, r.run, r.seed): r.path for r in ctx.records}
    moved = {record_id(r.path): r for r in ctx.records}  # a record kept under another folder is the same record
    kept, dropped = [], set()
    for row in old.to_dict("records"):
        key = (row["experiment"], row["run"], int(row["seed"]))
        if key not in records and isinstance(row.get("record"), str) and row["record"] in moved:
            ref = moved[row["record"]]
            row = {**row, "experiment": ref.experiment, "run": ref.run, "seed": ref.seed}
            key = (ref.experiment, ref.run, ref.seed)
        if key in now:
            continue
        path = records.get(key)
        # A CSV from before the record column cannot say which record it measured: its rows stand while the
        # run's record is here (the next drawing where the checkpoint is writes the column).
        if path is not None and (pd.isna(row.get("record")) or row["record"] == record_id(path)):
            kept.append(row)
        else:
            dropped.add(key)
    if kept:
        ctx.notes.append(
            f"{what}: {', '.join(names(measured(kept)))} kept as measured before (no checkpoint here; its record "
            "unchanged)"
        )
    if dropped:
        ctx.notes.append(
            f"{what}: {', '.join(names(dropped))} dropped (its record is gone or was rewritten since it was "
            "measured): redraw where its checkpoint is"
        )
    return kept


def unmeasured_rows(ctx, rows: list[dict], scope: set[str], what: str) -> list[dict]:
    """The finished runs of the experiments in `scope` that `rows` (measured now or kept) lack: their checkpoint
    is not here and no measurement of their record is. A run whose checkpoint was lost (git keeps records, not
    checkpoints) stays in the tables; the report names it rather than reading as complete without it."""
    have = measured(rows)
    missing = [r for r in ctx.records if r.experiment in scope and (r.experiment, r.run, r.seed) not in have]
    if missing:
        listed = ", ".join(names({(r.experiment, r.run, r.seed) for r in missing}))
        ctx.notes.append(
            f"{what}: {listed} not measured (finished, but neither its checkpoint.pt nor a measurement of its "
            "record is here)"
        )
    reason = "finished; neither its checkpoint.pt nor a measurement of this record is here"
    return [
        {"experiment": r.experiment, "run": r.run, "seed": r.seed, "record": record_id(r.path), "reason": reason}
        for r in missing
    ]


def write_rows(csv: Path, rows: list[dict], unmeasured: list[dict], what: str) -> list[Path]:
    """Write the measured and kept rows to `csv` and the unmeasured runs beside it (`<stem>_unmeasured.csv`,
    header only when none is); MissingRuns when there is nothing to draw."""
    csv.parent.mkdir(parents=True, exist_ok=True)
    beside = csv.with_name(f"{csv.stem}_unmeasured.csv")
    pd.DataFrame(unmeasured, columns=UNMEASURED).to_csv(beside, index=False)
    if not rows:
        raise MissingRuns(f"{what}: skipped, {', '.join(names(measured(unmeasured)))} not measured (no checkpoint)")
    pd.DataFrame(rows).to_csv(csv, index=False)
    return [csv, beside]
