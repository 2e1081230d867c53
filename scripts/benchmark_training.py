"""Trainer efficiency: images/s of a training epoch against a bare step loop, for the study's 11 models.

    python scripts/benchmark_training.py [--device auto|cpu|cuda] [--steps N] [--warmup N] [--models cnn,segnet]
                                         [--threads N] [--copies K] [--out results/bench] [--no-profile]
                                         [--trainer-only]

What is timed, and how, is `gcnn_study.reproduce.throughput`'s: each model at its protocol's input size and batch
(--seg-batch and --seg-size set others for the SegNets, stated in the file, and their rates are not written to
rates.csv: the rate
per image depends on the batch and the size), the trainer's epoch against a bare step loop from the same
initialisation. `--trainer-only` skips the bare loop (half the time of a CPU measurement at 256²; the rates
`make reproduce` plans with are the trainer's).

Then: peak memory, evaluation images/s (`evaluate`, forward only), GFLOP per training image (forward + backward,
`gcnn_study.reproduce.projection`), the GFLOP/s achieved against the machine's sgemm rate (the best of a few 2048²
float32 matrix products at the same thread count), and the projected hours of each table at the protocol as written
(`make reproduce`: FLOP of every run ÷ its model's measured GFLOP/s), written with the machine, torch version and
command to `<out>/training_<device>_on_<hardware>.md` (the processor or GPU, so that another machine's measurement
never replaces this one's). The rates measured at the protocol's batch and size go to `<out>/rates.csv`, keyed by
machine and model with its output block (`projection.rate_key`: segnet@conv_relu_bn), where `make reproduce` looks
them up to decide which run fits its budget. A `torch.profiler` run over a few trainer steps of p4cnn goes to
`<out>/profile_<device>_on_<hardware>.md`. `--models` re-measures some models: their table goes to a file named
after them and only their rows of rates.csv change.

`--threads N --copies K` measures as `make reproduce JOBS=K ARGS=trainer.num_threads=N` runs: K copies of this
script at once, N threads each; the table shows one copy's rate. The committed rates.csv was measured so
(`--threads 1 --copies 2`, docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from gcnn_study.config.specs import STUDY_TABLES
from gcnn_study.process import allocator, runtime
from gcnn_study.reproduce import projection
from gcnn_study.reproduce.throughput import (
    CLASSIFIERS,
    MODELS,
    at_protocol,
    machine,
    make_cfg,
    measure,
    profile_tables,
    sgemm_gflops,
)
from gcnn_study.run import provenance


def run_copies(argv: list[str], copies: int) -> list[dict]:
    """`copies` instances of this script at once (each with --copies 1 --json-out); their measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"copy{i}.json" for i in range(copies)]
        cmd = [sys.executable, __file__, *argv, "--copies", "1", "--json-out"]
        procs = [subprocess.Popen([*cmd, str(out)]) for out in outs]
        if any(p.wait() for p in procs):
            raise SystemExit("error: a copy of the benchmark failed (see above)")
        return [json.loads(o.read_text()) for o in outs]


def mean_rows(copies: list[dict]) -> dict:
    """One copy's rate: the mean over the copies of every number, model by model."""
    rows = {}
    for name in copies[0]["rows"]:
        per = [c["rows"][name] for c in copies]
        rows[name] = {k: (sum(p[k] for p in per) / len(per) if isinstance(v, float) else v) for k, v in per[0].items()}
    return rows


def protocol_hours(rows: dict, copies: int) -> list[tuple[str, int, float, list[str]]]:
    """(table, runs, hours for one seed at `copies` runs at once, models not measured) at the protocol as written,
    from every run's FLOP (gcnn_study.reproduce.projection) and its model's measured GFLOP/s."""
    from gcnn_study.reproduce import plan as run_plan

    rates, out = {r["key"]: r["gflops"] for r in rows.values()}, []
    for table in STUDY_TABLES:
        runs = run_plan.plan(Path("results/full"), [0], [table])
        seconds, missing = 0.0, []
        for run in runs:
            cfg = run.config()
            model = projection.rate_key(cfg.model)
            if model not in rates:
                missing.append(model)
                continue
            seconds += projection.work_of(cfg).gflop / rates[model]
        out.append((table, len(runs), seconds / copies / 3600, sorted(set(missing))))
    return out


def refuse_what_does_not_fit(args, available: float | None = None) -> None:
    """Exit with one line when `args.copies` training processes of a model would not fit the memory available now
    (projection.training_memory_gib, as `make reproduce` plans): the kernel would kill one of them, or a run that
    trains beside the measurement."""
    available = projection.available_gib() if available is None else available
    if available is None:
        return
    keeps = allocator.keeps_freed_memory(allocator.for_training())
    for name in args.models:
        seg = name not in CLASSIFIERS
        cfg = make_cfg(
            name, "cpu", 1, args.seg_size if seg else None, (args.batch or args.seg_batch) if seg else args.batch
        )
        need = projection.training_memory_gib(cfg, keeps) * args.copies
        if need > available:
            fix = "measure it with --copies 1" if args.copies > 1 else "stop what else runs first"
            sys.exit(
                f"error: {args.copies} cop{'ies' if args.copies > 1 else 'y'} of {name} need about {need:.1f} GiB and "
                f"{available:.1f} GiB is available: {fix}"
            )


