"""The reproduction's plan: every run of it in order (seed-major), where each one lives, whether it is finished, and
how long each still needs (from its own epochs, another seed's, or its FLOP and the machine's measured rate).

The run list, seed-major: for seed in seeds, for table in 1..4 and then the two P6 ablation tables, for model in
the table's rows. One pass over the first seed is a complete first version of every table; the next seeds add the
error bars. Every table is trained at its protocol as written (experiment=<table>_written where the text and the
notebooks differ: gcnn_study.config.specs.REPRODUCED); Table 3's "+" rows add `dataset.augment=true`
(gcnn_study.config.layout). A run is finished when its record was made with these settings (records kept in git count);
a paused run resumes from its checkpoint, so its projection counts only the epochs it has left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gcnn_study.config import layout
from gcnn_study.config.specs import TABLES, experiment_of
from gcnn_study.process import allocator
from gcnn_study.reproduce import projection
from gcnn_study.run import identity, provenance, records
from gcnn_study.run.rundir import RunDirError


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
            record = records.read_metrics(self.run_dir)
            if record is None:
                return False
            identity.check_identity(self.run_dir, self.config(), record.get("settings_id"), "metrics.json")
            return True
        except RunDirError:
            return False

    def config(self):
        """The config the trainer will compose for this run (Hydra's compose API on conf/)."""
        from gcnn_study.config import schema

        return schema.compose(self.overrides)

    def __str__(self) -> str:
        return f"{self.table} {self.name} seed={self.seed}"

    def history(self) -> list[dict]:
        """The epochs this run has finished so far (its checkpoint), [] when none."""
        if not (self.run_dir / "checkpoint.pt").exists():
            return []
        try:
            return list(records.load_checkpoint(self.run_dir, "cpu")["history"])
        except Exception:  # an unreadable checkpoint is the trainer's to report; project from scratch
            return []

    def sibling_history(self, machine: str | None = None) -> list[dict]:
        """Epochs of the same experiment and model under another seed that finished, those trained on `machine` (a
        machine key: processor and thread count; None: any): the best estimate of this run's epoch time before it
        has one of its own. Another processor's epochs are no estimate (the Zen 4 and Zen 5 EPYCs of these runs
        differ 2-3×), so with none on this machine the projection falls back to the rate measured here."""
        import csv

        here = layout.parse(self.run_dir)
        for other in layout.find(here.results_dir, here.experiment, here.run):
            if other == here or not (other.path / "history.csv").exists():
                continue
            with open(other.path / "history.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            if machine is not None:
                try:
                    record = records.read_metrics(other.path)
                except RunDirError:  # not a finished record: its epochs are no estimate
                    continue
                if record is None:
                    continue
                record = provenance.upgraded_machines(record)
                machines = provenance.epoch_machines(record)
                rows = [r for r in rows if machines.get(int(r["epoch"]), record.get("machine")) == machine]
            if rows:
                return rows
        return []


@dataclass(frozen=True)
class Projection:
    """A run's projected seconds: to its end, and for its next epoch (with the final evaluation if last)."""

    total: float
    next_epoch: float
    source: str  # "own epochs", "another seed", "bench", "default rate"
    memory_gib: float = 0.0  # peak memory of its training process (gcnn_study.reproduce.projection.training_memory_gib)
    epochs_done: int = 0  # epochs in its checkpoint: a paused run resumes after them
    epochs: int = 0  # epochs of the protocol


def project_run(
    run: Run, rates: dict[str, float], done: list[dict] | None = None, machine: str | None = None
) -> Projection:
    """How long `run` still needs, from its own epochs, another seed's (those trained on `machine`, the key of the
    machine it will run on; None: any), or its FLOP and the measured rate."""
    cfg = run.config()
    work = projection.work_of(cfg)
    done = run.history() if done is None else done
    left = max(work.epochs - len(done), 0)
    measured, source = done, "own epochs"
    if not projection.epoch_seconds(measured):
        measured, source = run.sibling_history(machine), "another seed"
    per_epoch = projection.epoch_seconds(measured)
    if per_epoch is None:
        gflops, source = projection.rate_for(projection.rate_key(cfg.model), rates)
        per_epoch = work.gflop_per_image * work.train_images / gflops
    final = projection.final_eval_seconds(per_epoch, work.train_images, work.eval_images)
    memory = projection.training_memory_gib(cfg, allocator.keeps_freed_memory(allocator.for_training()))
    next_epoch = per_epoch + (final if left == 1 else 0.0)
    return Projection(per_epoch * left + final, next_epoch, source, memory, len(done), work.epochs)


#: The least time before the deadline for a run not yet begun that cannot finish in it: nearer the deadline only
#: paused runs advance. Started for the last epoch or two of a launch, a new run would leave one more checkpoint
#: outside git for a few minutes of training (it happened twice at 2-minute epochs).
MIN_NEW_STRETCH_S = 15 * 60


def startable(runs: list[Run], left: float | None, project) -> list[tuple[int, Run, Projection]]:
    """(index in `runs`, run, its Projection) of each run that can start with `left` seconds to the deadline (None:
    no deadline), in the order they should start: the runs that fit whole first, those paused earlier before those
    not begun, each in list order; then the runs of which at least the next epoch fits, which train the epochs that
    fit and pause at the deadline, again those paused earlier first, each group with the most time left first. A run
    that cannot even do one epoch is left out: it waits for the next launch, and so is a run not yet begun with less
    than MIN_NEW_STRETCH_S left.
    A run that finishes before the deadline goes first because its record lands in git, while a paused run's epochs
    live only in this work tree's checkpoint; for the same reason a paused run goes before a new one, whether it can
    finish or only advance, rather than new runs piling up paused from launch to launch, each a checkpoint to lose.
    The longest run bounds how many stretches the reproduction still needs, and the shorter ones fill the stretches
    beside it (longest processing time first)."""
    whole, partial = [], []
    for k, run in enumerate(runs):
        p = project(run)
        if left is None or p.total <= left:
            whole.append((k, run, p))
        elif p.next_epoch <= left and (p.epochs_done > 0 or left >= MIN_NEW_STRETCH_S):
            partial.append((k, run, p))
    whole.sort(key=lambda item: item[2].epochs_done == 0)  # stable: paused first, each in list order
    partial.sort(key=lambda item: (item[2].epochs_done == 0, -item[2].total))  # stable: ties keep the list order
    return whole + partial


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


def machine_here(threads: int | None = None, device: str | None = None) -> str:
    """The machine key the runs launched from here will record (`device`: "cpu" or "cuda"; by default CUDA when this
    machine has it), at `threads` threads."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return provenance.machine_key(provenance.collect(num_threads=threads), device)


def machine_rates(threads: int | None = None, jobs: int = 1, device: str | None = None) -> dict[str, float]:
    """GFLOP/s per model measured by `make bench-train` on the device the runs will use (`machine_here`), at
    `threads` threads with `jobs` runs at once ({} when it was not measured here)."""
    return projection.measured_rates(machine_here(threads, device), jobs)


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
