"""One process at a time in a run directory: `run.lock`, its heartbeat, and taking over the lock of a dead holder."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from gcnn_study.run.rundir import LOCK, RunDirError

log = logging.getLogger(__name__)

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


def holder(run_dir: Path) -> dict | None:
    """Who holds the lock of `run_dir` now ({"host", "pid", "started", "token", "age"}), None when nobody does."""
    return _read_lock(Path(run_dir) / LOCK)


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
