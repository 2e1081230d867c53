"""The equivariance report and heat map of trained models: they draw what `gcnn.equivariance` measures
(`error_rows`: one row per transform, with the run's experiment, name and seed), whether a redrawing measured it
from a checkpoint or the run measured it at its end (its equivariance.csv).
"""

from __future__ import annotations

from gcnn.equivariance import EXACT_TOL, TRANSFORMS


def verdict(error: float, in_group: bool) -> str:
    """'exact' (g ∈ G, round-off), 'approx.' (g ∈ G, above round-off) or '' (g ∉ G: no equivariance built in)."""
    if not in_group:
        return ""
    return "exact" if error < EXACT_TOL else "approx."


# ----------------------------------------------------------------------------------------------- report
def summarise(rows):
    """Per-seed rows (experiment, run, seed, group, transform, error, in_group, quantity) → one row per
    (experiment, run, transform): mean and max of the error over seeds, n seeds."""
    import pandas as pd

    df = pd.DataFrame(rows)
    keys = ["experiment", "run", "group", "transform", "in_group", "quantity"]
    out = df.groupby(keys, sort=False)["error"].agg(mean="mean", max="max", n="count").reset_index()
    return out


def number_or_range(values) -> str:
    """Counts of one experiment's runs (test inputs, images): one number, or the range when its runs differ (some
    measured on another machine)."""
    n = sorted({int(v) for v in values if v == v})  # NaN (an old row without the count) is left out
    return "?" if not n else str(n[0]) if len(n) == 1 else f"{n[0]}–{n[-1]}"


def equivariance_markdown(rows, source: str, kept=(), unmeasured=()) -> str:
    """The report: one table per experiment, exact / approximate marked, and a summary of both. Each row carries
    the number of test inputs it was measured on (`inputs`). `kept`: the runs ("experiment/run seed=s") whose
    rows were not measured now but kept from the last report (their checkpoints are elsewhere); `unmeasured`: the
    finished runs with neither (their checkpoints lost), named so that the report never reads as complete."""
    import pandas as pd

    summary = summarise(rows)
    inputs = pd.DataFrame(rows).groupby("experiment")["inputs"].agg(number_or_range).to_dict()
    labels = [t.label for t in TRANSFORMS if t.label in set(summary["transform"])]
    lines = [
        "# Equivariance of the trained models",
        "",
        f"Relative error ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ over held-out test inputs of the runs in `{source}` "
        "(mean over seeds; n = seeds). Classifiers: f = the logits, which should be invariant (g·f = f). "
        "SegNets: f = the group feature map before group pooling (output of `model.head`) when g is in the "
        "model's group, otherwise the pooled logits. Multiples of 90° are exact pixel permutations (`torch.rot90`); "
        "45°, 60° and 30° are bilinear rotations compared inside the central disc. "
        f"**exact**: g ∈ G and error < {EXACT_TOL:g} (float32 round-off); **approx.**: g ∈ G, error above "
        "round-off (an interpolated rotation or a filter rotation that is not a group action); no mark: g ∉ G, "
        "nothing is built in.",
        "",
    ]
    if kept:
        lines += [
            f"Kept as measured before: {', '.join(sorted(kept))} (no checkpoint of them in this folder's `runs/` "
            "when this report was redrawn, and their records unchanged; their rows are in "
            "`figures/equivariance.csv`).",
            "",
        ]
    if unmeasured:
        lines += [
            f"Not measured: {', '.join(sorted(unmeasured))}. They finished (their records are in the tables), but "
            "neither their checkpoint nor an earlier measurement of their record was here when this report was "
            "drawn (`figures/equivariance_unmeasured.csv`); git keeps records, not checkpoints.",
            "",
        ]
    for experiment, part in summary.groupby("experiment", sort=True):
        lines += [
            f"## {experiment} ({inputs.get(experiment, '?')} test inputs per run)",
            "",
            "| model | group | n | " + " | ".join(labels) + " |",
            "| --- | --- | --- | " + " | ".join("---" for _ in labels) + " |",
        ]
        for run, rows_run in part.groupby("run", sort=False):
            cells = []
            for label in labels:
                sel = rows_run[rows_run["transform"] == label]
                if not len(sel):
                    cells.append("")
                    continue
                r = sel.iloc[0]
                mark = verdict(r["max"], bool(r["in_group"]))
                cells.append(f"{r['mean']:.1e}" + (f" **{mark}**" if mark else ""))
            lines.append(
                f"| {run} | {rows_run.iloc[0]['group']} | {int(rows_run['n'].max())} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    exact = summary[summary.in_group & (summary["max"] < EXACT_TOL)]
    approx = summary[summary.in_group & (summary["max"] >= EXACT_TOL)]
    outside = summary[~summary.in_group]
    lines += ["## Summary", ""]
    if len(exact):
        lines.append(
            f"- Exact (round-off): {len(exact)} (model, g) pairs, largest error over seeds "
            f"{exact['max'].max():.1e}: "
            + ", ".join(f"{r.experiment}/{r.run} {r.transform}" for r in exact.itertuples())
            + "."
        )
    if len(approx):
        lines.append(
            "- Approximate although g ∈ G: "
            + ", ".join(f"{r.experiment}/{r.run} {r.transform} {r.mean:.2g}" for r in approx.itertuples())
            + "."
        )
    if len(outside):
        lines.append(f"- Not built in (g ∉ G): errors from {outside['mean'].min():.2g} to {outside['mean'].max():.2g}.")
    return "\n".join(lines) + "\n"


def equivariance_figure(rows):
    """A heat map of log10 relative error: one row per (experiment, model), one column per g."""
    import matplotlib.pyplot as plt
    import numpy as np

    summary = summarise(rows)
    labels = [t.label for t in TRANSFORMS if t.label in set(summary["transform"])]
    models = list(dict.fromkeys(zip(summary["experiment"], summary["run"])))
    grid = np.full((len(models), len(labels)), np.nan)
    marks = np.full(grid.shape, "", dtype=object)
    for r in summary.itertuples():
        i, j = models.index((r.experiment, r.run)), labels.index(r.transform)
        grid[i, j] = np.log10(max(r.mean, 1e-12))
        marks[i, j] = f"{r.mean:.0e}" + ("*" if r.in_group else "")
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 3, 0.38 * len(models) + 2.0))
    im = ax.imshow(grid, cmap="viridis", vmin=-8, vmax=0, aspect="auto")
    for (i, j), text in np.ndenumerate(marks):
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if grid[i, j] < -4 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(models)), [f"{e}/{m}" for e, m in models], fontsize=8)
    fig.colorbar(im, ax=ax, label="log10 relative error")
    ax.set_title("‖f(g·x) − g·f(x)‖ / ‖f(x)‖   (* = g in the model's group)", fontsize=9)
    fig.tight_layout()
    return fig
