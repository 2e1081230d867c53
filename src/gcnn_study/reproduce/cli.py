"""Reproduce all four tables at the study's protocol as written, and the P6 ablation on the same protocols:
`python -m gcnn_study.reproduce` (or `make reproduce`).

1. The plan: every run, seed-major, each at its table's protocol as written (gcnn_study.reproduce.plan).
2. Runs finished with the same settings are skipped (records kept in git count as finished); a record made with
   other settings is handed to the trainer, which refuses it in one line (gcnn_study.run.identity).
3. The others are launched in list order, one `python -m gcnn_study.train <overrides>` process each (the same
   interpreter as this one, so `make reproduce PY=python3` carries through), `--jobs` of them at once, within the
   budget and the memory (gcnn_study.reproduce.scheduler). After `--budget-min` minutes no new run starts; the runs
   under way stop in order at the deadline, and the command exits 0 saying how many runs are done and that the same
   command continues.
4. The aggregator writes `<results-dir>/table{1..4}.md/.csv` and `ablation_p6_table{1,2}.md/.csv` from whatever
   is finished.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from gcnn_study.config.specs import REPRODUCED, TABLES, parse_seeds
from gcnn_study.reproduce import projection, scheduler
from gcnn_study.reproduce.plan import (
    Run,
    alone_projection,
    machine_here,
    machine_rates,
    plan,
    project_run,
    run_device,
    run_threads,
)
from gcnn_study.run import rundir


class UsageError(ValueError):
    """Bad input; printed as one line."""


def check_first_runs(runs: list[Run]) -> None:
    """Compose and check the first run of each table as the trainer will (Hydra's types, then the schemas' rules),
    so that a bad ARGS, CLS_ARGS or SEG_ARGS is one line before anything is launched, not a failure per run."""
    from gcnn_study.config import validation

    for table in dict.fromkeys(r.table for r in runs):
        first = next(r for r in runs if r.table == table)
        try:
            problems = validation.validate(first.config())
        except Exception as err:  # Hydra's composition errors: an unknown key or option, a wrong type
            problems = [validation.compose_problem(err)]
        if problems:
            raise UsageError(f"{first}: {problems[0]} (python -m gcnn_study.train {' '.join(first.overrides)})")


def dry_run(runs: list[Run], rates: dict[str, float], machine: str | None = None) -> None:
    """The run list in plan order with each run's projected hours, then the hours per table and seed."""
    hours = {}
    for i, run in enumerate(runs):
        if run.finished:
            state, h = "finished", 0.0
        else:
            p = project_run(run, rates, machine=machine)
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


def aggregate(results_dir: Path, tables: list[str], seeds: list[int], command: str) -> int:
    """Write the tables from whatever is finished (`python -m gcnn_study.report.tables`); its exit status."""
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
    ns.machine = machine_here(run_threads(ns.args), run_device(ns.args))  # another seed's epochs count from here
    try:
        check_first_runs(runs)
        if not ns.dry_run:
            rundir.check_results_dir(results_dir)
    except (UsageError, rundir.RunDirError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if ns.dry_run:
        dry_run(runs, rates, ns.machine)
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
    outcome = scheduler.execute(
        runs,
        ns.budget_s,
        ns.jobs,
        memory_gib=ns.memory_gib,
        project=lambda run: project_run(run, ns.rates, machine=ns.machine),
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
