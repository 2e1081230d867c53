"""The one rule for a run that diverged while its numbers stayed finite: the trainer warns by it, the tables mark
the run by it and never average it (a NaN run never gets a record at all: gcnn_study.engine.NonFinite)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from gcnn_study.run.identity import load_config
from gcnn_study.run.rundir import RunDirError

#: A finished run with finite numbers diverged when its training loss blew up and it never came back: some epoch's
#: mean training loss went over DIVERGED_FACTOR × the loss of a prediction that knows nothing (uniform over C classes:
#: ln C; a logit of 0 on every pixel of a mask: ln 2), and it ended no better than knowing nothing: its last epoch's
#: loss at or above that loss, or (a classifier) its test accuracy within CHANCE_MARGIN of chance. An untrained
#: model starts at about that loss and training only lowers it: no run that learns goes five times above it.
DIVERGED_FACTOR = 5.0
CHANCE_MARGIN = 0.05


def uninformed_loss(model: dict) -> tuple[float, float | None]:
    """(the training loss of a prediction that knows nothing, the chance accuracy or None) for a run's model config:
    a classifier's cross-entropy ln C and 1/C; a segmentation net's per-pixel BCE ln 2 and None."""
    classes = model.get("num_classes") if isinstance(model, dict) else None
    if isinstance(classes, int) and classes >= 2:
        return math.log(classes), 1 / classes
    return math.log(2), None


def divergence(losses: list[float], model: dict, metrics: dict) -> str | None:
    """Why a run whose epochs' mean training losses are `losses` diverged (see DIVERGED_FACTOR), in a few words;
    None when it did not. The one rule: the trainer warns by it and the tables mark the run by it."""
    if not losses:
        return None
    floor, chance = uninformed_loss(model)
    peak = max(range(len(losses)), key=lambda i: losses[i])
    if not losses[peak] > DIVERGED_FACTOR * floor:
        return None
    accuracy = metrics.get("test_acc")
    at_chance = chance is not None and isinstance(accuracy, (int, float)) and accuracy <= chance + CHANCE_MARGIN
    if losses[-1] < floor and not at_chance:
        return None  # it blew up and came back: its numbers are what it learnt
    ended = f"ended at {losses[-1]:.4g}"
    if at_chance:
        ended += f", test accuracy {accuracy:.2%} (chance {chance:.0%})"
    return (
        f"diverged: its training loss reached {losses[peak]:.4g} in epoch {peak + 1}, over {DIVERGED_FACTOR:g} × the "
        f"{floor:.3f} of a prediction that knows nothing, and {ended}; retrain it with a smaller trainer.lr"
    )


def run_divergence(run_dir: Path, record: dict) -> str | None:
    """`divergence` of the finished run in `run_dir` (whose metrics.json holds `record`), from its history.csv and
    config.yaml; None when it did not diverge or its history is unreadable (a record without one predates it)."""
    try:
        with open(Path(run_dir) / "history.csv", newline="") as f:
            losses = [float(row["train_loss"]) for row in csv.DictReader(f)]
        model = load_config(run_dir).get("model", {})
    except (OSError, KeyError, TypeError, ValueError, RunDirError):
        return None
    return divergence(losses, model, record.get("metrics", {}))
