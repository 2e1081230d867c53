"""The P6 ablation's numbers, read from CSV and JSON files only: each comparison's Welch test and Holm-adjusted p
(`comparisons`, the rows of `ablation_p6.csv`), the trained models' errors, the parameter counts and the commands
that made the runs.

Every comparison of `CONTRASTS` is Welch's t-test over the seeds (`gcnn_study.report.stats`). The report makes a
dozen such tests on one metric, so the family is all of them: a difference is significant only when its p survives
Holm's correction for the whole family (`adjusted_p`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from gcnn_study.report.ablation.rows import CONTRASTS, MODELS, TABLE1, TRANSFORMED, labels
from gcnn_study.report.stats import LEVEL, Sample, holm, welch

# The status of a comparison: both rows tested over seeds, one seed on a side (its direction only), or a row absent.
TESTED, ONE_SEED, AWAITING = "tested", "one seed", "awaiting runs"
COLUMNS = [
    *("table", "metric", "a", "b", "comparison", "varied", "shared", "one_factor", "status", "missing"),
    *("n_a", "n_b", "mean_a", "mean_b", "difference", "ci_low", "ci_high", "welch_p", "holm_p", "family"),
    "significant",
]


def sample(frame: pd.DataFrame | None, run: str, metric: str) -> Sample | None:
    """Mean, std and n over seeds of one row's metric in a table's CSV; None when the row has no finished run."""
    if frame is None or f"{metric}_mean" not in frame:
        return None
    rows = frame[frame["run_name"] == run]
    if rows.empty or pd.isna(rows.iloc[0][f"{metric}_mean"]):
        return None
    r = rows.iloc[0]
    n = int(r.get(f"{metric}_n", r.get("n", 0)))
    return Sample(float(r[f"{metric}_mean"]), float(r[f"{metric}_std"]), n) if n else None


def adjusted_p(frame: pd.DataFrame | None, metric: str) -> dict[tuple[str, str], float]:
    """{(a, b): Holm-adjusted p} of every contrast of `CONTRASTS` that the seeds can test on `metric`: the family
    is every comparison the report makes on that metric, one-factor or not (`gcnn_study.report.stats.holm`)."""
    tested = {}
    for c in CONTRASTS:
        sa, sb = sample(frame, c.a, metric), sample(frame, c.b, metric)
        if sa is not None and sb is not None and welch(sa, sb).testable:
            tested[c.a, c.b] = welch(sa, sb).p
    return dict(zip(tested, holm(list(tested.values()))))


def comparisons(frame: pd.DataFrame | None, metric: str = TRANSFORMED, table: str = TABLE1) -> pd.DataFrame:
    """One row per contrast of `CONTRASTS` on `metric` of `table`'s CSV (`frame`), in `COLUMNS`: the two rows'
    means and seeds, a − b with its 95 % interval, Welch's p, the p Holm-adjusted over the `family` of tests the
    seeds allow, and whether that adjusted p is below 1 − LEVEL. The numbers are nan where the status says why."""
    named, family = labels(table), adjusted_p(frame, metric)
    out = []
    for c in CONTRASTS:
        sa, sb = sample(frame, c.a, metric), sample(frame, c.b, metric)
        row = {
            "table": table, "metric": metric, "a": c.a, "b": c.b, "comparison": f"{named[c.a]} − {named[c.b]}",
            "varied": c.varied, "shared": c.shared, "one_factor": c.one_factor, "missing": "", "family": len(family),
        }  # fmt: skip
        if sa is None or sb is None:
            missing = " ".join(run for run, s in ((c.a, sa), (c.b, sb)) if s is None)
            out.append({**row, "status": AWAITING, "missing": missing, "significant": False})
            continue
        w = welch(sa, sb)
        holm_p = family.get((c.a, c.b), math.nan)
        numbers = {"n_a": sa.n, "n_b": sb.n, "mean_a": sa.mean, "mean_b": sb.mean, "difference": w.diff}
        numbers |= {"ci_low": w.low, "ci_high": w.high, "welch_p": w.p, "holm_p": holm_p}
        status = TESTED if w.testable else ONE_SEED
        out.append({**row, **numbers, "status": status, "significant": bool(holm_p < 1 - LEVEL)})
    return pd.DataFrame(out, columns=COLUMNS)


def model_errors(equivariance_csv: Path, experiment: str = TABLE1) -> dict[str, dict[str, float]]:
    """{run: {transform label: mean error over seeds}} of one experiment's trained models, from the figures'
    `equivariance.csv` (`python -m gcnn_study.report.figures`); {} when the file is absent."""
    if not Path(equivariance_csv).is_file():
        return {}
    rows = pd.read_csv(equivariance_csv, dtype={"record": str})
    rows = rows[rows["experiment"] == experiment]
    means = rows.groupby(["run", "transform"], sort=False)["error"].mean()
    out: dict[str, dict[str, float]] = {}
    for (run, transform), error in means.items():
        out.setdefault(run, {})[transform] = float(error)
    return out


def parameters(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Each harmonic model's parameter count beside its pixel counterpart's and how many fewer it has (%), from
    the `params` column of a table's CSV (no rows when the column or a model is absent)."""
    columns = ["harmonic", "params", "pixel", "pixel_params", "fewer_pct"]
    if frame is None or "params" not in frame:
        return pd.DataFrame(columns=columns)
    params = frame.set_index("run_name")["params"].dropna()
    pairs = [(m + "_harmonic", m) for m in MODELS if m in params and m + "_harmonic" in params]
    rows = [(h, int(params[h]), p, int(params[p]), 100 * (1 - params[h] / params[p])) for h, p in pairs]
    return pd.DataFrame(rows, columns=columns)


def command(results_dir: Path, table: str) -> str | None:
    """The command that made a table's runs, from `<table>.json` (`gcnn_study.report.tables.build_table`); None
    when the table was built before that file was written."""
    path = Path(results_dir) / f"{table}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())["command"]
    except (json.JSONDecodeError, KeyError, TypeError):
        rebuild = f"python -m gcnn_study.report.tables {table} --results-dir {Path(results_dir)}"
        raise SystemExit(f"error: {path} holds no table's command: rebuild it with `{rebuild}`") from None
