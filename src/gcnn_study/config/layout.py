"""Where a run lives and what it is called: the one owner of the run layout and of the run name rule.

    <results>/runs/<experiment>/<run>/seed=<seed>/

<run> is the model's name, with "+" appended when the model trains with `dataset.augment=true` (Table 3's
SegNet+ is segnet augmented): an augmented run lives beside the plain one, never in its directory.

Everything that builds or reads such a path asks this module: the trainer's config, through resolvers that
`register_resolvers` adds to OmegaConf (conf/train.yaml: `run_name: ${gcnn.run_name:...}`, `run_dir:
${gcnn.run_dir:...}`; conf/hydra/default.yaml splits the same path into Hydra's sweep dir and subdir with
`gcnn.experiment_dir` and `gcnn.run_subdir`), so the YAML holds no copy of the layout; `gcnn_study.reproduce.cli`,
the tables (`gcnn_study.report.collect`) and the figures (`gcnn_study.report.figures.runs`). It also says where
conf/ is (`CONF_DIR`). Only pathlib here: Hydra's plugin imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RUNS = "runs"  # the folder of every run under a results directory
AUGMENTED = "+"  # suffix of the run name of a model trained with dataset.augment=true
AUGMENT_OVERRIDE = "dataset.augment=true"
_SEED = re.compile(r"seed=(0|[1-9][0-9]*)")  # as run_subdir writes it, so a parsed path builds back


# ----------------------------------------------------------------------------------------------- run names
def run_name(model: str, augment=False) -> str:
    """The run name of `model` trained with or without augmentation: "segnet", "segnet+"."""
    return f"{model}{AUGMENTED if _true(augment) else ''}"


def model_of(run: str) -> tuple[str, bool]:
    """("segnet", True) for "segnet+": the model config and whether it trains augmented."""
    augmented = run.endswith(AUGMENTED)
    model = run[: -len(AUGMENTED)] if augmented else run
    if not model or AUGMENTED in model or "/" in model:
        raise ValueError(f"{run!r} is not a run name (a model name, '{AUGMENTED}' for augmented training)")
    return model, augmented


def overrides_of(run: str) -> list[str]:
    """The Hydra overrides that train run `run`: ["model=segnet", "dataset.augment=true"] for "segnet+"."""
    model, augmented = model_of(run)
    return [f"model={model}", *([AUGMENT_OVERRIDE] if augmented else [])]


def _true(flag) -> bool:
    # A YAML bool, or the text of one when a resolver is handed an older, unresolved config.
    return str(flag).lower() in ("true", "1", "yes")


# ----------------------------------------------------------------------------------------------- run paths
def experiment_dir(results_dir, experiment: str) -> Path:
    """<results>/runs/<experiment>: every run of one experiment (one table at one protocol)."""
    return Path(results_dir) / RUNS / experiment


def run_subdir(run: str, seed: int) -> Path:
    """<run>/seed=<seed>, relative to the experiment's folder. A negative seed is the settings check's to refuse
    (`seed=-1: must be >= 0`, after Hydra has resolved the output folder), and `parse` never reads one back."""
    return Path(run) / f"seed={int(seed)}"


def run_dir(results_dir, experiment: str, run: str, seed: int) -> Path:
    """<results>/runs/<experiment>/<run>/seed=<seed>: the one directory of one run."""
    return experiment_dir(results_dir, experiment) / run_subdir(run, seed)


@dataclass(frozen=True)
class RunPath:
    """A run directory read back into its parts (`parse`); `path` builds it again."""

    results_dir: Path
    experiment: str
    run: str
    seed: int

    @property
    def path(self) -> Path:
        return run_dir(self.results_dir, self.experiment, self.run, self.seed)

    @property
    def key(self) -> str:
        return f"{self.experiment}/{self.run}"


def parse(path) -> RunPath:
    """The parts of <results>/runs/<experiment>/<run>/seed=<seed>; ValueError naming the path otherwise."""
    path = Path(path)
    parts = path.parts
    match = _SEED.fullmatch(path.name)
    if len(parts) < 4 or not match or parts[-4] != RUNS:
        raise ValueError(f"{path} is not a run directory (<results>/{RUNS}/<experiment>/<run>/seed=<seed>)")
    model_of(parts[-2])  # the run name must be one
    return RunPath(path.parents[3], parts[-3], parts[-2], int(match.group(1)))


def find(results_dir, experiment: str = "*", run: str = "*") -> Iterator[RunPath]:
    """Every run directory under <results>/runs (of one experiment, one run name), sorted by path; folders that
    do not follow the layout (a hand-made `seed=x`) are not runs and are left out."""
    for path in sorted(Path(results_dir).glob(f"{RUNS}/{experiment}/{run}/seed=*")):
        if path.is_dir():
            try:
                yield parse(path)
            except ValueError:
                continue


# ----------------------------------------------------------------------------------------------- the config
#: conf/, the config tree every run is composed from (the trainer's `hydra.main`, gcnn_study.reproduce.cli, the
#: benchmark).
CONF_DIR = str(Path(__file__).resolve().parents[3] / "conf")


def register_resolvers() -> None:
    """The resolvers conf/ builds run_name, run_dir and Hydra's output folders with (idempotent)."""
    from omegaconf import OmegaConf

    resolvers = {
        "gcnn.run_name": run_name,
        "gcnn.run_dir": lambda results, experiment, run, seed: str(run_dir(results, experiment, run, seed)),
        "gcnn.experiment_dir": lambda results, experiment: str(experiment_dir(results, experiment)),
        "gcnn.run_subdir": lambda run, seed: str(run_subdir(run, seed)),
        # What conf/train.yaml used before run_name had its own resolver: an older config may still name it.
        "gcnn.plus_if": lambda flag: AUGMENTED if _true(flag) else "",
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
