"""Reproduce all four tables at the study's protocol as written, and the P6 ablation on the same protocols:
`python -m gcnn.reproduce` (or `make reproduce`).

1. The run list, seed-major: for seed in seeds, for table in 1..4 and then the two P6 ablation tables, for model
   in the table's rows. One pass over the first seed is a complete first version of every table; the next
   seeds add the error bars.
   Table 1 trains on `dataset=mnist`, Table 2 on `dataset=rot_mnist` (the official 60k / 10k), Tables 3-4 on
   `ph2` at full size; Table 3's "+" rows add `dataset.augment=true`.
2. Runs finished with the same settings are skipped (records kept in git count as finished); a record made
   with other settings is handed to the trainer, which refuses it in one line (`gcnn.rundir`).
3. The others are launched in list order, one `python -m gcnn.train <overrides>` process each (the same
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

from gcnn.specs import runs_of

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")

# The study's tables as written: (dataset override, rows); the rows are the tables' own (gcnn.specs).
PROTOCOL = {
    "table1": (["dataset=mnist"], runs_of("table1")),
    "table2": (["dataset=rot_mnist"], runs_of("table2")),
    "table3": (["dataset=ph2"], runs_of("table3")),
    "table4": (["dataset=ph2"], runs_of("table4")),
    # The P6 ablation (make ablation-p6) on the same protocols: pixel / bilinear / harmonic filters.
    "ablation_p6_table1": (["dataset=mnist"], runs_of("ablation_p6_table1")),
    "ablation_p6_table2": (["dataset=rot_mnist"], runs_of("ablation_p6_table2")),
}
SEGMENTATION = {"table3", "table4"}


_COMPOSE_LOCK = threading.Lock()


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
        """Finished with these settings: a record made with other settings is not (the trainer refuses it)."""
        if not (self.run_dir / "metrics.json").exists():
            return False
        from gcnn import rundir

        try:
            rundir.check_identity(self.run_dir, self.config())
            return True
        except rundir.RunDirError:
            return False

    def config(self):
        """The config the trainer will compose for this run (Hydra's compose API on conf/)."""
        from hydra import compose, initialize_config_dir

        from gcnn import schema

        schema.register()
        with _COMPOSE_LOCK, initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):  # Hydra is global
            return compose("train", overrides=list(self.overrides))

    def __str__(self) -> str:
        return f"{self.table} {self.name} seed={self.seed}"


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
    """Every run of the reproduction, in launch order (seed-major)."""
    runs = []
    for seed in seeds:
        for table in tables:
            dataset, rows = PROTOCOL[table]
            task_args = seg_args if table in SEGMENTATION else cls_args
            for model, extra in rows:
                name = model + ("+" if "dataset.augment=true" in extra else "")
                if models and name not in models:
                    continue
                overrides = (
                    f"experiment={table}",
                    f"model={model}",
                    f"seed={seed}",
                    f"paths.results_dir={results_dir}",
                    *dataset,
                    *extra,
                    *task_args,
                    *args,
                )
                runs.append(
                    Run(table, name, seed, overrides, Path(results_dir) / "runs" / table / name / f"seed={seed}")
                )
    return runs


# ----------------------------------------------------------------------------------------------- 2-3. launching
def launch(run: Run) -> int:
    """One training run in its own process; returns its exit code."""
    return subprocess.call([sys.executable, "-m", "gcnn.train", *run.overrides])


def execute(
    runs: list[Run], budget_s: float | None, jobs: int = 1, start: float | None = None, launch=launch
) -> dict[str, list[Run]]:
    """Launch the unfinished runs in order, `jobs` at a time; none starts once `budget_s` has passed."""
    outcome = {"skipped": [], "done": [], "failed": [], "not_started": []}
    lock = threading.Lock()
    finished = [r.finished for r in runs]
    start = time.monotonic() if start is None else start  # the budget counts from the first start
    todo = [r for r, f in zip(runs, finished) if not f]
    outcome["skipped"] = [r for r, f in zip(runs, finished) if f]
    for r in outcome["skipped"]:
        print(f"[reproduce] skip {r}: finished with these settings", flush=True)

    queue = list(enumerate(todo))

    def worker() -> None:
        """Take the next run of the list, until none is left or the budget has passed."""
        while True:
            with lock:  # the budget check and the start happen in list order
                if not queue:
                    return
                if budget_s is not None and time.monotonic() - start >= budget_s:
                    outcome["not_started"] += [r for _, r in queue]
                    queue.clear()
                    return
                i, run = queue.pop(0)
                print(f"[reproduce] start {i + 1}/{len(todo)}: {run}", flush=True)
            code = launch(run)
            with lock:
                outcome["done" if code == 0 and run.finished else "failed"].append(run)
                if code != 0 or not run.finished:
                    print(f"[reproduce] FAILED {run} (exit {code}); see {run.run_dir}/train.log", flush=True)

    if jobs <= 1:
        worker()
    else:
        from joblib import Parallel, delayed

        # `jobs` threads, each waiting on one training process at a time, all taking runs from the one list.
        Parallel(n_jobs=jobs, backend="threading")(delayed(worker)() for _ in range(jobs))
    return outcome


