"""The per-image results of two table rows' runs (`per_image.csv`), matched seed by seed for a paired test.

A run writes each evaluated image's result beside its metrics.json: a classifier's label and prediction
(`target`, `pred`), a segmenter's `iou`, `iou_score` and `dice`, one row per image of every split. A table's
metric `<split>_<value>` reads the rows of `<split>`: `test_acc` is whether `pred == target` on `test`,
`test_rotated_iou_score` the `iou_score` of `test_rotated`, averaged over each test image's four turns first (they
are one image's copies, not four draws: `gcnn_study.data.ph2.COPIES`). Two rows pair on the seeds (the table's `seeds`
column) whose runs of both kept their per_image.csv, where each run's per-image values average to its own metric
in metrics.json and a classifier's two runs of a seed saw the same labels in the same order; where none pair,
`pair` says why not, in words a verdict can carry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gcnn_study.config import layout
from gcnn_study.config.specs import LABELS, experiment_in
from gcnn_study.data.ph2 import COPIES

FILE = "per_image.csv"
VALUES = ("acc", "iou_score", "iou", "dice")  # the per-image values a metric can read, longest name first
MATCH = 1e-6  # the per-image mean of a row against its cell: farther apart, the records are not the table's runs


def split_of(metric: str) -> tuple[str, str]:
    """ "test_rotated_iou_score" -> ("test_rotated", "iou_score"); ValueError for a metric no image has."""
    for value in VALUES:
        if metric.endswith(f"_{value}"):
            return metric[: -len(value) - 1], value
    raise ValueError(f"{metric} is not a per-image metric (one of {', '.join(VALUES)} of a split)")


def per_source(values: np.ndarray, copies: int) -> np.ndarray:
    """Each image's mean over its `copies` turned copies (rows in blocks of one copy of every image, as
    gcnn_study.data.transforms.rotations90 stacks them): the units a test across images may treat as independent.
    The mean of the result is the mean of `values`, so it still matches the run's metric."""
    if copies == 1:
        return values
    if values.size % copies:
        raise ValueError(f"{values.size} per-image rows are not {copies} blocks of the same images")
    return values.reshape(copies, -1).mean(axis=0)


def seed_list(seeds) -> str:
    """ "seed 0", "seeds 1, 2"."""
    seeds = list(seeds)
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def seeds_of(frame: pd.DataFrame, run: str) -> list[int] | None:
    """The seeds a table row averages (its `seeds` column: "0,1,2" or 0), None when the table does not say."""
    if "seeds" not in frame:
        return None
    rows = frame.loc[frame["run_name"] == run, "seeds"]
    if rows.empty or pd.isna(rows.iloc[0]):
        return None
    return [int(float(s)) for s in str(rows.iloc[0]).split(",") if s.strip()]


class PerImage:
    """The per_image.csv files of one results folder's runs, read once each."""

    def __init__(self, results_dir) -> None:
        self.results_dir = Path(results_dir)
        self._read: dict[Path, pd.DataFrame | None] = {}

    def _file(self, path: Path) -> pd.DataFrame | None:
        if path not in self._read:
            self._read[path] = pd.read_csv(path) if path.exists() else None
        return self._read[path]

    def _values(self, table: str, run: str, metric: str, seeds: list[int]):
        """({seed: (labels or None, per-image values, the run's metric in metrics.json)} of the seeds whose run
        kept per-image results, {seed: why not, with a {seeds} slot} of the others), or why none can be read."""
        try:
            experiment = experiment_in(table, self.results_dir)
        except SystemExit as err:  # runs of both protocols: the tables refuse them too
            return str(err).removeprefix("error: ")
        split, value = split_of(metric)
        found, missing = {}, {}
        for seed in seeds:
            folder = layout.run_dir(self.results_dir, experiment, run, seed)
            frame = self._file(folder / FILE)
            if frame is None:
                missing[seed] = f"no {FILE} for {LABELS.get(run, run)} {{seeds}}"
                continue
            rows = frame[frame["split"] == split].sort_values("index")
            if rows.empty:
                missing[seed] = f"{LABELS.get(run, run)} {{seeds}} kept no per-image results of {split}"
                continue
            recorded = json.loads((folder / "metrics.json").read_text())["metrics"][metric]
            if value == "acc":
                found[seed] = (rows["target"].to_numpy(), (rows["pred"] == rows["target"]).to_numpy(), recorded)
            else:
                found[seed] = (None, per_source(rows[value].to_numpy(dtype=float), COPIES.get(split, 1)), recorded)
        return found, missing

    def pair(self, frames: dict, a, b) -> tuple[list, list, list[int]] | str:
        """The per-image values of cells `a` and `b` (same table and metric, two rows) on the seeds whose runs of
        both rows kept them: (one array per seed of a, the same of b, those seeds), or why none pair. Each seed's
        values must average to that run's metric in its metrics.json, and a classifier's two runs of a seed must
        have seen the same labels in the same order."""
        frame = frames[a.table]
        seeds_a, seeds_b = seeds_of(frame, a.run), seeds_of(frame, b.run)
        if seeds_a is None or seeds_b is None:
            return f"{a.table}.csv does not list the seeds of each row"
        sides, why = [], {}
        for cell, seeds in ((a, seeds_a), (b, seeds_b)):
            read = self._values(a.table, cell.run, cell.metric, sorted(seeds))
            if isinstance(read, str):
                return read
            found, missing = read
            for seed, (_, v, recorded) in found.items():
                if abs(v.mean() - recorded) > MATCH:
                    return f"the per-image results of {cell.label} seed {seed} do not average to its metrics.json"
            why.update({(cell.run, seed): reason for seed, reason in missing.items()})
            sides.append(found)
        seeds = sorted(set(sides[0]) & set(sides[1]))
        if not seeds:
            reasons = {reason: [seed for (_, seed), r in sorted(why.items()) if r == reason] for reason in why.values()}
            return "; ".join(r.format(seeds=seed_list(s)) for r, s in reasons.items()) or "the rows share no seed"
        for seed in seeds:
            (labels_a, va, _), (labels_b, vb, _) = sides[0][seed], sides[1][seed]
            if len(va) != len(vb) or (labels_a is not None and not np.array_equal(labels_a, labels_b)):
                return f"seed {seed} of the two rows was tested on different images"
        return [sides[0][s][1] for s in seeds], [sides[1][s][1] for s in seeds], seeds
