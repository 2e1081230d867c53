"""Draw every figure from the finished runs of a results folder: `python -m gcnn_study.report.figures --results-dir
results/demo`.

Writes `<results>/figures/*.png` (+ the CSVs behind the angle curve and the equivariance heat map) and
`<results>/equivariance.md`. A figure whose runs are missing is skipped with one line on stderr naming them
and why; the others are still drawn. Figure 3 and the angle sweep draw the models that are here and name the
rest. The equivariance report and the angle sweep keep the rows of runs whose checkpoint is not here (a clone,
or another machine's runs) as long as their record is the one they were measured from, and list the finished runs
they could neither measure nor keep (`figures/<csv>_unmeasured.csv`, and the report says so), so that a report short
of a run never passes for a complete one; the training curves read the records alone. Exit status 0 when at least
one figure was drawn.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from gcnn_study.data.bundle import DataError
from gcnn_study.measure import measure_run
from gcnn_study.report.figures.angles import angle_figure, angle_rows
from gcnn_study.report.figures.curves import training_curves_figure
from gcnn_study.report.figures.equivariance import equivariance_figure, equivariance_markdown
from gcnn_study.report.figures.maps import (
    draw_feature_maps,
    draw_group_maps,
    draw_predictions,
    figure_arrays,
    read_figure_arrays,
)
from gcnn_study.report.figures.runs import (
    MissingRuns,
    RunRef,
    find_runs,
    finished_records,
    load_run,
    read_history,
    select,
)
from gcnn_study.rundir import FIGURE_ARRAYS, record_id
from gcnn_study.specs import LABELS, TABLES, experiment_in

# The classifier tables the angle sweep covers, and the table whose rows Figure 3 compares (gcnn_study.specs).
ANGLE_TABLES = ("table1", "table2")
FIGURE3_TABLE = "table3"
# Test digits per classifier for the 72-angle sweep: 100 × 72 angles × 10 models is 2-3 minutes on 2 CPU cores.
DEFAULT_IMAGES = {"cpu": 100, "cuda": 1000}


def read_rows(path: Path) -> pd.DataFrame:
    """A CSV of measured rows (equivariance.csv, accuracy_vs_angle.csv): the record column stays text, since a
    digest such as 085842874140 or 1234e5678901 would otherwise be read as a number."""
    return pd.read_csv(path, dtype={"record": str})


def save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class Context:
    """What every figure step shares: the results folder, the runs found there and loaded models."""

    def __init__(self, results_dir, n_images: int, device: str, data_dir=None, out_dir=None):
        self.results_dir = Path(results_dir)
        self.out_dir = Path(out_dir) if out_dir else self.results_dir / "figures"
        self.n_images, self.device, self.data_dir = int(n_images), torch.device(device), data_dir
        self.runs = find_runs(self.results_dir)  # finished, with a checkpoint: the models figures load
        self.records = finished_records(self.results_dir)  # finished, checkpoint or not: what the tables read
        self.notes: list[str] = []
        self._loaded = {}

    def experiment(self, table: str) -> str:
        """The experiment of `table` whose runs this folder holds: <table>, or <table>_written (make reproduce)."""
        return experiment_in(table, self.results_dir)

    def load(self, ref):
        if ref.path not in self._loaded:
            self._loaded[ref.path] = load_run(ref.path, self.device, self.data_dir)
        return self._loaded[ref.path]

    def drawable(self) -> list[RunRef]:
        """The finished runs whose Figure 1-3 arrays can be had: recorded in figures.npz, or computed from the
        checkpoint (runs made before figures.npz was recorded)."""
        loadable = {r.path for r in self.runs}
        return [r for r in self.records if (r.path / FIGURE_ARRAYS).is_file() or r.path in loadable]

    def arrays(self, ref: RunRef, figure: str) -> dict:
        """The arrays of `figure` ("figure1", …) for the run `ref`: its record's, else computed from its model."""
        recorded = ref.path / FIGURE_ARRAYS
        if recorded.is_file() and (found := read_figure_arrays(recorded, figure)) is not None:
            return found
        run = self.load(ref)
        arrays = figure_arrays(run.model, run.data)
        prefix = f"{figure}/"
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    def absence(self, experiment: str, run: str, pool=None) -> str:
        """Why no `experiment/run` is in `pool` (default: the runs whose model can be loaded): not finished, or
        finished with what is needed elsewhere (git keeps the records, not the checkpoints, so a clone or a new
        work tree has the one and not the other)."""
        if select(self.records, experiment, run):
            if pool is not None:
                return f"finished, but neither its {FIGURE_ARRAYS} nor its checkpoint.pt is in this folder"
            return "finished, but its checkpoint.pt is not in this folder"
        return "no finished run"

    def require(self, needed: list[tuple[str, str]], what: str, pool=None) -> dict[str, RunRef]:
        """The lowest-seed run of each (experiment, run) in `needed` among `pool` (default: the runs whose model can
        be loaded); MissingRuns naming every absent one and why."""
        runs = self.runs if pool is None else pool
        absent = [(e, run) for e, run in needed if not select(runs, e, run)]
        if absent:
            raise MissingRuns(f"{what}: skipped, {self._absent(absent, pool)}")
        return {f"{e}/{run}": select(runs, e, run)[0] for e, run in needed}

    def expected(self, experiments_runs, what: str, pool=None):
        """The finished runs of the expected (experiment, run) pairs among `pool` (default: the runs whose model can
        be loaded); a note names the absent ones and why."""
        runs = self.runs if pool is None else pool
        present = [r for e, names in experiments_runs for run in names for r in select(runs, e, run)]
        absent = [(e, run) for e, names in experiments_runs for run in names if not select(runs, e, run)]
        if not present:
            raise MissingRuns(f"{what}: skipped, {self._absent(absent, pool)}")
        if absent:
            self.notes.append(f"{what}: drawn without {self._absent(absent, pool)}")
        return present

    def _absent(self, pairs, pool=None) -> str:
        """'<e>/<run>, … (why); … in <folder>' for the messages: the absent runs grouped by the reason."""
        by_reason = {}
        for e, run in pairs:
            by_reason.setdefault(self.absence(e, run, pool), []).append(f"{e}/{run}")
        named = "; ".join(f"{', '.join(runs)} ({reason})" for reason, runs in by_reason.items())
        return f"{named} in {self.results_dir / 'runs'}"


