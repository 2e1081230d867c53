"""Run the plan's runs on this machine: one `python -m gcnn_study.train` process per run, `jobs` at once, within the
budget, packed into the memory, and the cores of the last run handed to it.

- The budget: after `budget_s` no run starts; a run starts only when it fits what is left, or at least its next
  epoch does (`run_plan.startable`); it then trains the epochs that fit and stops in order at the deadline
  (`trainer.stop_at`, exit gcnn_study.run.stopping.PAUSED_EXIT), and the same command resumes it.
- The memory (`memory_gib`): a run starts beside the runs under way only when their projected peak memories
  together fit (a group SegNet at 256² alone is projected at 13-25 GiB: two do not fit side by side on 24 GiB);
  otherwise a later run that fits may start, and it waits for one to end. A run alone always starts.
- The cores (`threads`: trainer.num_threads of every run): a run that starts with none under way and none left
  that could start beside it gets the cores of every job (`jobs` × `threads` threads). A run left alone while it
  runs (the runs beside it have ended; none is left to start, or none until it ends, for the memory) is asked to
  stop after its epoch under way (gcnn_study.run.stopping.PAUSE_SIGNAL) and is relaunched at once on them, from its
  checkpoint. The thread count is a resource, not a setting that defines the run (gcnn_study.run.identity.IGNORED),
  so it is the same run, and its record says which epochs ran on which count (`launches`).

Parallel runs use joblib directly (threads that each wait on one subprocess), not `hydra/launcher=joblib`: a Hydra
multirun is one cartesian sweep of one experiment and launches all its jobs at once, so it can keep neither the
seed-major order across tables nor a start-time budget per run.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from gcnn_study.reproduce.plan import Run, machine_rates, project_run, startable
from gcnn_study.run.lock import holder
from gcnn_study.run.stopping import PAUSE_SIGNAL, PAUSED_EXIT

#: How often a launch looks whether its run is to be paused for the hand-over (seconds).
POLL_S = 2.0


def launch(run: Run, stop_at: float | None = None, threads: int | None = None, pause=None) -> int:
    """One training run in its own process; returns its exit code (PAUSED_EXIT: stopped at `stop_at`, or paused).
    `threads`: its trainer.num_threads instead of the one in its overrides (Hydra takes the last value). `pause`
    (a threading.Event): once it is set, the run is sent PAUSE_SIGNAL, as soon as it listens for it (it holds
    its run directory's lock, which it takes after its handler is installed; before that the signal would end it)."""
    deadline = [f"trainer.stop_at={stop_at:.0f}"] if stop_at is not None else []
    cores = [f"trainer.num_threads={threads}"] if threads else []
    process = subprocess.Popen([sys.executable, "-m", "gcnn_study.train", *run.overrides, *deadline, *cores])
    asked = False
    while True:
        try:
            return process.wait(timeout=None if pause is None or asked else POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if pause.is_set() and (holder(run.run_dir) or {}).get("pid") == process.pid:
            process.send_signal(PAUSE_SIGNAL)
            asked = True


def execute(
    runs: list[Run],
    budget_s: float | None,
    jobs: int = 1,
    start: float | None = None,
    launch=launch,
    project=None,
    rates: dict[str, float] | None = None,
    memory_gib: float | None = None,
    threads: int | None = None,
    project_alone=None,
) -> dict[str, list[Run]]:
    """Launch the unfinished runs in list order, `jobs` at a time, within `budget_s` (from `start`), in `memory_gib`,
    handing the cores of every job to a run alone (see the module's docstring). `project(run)` gives a Projection
    (by default from `rates`); `project_alone(run)` the Projection of a run on `jobs` × `threads` threads (None
    when they were not measured), which the line of a run that starts alone gives. Returns the runs skipped (as
    finished), done, paused, failed and not started."""
    outcome = {"skipped": [], "done": [], "paused": [], "failed": [], "not_started": []}
    changed = threading.Condition()  # a run started or ended
    running: dict[Run, float] = {}  # the runs under way and their projected memory
    given: dict[Run, int | None] = {}  # the runs under way and the thread count they were given (None: their own)
    pauses: dict[Run, threading.Event] = {}  # the runs under way that may be handed the cores: set to pause them
    finished = [r.finished for r in runs]
    start_wall = time.time() - (time.monotonic() - start if start is not None else 0.0)
    deadline = None if budget_s is None else start_wall + budget_s  # wall clock: the trainer compares with it
    todo = [r for r, f in zip(runs, finished) if not f]
    outcome["skipped"] = [r for r, f in zip(runs, finished) if f]
    for r in outcome["skipped"]:
        print(f"[reproduce] skip {r}: finished with these settings", flush=True)
    queue = list(enumerate(todo))
    wait = object()  # take(): a run could start once one under way has ended
    all_cores = jobs * threads if threads and jobs > 1 else None

    def take():
        """The next run that can start now, its memory and whether it will be alone (under the lock); `wait` when
        the only runs that fit the time left do not fit the memory beside the runs under way; None when no run in
        the queue can start."""
        if deadline is None and (memory_gib is None or jobs == 1):  # nothing to project
            alone = not running and len(queue) == 1
            return queue.pop(0), 0.0, alone
        left = None if deadline is None else deadline - time.time()
        candidates = startable([run for _, run in queue], left, project)
        blocked = False
        for k, run, p in candidates:
            if memory_gib is not None and running and sum(running.values()) + p.memory_gib > memory_gib:
                blocked = True
                continue
            # alone: no other run could start beside it, for the time or for the memory
            alone = not running and not any(
                q is not p and (memory_gib is None or p.memory_gib + q.memory_gib <= memory_gib)
                for _, _, q in candidates
            )
            if left is not None:
                on_all = project_alone(run) if alone and all_cores and project_alone is not None else None
                _say_projection(run, p, left, on_all, f"{jobs} x {threads}")
            return queue.pop(k), p.memory_gib, alone
        return wait if blocked else None

    def hand_the_cores_to_the_last() -> None:
        """(Under the lock, when this worker has nothing left to start, or nothing until a run under way ends.)
        One run left under way on fewer threads than every job's: ask it to pause after its epoch under way; its
        worker relaunches it on all of them."""
        if all_cores and len(running) == 1:
            (run,) = running
            if (given[run] or threads) < all_cores and not pauses[run].is_set():
                pauses[run].set()
                print(
                    f"[reproduce] {run} is now alone: it pauses after its epoch under way and resumes on {jobs} x "
                    f"{threads} threads",
                    flush=True,
                )

    def train(run: Run, stop_at: float | None, cores: int | None, pause: threading.Event) -> int:
        """Launch `run`; when it was paused to be handed the cores, relaunch it on them from its checkpoint (when
        its next epoch still fits before the deadline)."""
        code = launch(run, **_given(stop_at, cores), **({"pause": pause} if all_cores and cores != all_cores else {}))
        if code == PAUSED_EXIT and pause.is_set():
            if stop_at is None or project(run).next_epoch <= stop_at - time.time():
                with changed:
                    given[run] = all_cores
                print(f"[reproduce] resume {run} on {jobs} x {threads} threads", flush=True)
                code = launch(run, **_given(stop_at, all_cores))
        return code

    def worker() -> None:
        while True:
            with changed:  # the projection and the start happen in list order
                while True:
                    if not queue:
                        hand_the_cores_to_the_last()
                        return
                    if (chosen := take()) is not wait:
                        break
                    hand_the_cores_to_the_last()  # the runs left wait for its memory: its cores are idle too
                    changed.wait()
                if chosen is None:
                    outcome["not_started"] += [r for _, r in queue]
                    queue.clear()
                    changed.notify_all()
                    hand_the_cores_to_the_last()
                    return
                (i, run), memory, alone = chosen
                cores, pause = all_cores if alone else None, threading.Event()
                running[run], given[run], pauses[run] = memory, cores, pause
                said = f" (alone: {jobs} x {threads} threads)" if cores else ""
                print(f"[reproduce] start {i + 1}/{len(todo)}: {run}{said}", flush=True)
            code = train(run, deadline, cores, pause)
            with changed:
                del running[run], given[run], pauses[run]
                changed.notify_all()
                _file(outcome, run, code)

    if project is None:
        rates = machine_rates(jobs=jobs) if rates is None else rates
        project = lambda run: project_run(run, rates)  # noqa: E731
    if jobs <= 1:
        worker()
    else:
        from joblib import Parallel, delayed

        # `jobs` threads, each waiting on one training process at a time, all taking runs from the one list.
        Parallel(n_jobs=jobs, backend="threading")(delayed(worker)() for _ in range(jobs))
    return outcome


def _given(stop_at: float | None, threads: int | None) -> dict:
    """The keyword arguments of `launch` for a deadline and a thread count (none for None)."""
    return ({"stop_at": stop_at} if stop_at is not None else {}) | ({"threads": threads} if threads else {})


def _say_projection(run: Run, p, left: float, on_all, cores: str) -> None:
    """The line a run starts with under a budget: its projection against the time left; `on_all`: its projection
    on every core (`cores`: "jobs x threads"), when it starts alone and its model was measured there."""
    shown, on = (on_all, f" on {cores} threads") if on_all is not None else (p, "")
    fits = "fits" if shown.total <= left else f"only its next epochs fit ({shown.next_epoch / 60:.0f} min each)"
    print(
        f"[reproduce] {run}: projected {shown.total / 3600:.2f} h{on} ({shown.source}), {left / 3600:.2f} h left: "
        f"{fits}",
        flush=True,
    )


def _file(outcome: dict[str, list[Run]], run: Run, code: int) -> None:
    """File a run that ended with exit status `code` under done, paused or failed, and say so."""
    if code == 0 and run.finished:
        outcome["done"].append(run)
    elif code == PAUSED_EXIT:
        outcome["paused"].append(run)
        print(f"[reproduce] paused {run} at the deadline; the same command resumes it", flush=True)
    else:
        outcome["failed"].append(run)
        print(f"[reproduce] FAILED {run} (exit {code}); see {run.run_dir}/train.log", flush=True)
