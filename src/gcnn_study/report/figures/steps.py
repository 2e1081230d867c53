"""The figure steps of a results folder, each computing one figure or one set of measured rows from its runs:
Figures 1-3, the accuracy-vs-angle sweep, the equivariance rows and the training curves.
"""

from __future__ import annotations

import pandas as pd

from gcnn_study.config.specs import LABELS, TABLES
from gcnn_study.measure import measure_run
from gcnn_study.report.figures.angles import RECORDED_IMAGES, angle_rows
from gcnn_study.report.figures.context import Context
from gcnn_study.report.figures.curves import training_curves_figure
from gcnn_study.report.figures.maps import draw_feature_maps, draw_group_maps, draw_predictions
from gcnn_study.report.figures.rows import read_rows
from gcnn_study.report.figures.runs import MissingRuns, RunRef, read_history, select
from gcnn_study.run.records import ANGLES_RECORD, record_id

# The classifier tables the angle sweep covers, and the table whose rows Figure 3 compares (gcnn_study.config.specs).
ANGLE_TABLES = ("table1", "table2")
FIGURE3_TABLE = "table3"


# Figures 1-3 are drawn from the arrays each run records (figures.npz), so a clone of the records draws them.
def figure1(ctx: Context):
    """Figure 1: first-layer maps of the Table 1 P4CNN and CNN (lowest seed) on the first test digit."""
    e = ctx.experiment("table1")
    chosen = ctx.require([(e, "p4cnn"), (e, "cnn")], "Figure 1", ctx.drawable())
    return draw_feature_maps({LABELS[run]: ctx.arrays(chosen[f"{e}/{run}"], "figure1") for run in ("p4cnn", "cnn")})


def figure2(ctx: Context):
    """Figure 2: the Table 3 D4SegNet's 8 maps before group pooling on its first test image with a lesion."""
    e = ctx.experiment("table3")
    ref = ctx.require([(e, "d4segnet")], "Figure 2", ctx.drawable())[f"{e}/d4segnet"]
    arrays = ctx.arrays(ref, "figure2")
    title = f"D4SegNet ({e}, seed {ref.seed}): the 8 maps before group pooling, test image {int(arrays['index'])}"
    return draw_group_maps(arrays, title)


def figure3(ctx: Context):
    """Figure 3: the five Table 3 models' predictions on the first test images, upright and turned 90°."""
    spec, e, pool = TABLES[FIGURE3_TABLE], ctx.experiment(FIGURE3_TABLE), ctx.drawable()
    # Drawn from the models whose arrays can be had (the lowest seed of each); the figure itself names the rows it
    # lacks and why, so that a partial comparison never reads as the whole table.
    ctx.expected([(e, [row.run for row in spec.rows])], "Figure 3", pool)  # MissingRuns when none; else a note
    panels = {row.label: ctx.arrays(refs[0], "figure3") for row in spec.rows if (refs := select(pool, e, row.run))}
    missing = "; ".join(f"{row.label}: {ctx.absence(e, row.run, pool)}" for row in spec.rows if row.label not in panels)
    return draw_predictions(panels, missing or None)


def angle_experiments(ctx: Context) -> set[str]:
    """The experiments whose classifiers the angle sweep covers, as this folder holds them."""
    return {ctx.experiment(t) for t in ANGLE_TABLES}


def angle_pairs(ctx: Context) -> list[tuple[str, tuple[str, ...]]]:
    """(experiment, its classifier runs) of each table the angle sweep covers."""
    return [(ctx.experiment(t), TABLES[t].runs) for t in ANGLE_TABLES]


