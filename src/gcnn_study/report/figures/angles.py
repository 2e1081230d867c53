"""Accuracy against rotation angle: every classifier on its test set rotated by 0°, 5°, …, 355°.

Rotations by multiples of 90° are `torch.rot90` (exact), the others bilinear (`gcnn.groups.rotate_images`,
same direction), zeros rotated in from outside. The images stay on the model's device and are rotated there,
one batch at a time; `n_images` caps how many test images are used so the sweep stays within minutes on a CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from gcnn.groups import transform_images
from gcnn_study.config.specs import TABLES, table_of
from gcnn_study.report.figures.equivariance import number_or_range

ANGLES = tuple(range(0, 360, 5))
# Test digits per classifier for the 72-angle sweep: 100 × 72 angles × 10 models is 2-3 minutes on 2 CPU cores. A
# run records its sweep (angles.csv) at the CPU's number on any device, so that records made anywhere draw together.
DEFAULT_IMAGES = {"cpu": 100, "cuda": 1000}
RECORDED_IMAGES = DEFAULT_IMAGES["cpu"]


@torch.no_grad()
def predictions_vs_angle(
    model: torch.nn.Module, x: torch.Tensor, angles=ANGLES, batch_size: int = 500, device=None
) -> torch.Tensor:
    """Predicted classes (len(angles), N) of `model` on the images x (N, C, H, W) rotated by each angle (degrees)."""
    device = device or next(model.parameters()).device
    model.eval()
    out = torch.empty(len(angles), len(x), dtype=torch.long)
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size].to(device)
        for i, angle in enumerate(angles):
            out[i, start : start + len(chunk)] = model(transform_images(chunk, float(angle))).argmax(dim=1).cpu()
    return out


def accuracy_vs_angle(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, angles=ANGLES, batch_size: int = 500, device=None
) -> np.ndarray:
    """Accuracy (len(angles),) of `model` on (x, y) rotated by each angle in degrees; angle 0 is the upright set."""
    pred = predictions_vs_angle(model, x, angles, batch_size, device)
    return (pred == y.cpu().view(1, -1)).double().mean(dim=1).numpy()


def angle_rows(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    experiment: str,
    run: str,
    seed: int,
    angles=ANGLES,
    device=None,
) -> list[dict]:
    """One row per angle (experiment, run, seed, angle, accuracy, n_images): what `angle_figure` draws."""
    acc = accuracy_vs_angle(model, x, y, angles, device=device)
    return [
        {"experiment": experiment, "run": run, "seed": seed, "angle": a, "accuracy": float(v), "n_images": len(x)}
        for a, v in zip(angles, acc)
    ]


def recorded_sweep(model, data, experiment: str, run: str, seed: int, device=None) -> list[dict]:
    """What a finished classifier run records of its model (angles.csv): `angle_rows` on its first RECORDED_IMAGES
    test digits; [] for a segmentation run."""
    if data.task != "classification":
        return []
    x, y = (t[:RECORDED_IMAGES] for t in data.evals["test"])
    return angle_rows(model, x, y, experiment, run, seed, device=device)


def summarise_angles(df):
    """Per-seed rows (experiment, run, seed, angle, accuracy) → mean, std, min, max and n over seeds."""
    return (
        df.groupby(["experiment", "run", "angle"], sort=False)["accuracy"]
        .agg(mean="mean", std="std", min="min", max="max", n="count")
        .reset_index()
    )


TITLES = {"table1": "Table 1 models (trained upright)", "table2": "Table 2 models (trained on rotated digits)"}


def _title(experiment: str) -> str:
    """The panel's title: the table's models, and "protocol as written" for <table>_written runs."""
    table = table_of(experiment)
    if table not in TITLES:
        return experiment
    return TITLES[table] + ("" if experiment == table else ", protocol as written")


def angle_figure(df, order=TABLES["table1"].runs):
    """One panel per experiment: mean accuracy over seeds against angle, a band from the lowest to the highest
    seed, dotted lines at the multiples of 90°."""
    import matplotlib.pyplot as plt

    summary = summarise_angles(df)
    experiments = sorted(summary["experiment"].unique())
    fig, axes = plt.subplots(1, len(experiments), figsize=(6.2 * len(experiments), 4.2), squeeze=False, sharey=True)
    for ax, experiment in zip(axes[0], experiments):
        part = summary[summary.experiment == experiment]
        runs = [r for r in order if r in set(part.run)] + sorted(set(part.run) - set(order))
        for run in runs:
            sel = part[part.run == run].sort_values("angle")
            n = int(sel["n"].max())
            (line,) = ax.plot(sel["angle"], 100 * sel["mean"], label=f"{run} (n={n})", lw=1.5)
            if n > 1:
                ax.fill_between(sel["angle"], 100 * sel["min"], 100 * sel["max"], color=line.get_color(), alpha=0.2)
        for v in (90, 180, 270):
            ax.axvline(v, color="grey", lw=0.6, ls=":")
        ax.set_xticks(range(0, 361, 45))
        ax.set_xlim(0, 355)
        ax.set_xlabel("rotation of the test images (degrees)")
        images = number_or_range(df[df.experiment == experiment]["n_images"])
        ax.set_title(f"{_title(experiment)}, {images} test images", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0, 0].set_ylabel("accuracy (%): mean over seeds, band = min–max")
    fig.tight_layout()
    return fig
