"""Draw every figure of a results folder from its finished runs: `python -m gcnn_study.report.figures`.

`python -m gcnn_study.report.figures --results-dir results/demo` writes `<results>/figures/*.png` (+ the CSVs behind
the angle curve and the equivariance heat map, `gcnn_study.report.figures.rows`) and `<results>/equivariance.md`.
A figure whose runs are missing is skipped with one line on stderr naming them and why; the others are still
drawn. Figure 3 and the angle sweep draw the models that are here and name the rest. The equivariance report and
the angle sweep keep the rows of runs whose checkpoint is not here (a clone, or another machine's runs) as long as
their record is the one they were measured from, and list the finished runs they could neither measure nor keep
(`figures/<csv>_unmeasured.csv`, and the report says so), so that a report short of a run never passes for a
complete one; the training curves read the records alone. Exit status 0 when at least one figure was drawn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from gcnn_study.data.bundle import DataError
from gcnn_study.report.figures.angles import DEFAULT_IMAGES, angle_figure
from gcnn_study.report.figures.context import Context
from gcnn_study.report.figures.equivariance import equivariance_figure, equivariance_markdown
from gcnn_study.report.figures.rows import (
    ANGLES_CSV,
    EQUIVARIANCE_CSV,
    kept_rows,
    measured,
    names,
    read_rows,
    unmeasured_rows,
    write_rows,
)
from gcnn_study.report.figures.runs import MissingRuns, finished_records
from gcnn_study.report.figures.steps import (
    ANGLE_TABLES,
    angle_experiments,
    angle_pairs,
    angle_sweep,
    curve_figures,
    equivariance_rows,
    figure1,
    figure2,
    figure3,
)
from gcnn_study.run.records import ANGLES_RECORD

# What the notebook and the tests take from here beside draw_all and main: the steps, one by one.
__all__ = ["ANGLE_TABLES", "Context", "angle_sweep", "curve_figures", "draw_all", "equivariance_rows", "main"]
__all__ += ["figure1", "figure2", "figure3"]


def save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _write_angles(ctx: Context) -> list[Path]:
    csv, what = ctx.out_dir / ANGLES_CSV, "Accuracy vs angle"
    rows = angle_sweep(ctx).to_dict("records")
    rows += kept_rows(ctx, read_rows(csv) if csv.exists() else None, measured(rows), what)
    drawn = {(e, r) for e, r, _ in measured(rows)}
    lacking = [(e, r) for e, runs in angle_pairs(ctx) for r in runs if (e, r) not in drawn]
    ctx.note_absent(lacking, what, pool=[], kept=ANGLES_RECORD)  # after the kept rows, which draw some
    written = write_rows(csv, rows, unmeasured_rows(ctx, rows, angle_experiments(ctx), what), what)
    return [save(angle_figure(pd.DataFrame(rows)), ctx.out_dir / "accuracy_vs_angle.png"), *written]


def _write_equivariance(ctx: Context) -> list[Path]:
    csv, md, what = ctx.out_dir / EQUIVARIANCE_CSV, ctx.results_dir / "equivariance.md", "Equivariance report"
    rows = equivariance_rows(ctx)
    old = read_rows(csv) if csv.exists() else None
    if old is not None and "inputs" not in old:  # a CSV from before the column: how many inputs is not known
        old = old.assign(inputs=float("nan"))
    kept = kept_rows(ctx, old, measured(rows), what)
    rows = rows + kept
    unmeasured = unmeasured_rows(ctx, rows, {r.experiment for r in ctx.records}, what)
    written = write_rows(csv, rows, unmeasured, what)
    md.write_text(equivariance_markdown(rows, str(ctx.results_dir), names(measured(kept)), names(measured(unmeasured))))
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
