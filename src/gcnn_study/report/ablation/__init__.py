"""The P6 ablation's report, tables and numbers only: a results folder's ablation_p6.csv and ablation_p6.md.

`python -m gcnn_study.report.ablation --results-dir results/reduced_cpu` (or `make ablation-report`) writes
`ablation_p6.csv` (every comparison with its numbers) and `ablation_p6.md` (tables, captions and no reading). It
reads `ablation_p6_table1.csv` and `ablation_p6_table2.csv` (the aggregator's tables, rows from
`gcnn_study.config.specs.ABLATION_P6_ROWS`) with their `.json` (the command that made the runs), the trained models'
errors from `figures/equivariance.csv` (`python -m gcnn_study.report.figures`) when present, and measures single
layers on the spot (`gcnn_study.measure`). The reading of these numbers is prose, and lives in
docs/ablation_p6.md, where tests/gcnn_study/report/test_ablation_p6_doc.py checks each number it states against them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from gcnn_study import measure
from gcnn_study.config.specs import ABLATION_VARIED, FILTER_VARIANTS
from gcnn_study.report.ablation.numbers import (
    AWAITING,
    ONE_SEED,
    adjusted_p,
    command,
    comparisons,
    model_errors,
    parameters,
    sample,
)
from gcnn_study.report.ablation.rows import (
    CONTRASTS,
    MODELS,
    OFF_BOTH,
    TABLE1,
    TABLE2,
    TRANSFORMED,
    UPRIGHT,
    group_rotation,
    labels,
    layer_variants,
    not_a_group_action,
)
from gcnn_study.report.figures.rows import equivariance_csv
from gcnn_study.report.stats import LEVEL, Sample

__all__ = [
    "CONTRASTS", "adjusted_p", "comparisons", "layer_variants", "main", "model_errors", "not_a_group_action",
    "render", "sample", "write",
]  # fmt: skip
CSV, MD = "ablation_p6.csv", "ablation_p6.md"


def _pct(s: Sample) -> str:
    return f"{100 * s.mean:.1f}" + (f" ± {100 * s.std:.1f}" if s.n > 1 else "") + f" % (n={s.n})"


def variant_table(frame: pd.DataFrame | None, metric: str) -> str:
    """Filters × model: mean ± std (n) of one metric, "awaiting runs" where a row has no finished run, † where
    the row's filter transform is not a group action, "–" where the ablation has no such row."""
    lines = ["| filters | " + " | ".join(m.upper() for m in MODELS) + " |", "| --- |" + " --- |" * len(MODELS)]
    known = set(labels())
    for variant in FILTER_VARIANTS:
        cells = []
        for run in (model + variant.suffix for model in MODELS):
            if run not in known:
                cells.append("–")
                continue
            s = sample(frame, run, metric)
            cells.append((_pct(s) if s else AWAITING) + (" †" if not_a_group_action(run) else ""))
        lines.append(f"| {variant.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _p(p: float) -> str:
    return "–" if math.isnan(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def contrast_table(rows: pd.DataFrame, one_factor: bool) -> str:
    """The comparisons of `ablation_p6.csv` (`comparisons`) that differ in one factor, or in more, as markdown."""
    head = "| comparison | what differs | what is shared | difference (points) | 95 % CI | Welch p | Holm p | n |"
    lines = [head, "| --- |" + " --- |" * 7]
    for r in rows[rows["one_factor"] == one_factor].itertuples():
        if r.status == AWAITING:
            numbers = [f"{AWAITING} ({r.missing})", "", "", "", ""]
        elif r.status == ONE_SEED:
            numbers = [_points(r.difference), "one seed: direction only", "", "", f"{r.n_a}, {r.n_b}"]
        else:
            ci = f"[{_points(r.ci_low)}, {_points(r.ci_high)}]"
            holm = _p(r.holm_p) + (" *" if r.significant else "")
            numbers = [_points(r.difference), ci, _p(r.welch_p), holm, f"{r.n_a}, {r.n_b}"]
        lines.append("| " + " | ".join([r.comparison, r.varied, r.shared, *numbers]) + " |")
    return "\n".join(lines)


def errors_table(errors: dict[str, dict[str, float]]) -> list[str]:
    """The trained models' logit error at their group's smallest rotation and at 30° (no lines without errors)."""
    runs = [model + v.suffix for model in ABLATION_VARIED for v in FILTER_VARIANTS]
    rows = [
        f"| {run} | {angle} | {errors[run][angle]:.2f} | {errors[run][OFF_BOTH]:.2f} |"
        for run in runs
        if (angle := group_rotation(run)) in errors.get(run, {}) and OFF_BOTH in errors[run]
    ]
    if not rows:
        return []
    return [
        f"## Trained models: invariance to their group's rotation and to {OFF_BOTH}",
        "",
        "Logit error ‖f(g·x) − f(x)‖ / ‖f(x)‖ on held-out digits, mean over seeds, from "
        "[`figures/equivariance.csv`](figures/equivariance.csv): the group's smallest rotation, an element of the "
        f"group, beside {OFF_BOTH}, an element of neither.",
        "",
        f"| model | group rotation | error at it | error at {OFF_BOTH} |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ]


def parameters_table(frame: pd.DataFrame | None) -> list[str]:
    """The harmonic models' parameter counts beside their pixel counterparts' (no lines without counts)."""
    counts = parameters(frame)
    if counts.empty:
        return []
    rows = [
        f"| {r.harmonic} | {r.params:,} | {r.pixel} | {r.pixel_params:,} | {r.fewer_pct:.2f} |"
        for r in counts.itertuples()
    ]
    head = "| harmonic model | parameters | pixel counterpart | its parameters | fewer (%) |"
    return ["## Parameters", "", head, "| --- | --- | --- | --- | --- |", *rows, ""]


def commands_table(results_dir: Path) -> list[str]:
    """Each table's command, from its `.json`; "not recorded" for a table built before that file."""
    rows = []
    for table in (TABLE1, TABLE2):
        made_by = command(results_dir, table)
        rows.append(f"| `{table}` | " + (f"`{made_by}`" if made_by else f"not recorded (no `{table}.json`)") + " |")
    return ["## The runs", "", "| table | made by |", "| --- | --- |", *rows, ""]


def render(results_dir: Path, rows: pd.DataFrame | None = None) -> str:
    """`ablation_p6.md`: the tables of one results folder (`rows`: its `comparisons`, computed when not given)."""
    results_dir = Path(results_dir)
    frames = {t: pd.read_csv(results_dir / f"{t}.csv") for t in (TABLE1, TABLE2) if (results_dir / f"{t}.csv").exists()}
    t1, t2 = frames.get(TABLE1), frames.get(TABLE2)
    rows = comparisons(t1) if rows is None else rows
    layers = measure.layer_error_table(layer_variants())
    family = int(rows["family"].iloc[0])  # the same on every row: the tests the seeds allow
    return "\n".join(
        [
            "# The P6 ablation: tables",
            "",
            f"Written by `python -m gcnn_study.report.ablation --results-dir {results_dir}` from "
            f"[`{TABLE1}.csv`]({TABLE1}.csv) and [`{TABLE2}.csv`]({TABLE2}.csv), the trained models' errors in "
            "[`figures/equivariance.csv`](figures/equivariance.csv) and single layers measured on the spot "
            f"(`gcnn_study.measure`); every comparison's numbers are in [`{CSV}`]({CSV}). What they show is read in "
            "docs/ablation_p6.md. † marks a row whose filter transform is not a group action.",
            "",
            '## Table 1 protocol: "+transforms" accuracy',
            "",
            variant_table(t1, TRANSFORMED),
            "",
            "## Table 1 protocol: upright (MNIST test) accuracy",
            "",
            variant_table(t1, UPRIGHT),
            "",
            '## Comparisons that differ in one factor ("+transforms")',
            "",
            f"Welch's t-test over the seeds; Holm's p is adjusted for the family of the {family} comparisons of "
            f"this table and the next that the seeds can test; * marks an adjusted p below {1 - LEVEL:.2f}.",
            "",
            contrast_table(rows, one_factor=True),
            "",
            '## Comparisons that differ in more than one factor ("+transforms")',
            "",
            contrast_table(rows, one_factor=False),
            "",
            "## Table 2 protocol: Rot-MNIST test accuracy",
            "",
            variant_table(t2, UPRIGHT),
            "",
            *errors_table(model_errors(equivariance_csv(results_dir))),
            "## Single layers: equivariance error at the group's smallest rotation",
            "",
            "Relative error ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ of one random layer (2 → 4 channels, 3×3), mean over "
            f"{len(measure.SEEDS)} random layers, on a smooth bump of {measure.SIZE}×{measure.SIZE} compared inside "
            "the inscribed disc (`gcnn_study.measure.layer_error`).",
            "",
            measure.layer_table_markdown(layers),
            "",
            *parameters_table(t1),
            *commands_table(results_dir),
        ]
    )


def write(results_dir: Path) -> Path | None:
    """Write `ablation_p6.csv` and `ablation_p6.md` into `results_dir`; the .md's path, None without Table 1."""
    results_dir = Path(results_dir)
    if not (results_dir / f"{TABLE1}.csv").exists():
        return None
    rows = comparisons(pd.read_csv(results_dir / f"{TABLE1}.csv"))
    rows.to_csv(results_dir / CSV, index=False)
    out = results_dir / MD
    out.write_text(render(results_dir, rows))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results", help="the folder holding ablation_p6_table1.csv")
    parser.add_argument("--layers", action="store_true", help="only print the single-layer table (no runs needed)")
    args = parser.parse_args(argv)
    if args.layers:
        print(measure.layer_table_markdown(measure.layer_error_table(layer_variants())))
        return
    out = write(Path(args.results_dir))
    if out is None:
        raise SystemExit(f"error: {args.results_dir} holds no {TABLE1}.csv; build it with `make ablation-p6`")
    print(out.read_text())
    print(f"wrote {out.with_suffix('.csv')} and {out}")
