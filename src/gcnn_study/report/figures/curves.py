"""Training curves of one table from the runs' history.csv: loss and accuracy (or IoU) per epoch, seeds averaged."""

from __future__ import annotations

import numpy as np

# Columns drawn when history.csv has them, in this order; the loss always comes first.
METRIC_COLUMNS = ("train_acc", "train_iou", "val_iou", "val_acc", "train_iou_score", "val_iou_score")


def training_curves_figure(histories: dict[str, list[list[dict]]], title: str):
    """histories: {run name: [history rows of each seed]}. One panel for train_loss and one per metric column
    present in any history; one line per model (mean over seeds, band = min–max where there are several)."""
    import matplotlib.pyplot as plt

    columns = ["train_loss"] + [
        c for c in METRIC_COLUMNS if any(c in row for seeds in histories.values() for h in seeds for row in h)
    ]
    fig, axes = plt.subplots(1, len(columns), figsize=(5.2 * len(columns), 3.8), squeeze=False)
    for ax, column in zip(axes[0], columns):
        for run, seeds in histories.items():
            curves = [{int(r["epoch"]): r[column] for r in h if column in r} for h in seeds]
            curves = [c for c in curves if c]
            if not curves:
                continue
            epochs = sorted(set().union(*curves))
            values = np.array([[c.get(e, np.nan) for e in epochs] for c in curves])
            mean = np.nanmean(values, axis=0)
            (line,) = ax.plot(epochs, mean, marker="o", ms=3, label=f"{run} (n={len(curves)})")
            if len(curves) > 1:
                ax.fill_between(
                    epochs, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=line.get_color(), alpha=0.2
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(column.replace("_", " "))
        if column == "train_loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if len(columns) == 1:
        axes[0, 0].set_title("history.csv records no per-epoch accuracy or IoU for these runs", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
