"""Reproduce all four tables at the study's protocol as written, and the P6 ablation on the same protocols:
`python -m gcnn_study.reproduce` (or `make reproduce`).

1. The run list, seed-major: for seed in seeds, for table in 1..4 and then the two P6 ablation tables, for model
   in the table's rows. One pass over the first seed is a complete first version of every table; the next
   seeds add the error bars.
   Table 1 trains on `dataset=mnist`, Table 2 on `dataset=rot_mnist` (the official 60k / 10k), Tables 3-4 on
   `ph2` at full size; Table 3's "+" rows add `dataset.augment=true` (`gcnn_study.layout`).
2. Runs finished with the same settings are skipped (records kept in git count as finished); a record made
   with other settings is handed to the trainer, which refuses it in one line (`gcnn_study.rundir`).
3. The others are launched in list order, one `python -m gcnn_study.train <overrides>` process each (the same
   interpreter as this one, so `make reproduce PY=python3` carries through), `--jobs` of them at once.
   Before each new run the budget is checked: after `--budget-min` minutes no new run starts; the runs under
   way finish, and the command exits 0 saying how many runs are done and that the same command continues.
4. The aggregator writes `<results-dir>/table{1..4}.md/.csv` and `ablation_p6_table{1,2}.md/.csv` from whatever
   is finished.

Parallel runs use joblib directly (threads that each wait on one subprocess), not `hydra/launcher=joblib`:
a Hydra multirun is one cartesian sweep of one experiment and launches all its jobs at once, so it can keep
neither the seed-major order across tables nor a start-time budget per run.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gcnn_study import allocator, layout, projection, rundir
from gcnn_study.specs import REPRODUCED, TABLES, experiment_of, parse_seeds

# REPRODUCED: every table of gcnn_study.specs that is trained (the study's four, then the P6 ablation; not the kept
# 1×1-head records), each at the protocol as written (experiment=<table>_written where the text and the notebooks
# differ). No override is added here.
PAUSED_EXIT = rundir.PAUSED_EXIT


class UsageError(ValueError):
    """Bad input; printed as one line."""


@dataclass(frozen=True)
class Run:
    table: str
    name: str  # the run name of the tables: the model, "+" for augmented training
    seed: int
    overrides: tuple[str, ...]
    run_dir: Path

    @property
    def finished(self) -> bool:
        """Finished with these settings: a record made with other settings, or one that is not a finished run's
        (a diverged run's NaN, a damaged file), is not (the trainer refuses it in one line)."""
        try:
            record = rundir.read_metrics(self.run_dir)
            if record is None:
                return False
            rundir.check_identity(self.run_dir, self.config(), record.get("settings_id"), "metrics.json")
            return True
        except rundir.RunDirError:
            return False

    def config(self):
        """The config the trainer will compose for this run (Hydra's compose API on conf/)."""
        from gcnn_study import schema

        return schema.compose(self.overrides)

    def __str__(self) -> str:
        return f"{self.table} {self.name} seed={self.seed}"

    def history(self) -> list[dict]:
        """The epochs this run has finished so far (its checkpoint), [] when none."""
        if not (self.run_dir / "checkpoint.pt").exists():
            return []
        try:
            return list(rundir.load_checkpoint(self.run_dir, "cpu")["history"])
        except Exception:  # an unreadable checkpoint is the trainer's to report; project from scratch
            return []

    def sibling_history(self) -> list[dict]:
        """Epochs of the same experiment and model under another seed (same machine, same load): the best
        estimate of this run's epoch time before it has one of its own."""
        import csv

        here = layout.parse(self.run_dir)
        for other in layout.find(here.results_dir, here.experiment, here.run):
            if other != here and (other.path / "history.csv").exists():
                with open(other.path / "history.csv", newline="") as f:
                    return list(csv.DictReader(f))
        return []


@dataclass(frozen=True)
class Projection:
    """A run's projected seconds: to its end, and for its next epoch (with the final evaluation if last)."""

    total: float
    next_epoch: float
    source: str  # "own epochs", "another seed", "bench", "default rate"
    memory_gib: float = 0.0  # peak memory of its training process (gcnn_study.projection.training_memory_gib)
    epochs_done: int = 0  # epochs in its checkpoint: a paused run resumes after them
    epochs: int = 0  # epochs of the protocol


def project_run(run: Run, rates: dict[str, float], done: list[dict] | None = None) -> Projection:
    """How long `run` still needs, from its own epochs, another seed's, or its FLOP and the measured rate."""
    cfg = run.config()
    work = projection.work_of(cfg)
    done = run.history() if done is None else done
    left = max(work.epochs - len(done), 0)
    measured, source = done, "own epochs"
    if not projection.epoch_seconds(measured):
        measured, source = run.sibling_history(), "another seed"
    per_epoch = projection.epoch_seconds(measured)
    if per_epoch is None:
        gflops, source = projection.rate_for(str(cfg.model.name), rates)
        per_epoch = work.gflop_per_image * work.train_images / gflops
    final = projection.final_eval_seconds(per_epoch, work.train_images, work.eval_images)
    memory = projection.training_memory_gib(cfg, allocator.keeps_freed_memory(allocator.for_training()))
    next_epoch = per_epoch + (final if left == 1 else 0.0)
    return Projection(per_epoch * left + final, next_epoch, source, memory, len(done), work.epochs)


# ----------------------------------------------------------------------------------------------- 1. the plan
def plan(
    results_dir: Path,
    seeds: list[int],
    tables: list[str],
    models: list[str] | None = None,
    cls_args: list[str] = (),
    seg_args: list[str] = (),
    args: list[str] = (),
) -> list[Run]:
    """Every run of the reproduction, in plan order (seed-major; without a budget, the launch order)."""
    runs = []
    for seed in seeds:
        for table in tables:
            spec, experiment = TABLES[table], experiment_of(table, "written")
            task_args = seg_args if spec.task == "segmentation" else cls_args
            for row in spec.rows:
                if models and row.run not in models:
                    continue
                overrides = (
                    f"experiment={experiment}",
                    f"model={row.model}",
                    f"seed={seed}",
                    f"paths.results_dir={results_dir}",
                    *spec.overrides_of(row),
                    *task_args,
                    *args,
                )
                path = layout.run_dir(results_dir, experiment, row.run, seed)
                runs.append(Run(table, row.run, seed, overrides, path))
    return runs


def machine_rates(threads: int | None = None, jobs: int = 1, device: str | None = None) -> dict[str, float]:
    """GFLOP/s per model measured by `make bench-train` on the device the runs will use (`device`: "cpu" or
    "cuda"; by default CUDA when this machine has it), at `threads` threads with `jobs` runs at once ({} when it
    was not measured here)."""
    import torch

    from gcnn_study import provenance

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return projection.measured_rates(provenance.machine_key(provenance.collect(num_threads=threads), device), jobs)


def alone_projection(rates: dict[str, float]):
    """project_alone for execute(): a run's Projection from its model's rate in `rates` (measured on every core,
    one run at once), or None when its projection comes from measured epochs or its model was not measured there
    (the projection at one run's threads then stands)."""

    def project(run: Run) -> Projection | None:
        p = project_run(run, rates)
        return p if p.source == "bench" else None

    return project


def run_threads(args: list[str]) -> int | None:
    """The thread count the runs are given (trainer.num_threads in ARGS), None for torch's default."""
    values = [a.split("=", 1)[1] for a in args if a.startswith("trainer.num_threads=")]
    return int(values[-1]) if values and values[-1].isdigit() else None


def run_device(args: list[str]) -> str | None:
    """The device type the runs are given (trainer.device in ARGS), None for the trainer's default (auto)."""
    values = [a.split("=", 1)[1] for a in args if a.startswith("trainer.device=")]
    return values[-1].split(":")[0] if values and values[-1] != "auto" else None


# ----------------------------------------------------------------------------------------------- 2-3. launching
def launch(run: Run, stop_at: float | None = None, threads: int | None = None) -> int:
    """One training run in its own process; returns its exit code (PAUSED_EXIT: stopped at `stop_at`).
    `threads`: its trainer.num_threads instead of the one in its overrides (Hydra takes the last value)."""
    deadline = [f"trainer.stop_at={stop_at:.0f}"] if stop_at is not None else []
    cores = [f"trainer.num_threads={threads}"] if threads else []
    return subprocess.call([sys.executable, "-m", "gcnn_study.train", *run.overrides, *deadline, *cores])


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
    """Launch the unfinished runs in list order, `jobs` at a time, within `budget_s` (from `start`).

    With a budget, a run starts only when its projected time fits what is left, or, for a run longer than
    that, when at least its next epoch fits: it then trains the epochs that fit and stops in order at the
    deadline (`trainer.stop_at`), and the same command resumes it. Runs that fit whole start first, in list
    order; then the runs that can only advance, the one with the most time left first. A run that cannot even
    do one epoch waits for the next launch; a later, shorter run in the list may still start. `project(run)`
    gives a Projection.
    With `memory_gib`, a run starts beside the runs under way only when their projected peak memories together
    fit in it (D4SegNet, with the heap gcnn_study.allocator keeps, is projected at 22.5 GiB alone); otherwise a later
    run that fits may start, and it waits for one to end. A run alone always starts.
    With `threads` (trainer.num_threads of every run), a run that starts with none under way and none left that
    could start beside it (in the time left and in the memory) gets the cores of all `jobs`: `jobs` × `threads`
    threads (`launch(run, threads=n)`); and when the runs beside a run under way have ended and none is left to
    start, or none until it ends (the memory), it is asked to train its next epochs on them
    (gcnn_study.rundir.request_threads). The last long run of a reproduction would otherwise leave the
    other cores idle for hours; the thread count is a resource, not a setting that defines the run
    (gcnn_study.rundir.IGNORED), and the record says which epochs ran on which count (`launches`).
    `project_alone(run)`: the Projection of a run on those `jobs` × `threads` threads (None when they were not
    measured); the line a run alone starts with gives it, since `project` counts `threads` per run.
    """
    outcome = {"skipped": [], "done": [], "paused": [], "failed": [], "not_started": []}
    changed = threading.Condition()  # a run started or ended
    running: dict[Run, float] = {}  # the runs under way and their projected memory
    given: dict[Run, int | None] = {}  # the runs under way and the thread count they were given (None: their own)
    finished = [r.finished for r in runs]
    start_wall = time.time() - (time.monotonic() - start if start is not None else 0.0)
    deadline = None if budget_s is None else start_wall + budget_s  # wall clock: the trainer compares with it
    todo = [r for r, f in zip(runs, finished) if not f]
    outcome["skipped"] = [r for r, f in zip(runs, finished) if f]
    for r in outcome["skipped"]:
        print(f"[reproduce] skip {r}: finished with these settings", flush=True)
    queue = list(enumerate(todo))
    wait = object()  # take(): a run could start once one under way has ended

    def take():
        """The next run that can start now, its memory and whether it will be alone (under the lock); `wait` when
        the only runs that fit the time left do not fit the memory beside the runs under way; None when no run in
        the queue can start.
        A run that finishes before the deadline goes before one that can only advance: its record lands in git,
        while a paused run's epochs live only in this work tree's checkpoint. Of the runs that can only advance,
        the longest goes first: the longest run bounds how many stretches the reproduction still needs, and the
        shorter ones fill the stretches beside it (longest processing time first)."""
        if deadline is None and (memory_gib is None or jobs == 1):  # nothing to project
            alone = not running and len(queue) == 1
            return queue.pop(0), 0.0, alone
        left = None if deadline is None else deadline - time.time()
        whole, partial = [], []
        for k, (_, run) in enumerate(queue):
            p = project(run)
            if left is None or p.total <= left:
                whole.append((k, run, p))
            elif p.next_epoch <= left:
                partial.append((k, run, p))
        partial.sort(key=lambda item: -item[2].total)  # stable: equal times keep the list order
        blocked = False
        for k, run, p in whole + partial:
            if memory_gib is not None and running and sum(running.values()) + p.memory_gib > memory_gib:
                blocked = True
                continue
            # alone: no other run could start beside it, for the time or for the memory
            alone = not running and not any(
                q is not p and (memory_gib is None or p.memory_gib + q.memory_gib <= memory_gib)
                for _, _, q in whole + partial
            )
            if left is not None:
                shown, on = p, ""
                if alone and threads and jobs > 1 and project_alone is not None:
                    shown, on = (project_alone(run) or p), f" on {jobs} x {threads} threads"
                fits = (
                    "fits"
                    if shown.total <= left
                    else f"only its next epochs fit ({shown.next_epoch / 60:.0f} min each)"
                )
                print(
                    f"[reproduce] {run}: projected {shown.total / 3600:.2f} h{on if shown is not p else ''} "
                    f"({shown.source}), {left / 3600:.2f} h left: {fits}",
                    flush=True,
                )
            return queue.pop(k), p.memory_gib, alone
        return wait if blocked else None

    def give_the_cores_to_the_last() -> None:
        """(Under the lock, when this worker has nothing left to start, or nothing until a run under way ends.)
        One run left under way on fewer threads than every job's: ask it to train its next epochs on all of them."""
        if threads and jobs > 1 and len(running) == 1:
            (run,) = running
            if (given[run] or threads) < jobs * threads:
                rundir.request_threads(run.run_dir, jobs * threads)
                given[run] = jobs * threads
                print(f"[reproduce] {run} is now alone: asked to train on {jobs} x {threads} threads", flush=True)

    def worker() -> None:
        while True:
            with changed:  # the projection and the start happen in list order
                while True:
                    if not queue:
                        give_the_cores_to_the_last()
                        return
                    if (chosen := take()) is not wait:
                        break
                    give_the_cores_to_the_last()  # the runs left wait for its memory: its cores are idle too
                    changed.wait()
                if chosen is None:
                    outcome["not_started"] += [r for _, r in queue]
                    queue.clear()
                    changed.notify_all()
                    give_the_cores_to_the_last()
                    return
                (i, run), memory, alone = chosen
                running[run] = memory
                extra = {} if deadline is None else {"stop_at": deadline}
                if alone and threads and jobs > 1:
                    extra["threads"] = jobs * threads
                given[run] = extra.get("threads")
                cores = f" (alone: {jobs} x {threads} threads)" if "threads" in extra else ""
                print(f"[reproduce] start {i + 1}/{len(todo)}: {run}{cores}", flush=True)
            code = launch(run, **extra)
            with changed:
                del running[run], given[run]
                changed.notify_all()
                if code == 0 and run.finished:
                    outcome["done"].append(run)
                elif code == PAUSED_EXIT:
                    outcome["paused"].append(run)
                    print(f"[reproduce] paused {run} at the deadline; the same command resumes it", flush=True)
                else:
                    outcome["failed"].append(run)
                    print(f"[reproduce] FAILED {run} (exit {code}); see {run.run_dir}/train.log", flush=True)

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


def check_first_runs(runs: list[Run]) -> None:
    """Compose and check the first run of each table as the trainer will (Hydra's types, then the schemas' rules),
    so that a bad ARGS, CLS_ARGS or SEG_ARGS is one line before anything is launched, not a failure per run."""
    from gcnn_study import schema

    for table in dict.fromkeys(r.table for r in runs):
        first = next(r for r in runs if r.table == table)
        try:
            problems = schema.validate(first.config())
        except Exception as err:  # Hydra's composition errors: an unknown key or option, a wrong type
            problems = [schema.compose_problem(err)]
        if problems:
            raise UsageError(f"{first}: {problems[0]} (python -m gcnn_study.train {' '.join(first.overrides)})")


def dry_run(runs: list[Run], rates: dict[str, float]) -> None:
    """The run list in plan order with each run's projected hours, then the hours per table and seed."""
    hours = {}
    for i, run in enumerate(runs):
        if run.finished:
            state, h = "finished", 0.0
        else:
            p = project_run(run, rates)
            paused = f", paused at epoch {p.epochs_done}/{p.epochs}" if p.epochs_done else ""
            state, h = f"to run{paused}, {p.total / 3600:.2f} h ({p.source}), {p.memory_gib:.1f} GiB", p.total / 3600
        hours[(run.seed, run.table)] = hours.get((run.seed, run.table), 0.0) + h
        print(f"{i + 1:3d}  {run}  [{state}]  python -m gcnn_study.train {' '.join(run.overrides)}")
    print("\nprojected hours still to run, as run-hours (JOBS=n runs n at once, each at its measured rate):")
    for seed in sorted({s for s, _ in hours}):
        per_table = {t: h for (s, t), h in hours.items() if s == seed}
        cells = ", ".join(f"{t} {h:.1f} h" for t, h in per_table.items())
        print(f"  seed {seed}: {sum(per_table.values()):.1f} h  ({cells})")
    print(f"  in all: {sum(hours.values()):.1f} h")


# ----------------------------------------------------------------------------------------------- 4. the tables
def aggregate(results_dir: Path, tables: list[str], seeds: list[int], command: str) -> int:
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "gcnn_study.report.tables",
            *tables,
            "--results-dir",
            str(results_dir),
            "--seeds",
            ",".join(map(str, seeds)),
            "--command",
            command,
        ]
    )