def angle_sweep(ctx: Context) -> pd.DataFrame:
    """Accuracy of every Table 1 / Table 2 classifier run on its first n_images test digits at 0°, 5°, …, 355°,
    with the record each model belongs to: the run's own sweep (angles.csv, written at its end) where it swept as
    many digits, else measured from its checkpoint where that is here; no rows for the rest (kept from the last
    sweep, or listed as unmeasured). The note on the models the figure lacks is the caller's (`angle_pairs`): the
    rows kept from the last sweep draw some of those this one lacks."""
    pairs = angle_pairs(ctx)
    own = {}  # the runs' own sweeps over as many digits as asked
    for ref in ctx.records:
        rows = recorded_rows(ref, ANGLES_RECORD) if ref.experiment in angle_experiments(ctx) else []
        if rows and _sweeps(rows, ctx.n_images):
            own[ref.path] = rows
    loadable = {r.path for r in ctx.runs}
    pool = [r for r in ctx.records if r.path in own or r.path in loadable]
    try:
        refs = ctx.expected(pairs, "Accuracy vs angle", pool, kept=ANGLES_RECORD, note=False)
    except MissingRuns:
        if not any(r.experiment in angle_experiments(ctx) for r in ctx.records):
            raise
        refs = []  # finished elsewhere: the rows kept from the last sweep, or a list of the unmeasured runs
    rows = []
    for ref in refs:
        if ref.path in own:
            rows += own[ref.path]
            continue
        run = ctx.load(ref)
        x, y = run.data.evals["test"]
        x, y = x[: ctx.n_images], y[: ctx.n_images]
        measured = angle_rows(run.model, x, y, ref.experiment, ref.run, ref.seed, device=ctx.device)
        rows += [{**r, "record": record_id(ref.path)} for r in measured]
    return pd.DataFrame(rows)


def _sweeps(rows: list[dict], n_images: int) -> bool:
    """Whether a run's recorded sweep is the one over its first `n_images` test digits: it swept as many, or it
    swept its whole test set (fewer digits than it records, RECORDED_IMAGES) and at most as many are asked."""
    (n,) = {int(r["n_images"]) for r in rows}
    return n == n_images or n < RECORDED_IMAGES and n <= n_images


def recorded_rows(ref: RunRef, name: str = "equivariance.csv") -> list[dict]:
    """The run's own measurement, written at its end (equivariance.csv, or a classifier's angles.csv, which git
    keeps), when it belongs to the run's current record; [] for a run from before runs measured themselves, or one
    trained again since."""
    path = ref.path / name  # written by the trainer at the run's end
    if not path.is_file():
        return []
    rows = read_rows(path).to_dict("records")
    current = record_id(ref.path)
    if not rows or any(row.get("record") != current for row in rows):
        return []
    # The run is where its folder says (gcnn_study.config.layout): a record kept under another experiment's folder (the
    # 1×1-head SegNets, moved to table3_conv1x1/) is reported there, whatever experiment its file named when it was
    # written.
    return [{**row, "experiment": ref.experiment, "run": ref.run, "seed": ref.seed} for row in rows]


def equivariance_rows(ctx: Context) -> list[dict]:
    """Relative equivariance errors of every finished run (one row per run and transform), with the inputs used
    and the record the model belongs to: the run's own measurement where it has one, else measured from its
    checkpoint where that is here (a run from before runs measured themselves); none for the rest."""
    if not ctx.records:
        raise MissingRuns(f"Equivariance report: skipped, no finished run in {ctx.results_dir / 'runs'}")
    rows, loadable = [], {ref.path for ref in ctx.runs}
    for ref in ctx.records:
        if own := recorded_rows(ref):
            rows += own
            continue
        if ref.path not in loadable:
            continue
        run = ctx.load(ref)
        x = run.data.evals["test"][0]
        measured = measure_run(run.model, x, ref.experiment, ref.run, ref.seed, ctx.device, limit=ctx.n_images)
        rows += [{**r, "record": record_id(ref.path)} for r in measured]
    return rows


def curve_figures(ctx: Context) -> dict:
    """{experiment: training-curve Figure} from every finished run's history.csv."""
    figures = {}
    for experiment in sorted({r.experiment for r in ctx.records}):
        histories = {}
        for ref in (r for r in ctx.records if r.experiment == experiment):
            history = read_history(ref.path)
            if history:
                histories.setdefault(ref.run, []).append(history)
        if histories:
            figures[experiment] = training_curves_figure(histories, f"{experiment}: training curves (mean over seeds)")
    if not figures:
        raise MissingRuns(f"Training curves: skipped, no finished run with a history.csv in {ctx.results_dir / 'runs'}")
    return figures