def report_path(out: Path, device: str, threads: int | None, copies: int, models: list[str], hardware: str) -> Path:
    """training_<device>[_<threads>t_<copies>x][_<model>+<model>]_on_<hardware>.md: a measurement of some models
    gets a file named after them, so it never replaces the table of all 11 (rates.csv merges them row by row
    instead), and one on another processor or GPU (`provenance.hardware_slug`) never replaces this one's."""
    suffix = "" if threads is None else f"_{threads}t_{copies}x"
    subset = "" if sorted(models) == sorted(MODELS) else "_" + "+".join(models)
    return out / f"training_{device}{suffix}{subset}_on_{hardware}.md"


def num(v: float) -> str:
    """At least 4 significant digits, no exponent."""
    return f"{v:.0f}" if v >= 1000 else f"{v:.4g}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated, default all 11")
    p.add_argument("--steps", type=int, help="timed steps per classifier loop (default 30 on CPU, 50 on CUDA)")
    p.add_argument("--seg-steps", type=int, help="timed steps for SegNets (default 1 on CPU, 20 on CUDA)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default 1 on CPU, 10 on CUDA)")
    p.add_argument("--seg-size", type=int, help="SegNet input size (default: the protocol's 256)")
    p.add_argument("--seg-batch", type=int, help="SegNet batch (default: the protocol's, 20)")
    p.add_argument("--trainer-only", action="store_true", help="time the trainer loop only, not the bare loop")
    p.add_argument("--batch", type=int, help="override every batch size (for tests; the default is the study's)")
    p.add_argument("--threads", type=int, help="torch threads per copy (default: torch's)")
    p.add_argument("--copies", type=int, default=1, help="copies measured at once (as make reproduce JOBS=)")
    p.add_argument("--eval-batches", type=int, default=2, help="batches timed for the evaluation estimate")
    p.add_argument("--profile-steps", type=int, help="trainer steps profiled (default 5 CPU, 20 CUDA)")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--out", default="results/bench")
    p.add_argument("--json-out", help=argparse.SUPPRESS)  # one copy's measurements (--copies)
    p.add_argument("--command", help="the command written at the top of the file")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := [m for m in args.models if m not in MODELS]:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    return args


def measure_models(args, device) -> dict:
    """{model: its row (gcnn_study.reproduce.throughput.measure)}, printed as each is measured."""
    rows = {}
    for name in args.models:
        seg = name not in CLASSIFIERS
        steps, batch = (args.seg_steps, args.batch or args.seg_batch) if seg else (args.steps, args.batch)
        rows[name] = r = measure(
            name, device, steps, args.warmup, args.eval_batches, args.seg_size, batch, args.trainer_only
        )
        if args.json_out:
            continue
        bare = f"bare {r['bare']:8.1f} img/s  ratio {r['trainer'] / r['bare']:5.2f}  " if r["bare"] is not None else ""
        print(
            f"{name:<12} trainer {r['trainer']:8.1f} img/s  {bare}{r['gflops']:6.1f} GFLOP/s  "
            f"peak {r['mem'] / 2**20:7.0f} MiB  eval {r['eval']:8.1f} img/s",
            flush=True,
        )
    return rows


