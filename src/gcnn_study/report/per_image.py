"""The per-image results of two table rows' runs (`per_image.csv`), matched seed by seed for a paired test.

A run writes each evaluated image's result beside its metrics.json: a classifier's label and prediction
(`target`, `pred`), a segmenter's `iou`, `iou_score` and `dice`, one row per image of every split. A table's
metric `<split>_<value>` reads the rows of `<split>`: `test_acc` is whether `pred == target` on `test`,
`test_rotated_iou_score` the `iou_score` of `test_rotated`. Two rows pair when they aggregate the same seeds
(the table's `seeds` column), every one of those runs kept its per_image.csv, a classifier's seeds saw the same
labels in the same order, and each row's per-image values average to its cell in the table; otherwise `pair`
says why not, in words a verdict can carry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gcnn_study.config import layout
from gcnn_study.config.specs import LABELS, experiment_in

FILE = "per_image.csv"
VALUES = ("acc", "iou_score", "iou", "dice")  # the per-image values a metric can read, longest name first
MATCH = 1e-6  # the per-image mean of a row against its cell: farther apart, the records are not the table's runs


def split_of(metric: str) -> tuple[str, str]:
    """ "test_rotated_iou_score" -> ("test_rotated", "iou_score"); ValueError for a metric no image has."""
    for value in VALUES:
        if metric.endswith(f"_{value}"):
            return metric[: -len(value) - 1], value
    raise ValueError(f"{metric} is not a per-image metric (one of {', '.join(VALUES)} of a split)")


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
        """{seed: (labels or None, per-image values)}, or why they cannot be read."""
        try:
            experiment = experiment_in(table, self.results_dir)
        except SystemExit as err:  # runs of both protocols: the tables refuse them too
            return str(err).removeprefix("error: ")
        split, value = split_of(metric)
        out = {}
        for seed in seeds:
            path = layout.run_dir(self.results_dir, experiment, run, seed) / FILE
            frame = self._file(path)
            if frame is None:
                return f"no {FILE} for {LABELS.get(run, run)} seed {seed}"
            rows = frame[frame["split"] == split].sort_values("index")
            if rows.empty:
                return f"{LABELS.get(run, run)} seed {seed} kept no per-image results of {split}"
            if value == "acc":
                out[seed] = (rows["target"].to_numpy(), (rows["pred"] == rows["target"]).to_numpy())
            else:
                out[seed] = (None, rows[value].to_numpy(dtype=float))
        return out

    def pair(self, frames: dict, a, b) -> tuple[list, list] | str:
        """The per-image values of cells `a` and `b` (same table and metric, two rows), one array per seed in
        the same seed order, or why they do not pair."""
        frame = frames[a.table]
        seeds_a, seeds_b = seeds_of(frame, a.run), seeds_of(frame, b.run)
        if seeds_a is None or seeds_b is None:
            return f"{a.table}.csv does not list the seeds of each row"
        if sorted(seeds_a) != sorted(seeds_b):
            return f"the rows have different seeds ({', '.join(map(str, seeds_a))} and {', '.join(map(str, seeds_b))})"
        sides = []
        for cell in (a, b):
            values = self._values(a.table, cell.run, cell.metric, sorted(seeds_a))
            if isinstance(values, str):
                return values
            if abs(np.mean([v.mean() for _, v in values.values()]) - cell.sample(frames).mean) > MATCH:
                return f"the per-image results of {cell.label} do not average to its cell in {a.table}"
            sides.append(values)
        for seed in sorted(seeds_a):
            labels_a, labels_b = sides[0][seed][0], sides[1][seed][0]
            if len(sides[0][seed][1]) != len(sides[1][seed][1]) or (
                labels_a is not None and not np.array_equal(labels_a, labels_b)
            ):
                return f"seed {seed} of the two rows was tested on different images"
        return [sides[0][s][1] for s in sorted(seeds_a)], [sides[1][s][1] for s in sorted(seeds_a)]