# ----------------------------------------------------------------------------------------------- command line
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(message)


def parse(argv=None) -> argparse.Namespace:
    p = _Parser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", default="results/full", help="paths.results_dir of the runs (RESULTS)")
    p.add_argument("--seeds", default="0,1,2", help="SEEDS, e.g. 0,1,2")
    p.add_argument("--tables", default=",".join(REPRODUCED), help="TABLES, a subset of " + ", ".join(REPRODUCED))
    p.add_argument("--models", default="", help="MODELS: only these run names, e.g. cnn,segnet+ (default: all)")
    p.add_argument("--budget-min", default="", help="BUDGET_MIN: no new run starts after this many minutes")
    p.add_argument("--jobs", default="1", help="JOBS: runs at once")
    p.add_argument("--args", default="", help="ARGS: Hydra overrides appended to every run")
    p.add_argument("--cls-args", default="", help="CLS_ARGS: overrides for the classification runs (Tables 1-2)")
    p.add_argument("--seg-args", default="", help="SEG_ARGS: overrides for the segmentation runs (Tables 3-4)")
    p.add_argument("--command", default=None, help="the command written under each table")
    p.add_argument(
        "--memory-gib",
        default="auto",
        help="MEMORY_GIB: memory the CPU runs under way may need together (auto: what is available at the start; "
        "none: no limit)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the run list with projected hours and exit")
    ns = p.parse_args(argv)

    try:
        ns.seeds = parse_seeds(ns.seeds, "SEEDS")
    except ValueError as err:
        raise UsageError(str(err)) from None
    ns.tables = [t.strip() for t in ns.tables.split(",") if t.strip()]
    bad = [t for t in ns.tables if t not in REPRODUCED]
    if bad or not ns.tables:
        raise UsageError(f"TABLES={','.join(ns.tables)!r}: each must be one of {', '.join(REPRODUCED)}")
    ns.models = [m.strip() for m in ns.models.split(",") if m.strip()]
    known = {run for table in REPRODUCED for run in TABLES[table].runs}
    if unknown := [m for m in ns.models if m not in known]:
        raise UsageError(f"MODELS: unknown run name(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        ns.budget_s = None if not ns.budget_min.strip() else float(ns.budget_min) * 60
    except ValueError:
        raise UsageError(f"BUDGET_MIN={ns.budget_min!r} is not a number of minutes (e.g. 600 or 0.5)") from None
    if ns.budget_s is not None and not ns.budget_s >= 0:
        raise UsageError(f"BUDGET_MIN={ns.budget_min!r} must be >= 0")
    jobs = ns.jobs
    ns.jobs = int(jobs) if jobs.strip().isdigit() else 0
    if ns.jobs < 1:
        raise UsageError(f"JOBS={jobs!r} must be a whole number >= 1")
    ns.args, ns.cls_args, ns.seg_args = shlex.split(ns.args), shlex.split(ns.cls_args), shlex.split(ns.seg_args)
    ns.memory_gib = memory_limit(ns.memory_gib, run_device(ns.args))
    ns.command = ns.command or "python -m gcnn_study.reproduce " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    return ns


def memory_limit(value: str, device: str | None) -> float | None:
    """MEMORY_GIB in GiB: a number, `auto` (MemAvailable now, for CPU runs; none on a GPU, whose runs keep their
    tensors there) or `none`."""
    import torch

    if value.strip().lower() == "none":
        return None
    if value.strip().lower() == "auto":
        gpu = device == "cuda" or (device is None and torch.cuda.is_available())
        return None if gpu else projection.available_gib()
    try:
        gib = float(value)
    except ValueError:
        raise UsageError(f"MEMORY_GIB={value!r} is not a number of GiB, auto or none") from None
    if not gib > 0:
        raise UsageError(f"MEMORY_GIB={value!r} must be > 0")
    return gib


def main(argv=None) -> int:
    try:
        ns = parse(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results_dir = Path(ns.results_dir)
    runs = plan(results_dir, ns.seeds, ns.tables, ns.models, ns.cls_args, ns.seg_args, ns.args)
    rates = ns.rates = machine_rates(run_threads(ns.args), ns.jobs, run_device(ns.args))
    try:
        check_first_runs(runs)
        if not ns.dry_run:
            rundir.check_results_dir(results_dir)
    except (UsageError, rundir.RunDirError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if ns.dry_run:
        dry_run(runs, rates)
        return 0
    try:
        return _reproduce(runs, results_dir, ns)
    except KeyboardInterrupt:  # the runs under way got the same Ctrl-C and said what they saved
        print("interrupted: finished runs and epochs are kept; the same command continues", file=sys.stderr)
        return 130


def _reproduce(runs: list[Run], results_dir: Path, ns: argparse.Namespace) -> int:
    budget = "no budget" if ns.budget_s is None else f"budget {ns.budget_s / 60:g} min"
    print(
        f"[reproduce] {len(runs)} runs in {results_dir}, {sum(r.finished for r in runs)} finished; "
        f"{ns.jobs} at once; {budget}; "
        + ("no memory limit" if ns.memory_gib is None else f"{ns.memory_gib:.1f} GiB for the runs under way"),
        flush=True,
    )

    # the budget counts from the first launch
    threads = run_threads(ns.args)
    outcome = execute(
        runs,
        ns.budget_s,
        ns.jobs,
        rates=ns.rates,
        memory_gib=ns.memory_gib,
        threads=threads,
        project_alone=alone_projection(machine_rates(ns.jobs * threads, 1, run_device(ns.args)) if threads else {}),
    )
    aggregate(results_dir, ns.tables, ns.seeds, ns.command)

    finished = sum(r.finished for r in runs)
    print(
        f"[reproduce] {finished} of {len(runs)} runs finished ({len(outcome['done'])} this time, "
        f"{len(outcome['skipped'])} skipped as already finished); tables in {results_dir}/",
        flush=True,
    )
    if outcome["paused"]:
        print(
            f"[reproduce] deadline reached: {len(outcome['paused'])} runs paused after their last epoch that fitted; "
            "the same command resumes them",
            flush=True,
        )
    if outcome["not_started"]:
        print(
            f"[reproduce] budget reached: {len(outcome['not_started'])} runs not started; "
            f"the same command continues with them",
            flush=True,
        )
    if outcome["failed"]:
        print(
            f"[reproduce] {len(outcome['failed'])} runs FAILED: {', '.join(map(str, outcome['failed']))}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
