"""Where a run directory stands: the one-line error that refuses it, whether it holds results, archiving it, and
removing one a refused launch left.

Every run owns `<results>/runs/<experiment>/<run>/seed=<seed>/` (gcnn_study.config.layout). What defines the run it
holds is gcnn_study.run.identity, what it records gcnn_study.run.records, and one process at a time works in it
(gcnn_study.run.lock).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

#: The lock of a run directory while a process works in it (gcnn_study.run.lock.RunLock).
LOCK = "run.lock"
# Files of a run that are records of launches (and the lock), not results: they stay when a run is archived or
# refused.
LAUNCH_FILES = (".hydra", "train.log", "previous", LOCK)


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked; the one-line message says why and what to type."""


FORCE = "trainer.force=true archives the run and starts it again"


def check_results_dir(results_dir) -> None:
    """RunDirError unless runs can be written under `results_dir` (created when missing). An empty value (what an
    unset shell variable gives: `paths.results_dir=$RESULTS`) is refused: it would file the runs under ./runs of
    whatever folder the command ran from, where no table looks."""
    if results_dir is None or not str(results_dir).strip():
        raise RunDirError(
            f"paths.results_dir={'' if results_dir is None else results_dir} is empty (an unset shell variable?): "
            "give the folder for the runs, e.g. paths.results_dir=results"
        )
    path = Path(results_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(
            f"paths.results_dir={results_dir} cannot be created ({err.strerror or type(err).__name__}): "
            "choose a folder you can write to"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RunDirError(f"paths.results_dir={results_dir} is not writable: choose a folder you can write to")


def has_results(run_dir: Path) -> bool:
    """True when the directory holds anything besides the records of launches (a run that failed before it
    wrote its config, e.g. for missing data, holds only failed.json: the next launch simply starts it)."""
    records = (*LAUNCH_FILES, "failed.json")
    return Path(run_dir).is_dir() and any(p.name not in records for p in Path(run_dir).iterdir())


def archive(run_dir: Path) -> Path:
    """trainer.force=true: move whatever the run directory holds, finished or not, to previous/<time>/."""
    dest = Path(run_dir) / "previous" / time.strftime("%Y%m%d-%H%M%S")
    while dest.exists():  # two archives within one second keep both
        dest = dest.with_name(dest.name + "+")
    dest.mkdir(parents=True)
    for item in Path(run_dir).iterdir():
        if item.name not in LAUNCH_FILES:
            shutil.move(str(item), dest / item.name)
    return dest


def remove_if_unused(run_dir: Path, stop_at: Path) -> None:
    """Remove a run directory that holds only this launch's Hydra records (a run refused before it
    started), and the parents it leaves empty, up to `stop_at`. A directory with anything else is kept."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or has_results(run_dir):
        return
    launches = list((run_dir / ".hydra").glob("*")) if (run_dir / ".hydra").is_dir() else []
    if len(launches) > 1 or (run_dir / "previous").exists() or (run_dir / LOCK).exists():
        return  # earlier launches left their records, or another process works here: keep them
    shutil.rmtree(run_dir, ignore_errors=True)
    parent, stop_at = run_dir.parent, Path(stop_at).resolve()
    while parent.resolve() != stop_at and stop_at in parent.resolve().parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
