"""Does the projection that `make reproduce` plans with agree with the time the finished runs took?

    python scripts/check_projection.py [--results-dir results/full] [--copies 2] [--out FILE]

For every finished run under RESULTS/runs (config.yaml, history.csv, metrics.json), the projected seconds of one
training epoch (gcnn.projection: GFLOP per image × training images ÷ the model's rate in results/bench/rates.csv
for the run's own machine key, measured with --copies runs at once, as `make reproduce JOBS=2` runs) beside the
epochs the run measured: the fastest, the median and the mean, and the ratio projected ÷ measured of each. Runs
share the machine with whatever else ran, so the fastest epoch is the one closest to the load the rate was
measured under; the median shows the load the runs actually had. Then the peak memory projected for the run
(gcnn.projection.training_memory_gib, which `make reproduce` schedules with) beside the peak its training process
recorded (`peak_memory_gib` in metrics.json; "–" for runs older than that record). Prints a Markdown table (and
writes it to --out).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

from omegaconf import OmegaConf

from gcnn import projection

TOLERANCE = 0.25  # the projection must agree within 25 % with the measured time to be planned with


def finished_runs(results_dir: Path) -> list[Path]:
    return sorted(p.parent for p in results_dir.glob("runs/*/*/seed=*/metrics.json"))


def unchecked_reason(run_dir: Path, copies: int, rates_file: Path) -> str | None:
    """Why a finished run cannot be checked (None when it can)."""
    with open(run_dir / "history.csv", newline="") as f:
        if not [r for r in csv.DictReader(f) if r.get("seconds")]:
            return "no epoch times in history.csv"
    machine = json.loads((run_dir / "metrics.json").read_text())["machine"]
    if not projection.measured_rates(machine, copies, rates_file):
        return f"no rate measured on its machine ({machine}) with {copies} at once: `make bench-train` there"
    return None


def check(run_dir: Path, copies: int, rates_file: Path) -> dict:
    """A run's row; call it only on a run `unchecked_reason` accepts."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with open(run_dir / "history.csv", newline="") as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f) if r.get("seconds")]
    cfg = OmegaConf.load(run_dir / "config.yaml")
    rates = projection.measured_rates(metrics["machine"], copies, rates_file)
    rate, source = projection.rate_for(str(cfg.model.name), rates)
    work = projection.work_of(cfg)
    projected = work.gflop_per_image * work.train_images / rate
    measured = {"fastest": min(seconds), "median": statistics.median(seconds), "mean": statistics.fmean(seconds)}
    return {
        "run": str(run_dir.relative_to(run_dir.parents[3])),
        "rate": rate,
        "source": source,
        "projected": projected,
        "epochs": len(seconds),
        **measured,
        "memory": projection.training_memory_gib(cfg),
        "peak_memory": metrics.get("peak_memory_gib"),  # recorded by runs since 2026-11-29
    }


def table(rows: list[dict], copies: int) -> str:
    lines = [
        f"| run | epochs | GFLOP/s ({copies} at once) | projected s/epoch | fastest | median | mean | "
        "projected ÷ fastest | projected ÷ median | projected GiB | peak GiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        peak = "–" if r["peak_memory"] is None else f"{r['peak_memory']:.2f}"
        lines.append(
            f"| {r['run']} | {r['epochs']} | {r['rate']:.1f} | {r['projected']:.0f} | {r['fastest']:.0f} | "
            f"{r['median']:.0f} | {r['mean']:.0f} | {r['projected'] / r['fastest']:.2f} | "
            f"{r['projected'] / r['median']:.2f} | {r['memory']:.2f} | {peak} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", type=Path, default=Path("results/full"))
    p.add_argument("--copies", type=int, default=2, help="runs at once when the rates were measured (JOBS)")
    p.add_argument("--rates", type=Path, default=projection.RATES_FILE)
    p.add_argument("--out", type=Path, help="also write the table (with the command) to this file")
    args = p.parse_args(argv)
    finished = finished_runs(args.results_dir)
    rows, unchecked = [], []  # a run left out is named, with the reason: "n of m" never reads as every run
    for d in finished:
        if why := unchecked_reason(d, args.copies, args.rates):
            unchecked.append(f"- {d.relative_to(d.parents[3])}: {why}")
        else:
            rows.append(check(d, args.copies, args.rates))
    if not rows:
        print(f"error: no finished run with a measured rate under {args.results_dir}/runs", file=sys.stderr)
        return 1
    text = table(rows, args.copies)
    within = [r for r in rows if abs(r["projected"] / r["fastest"] - 1) <= TOLERANCE]
    summary = f"\n{len(within)} of {len(rows)} runs within {TOLERANCE:.0%} of their fastest epoch.\n"
    if unchecked:
        summary += f"\nNot checked ({len(unchecked)} of {len(finished)} finished runs):\n" + "\n".join(unchecked) + "\n"
    print(text + summary, end="")
    if args.out:
        command = "python scripts/check_projection.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.out.write_text(f"# Projection against measured epochs\n\n`{command}`\n\n{text}{summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
