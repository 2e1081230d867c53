"""A run directory and what it holds: identity, one process at a time, records, atomic writes, checkpoints,
archiving.

Every run owns `<results>/runs/<experiment>/<run>/seed=<seed>/`. The directory belongs to one resolved
config (`config.yaml`): a finished run is skipped, and a checkpoint resumed, only when the requested config
equals the stored one on every setting that can change a result. The settings that cannot are listed once,
in `IGNORED`; the aggregator uses the same list (plus the seed) to decide which runs may share a table row.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

# Settings that do not define a run: where files live, how progress is shown and logged, when it must pause (a
# deadline only splits the same epochs over several launches), whether to redo it, and how many CPU threads it may
# use. The thread count is a resource, like the machine, and like the machine it CAN change the numbers (it changes
# the order of float sums): it stays out of the identity so that a paused run resumes on the cores it is given, and
# each record's `launches` and machine key say which epochs ran on which count (docs/runs.md). Frozen: a change
# here changes every settings_id, so every committed record would read as inconsistent.
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
#: Exit status of a training run stopped at its deadline (trainer.stop_at) with epochs left: its checkpoint
#: resumes it. The trainer exits with it and `make reproduce` reads it.
PAUSED_EXIT = 75
#: What a finished run leaves to be kept (git keeps these under results/full/runs/, .gitignore lists them; not its
#: checkpoint): its record, its epochs, its settings, its data, and what its model showed at the end: its
#: equivariance, each test image's result (the paired tests' input) and the arrays Figures 1-3 draw.
RECORDS = (
    "metrics.json",
    "history.csv",
    "config.yaml",
    "data_info.json",
    "equivariance.csv",
    "per_image.csv",
    "figures.npz",
)
#: The record of the arrays Figures 1-3 draw (gcnn_study.report.figures.maps.figure_arrays).
FIGURE_ARRAYS = "figures.npz"
#: The arrays of figures.npz stay under this many bytes (a few test images at 256², int8 maps, bit masks).
FIGURE_ARRAYS_MAX_BYTES = 1_000_000
#: The lock of a run directory while a process works in it (RunLock).
LOCK = "run.lock"
#: A request from `make reproduce` to the run under way in a directory: train the next epochs on more threads
#: (the runs beside it have ended). The trainer takes it between epochs (`request_threads`, `take_thread_request`).
THREADS_REQUEST = "num_threads.request"
# Files of a run that are records of launches (and the lock), not results: they stay when a run is archived or
# refused.
LAUNCH_FILES = (".hydra", "train.log", "previous", LOCK, THREADS_REQUEST)
log = logging.getLogger(__name__)


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


# Settings added after runs were first recorded, each with the value every earlier run trained with: a setting
# absent from an older config.yaml and this value are the same run, so adding a key with its old behaviour as the
# default changes no committed record's identity. A key is listed here in the commit that adds it.
ADDED: dict[str, object] = {
    "model.init": "fan_in",  # the notebooks' init became an option (and the SegNets' default)
    "model.head": "conv1x1",  # the SegNets' output block: the notebooks' became the default
}


# Modules moved after runs were first recorded (the study left the library's package for its own): a `_target_`
# under its old name and under its new name are the same run. Identities are computed on the old names, so no
# committed record's identity changes (`settings`); a stored config is read with the new ones, so it builds
# (`with_added`). A prefix is listed here in the commit that moves its modules.
MOVED: dict[str, str] = {"gcnn.data.": "gcnn_study.data."}


def _renamed(value, moves: dict[str, str]):
    """`value` with its leading old prefix of `moves` replaced by the new one (any other value unchanged)."""
    if isinstance(value, str):
        for old, new in moves.items():
            if value.startswith(old):
                return new + value[len(old) :]
    return value


def with_added(cfg: DictConfig) -> DictConfig:
    """A stored config (config.yaml) with each ADDED key it lacks set to the value its run trained with, where the
    node takes that key (its `_target_`'s signature names it: model.head only for a SegNet): how a config.yaml
    written before a key existed builds the model it trained, not the one the key's new default builds."""
    import inspect

    from hydra.utils import get_method

    cfg = cfg.copy()
    for node in (cfg, *(v for v in cfg.values() if isinstance(v, DictConfig))):  # a `_target_` of an old module name
        if isinstance(node.get("_target_"), str):
            node["_target_"] = _renamed(node["_target_"], MOVED)
    for key, value in ADDED.items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if not isinstance(node, DictConfig) or leaf in node or "_target_" not in node:
            continue
        try:
            takes = leaf in inspect.signature(get_method(node["_target_"])).parameters
        except Exception:  # a target that cannot be imported: the caller's instantiate says so
            takes = False
        if takes:
            with open_dict(node):
                node[leaf] = value
    return cfg


def settings(cfg, ignored=IGNORED) -> dict:
    """The settings that define a run (`flat_settings`), with each ADDED key left out where it holds the value that
    runs recorded before it ran with, and each MOVED `_target_` under its old name: what a run's identity is
    computed from and compared on."""
    flat = flat_settings(cfg, ignored)
    old_names = {new: old for old, new in MOVED.items()}
    flat = {k: _renamed(v, old_names) if k.endswith("._target_") else v for k, v in flat.items()}
    return {k: v for k, v in flat.items() if not (k in ADDED and v == ADDED[k])}


def settings_id(cfg) -> str:
    """The identity of a run's settings: a digest of `settings(cfg)` (the seed included). metrics.json and the
    checkpoint carry it, so a record proves which settings trained it, whatever config.yaml says later."""
    text = json.dumps(settings(cfg), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(stored: dict, requested: dict) -> list[str]:
    """`key: old -> new` for every setting that differs (absent settings show as <absent>)."""
    absent = "<absent>"
    keys = sorted(set(stored) | set(requested))
    return [
        f"{k}: {stored.get(k, absent)} -> {requested.get(k, absent)}"
        for k in keys
        if stored.get(k, absent) != requested.get(k, absent)
    ]


def check_identity(run_dir: Path, cfg: DictConfig, proof: str | None = None, proved_by: str = "") -> None:
    """Raise RunDirError unless the run stored in `run_dir` was made with the settings of `cfg`. `proof` is the
    settings_id that the run's own record (metrics.json, or the checkpoint) carries: the run's identity is that,
    and a config.yaml that disagrees with it has drifted, so the directory is refused as inconsistent."""
    stored = load_config(run_dir)
    if proof is not None and settings_id(stored) != proof:
        raise RunDirError(
            f"{run_dir / 'config.yaml'} is not the settings its {proved_by} was trained with (settings_id "
            f"{settings_id(stored)}, the record's {proof}): the record is inconsistent; {FORCE}"
        )
    if proof is not None and settings_id(cfg) == proof:
        return
    diff = differences(settings(stored), settings(cfg))
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
        raise RunDirError(f"{path} is missing, so the run's settings are unknown: {FORCE}") from None
    except Exception as err:
        raise RunDirError(f"{path} is unreadable ({type(err).__name__}): {FORCE}") from None


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


# ----------------------------------------------------------------------------------------------- state
def has_results(run_dir: Path) -> bool:
    """True when the directory holds anything besides the records of launches (a run that failed before it
    wrote its config, e.g. for missing data, holds only failed.json: the next launch simply starts it)."""
    records = (*LAUNCH_FILES, "failed.json")
    return Path(run_dir).is_dir() and any(p.name not in records for p in Path(run_dir).iterdir())


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


# ----------------------------------------------------------------------------------------------- lock
#: How often a running process touches its lock, and after how long without a touch a lock is presumed dead.
HEARTBEAT_S = 30
STALE_AFTER_S = 600


class RunLock:
    """One process at a time in a run directory, for as long as it runs (`with RunLock(run_dir): ...`).

    `run.lock` is created with O_CREAT | O_EXCL, which is atomic on a local disk and on NFS v3 and later, and
    holds the holder's host, pid, start time and a random token; a daemon thread touches it every HEARTBEAT_S
    seconds (its modification time is the heartbeat). A second process finds it and refuses in one line naming
    the holder. A lock is stale, and is taken over with a log line, when its holder ran on this host and its pid
    is gone (a killed run), or when its heartbeat is older than STALE_AFTER_S (a holder on another host: a job
    requeued on another node, a lost node; the hosts' clocks must agree within minutes).
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        self.info["token"] = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self._create():
            holder = _read_lock(self.path)
            if holder is None:
                continue  # released between our two calls: try again
            stale = _stale(holder)
            if not stale:
                raise RunDirError(
                    f"{self.path.parent} is in use by {_holder(holder)}: wait until it ends (a second process "
                    f"would mix its files with that run's); a lock whose holder died is taken over on the next "
                    f"launch, at once on the same host, after {STALE_AFTER_S // 60} min without heartbeat from "
                    f"another host ({self.path})"
                )
            self._take_over(holder, stale)
        self._beat = threading.Thread(target=self._heartbeat, name="gcnn-run-lock", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        if (_read_lock(self.path) or {}).get("token") == self.info["token"]:  # never remove a lock taken over
            self.path.unlink(missing_ok=True)

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.info) + "\n")
        return True

    def _take_over(self, holder: dict, why: str) -> None:
        """Move the stale lock aside and delete it; only the process whose rename succeeds does, and if a fresh
        lock was moved by mistake (created between our read and our rename) it is put back."""
        aside = self.path.with_name(f"{LOCK}.{self.info['token']}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another process moved it first; the caller tries to create the lock again
        moved = _read_lock(aside) or {}
        if moved.get("token") != holder.get("token"):
            try:
                os.link(aside, self.path)  # unlike rename, never replaces a lock created meanwhile
            except OSError:
                pass
            aside.unlink(missing_ok=True)
            return
        aside.unlink(missing_ok=True)
        log.warning("%s: took over the stale lock of %s (%s)", self.path.parent, _holder(holder), why)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:  # a shared filesystem that is briefly away: the next beat tries again
                pass


def _read_lock(path: Path) -> dict | None:
    """The lock's holder ({} when the file is there but unreadable, e.g. being written), None when absent."""
    try:
        age = time.time() - path.stat().st_mtime
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {"age": 0.0}
    try:
        holder = json.loads(text)
    except ValueError:
        holder = {}
    return {**holder, "age": age} if isinstance(holder, dict) else {"age": age}


def _stale(holder: dict) -> str | None:
    """Why the lock of `holder` is stale, or None when its holder may still be running."""
    if holder["age"] > STALE_AFTER_S:
        return f"no heartbeat for {holder['age'] / 60:.0f} min"
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return "its process is gone"
        except OSError:  # exists, but belongs to someone else
            pass
    return None


def _holder(holder: dict) -> str:
    if "pid" not in holder:
        return "another process (its lock file is being written)"
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(holder.get("started", 0)))
    return f"pid {holder['pid']} on host {holder.get('host', '?')} (since {since}, heartbeat {holder['age']:.0f} s ago)"


# ----------------------------------------------------------------------------------------------- writes
def request_threads(run_dir: Path, threads: int) -> None:
    """Ask the training process that this process launched in `run_dir` to train its next epochs on `threads`
    threads. The request names its writer, so a request left by an earlier `make reproduce` is never taken."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)  # a process just launched may not have made it yet
    tmp = run_dir.parent / f".{run_dir.name}.{THREADS_REQUEST}.tmp"  # outside: the trainer may be looking inside
    tmp.write_text(json.dumps({"num_threads": int(threads), "from_pid": os.getpid()}))
    os.replace(tmp, run_dir / THREADS_REQUEST)


def take_thread_request(run_dir: Path) -> int | None:
    """The thread count asked of this process by its parent (`request_threads`), once; None when there is none.
    A request from another process (an earlier launch's) or an unreadable one is removed and ignored."""
    path = Path(run_dir) / THREADS_REQUEST
    if not path.exists():
        return None
    try:
        request = json.loads(path.read_text())
        threads = int(request["num_threads"]) if request.get("from_pid") == os.getppid() else None
    except (OSError, ValueError, KeyError, TypeError):
        threads = None
    path.unlink(missing_ok=True)
    return threads if threads and threads >= 1 else None


def record_id(run_dir) -> str:
    """A short digest of the run's metrics.json: which record a measurement was made from. A run trained again
    writes another record (times, provenance), so a measurement of the old model no longer matches it."""
    return hashlib.sha256((Path(run_dir) / "metrics.json").read_bytes()).hexdigest()[:12]


def write_json(path: Path, obj) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def write_config(path: Path, cfg: DictConfig) -> None:
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
    import torch

    tmp = Path(str(path) + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_rows(path: Path, rows: list[dict]) -> None:
    """A CSV of `rows` (history.csv, equivariance.csv), written atomically like every record."""
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["epoch"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