# ----------------------------------------------------------------------------------------------- the figures
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


def _angle_experiments(ctx: Context) -> set[str]:
    return {ctx.experiment(t) for t in ANGLE_TABLES}


def angle_sweep(ctx: Context) -> pd.DataFrame:
    """Accuracy of every Table 1 / Table 2 classifier run on its first n_images test digits at 0°, 5°, …, 355°,
    with the record each model belongs to (no rows when none of their checkpoints is here but records are)."""
    pairs = [(ctx.experiment(t), TABLES[t].runs) for t in ANGLE_TABLES]
    try:
        refs = ctx.expected(pairs, "Accuracy vs angle")
    except MissingRuns:
        if not any(r.experiment in _angle_experiments(ctx) for r in ctx.records):
            raise
        refs = []  # finished elsewhere: the rows kept from the last sweep, or a list of the unmeasured runs
    rows = []
    for ref in refs:
        run = ctx.load(ref)
        x, y = run.data.evals["test"]
        x, y = x[: ctx.n_images], y[: ctx.n_images]
        measured = angle_rows(run.model, x, y, ref.experiment, ref.run, ref.seed, device=ctx.device)
        rows += [{**r, "record": record_id(ref.path)} for r in measured]
    return pd.DataFrame(rows)


def recorded_rows(ref: RunRef) -> list[dict]:
    """The run's own measurement, written at its end (equivariance.csv, which git keeps), when it belongs to the
    run's current record; [] for a run from before runs measured themselves, or one trained again since."""
    path = ref.path / "equivariance.csv"
    if not path.is_file():
        return []
    rows = read_rows(path).to_dict("records")
    current = record_id(ref.path)
    if not rows or any(row.get("record") != current for row in rows):
        return []
    # The run is where its folder says (gcnn_study.layout): a record kept under another experiment's folder (the
    # 1×1-head
    # SegNets, moved to table3_conv1x1/) is reported there, whatever experiment its file named when it was written.
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