# ----------------------------------------------------------------------------------------------- 4. the tables
def aggregate(results_dir: Path, tables: list[str], seeds: list[int], command: str) -> int:
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "gcnn.tables",
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


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"{what}={text!r} must be comma-separated integers, e.g. 0,1,2") from None
    if not values:
        raise UsageError(f"{what} is empty; give e.g. 0,1,2")
    return values


def parse(argv=None) -> argparse.Namespace:
    p = _Parser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", default="results/full", help="paths.results_dir of the runs (RESULTS)")
    p.add_argument("--seeds", default="0,1,2", help="SEEDS, e.g. 0,1,2")
    p.add_argument("--tables", default=",".join(PROTOCOL), help="TABLES, a subset of " + ", ".join(PROTOCOL))
    p.add_argument("--models", default="", help="MODELS: only these run names, e.g. cnn,segnet+ (default: all)")
    p.add_argument("--budget-min", default="", help="BUDGET_MIN: no new run starts after this many minutes")
    p.add_argument("--jobs", default="1", help="JOBS: runs at once")
    p.add_argument("--args", default="", help="ARGS: Hydra overrides appended to every run")
    p.add_argument("--cls-args", default="", help="CLS_ARGS: overrides for the classification runs (Tables 1-2)")
    p.add_argument("--seg-args", default="", help="SEG_ARGS: overrides for the segmentation runs (Tables 3-4)")
    p.add_argument("--command", default=None, help="the command written under each table")
    p.add_argument("--dry-run", action="store_true", help="print the run list in launch order and exit")
    ns = p.parse_args(argv)

    ns.seeds = _int_list(ns.seeds, "SEEDS")
    ns.tables = [t.strip() for t in ns.tables.split(",") if t.strip()]
    bad = [t for t in ns.tables if t not in PROTOCOL]
    if bad or not ns.tables:
        raise UsageError(f"TABLES={','.join(ns.tables)!r}: each must be one of {', '.join(PROTOCOL)}")
    ns.models = [m.strip() for m in ns.models.split(",") if m.strip()]
    known = {m + ("+" if e else "") for _, rows in PROTOCOL.values() for m, e in rows}
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
    ns.command = ns.command or "python -m gcnn.reproduce " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    return ns


def main(argv=None) -> int:
    try:
        ns = parse(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results_dir = Path(ns.results_dir)
    runs = plan(results_dir, ns.seeds, ns.tables, ns.models, ns.cls_args, ns.seg_args, ns.args)
    if ns.dry_run:
        for i, run in enumerate(runs):
            state = "finished" if run.finished else "to run"
            print(f"{i + 1:3d}  {run}  [{state}]  python -m gcnn.train {' '.join(run.overrides)}")
        return 0
    budget = "no budget" if ns.budget_s is None else f"budget {ns.budget_s / 60:g} min"
    print(
        f"[reproduce] {len(runs)} runs in {results_dir}, {sum(r.finished for r in runs)} finished; "
        f"{ns.jobs} at once; {budget}",
        flush=True,
    )

    outcome = execute(runs, ns.budget_s, ns.jobs)  # the budget counts from the first launch
    aggregate(results_dir, ns.tables, ns.seeds, ns.command)

    finished = sum(r.finished for r in runs)
    print(
        f"[reproduce] {finished} of {len(runs)} runs finished ({len(outcome['done'])} this time, "
        f"{len(outcome['skipped'])} skipped as already finished); tables in {results_dir}/",
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
