"""A run directory and what it holds: identity, atomic writes, checkpoints, archiving.

Every run owns `<results>/runs/<experiment>/<run>/seed=<seed>/`. The directory belongs to one resolved
config (`config.yaml`): a finished run is skipped, and a checkpoint resumed, only when the requested config
equals the stored one on every setting that can change a result. The settings that cannot are listed once,
in `IGNORED`; the aggregator uses the same list (plus the seed) to decide which runs may share a table row.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# Settings that do not define a run: where files live, how progress is shown and logged, how many CPU
# threads it may use (a resource, like the machine: the machine is recorded in provenance instead), when it
# must pause (a deadline only splits the same epochs over several launches), and whether to redo it.
IGNORED = (
    "paths",
    "run_dir",
    "dataset.data_dir",
    "logger",
    "trainer.force",
    "trainer.progress",
    "trainer.log_every",
    "trainer.num_threads",
    "trainer.stop_at",
    "hydra",
)
# Files of a run that are records of launches, not results: they stay when a run is archived or refused.
LAUNCH_FILES = (".hydra", "train.log", "previous")


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked; the one-line message says why and what to type."""


# ----------------------------------------------------------------------------------------------- identity
def flat_settings(cfg, ignored=IGNORED) -> dict:
    """The resolved config as {"trainer.epochs": 30, ...}, without the ignored settings."""
    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    out: dict = {}

    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if any(path == i or path.startswith(i + ".") for i in ignored):
                continue
            if isinstance(value, dict):
                walk(value, path + ".")
            else:
                out[path] = value

    walk(tree, "")
    return out


def differences(stored: dict, requested: dict) -> list[str]:
    """`key: old -> new` for every setting that differs (absent settings show as <absent>)."""
    absent = "<absent>"
    keys = sorted(set(stored) | set(requested))
    return [
        f"{k}: {stored.get(k, absent)} -> {requested.get(k, absent)}"
        for k in keys
        if stored.get(k, absent) != requested.get(k, absent)
    ]


def check_identity(run_dir: Path, cfg: DictConfig) -> None:
    """Raise RunDirError unless the run stored in `run_dir` was made with the settings of `cfg`."""
    stored = load_config(run_dir)
    diff = differences(flat_settings(stored), flat_settings(cfg))
    if diff:
        shown = "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
        raise RunDirError(
            f"{run_dir} holds a run with other settings ({shown}): trainer.force=true archives it and starts "
            f"again, or choose another paths.results_dir"
        )


def load_config(run_dir: Path) -> dict:
    path = Path(run_dir) / "config.yaml"
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing, so the run's settings are unknown: {_FORCE}") from None
    except Exception as err:
        raise RunDirError(f"{path} is unreadable ({type(err).__name__}): {_FORCE}") from None


_FORCE = "trainer.force=true archives the run and starts it again"


# ----------------------------------------------------------------------------------------------- state
def has_results(run_dir: Path) -> bool:
    """True when the directory holds anything besides the records of launches (a run that failed before it
    wrote its config, e.g. for missing data, holds only failed.json: the next launch simply starts it)."""
    records = (*LAUNCH_FILES, "failed.json")
    return Path(run_dir).is_dir() and any(p.name not in records for p in Path(run_dir).iterdir())


def read_metrics(run_dir: Path) -> dict | None:
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunDirError(f"{path} is unreadable ({type(err).__name__}): {_FORCE}") from None


def load_checkpoint(run_dir: Path, device) -> dict | None:
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
        raise RunDirError(f"{path} is unreadable ({type(err).__name__}): {_FORCE}") from None


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
    if len(launches) > 1 or (run_dir / "previous").exists():
        return  # earlier launches left their records: keep them
    shutil.rmtree(run_dir, ignore_errors=True)
    parent, stop_at = run_dir.parent, Path(stop_at).resolve()
    while parent.resolve() != stop_at and stop_at in parent.resolve().parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


# ----------------------------------------------------------------------------------------------- writes
def write_json(path: Path, obj) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def write_config(path: Path, cfg: DictConfig) -> None:
    tmp = Path(str(path) + ".tmp")
    OmegaConf.save(cfg, tmp, resolve=True)
    os.replace(tmp, path)


def save_checkpoint(obj, path: Path) -> None:
    import torch

    tmp = Path(str(path) + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_history(path: Path, history: list[dict]) -> None:
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0].keys()) if history else ["epoch"])
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)