# ----------------------------------------------------------------------------------------------- writing them
def kept_rows(ctx: Context, old: pd.DataFrame | None, measured: set[tuple], what: str) -> list[dict]:
    """The rows of `old` (the last drawing's CSV) of the runs not measured now, kept while that run's finished
    record is here and is the one they were measured from (`record` column). Git keeps a run's records but not
    its checkpoint, so a clone, or a machine that finished other runs, measures what it has and keeps the rest;
    the rows of a run trained again, or whose record is gone, are dropped with a note."""
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
        if key in measured:
            continue
        path = records.get(key)
        # A CSV from before the record column cannot say which record it measured: its rows stand while the
        # run's record is here (the next drawing where the checkpoint is writes the column).
        if path is not None and (pd.isna(row.get("record")) or row["record"] == record_id(path)):
            kept.append(row)
        else:
            dropped.add(key)
    if kept:
        names = ", ".join(_names(_measured(kept)))
        ctx.notes.append(f"{what}: {names} kept as measured before (no checkpoint here; its record unchanged)")
    if dropped:
        ctx.notes.append(
            f"{what}: {', '.join(_names(dropped))} dropped (its record is gone or was rewritten since it was "
            "measured): redraw where its checkpoint is"
        )
    return kept


UNMEASURED = ["experiment", "run", "seed", "record", "reason"]


def unmeasured_rows(ctx: Context, rows: list[dict], scope: set[str], what: str) -> list[dict]:
    """The finished runs of the experiments in `scope` that `rows` (measured now or kept) lack: their checkpoint
    is not here and no measurement of their record is. A run whose checkpoint was lost (git keeps records, not
    checkpoints) stays in the tables; the report names it rather than reading as complete without it."""
    have = _measured(rows)
    missing = [r for r in ctx.records if r.experiment in scope and (r.experiment, r.run, r.seed) not in have]
    if missing:
        names = ", ".join(_names({(r.experiment, r.run, r.seed) for r in missing}))
        ctx.notes.append(
            f"{what}: {names} not measured (finished, but neither its checkpoint.pt nor a measurement of its record "
            "is here)"
        )
    reason = "finished; neither its checkpoint.pt nor a measurement of this record is here"
    return [
        {"experiment": r.experiment, "run": r.run, "seed": r.seed, "record": record_id(r.path), "reason": reason}
        for r in missing
    ]


def _write_rows(ctx: Context, csv: Path, rows: list[dict], unmeasured: list[dict], what: str) -> list[Path]:
    """Write the measured and kept rows to `csv` and the unmeasured runs beside it (`<stem>_unmeasured.csv`,
    header only when none is); MissingRuns when there is nothing to draw."""
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    beside = csv.with_name(f"{csv.stem}_unmeasured.csv")
    pd.DataFrame(unmeasured, columns=UNMEASURED).to_csv(beside, index=False)
    if not rows:
        raise MissingRuns(f"{what}: skipped, {', '.join(_names(_measured(unmeasured)))} not measured (no checkpoint)")
    pd.DataFrame(rows).to_csv(csv, index=False)
    return [csv, beside]


def _measured(rows) -> set[tuple]:
    """The (experiment, run, seed) of the rows."""
    return {(r["experiment"], r["run"], int(r["seed"])) for r in rows}


def _names(runs) -> list[str]:
    return [f"{e}/{r} seed={s}" for e, r, s in sorted(runs)]


def _write_angles(ctx: Context) -> list[Path]:
    csv = ctx.out_dir / "accuracy_vs_angle.csv"
    rows = angle_sweep(ctx).to_dict("records")
    rows += kept_rows(ctx, read_rows(csv) if csv.exists() else None, _measured(rows), "Accuracy vs angle")
    unmeasured = unmeasured_rows(ctx, rows, _angle_experiments(ctx), "Accuracy vs angle")
    written = _write_rows(ctx, csv, rows, unmeasured, "Accuracy vs angle")
    return [save(angle_figure(pd.DataFrame(rows)), ctx.out_dir / "accuracy_vs_angle.png"), *written]


