"""What every figure step of a results folder shares (`Context`): the runs found there, the models loaded once,
and why a run a figure needs is absent.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gcnn_study.config.specs import experiment_in
from gcnn_study.report.figures.maps import figure_arrays, read_figure_arrays
from gcnn_study.report.figures.rows import FIGURES
from gcnn_study.report.figures.runs import MissingRuns, RunRef, find_runs, finished_records, load_run, select
from gcnn_study.run.records import FIGURE_ARRAYS


class Context:
    """What every figure step shares: the results folder, the runs found there and loaded models."""

    def __init__(self, results_dir, n_images: int, device: str, data_dir=None, out_dir=None):
        self.results_dir = Path(results_dir)
        self.out_dir = Path(out_dir) if out_dir else self.results_dir / FIGURES
        self.n_images, self.device, self.data_dir = int(n_images), torch.device(device), data_dir
        self.runs = find_runs(self.results_dir)  # finished, with a checkpoint: the models figures load
        self.records = finished_records(self.results_dir)  # finished, checkpoint or not: what the tables read
        self.notes: list[str] = []
        self._loaded = {}

    def experiment(self, table: str) -> str:
        """The experiment of `table` whose runs this folder holds: <table>, or <table>_written (make reproduce)."""
        return experiment_in(table, self.results_dir)

    def load(self, ref):
        if ref.path not in self._loaded:
            self._loaded[ref.path] = load_run(ref.path, self.device, self.data_dir)
        return self._loaded[ref.path]

    def drawable(self) -> list[RunRef]:
        """The finished runs whose Figure 1-3 arrays can be had: recorded in figures.npz, or computed from the
        checkpoint (runs made before figures.npz was recorded)."""
        loadable = {r.path for r in self.runs}
        return [r for r in self.records if (r.path / FIGURE_ARRAYS).is_file() or r.path in loadable]

    def arrays(self, ref: RunRef, figure: str) -> dict:
        """The arrays of `figure` ("figure1", …) for the run `ref`: its record's, else computed from its model."""
        recorded = ref.path / FIGURE_ARRAYS
        if recorded.is_file() and (found := read_figure_arrays(recorded, figure)) is not None:
            return found
        run = self.load(ref)
        arrays = figure_arrays(run.model, run.data)
        prefix = f"{figure}/"
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    def absence(self, experiment: str, run: str, pool=None, kept: str = FIGURE_ARRAYS) -> str:
        """Why no `experiment/run` is in `pool` (default: the runs whose model can be loaded; else those with the
        record `kept` or a checkpoint): not finished, or finished with what is needed elsewhere (git keeps the
        records, not the checkpoints, so a clone or a new work tree has the one and not the other)."""
        if select(self.records, experiment, run):
            if pool is not None:
                return f"finished, but neither its {kept} nor its checkpoint.pt is in this folder"
            return "finished, but its checkpoint.pt is not in this folder"
        return "no finished run"

    def require(self, needed: list[tuple[str, str]], what: str, pool=None) -> dict[str, RunRef]:
        """The lowest-seed run of each (experiment, run) in `needed` among `pool` (default: the runs whose model can
        be loaded); MissingRuns naming every absent one and why."""
        runs = self.runs if pool is None else pool
        absent = [(e, run) for e, run in needed if not select(runs, e, run)]
        if absent:
            raise MissingRuns(f"{what}: skipped, {self._absent(absent, pool)}")
        return {f"{e}/{run}": select(runs, e, run)[0] for e, run in needed}

    def expected(self, experiments_runs, what: str, pool=None, kept: str = FIGURE_ARRAYS, note: bool = True):
        """The finished runs of the expected (experiment, run) pairs among `pool` (default: the runs whose model can
        be loaded; else those with the record `kept` or a checkpoint); a note names the absent ones and why (with
        `note` False, the caller does: `note_absent`, once it knows what it drew from elsewhere)."""
        runs = self.runs if pool is None else pool
        present = [r for e, names in experiments_runs for run in names for r in select(runs, e, run)]
        absent = [(e, run) for e, names in experiments_runs for run in names if not select(runs, e, run)]
        if not present:
            raise MissingRuns(f"{what}: skipped, {self._absent(absent, pool, kept)}")
        if absent and note:
            self.note_absent(absent, what, pool, kept)
        return present

    def note_absent(self, pairs, what: str, pool=None, kept: str = FIGURE_ARRAYS) -> None:
        """A note that `what` was drawn without the (experiment, run) `pairs`, and why."""
        if pairs:
            self.notes.append(f"{what}: drawn without {self._absent(pairs, pool, kept)}")

    def _absent(self, pairs, pool=None, kept: str = FIGURE_ARRAYS) -> str:
        """'<e>/<run>, … (why); … in <folder>' for the messages: the absent runs grouped by the reason."""
        by_reason = {}
        for e, run in pairs:
            by_reason.setdefault(self.absence(e, run, pool, kept), []).append(f"{e}/{run}")
        named = "; ".join(f"{', '.join(runs)} ({reason})" for reason, runs in by_reason.items())
        return f"{named} in {self.results_dir / 'runs'}"
