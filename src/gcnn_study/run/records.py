"""What a run records, and how: its files (RECORDS), the check that a metrics.json is a finished run's record,
the checkpoint, and atomic writes (a reader never sees half a file)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gcnn_study.run.identity import load_config, settings_id
from gcnn_study.run.rundir import FORCE, RunDirError

#: The record of the arrays Figures 1-3 draw (gcnn_study.report.figures.maps.figure_arrays).
FIGURE_ARRAYS = "figures.npz"
#: The record of a classifier's accuracy against the rotation angle (gcnn_study.report.figures.angles.angle_rows);
#: segmentation runs have none.
ANGLES_RECORD = "angles.csv"
#: What a finished run leaves to be kept (git keeps these under results/full/runs/, .gitignore lists them; not its
#: checkpoint): its record, its epochs, its settings, its data, and what its model showed at the end: its
#: equivariance, each test image's result (the paired tests' input), the arrays Figures 1-3 draw and, for a
#: classifier, its accuracy against the rotation angle.
RECORDS = (
    "metrics.json",
    "history.csv",
    "config.yaml",
    "data_info.json",
    "equivariance.csv",
    "per_image.csv",
    FIGURE_ARRAYS,
    ANGLES_RECORD,
)
#: The arrays of figures.npz stay under this many bytes (a few test images at 256², int8 maps, bit masks).
FIGURE_ARRAYS_MAX_BYTES = 1_000_000


def read_metrics(run_dir: Path) -> dict | None:
    """The run's metrics.json (None when absent); RunDirError, one line naming the file, when it is unreadable
    or not a record of a finished run (`record_problem`)."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunDirError(f"{path} is unreadable ({type(err).__name__}): {FORCE}") from None
    problem = record_problem(record)
    if problem:
        raise RunDirError(f"{path} is not a finished run's record ({problem}): {FORCE}")
    return record


# What metrics.json must hold for a finished run to count (the keys the aggregator reads, with their types);
# `metrics` maps each metric's name to a finite number. A record with NaN is a diverged run, never a result.
RECORD_KEYS = {
    "seed": (int, "an integer"),
    "params": (int, "an integer"),
    "epochs": (int, "an integer"),
    "train_seconds": ((int, float), "a number"),
    "dataset": (str, "a string"),
    "device": (str, "a string"),
    "synthetic": (bool, "true or false"),
    "metrics": (dict, "an object"),
}


def record_problem(record) -> str | None:
    """What is wrong with the content of a metrics.json, in a few words; None for a valid record."""
    if not isinstance(record, dict):
        return f"{_short(record)}, not a JSON object"
    for key, (kind, described) in RECORD_KEYS.items():
        if key not in record:
            return f'no "{key}"'
        value = record[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            return f'"{key}" is {_short(value)}, not {described}'
        if isinstance(value, float) and not math.isfinite(value):
            return f'"{key}" is {value}'
    launches = record.get("launches", [])  # optional: records written before launches were recorded lack it
    if not isinstance(launches, list) or not all(_is_launch(x) for x in launches):
        return f'"launches" is {_short(launches)}, not a list of objects with "epochs": [first, last]'
    if not record["metrics"]:
        return '"metrics" is empty'
    for name, value in record["metrics"].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f'metric "{name}" is {_short(value)}, not a number'
        if not math.isfinite(value):
            return f'metric "{name}" is {value}: the run diverged'
    return None


def _is_launch(value) -> bool:
    """An entry of a record's `launches` as the tables read it: an object whose "epochs" are two integers."""
    epochs = value.get("epochs") if isinstance(value, dict) else None
    return isinstance(epochs, list) and len(epochs) == 2 and all(type(e) is int for e in epochs)


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def record_settings_problem(run_dir: Path, record: dict) -> str | None:
    """Why the record in `run_dir` does not prove the settings its config.yaml holds (None when it does, or when the
    record predates settings_id, whose config.yaml is then all there is)."""
    proof = record.get("settings_id")
    if proof is None:
        return None
    try:
        stored = settings_id(load_config(run_dir))
    except RunDirError as err:
        return str(err)
    if stored != proof:
        return f"config.yaml (settings_id {stored}) is not the settings metrics.json was trained with ({proof})"
    return None


def load_checkpoint(run_dir: Path, device) -> dict | None:
    """The run's checkpoint.pt on `device` (None when absent); RunDirError, one line, when it is unreadable."""
    import torch

    path = Path(run_dir) / "checkpoint.pt"
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=False)
        for key in ("model", "optimizer", "torch_rng", "epoch", "history"):
            state[key]
        return state
    except Exception as err:
        raise RunDirError(f"{path} is unreadable ({type(err).__name__}): {FORCE}") from None


def record_id(run_dir) -> str:
    """A short digest of the run's metrics.json: which record a measurement was made from. A run trained again
    writes another record (times, provenance), so a measurement of the old model no longer matches it."""
    return hashlib.sha256((Path(run_dir) / "metrics.json").read_bytes()).hexdigest()[:12]


def write_json(path: Path, obj) -> None:
    """`obj` as indented JSON, written atomically."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def write_config(path: Path, cfg: DictConfig) -> None:
    """The resolved config as YAML (config.yaml), written atomically."""
    tmp = Path(str(path) + ".tmp")
    OmegaConf.save(cfg, tmp, resolve=True)
    os.replace(tmp, path)


def write_arrays(path: Path, arrays: dict) -> None:
    """A compressed .npz of `arrays` (figures.npz), written atomically like every record."""
    import numpy as np

    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def save_checkpoint(obj, path: Path) -> None:
    """torch.save, written atomically like every record."""
    import torch

    tmp = Path(str(path) + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_rows(path: Path, rows: list[dict]) -> None:
    """A CSV of `rows` (history.csv, equivariance.csv), written atomically like every record. Its columns are every
    row's, in order of first appearance: a run resumed across a commit that added a column (cpu_seconds) has rows
    with and without it, and those without leave its cell empty."""
    tmp = Path(str(path) + ".tmp")
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["epoch"]
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