def _write_equivariance(ctx: Context) -> list[Path]:
    csv, md = ctx.out_dir / "equivariance.csv", ctx.results_dir / "equivariance.md"
    rows = equivariance_rows(ctx)
    old = read_rows(csv) if csv.exists() else None
    if old is not None and "inputs" not in old:  # a report from before the column: its headings say it
        headings = re.findall(r"^## (\S+) \((\d+) test inputs per run\)", md.read_text() if md.exists() else "", re.M)
        old = old.assign(inputs=old["experiment"].map({experiment: int(n) for experiment, n in headings}))
    kept = kept_rows(ctx, old, _measured(rows), "Equivariance report")
    rows = rows + kept
    unmeasured = unmeasured_rows(ctx, rows, {r.experiment for r in ctx.records}, "Equivariance report")
    written = _write_rows(ctx, csv, rows, unmeasured, "Equivariance report")
    md.write_text(
        equivariance_markdown(rows, str(ctx.results_dir), _names(_measured(kept)), _names(_measured(unmeasured)))
    )
    return [md, save(equivariance_figure(rows), ctx.out_dir / "equivariance.png"), *written]


STEPS = {
    "figure1": lambda ctx: [save(figure1(ctx), ctx.out_dir / "figure1_feature_maps.png")],
    "figure2": lambda ctx: [save(figure2(ctx), ctx.out_dir / "figure2_d4segnet_group_maps.png")],
    "figure3": lambda ctx: [save(figure3(ctx), ctx.out_dir / "figure3_predictions.png")],
    "angles": _write_angles,
    "equivariance": _write_equivariance,
    "curves": lambda ctx: [
        save(fig, ctx.out_dir / f"training_curves_{e}.png") for e, fig in curve_figures(ctx).items()
    ],
}


def draw_all(
    results_dir,
    n_images: int = DEFAULT_IMAGES["cpu"],
    device: str = "cpu",
    data_dir=None,
    out_dir=None,
    only=None,
    err=sys.stderr,
    out=sys.stdout,
) -> dict[str, list[Path]]:
    """Run every step (or those in `only`); returns {step: written paths} for the steps that drew something."""
    ctx = Context(results_dir, n_images, device, data_dir, out_dir)
    drawn = {}
    for name, step in STEPS.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        try:
            drawn[name] = step(ctx)
        except (MissingRuns, DataError) as problem:
            print(str(problem).splitlines()[0], file=err)
            continue
        print(f"{name}: wrote {', '.join(str(p) for p in drawn[name])} ({time.perf_counter() - start:.1f} s)", file=out)
    for note in ctx.notes:
        print(note, file=err)
    return drawn


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results/demo", help="folder holding runs/<experiment>/<run>/seed=<s>")
    parser.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="test images per run for the angle sweep (default: "
        f"{DEFAULT_IMAGES['cpu']} on a CPU, {DEFAULT_IMAGES['cuda']} on a GPU) and the cap for the "
        "equivariance report (at most 100 digits, 8 PH2 images per run)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, … (auto: CUDA when present)")
    parser.add_argument("--data-dir", default=None, help="replace the data_dir recorded in each run's config.yaml")
    parser.add_argument("--only", nargs="*", choices=sorted(STEPS), help="draw only these figures")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # the command line writes files and never opens a window
    results = Path(args.results_dir)
    if not results.is_dir():
        print(
            f"error: results folder {results} does not exist (make demo, or make tableN RESULTS={results})",
            file=sys.stderr,
        )
        return 1
    if not finished_records(results):  # records without checkpoints still give the curves and the kept rows
        print(
            f"error: no finished runs in {results / 'runs'} (make demo, or make tableN RESULTS={results})",
            file=sys.stderr,
        )
        return 1
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    n_images = args.n_images or DEFAULT_IMAGES["cpu" if device == "cpu" else "cuda"]
    drawn = draw_all(results, n_images, device, args.data_dir, only=args.only)
    return 0 if drawn else 1