def report(args, device, rows: dict, peak: float | None, header: str) -> list[str]:
    """The markdown report: how it was measured, one row per model, the projected hours of each table."""
    cuda, threads = device.type == "cuda", torch.get_num_threads()
    mem_what = (
        "`torch.cuda.max_memory_allocated` during the timed steps"
        if cuda
        else "increase of the process's resident set (RSS, sampled every 5 ms from /proc/self/statm) during the "
        "timed steps over its size before them; a lower bound of what the step allocates, since memory freed "
        "earlier is reused"
    )
    seg_note = (
        f"SegNets at **{args.seg_size}×{args.seg_size}**, not the protocol's 256/257"
        if args.seg_size
        else "SegNets at the protocol's 256×256 (257×257 for `_T`)"
    )
    if args.seg_batch and not args.batch:
        seg_note += (
            f", batch **{args.seg_batch}**, not the protocol's 20 (on a CPU the rate per image at 256² depends on "
            "the batch, so the projection below is not the protocol's)"
        )
    bare_note = (
        "bare: not measured (`--trainer-only`)"
        if args.trainer_only
        else "bare = forward + loss + zero_grad + backward + Adam step over batches already on the device"
    )
    batch_note = f"; **every batch size set to {args.batch}** (not the study’s)" if args.batch else ""
    peak_note = f"{peak:.0f} GFLOP/s (2048² sgemm, {threads} threads)" if peak else "not measured on a GPU"
    lines = [
        header,
        f"Steps: {args.steps} timed steps per loop for classifiers, {args.seg_steps} for SegNets, after {args.warmup} "
        f"untimed warm-up steps; {seg_note}{batch_note}. Trainer = `gcnn_study.engine.train_one_epoch` with "
        f"`trainer.limit_train_batches`; {bare_note}; same initialisation. Peak memory: {mem_what}. Evaluation: "
        f"`gcnn_study.engine.evaluate` over {args.eval_batches} batches at the eval batch size, after one warm-up "
        f"pass. GFLOP per image: forward + backward (`torch.utils.flop_counter`). The machine's peak: {peak_note}.\n",
        "| model | batch × input | trainer img/s | bare img/s | trainer / bare | peak memory MiB | eval img/s "
        "| GFLOP / image | GFLOP/s | share of sgemm |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        share = f"{100 * r['gflops'] / peak:.0f} %" if peak else "–"
        bare, ratio = (num(r["bare"]), f"{r['trainer'] / r['bare']:.3f}") if r["bare"] is not None else ("–", "–")
        lines.append(
            f"| {name} | {r['batch']} × {'×'.join(map(str, r['shape']))} | {num(r['trainer'])} | {bare} | "
            f"{ratio} | {r['mem'] / 2**20:.0f} | {num(r['eval'])} | {r['gflop']:.4g} | {r['gflops']:.1f} | {share} |"
        )
    lines += [
        "",
        "## Projected hours of each table at the protocol as written, one seed\n",
        f"Σ over the table's runs (`make reproduce`) of GFLOP per run (training images × epochs + a third of the "
        "evaluated images, `gcnn_study.reproduce.projection`) ÷ the model's GFLOP/s above, "
        f"÷ {args.copies} run(s) at once. "
        "SegNet+ and P4SegNet+ are counted at SegNet's and P4SegNet's rate. Data loading, checkpoints and process "
        "start are not counted.\n",
        "| table | runs | projected hours | models not measured |",
        "| --- | ---: | ---: | --- |",
    ]
    hours = protocol_hours(rows, args.copies)
    for table, n_runs, h, missing in hours:
        lines.append(f"| {table} | {n_runs} | {h:.1f} | {', '.join(missing) or '–'} |")
    lines.append(f"| all four | | {sum(h for _, _, h, _ in hours):.1f} | |")
    return lines


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = runtime.resolve_device(args.device)
    cuda = device.type == "cuda"
    # 30 classifier steps on a CPU: 5 steps of the CNN last 0.4 s, too short to time (docs/benchmarks.md); one SegNet
    # step at batch 20 and 256² is 20-150 s on one CPU core, long enough to time (30 such steps would take hours)
    args.steps, args.seg_steps = args.steps or (50 if cuda else 30), args.seg_steps or (20 if cuda else 1)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    if args.json_out:  # one copy of a --copies measurement: numbers only
        peak = sgemm_gflops() if not cuda else None
        Path(args.json_out).write_text(json.dumps({"peak": peak, "rows": measure_models(args, device)}))
        return
    if not cuda:
        refuse_what_does_not_fit(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = args.command or "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *argv])
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = torch.get_num_threads()
    if args.copies > 1:
        copies = run_copies(argv, args.copies)
        rows, peak = mean_rows(copies), sum(c["peak"] for c in copies) / len(copies) if not cuda else None
    else:
        peak = sgemm_gflops() if not cuda else None
        rows = measure_models(args, device)
    copies_note = f", {args.copies} copies at once (the rates are one copy's)" if args.copies > 1 else ""
    header = (
        f"# Training throughput on {device.type}\n\nMade by: `{command}` on {when}\n\n"
        f"Machine: {machine(device)}{copies_note}\n"
    )
    counted = threads if args.threads or args.copies > 1 else None
    hardware = provenance.hardware_slug(device.type)
    path = report_path(out, device.type, counted, args.copies, args.models, hardware)
    path.write_text("\n".join(report(args, device, rows, peak, header)) + "\n")
    print(f"written: {path}")
    key = provenance.machine_key(provenance.collect(num_threads=threads), device.type)
    kept = {r["key"]: r for name, r in rows.items() if at_protocol(name, r)}
    if off := sorted(name for name, r in rows.items() if r["key"] not in kept):
        print(f"rates.csv: {', '.join(off)} not written (measured at another batch or size than the protocol's)")
    if kept:
        projection.write_rates(out / "rates.csv", key, threads, args.copies, kept, when)
        print(f"written: {out / 'rates.csv'}")
    if not args.no_profile and args.copies == 1:
        profile = profile_tables(device, args.profile_steps or (20 if cuda else 5), args.batch)
        ppath = out / f"profile_{device.type}_on_{hardware}.md"
        ppath.write_text(header.replace("Training throughput", "Profile of the training loop") + "\n" + profile)
        print(f"written: {ppath}")


if __name__ == "__main__":
    allocator.ensure()  # timed with the allocator the training runs use
    main()
