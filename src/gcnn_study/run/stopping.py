"""How a training run stops in order, its finished epochs saved: at its deadline, when its launcher asks, on Ctrl-C.

- `trainer.stop_at` (a Unix time): an epoch projected to end after it does not start; the run exits PAUSED_EXIT.
- PAUSE_SIGNAL (SIGUSR1) moves that deadline to now: the epoch under way finishes and is saved, the next does not
  start, and the run exits PAUSED_EXIT. `make reproduce` sends it to hand a run the cores its neighbours freed (it
  relaunches the run on them: gcnn_study.reproduce.scheduler); a cluster sends it before a time limit (`sbatch
  --signal=USR1@600`).
- Ctrl-C, and SIGTERM (a scheduler's time limit, `kill`), stop the run at once: the epoch under way is lost.
In each case the same command resumes the run from its checkpoint.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from gcnn_study.reproduce import projection

#: Exit status of a training run stopped at its deadline (trainer.stop_at) or by PAUSE_SIGNAL with epochs left
#: (EX_TEMPFAIL: try again later): its checkpoint resumes it. The trainer exits with it and `make reproduce` reads it.
PAUSED_EXIT = 75
#: The signal that asks a training run to stop after the epoch under way (the deadline moved to now).
PAUSE_SIGNAL = signal.SIGUSR1
_pause_asked = threading.Event()  # PAUSE_SIGNAL came during this launch


class Paused(Exception):
    """The next epoch would end after trainer.stop_at, or the launcher asked: the run stops with its last epoch
    saved."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, or SIGTERM (a cluster's time limit): the run stops with its finished epochs saved."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, like Ctrl-C's KeyboardInterrupt."""


@contextmanager
def stop_signals():
    """SIGTERM stops the run as Ctrl-C does; PAUSE_SIGNAL asks it to pause before its next epoch. Each only where
    it still has its default action in the main thread: a launcher that handles it itself (submitit: requeue)
    keeps its handler."""
    _pause_asked.clear()
    handlers = {signal.SIGTERM: _terminate, PAUSE_SIGNAL: _ask_pause}
    if threading.current_thread() is not threading.main_thread():
        handlers = {}
    installed = [s for s in handlers if signal.getsignal(s) == signal.SIG_DFL]
    for signum in installed:
        signal.signal(signum, handlers[signum])
    try:
        yield
    finally:
        for signum in installed:
            signal.signal(signum, signal.SIG_DFL)


def _terminate(signum, frame):
    raise Terminated()


def _ask_pause(signum, frame):
    _pause_asked.set()


def interrupted(err: KeyboardInterrupt, run_dir: Path, saved: int, epochs: int) -> Interrupted:
    """The one-line Interrupted of a run stopped by Ctrl-C or SIGTERM (`err`) with `saved` epochs saved."""
    signum = signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT
    where = f"at epoch {saved + 1}/{epochs}" if saved < epochs else "in its final evaluation"
    kept = (
        f"epochs 1-{saved} are saved and the same command resumes from them"
        if saved
        else ("no epoch was finished; the same command starts it again")
    )
    return Interrupted(f"{run_dir} stopped by {signal.Signals(signum).name} {where}: {kept}", signum)


def check_deadline(stop_at, history: list[dict], epoch: int, epochs: int, data, run_dir: Path) -> None:
    """Raise Paused before epoch `epoch` when the launcher asked (PAUSE_SIGNAL), or when the epoch (and, for the
    last one, the final evaluation) is projected to end after `stop_at`, from the mean time of the epochs in
    `history`. The first epoch of a run always starts before a deadline: whoever set it projected it
    (gcnn_study.reproduce.scheduler)."""
    if _pause_asked.is_set():
        kept = f"epochs 1-{epoch} are saved" if epoch else "no epoch was finished"
        raise Paused(
            f"{run_dir} stopped before epoch {epoch + 1}/{epochs} as its launcher asked "
            f"({signal.Signals(PAUSE_SIGNAL).name}); {kept} and the same command resumes from them"
        )
    per_epoch = projection.epoch_seconds(history)
    if stop_at is None or per_epoch is None:
        return
    need = per_epoch
    if epoch == epochs - 1:
        evaluated = sum(len(x) for x, _ in data.evals.values())
        evaluated += projection.equivariance_images(data.task, len(data.evals["test"][0]))
        need += projection.eval_seconds(history, len(data.train[0]), evaluated)
    if time.time() + need > float(stop_at):
        raise Paused(
            f"{run_dir} stopped before epoch {epoch + 1}/{epochs} (about {need / 60:.0f} min) to end before "
            f"trainer.stop_at; epochs 1-{epoch} are saved and the same command resumes from them"
        )
