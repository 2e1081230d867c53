"""The study's figures from finished runs (Figures 1-3, accuracy vs angle, equivariance report, training curves).

`python -m gcnn_study.report.figures --results-dir results/demo` (or `make figures`) draws them all
(`gcnn_study.report.figures.draw`); each figure is also one function here, and `run_figures(model, data)` draws a
single trained model's figures (for W&B at run end).
"""

from __future__ import annotations

import pandas as pd
import torch

from gcnn_study.measure import measure_run
from gcnn_study.report.figures.angles import ANGLES, accuracy_vs_angle, angle_figure, angle_rows, predictions_vs_angle
from gcnn_study.report.figures.curves import training_curves_figure
from gcnn_study.report.figures.equivariance import equivariance_figure, equivariance_markdown
from gcnn_study.report.figures.maps import feature_maps_figure, group_maps_figure, predictions_figure
from gcnn_study.report.figures.runs import MissingRuns, find_runs, load_run

__all__ = [
    "ANGLES",
    "MissingRuns",
    "accuracy_vs_angle",
    "angle_figure",
    "equivariance_figure",
    "equivariance_markdown",
    "feature_maps_figure",
    "find_runs",
    "group_maps_figure",
    "load_run",
    "predictions_figure",
    "predictions_vs_angle",
    "run_figures",
    "training_curves_figure",
]


def run_figures(
    model: torch.nn.Module,
    data,
    n_images: int = 100,
    angle_step: int = 15,
    angles: list[dict] | None = None,
    equivariance: list[dict] | None = None,
) -> dict:
    """{name: matplotlib Figure} for one trained model and its DataBundle, drawn on the model's device.

    Classifiers: "feature_maps" (first layer, digit upright and turned), "accuracy_vs_angle" (first
    `n_images` test digits, every `angle_step` degrees), "equivariance". SegNets: "group_maps" (last layer
    before group pooling), "predictions" (3 test images upright and turned 90°), "equivariance". `angles` and
    `equivariance`: rows a finished run has already measured for its records (angles.csv, equivariance.csv),
    drawn as they are, so that W&B shows the recorded numbers and the sweeps are not run twice; None: measured
    here. The model's train/eval mode is restored afterwards; the caller closes the figures (plt.close) once
    logged.
    """
    was_training = model.training
    model.eval()
    name = getattr(model, "name", "model")
    task = getattr(model, "task", "classification")
    try:
        x, y = data.evals["test"]
        figures = {}
        if task == "classification":
            figures["feature_maps"] = feature_maps_figure({name: model}, x[:1])
            if angles is None:
                swept = tuple(range(0, 360, angle_step))
                angles = angle_rows(model, x[:n_images], y[:n_images], "run", name, 0, swept)
            figures["accuracy_vs_angle"] = angle_figure(pd.DataFrame(angles))
        else:
            figures["group_maps"] = group_maps_figure(model, x[:1], y[:1])
            figures["predictions"] = predictions_figure({name: model}, x[:3], y[:3])
        if equivariance is None:
            equivariance = measure_run(model, x, "run", name, 0, limit=n_images)
        figures["equivariance"] = equivariance_figure(equivariance)
        return figures
    finally:
        model.train(was_training)
