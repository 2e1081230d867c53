"""Find finished runs in a results folder and load them back: model (eval mode), config and data.

A run is `<results>/runs/<experiment>/<run_name>/seed=<seed>/`; experiment, run name and seed are read from
that path by `gcnn_study.config.layout` (never from metrics.json, whose keys may change). A run is *finished* when its
metrics.json is a finished run's record (`gcnn_study.run.records.read_metrics`: not a diverged run's NaN, not a damaged
file). The model is rebuilt from config.yaml (`hydra.utils.instantiate(cfg.model)`) and given checkpoint["model"];
the data is built on first use from `cfg.dataset` (optionally with another data_dir) and shared between runs whose
dataset settings are the same.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from gcnn_study.config import layout, schema
from gcnn_study.config.layout import RunPath as RunRef  # a run's experiment, run name, seed and path
from gcnn_study.data.bundle import DataBundle
from gcnn_study.run import identity, records, rundir


class MissingRuns(LookupError):
    """Runs a figure needs are not in the results folder; the message is one line naming them."""


def _load_config(path) -> DictConfig:
    schema.register()  # the resolvers an older, unresolved config.yaml may still name
    return identity.with_added(OmegaConf.load(path))  # an older config.yaml builds the model it trained


def finished_records(results_dir) -> list[RunRef]:
    """Every run under `<results_dir>/runs` whose metrics.json is a finished run's record, with or without its
    checkpoint (git keeps the records, not the checkpoints), sorted."""
    found = []
    for ref in layout.find(results_dir):
        try:
            if records.read_metrics(ref.path) is not None:
                found.append(ref)
        except rundir.RunDirError:
            continue  # the tables list it; a figure of a diverged model would show nothing true
    return sorted(found, key=lambda r: (r.experiment, r.run, r.seed))


def find_runs(results_dir) -> list[RunRef]:
    """Every finished run whose model can be loaded (checkpoint.pt and config.yaml beside the record), sorted."""
    return [
        ref
        for ref in finished_records(results_dir)
        if all((ref.path / name).is_file() for name in ("checkpoint.pt", "config.yaml"))
    ]


def select(runs: list[RunRef], experiment: str, run: str) -> list[RunRef]:
    return [r for r in runs if r.experiment == experiment and r.run == run]


def read_history(run_dir) -> list[dict]:
    """history.csv as a list of {column: float} rows ([] when absent)."""
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(f)]


# ----------------------------------------------------------------------------------------------- loading
@dataclass
class LoadedRun:
    ref: RunRef | None
    model: torch.nn.Module
    cfg: DictConfig
    _data_fn: object = field(repr=False, default=None)

    @property
    def data(self) -> DataBundle:
        """The run's DataBundle, built on first access (shared with runs that have the same dataset)."""
        return self._data_fn()

    @property
    def task(self) -> str:
        return getattr(self.model, "task", "classification")


_DATA_CACHE: dict[str, DataBundle] = {}


def build_data(cfg: DictConfig, data_dir=None) -> DataBundle:
    """`instantiate(cfg.dataset)`, with `data_dir` replacing the path recorded when the run was trained."""
    node = OmegaConf.to_container(cfg.dataset, resolve=True)
    if data_dir is not None and "data_dir" in node:
        node["data_dir"] = str(data_dir)
    # The augmentation settings only change training batches, never the evaluation splits figures use.
    key = repr(sorted((k, v) for k, v in node.items() if k not in ("augment", "augment_seed")))
    if key not in _DATA_CACHE:
        if "augment" in node:
            node["augment"] = False
        _DATA_CACHE[key] = hydra.utils.instantiate(node)
    return _DATA_CACHE[key]


def load_run(run_dir, device="cpu", data_dir=None) -> LoadedRun:
    """The trained model of one run directory in eval mode on `device`, its config, and its data (lazy)."""
    run_dir = Path(run_dir)
    for name in ("config.yaml", "checkpoint.pt"):
        if not (run_dir / name).is_file():
            raise MissingRuns(f"{run_dir} has no {name}: it is not a finished run")
    cfg = _load_config(run_dir / "config.yaml")
    model = hydra.utils.instantiate(cfg.model)
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    try:
        ref = layout.parse(run_dir)
    except ValueError:  # a run directory copied out of its results folder still loads; it has no place in one
        ref = None
    return LoadedRun(ref, model, cfg, lambda: build_data(cfg, data_dir))
