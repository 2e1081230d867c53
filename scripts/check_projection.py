"""Does the projection that `make reproduce` plans with agree with the time the finished runs took?

    python scripts/check_projection.py [--results-dir results/full] [--cores 2] [--out FILE]

For every finished run under RESULTS/runs (config.yaml, history.csv, metrics.json), its epochs are grouped by the
call that trained them (`launches` in metrics.json: the machine key names the processor and the thread count), and
for each group the projected seconds of one training epoch (gcnn_study.reproduce.projection: GFLOP per image × training
images ÷ the model's rate in results/bench/rates.csv for that machine key, measured with as many runs at once as
`make reproduce` ran: --cores ÷ threads, since JOBS × trainer.num_threads fills the machine and a run alone gets
every core) stand beside the epochs measured: the fastest, the median and the mean, and the ratio projected ÷
measured of each. A run paused on one machine and resumed on another, or resumed alone on more threads, has a row
per group. Runs share the machine with whatever else ran, so the fastest epoch is the one closest to the load the
rate was measured under; the median shows the load the runs actually had. Where history.csv records the
epochs' CPU time (`cpu_seconds`, runs since 2026-12-07), the core share, cpu_seconds ÷ (seconds × threads), says
whether a run had its cores: a row outside the tolerance whose core share is well below 1 shared its cores with
other processes (a test suite, a third run), so its wall time does not test the projection. Then the peak memory
projected for the run (gcnn_study.reproduce.projection.training_memory_gib, which `make reproduce` schedules with)
beside the peak its training process recorded (`peak_memory_gib` in metrics.json; "–" for runs older than that
record). Prints a Markdown table (and writes it to --out).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from gcnn_study.process import allocator
from gcnn_study.report.placement import processor_name
from gcnn_study.reproduce import projection
from gcnn_study.run import identity, provenance

TOLERANCE = 0.25  # the projection must agree within 25 % with the measured time to be planned with


def finished_runs(results_dir: Path) -> list[Path]:
    return sorted(p.parent for p in results_dir.glob("runs/*/*/seed=*/metrics.json"))


@dataclass(frozen=True)
class Group:
    """The epochs of one finished run trained on one machine key (processor and thread count)."""

    run_dir: Path
    machine: str
    seconds: tuple[float, ...]
    copies: int  # runs at once when it trained: cores ÷ its threads
    cpu_seconds: tuple[float | None, ...] = ()  # each epoch's CPU time (None: not recorded), beside `seconds`

    @property
    def name(self) -> str:
        return str(self.run_dir.relative_to(self.run_dir.parents[3]))

    @property
    def label(self) -> str:
        """ "Intel(R) Xeon(R) Processor, 1 thread × 2": the processor (or GPU), its threads and the runs at once."""
        where = processor_name(self.machine)
        threads = _threads(self.machine)
        return where if threads is None else f"{where}, {threads} thread{'s' * (threads != 1)} × {self.copies}"


def _threads(machine: str) -> int | None:
    found = re.search(r"(\d+) threads", machine) if machine.startswith("cpu") else None
    return int(found.group(1)) if found else None


def groups(run_dir: Path, cores: int) -> list[Group]:
    """The run's measured epochs, grouped by the machine key of the call that trained them, in epoch order. An
    epoch whose call did not record its machine (records older than `launches`) counts as the run's machine."""
    metrics = provenance.upgraded_machines(json.loads((run_dir / "metrics.json").read_text()))
    with open(run_dir / "history.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("seconds")]
    seconds = {int(r["epoch"]): float(r["seconds"]) for r in rows}
    cpu = {int(r["epoch"]): float(r["cpu_seconds"]) if r.get("cpu_seconds") else None for r in rows}
    machine_of = provenance.epoch_machines(metrics)
    by_machine: dict[str, list[int]] = {}
    for epoch in sorted(seconds):
        by_machine.setdefault(machine_of.get(epoch, metrics["machine"]), []).append(epoch)
    return [
        Group(
            run_dir,
            machine,
            tuple(seconds[e] for e in epochs),
            max(1, cores // (_threads(machine) or cores)),
            tuple(cpu[e] for e in epochs),
        )
        for machine, epochs in by_machine.items()
    ]


def core_share(group: Group) -> float | None:
    """The median over the group's epochs of cpu_seconds ÷ (seconds × threads): 1 when the run had its cores the
    whole time, ½ when another process took half of them; None when no epoch recorded its CPU time."""
    threads = _threads(group.machine) or 1
    shares = [c / (s * threads) for s, c in zip(group.seconds, group.cpu_seconds) if c is not None and s > 0]
    return statistics.median(shares) if shares else None


#: A row outside the tolerance with a core share below this had its cores taken by other processes.
SHARED_BELOW = 0.9


def outside_reason(row: dict) -> str:
    """Why a row lies outside the tolerance, as far as its record can say."""
    share = row["core_share"]
    if share is None:
        return "its epochs' CPU time is not recorded (runs before 2026-12-07), so whether it had its cores is unknown"
    if share < SHARED_BELOW:
        return f"it had {share:.0%} of its cores: other processes ran on them, so its wall time does not test the rate"
    return f"it had {share:.0%} of its cores: the projection itself is off for this model on this machine"


def unchecked_reason(group: Group, rates_file: Path) -> str | None:
    """Why a group cannot be checked (None when it can)."""
    if not projection.measured_rates(group.machine, group.copies, rates_file, exact=True):
        return (
            f"no rate measured on its machine ({group.machine}) with {group.copies} at once: `make bench-train` there"
        )
    return None


def check(group: Group, rates_file: Path) -> dict:
    """A group's row; call it only on a group `unchecked_reason` accepts."""
    metrics = json.loads((group.run_dir / "metrics.json").read_text())
    cfg = identity.with_added(OmegaConf.load(group.run_dir / "config.yaml"))  # the model it trained
    rates = projection.measured_rates(group.machine, group.copies, rates_file, exact=True)
    rate, source = projection.rate_for(projection.rate_key(cfg.model), rates)
    work = projection.work_of(cfg)
    seconds = group.seconds
    measured = {"fastest": min(seconds), "median": statistics.median(seconds), "mean": statistics.fmean(seconds)}
    return {
        "run": group.name,
        "machine": group.label,
        "rate": rate,
        "source": source,
        "projected": work.gflop_per_image * work.train_images / rate,
        "epochs": len(seconds),
        **measured,
        "core_share": core_share(group),
        # the peak is of the last call's process, so the projection is for the allocator that call ran with
        "memory": projection.training_memory_gib(cfg, allocator.keeps_freed_memory(_last_allocator(metrics))),
        "peak_memory": metrics.get("peak_memory_gib"),  # recorded by runs since 2026-11-29
    }


def _last_allocator(metrics: dict) -> str | None:
    """The GLIBC_TUNABLES of the call that trained the run's last epochs (None: glibc's defaults, or not recorded)."""
    launches = metrics.get("launches") or [{}]
    return launches[-1].get("allocator")


def table(rows: list[dict]) -> str:
    lines = [
        "| run | machine, threads × runs at once | epochs | GFLOP/s | projected s/epoch | fastest | median | mean | "
        "projected ÷ fastest | projected ÷ median | core share | projected GiB | peak GiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        peak = "–" if r["peak_memory"] is None else f"{r['peak_memory']:.2f}"
        share = "–" if r["core_share"] is None else f"{r['core_share']:.2f}"
        lines.append(
            f"| {r['run']} | {r['machine']} | {r['epochs']} | {r['rate']:.1f} | {r['projected']:.0f} | "
            f"{r['fastest']:.0f} | {r['median']:.0f} | {r['mean']:.0f} | {r['projected'] / r['fastest']:.2f} | "
            f"{r['projected'] / r['median']:.2f} | {share} | {r['memory']:.2f} | {peak} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", type=Path, default=Path("results/full"))
    p.add_argument(
        "--cores", type=int, default=2, help="cores of the machines the runs trained on (JOBS × trainer.num_threads)"
    )
    p.add_argument("--rates", type=Path, default=projection.RATES_FILE)
    p.add_argument("--out", type=Path, help="also write the table (with the command) to this file")
    args = p.parse_args(argv)
    finished = finished_runs(args.results_dir)
    everything = [g for d in finished for g in groups(d, args.cores)]
    rows, unchecked = [], []  # a group left out is named, with the reason: "n of m" never reads as every run
    for g in everything:
        if why := unchecked_reason(g, args.rates):
            unchecked.append(f"- {g.name}, {len(g.seconds)} epochs on {g.label}: {why}")
        else:
            rows.append(check(g, args.rates))
    if not rows:
        print(f"error: no finished run with a measured rate under {args.results_dir}/runs", file=sys.stderr)
        return 1
    text = table(rows)
    within = [r for r in rows if abs(r["projected"] / r["fastest"] - 1) <= TOLERANCE]
    summary = (
        f"\n{len(within)} of {len(rows)} rows within {TOLERANCE:.0%} of their fastest epoch "
        f"(a row: the epochs of one of {len(finished)} finished runs on one machine and thread count).\n"
    )
    outside = [r for r in rows if r not in within]
    if outside:
        summary += f"\nOutside {TOLERANCE:.0%} ({len(outside)} rows):\n" + "".join(
            f"- {r['run']} on {r['machine']}, projected ÷ fastest {r['projected'] / r['fastest']:.2f}: "
            f"{outside_reason(r)}\n"
            for r in outside
        )
    if unchecked:
        summary += f"\nNot checked ({len(unchecked)} of {len(everything)} rows):\n" + "\n".join(unchecked) + "\n"
    print(text + summary, end="")
    if args.out:
        command = "python scripts/check_projection.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.out.write_text(f"# Projection against measured epochs\n\n`{command}`\n\n{text}{summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
