"""Trainer efficiency: images/s of a training epoch against a bare step loop, for the study's 11 models.

    python scripts/benchmark_training.py [--device auto|cpu|cuda] [--steps N] [--warmup N] [--models cnn,segnet]
                                         [--threads N] [--copies K] [--options] [--out results/bench] [--no-profile]
                                         [--trainer-only]

For each model, at the protocol's input size and batch (classifiers: batch 64, 33×33; SegNets: batch 20,
256×256, 257×257 for the `_T` models; --seg-batch and --seg-size set others, stated in the file, and their rates
are not written to rates.csv: the rate per image depends on the batch and the size):

- bare step: `loss = lossfn(model(x), y); opt.zero_grad(); loss.backward(); opt.step()` over a list of
  batches already on the device;
- trainer:   `train_one_epoch(model, optimizer, data, cfg, ...)` on a DataBundle of random tensors of the same
  shape (placed on the device as the trainer places real data), with `trainer.limit_train_batches=--steps`;
  the config is composed from conf/ by Hydra (experiment=table1/3/4, model=..., logger=none, no progress bar);
- both from the same model initialisation (seed 0) and the same Adam settings; --warmup steps run first and
  are not timed; each timing is wall-clock around --steps steps, with a device synchronisation at both ends;
  `--trainer-only` skips the bare loop (half the time of a CPU measurement at 256²; the rates `make reproduce`
  plans with are the trainer's).

Then: peak memory, evaluation images/s (`evaluate`, forward only), GFLOP per training image (forward +
backward, `gcnn_study.projection`), the GFLOP/s achieved against the machine's sgemm rate (the best of a few 2048²
float32 matrix products at the same thread count), and the projected hours of each table at the protocol as
written (`make reproduce`: FLOP of every run ÷ its model's measured GFLOP/s), written with the machine, torch
version and command to `<out>/training_<device>_on_<hardware>.md` (the processor or GPU, so that another
machine's measurement never replaces this one's). The rates measured at the protocol's batch and size go to
`<out>/rates.csv`, keyed by machine, where `make reproduce` looks them up to decide which run fits its budget. A
`torch.profiler` run over a few trainer steps of p4cnn goes to `<out>/profile_<device>_on_<hardware>.md`.
`--models` re-measures some models: their table goes to a file named after them and only their rows of rates.csv
change.

`--threads N --copies K` measures as `make reproduce JOBS=K ARGS=trainer.num_threads=N` runs: K copies of this
script at once, N threads each; the table shows one copy's rate. `--options` compares, for P4CNN and
P4SegNet, the CPU paths worth trying: channels_last, torch.compile, and two 1-thread copies against one 2-thread
process (`<out>/cpu_options_<device>_on_<hardware>.md`).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import shlex
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import hydra
import torch

from gcnn_study import allocator, projection, provenance, runtime, schema
from gcnn_study.data.bundle import DataBundle
from gcnn_study.engine import TASKS, evaluate, prepare, train_one_epoch
from gcnn_study.projection import input_shape
from gcnn_study.specs import STUDY_TABLES, TABLES

# The study's models, each once, with the table (experiment) whose protocol it is timed at: gcnn_study.specs.
EXPERIMENT = {model: TABLES[t].experiment for t in ("table1", "table3", "table4") for model in TABLES[t].models}
MODELS = list(EXPERIMENT)
CLASSIFIERS = list(TABLES["table1"].models)


# ----------------------------------------------------------------------------------------------- setup
def make_cfg(model: str, device: str, steps: int, seg_size: int | None, batch: int | None = None):
    overrides = [
        f"experiment={EXPERIMENT[model]}",
        f"model={model}",
        "logger=none",
        "trainer.progress=false",
        f"trainer.device={device}",
        f"trainer.limit_train_batches={steps}",
    ]
    if seg_size and model not in CLASSIFIERS:  # the transposed-conv models take an odd size (≡ 1 mod 16)
        overrides.append(f"dataset.size={seg_size + 1 if model.endswith('_t') and seg_size % 2 == 0 else seg_size}")
    if batch:
        overrides += [f"trainer.batch_size={batch}", f"trainer.eval_batch_size={batch}"]
    return schema.compose(overrides)


def task_of(cfg) -> str:
    return "classification" if "pad_to" in cfg.dataset else "segmentation"


def random_bundle(cfg, n: int, device: torch.device) -> DataBundle:
    """Random tensors of the right shape, placed as the trainer places real data (on the GPU when there is one)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, *input_shape(cfg), generator=g)
    if task_of(cfg) == "classification":
        y = torch.randint(0, int(cfg.model.num_classes), (n,), generator=g)
    else:
        y = (torch.rand(n, 1, *x.shape[-2:], generator=g) > 0.5).float()
    x, y = x.to(device), y.to(device)
    return DataBundle(task=task_of(cfg), name="random", train=(x, y), evals={"test": (x, y)})


def new_model(cfg, device):
    tcfg = cfg.trainer
    runtime.seed_everything(0)  # the same initialisation for trainer and bare step
    runtime.set_backends(device, bool(tcfg.deterministic), bool(tcfg.tf32), bool(tcfg.cudnn_benchmark))
    model = hydra.utils.instantiate(cfg.model)
    model = prepare(model, tcfg, device)  # the trainer's memory layout and compilation, for both loops
    opt = torch.optim.Adam(model.parameters(), lr=float(tcfg.lr), weight_decay=float(tcfg.weight_decay))
    return model, opt


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of a block: CUDA max_memory_allocated, or on the CPU the peak of the process's resident set
    (sampled every 5 ms from /proc/self/statm) above its size when the block started."""

    def __init__(self, device):
        self.device, self.peak = device, 0

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: the lifetime peak (ru_maxrss, KiB on Linux, bytes on macOS)
            scale = 1 if sys.platform == "darwin" else 1024
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = 0
        else:
            self.base = self.top = self.rss()
            self.running = True

            def sample():
                while self.running:
                    self.top = max(self.top, self.rss())
                    time.sleep(0.005)

            self.thread = threading.Thread(target=sample, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self.running = False
            self.thread.join()
            self.peak = max(self.top, self.rss()) - self.base


# ----------------------------------------------------------------------------------------------- the two loops
def bare_steps(model, opt, batches, task, bf16):
    model.train()
    for x, y in batches:
        with runtime.autocast(x.device, bf16):
            out = model(x)
            loss = TASKS[task].loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def time_bare(cfg, device, steps, warmup):
    bs = int(cfg.trainer.batch_size)
    data = random_bundle(cfg, bs * max(steps, warmup), device)
    x, y = data.train
    batches = [(x[i * bs : (i + 1) * bs], y[i * bs : (i + 1) * bs]) for i in range(max(steps, warmup))]
    model, opt = new_model(cfg, device)
    bf16 = bool(cfg.trainer.bf16)
    bare_steps(model, opt, batches[:warmup], task_of(cfg), bf16)
    sync(device)
    with PeakMemory(device) as mem:
        t = time.perf_counter()
        bare_steps(model, opt, batches[:steps], task_of(cfg), bf16)
        sync(device)
        seconds = time.perf_counter() - t
    return bs * steps / seconds, mem.peak


def time_trainer(cfg, device, steps, warmup):
    bs = int(cfg.trainer.batch_size)
    data = random_bundle(cfg, bs * max(steps, warmup), device)
    model, opt = new_model(cfg, device)
    if warmup:
        cfg.trainer.limit_train_batches = warmup
        train_one_epoch(model, opt, data, cfg, 0, device)
    cfg.trainer.limit_train_batches = steps
    sync(device)
    with PeakMemory(device) as mem:
        t = time.perf_counter()
        train_one_epoch(model, opt, data, cfg, 1, device)
        sync(device)
        seconds = time.perf_counter() - t
    return bs * steps / seconds, mem.peak, model


def time_eval(cfg, model, device, batches):
    ebs = int(cfg.trainer.eval_batch_size)
    data = random_bundle(cfg, ebs * batches, device)
    cfg.trainer.limit_eval_batches = batches
    evaluate(model, data, cfg.trainer, device)  # warm-up (and the eval-mode filter-bank cache)
    sync(device)
    t = time.perf_counter()
    evaluate(model, data, cfg.trainer, device)
    sync(device)
    return ebs * batches / (time.perf_counter() - t)


# ----------------------------------------------------------------------------------------------- profile
def profile(device, steps, out: Path, header: str, batch: int | None = None) -> Path:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cfg = make_cfg("p4cnn", device.type, steps, None, batch)
    data = random_bundle(cfg, int(cfg.trainer.batch_size) * steps, device)
    model, opt = new_model(cfg, device)
    train_one_epoch(model, opt, data, cfg, 0, device)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        train_one_epoch(model, opt, data, cfg, 1, device)
        sync(device)
    averages = prof.key_averages()
    text = [
        header,
        f"`torch.profiler` over {steps} trainer steps of p4cnn (batch {cfg.trainer.batch_size}, 33×33), "
        "after one warm-up epoch of the same length.\n",
        "## Top 15 by self CPU time\n",
        "```\n" + averages.table(sort_by="self_cpu_time_total", row_limit=15) + "\n```\n",
    ]
    if device.type == "cuda":
        text += [
            "## Top 15 by self CUDA time\n",
            "```\n" + averages.table(sort_by="self_cuda_time_total", row_limit=15) + "\n```\n",
        ]
    path = out / f"profile_{device.type}_on_{provenance.hardware_slug(device.type)}.md"
    path.write_text("\n".join(text))
    return path


# ----------------------------------------------------------------------------------------------- report
def num(v: float) -> str:
    """At least 4 significant digits, no exponent."""
    return f"{v:.0f}" if v >= 1000 else f"{v:.4g}"


def fmt_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def machine(device) -> str:
    cpu = f"{provenance.cpu_model()} ({platform.machine()})"
    text = (
        f"{platform.node() or 'host'}: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads)"
    )
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        text += f", GPU {gpu} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})"
    return text


def sgemm_gflops(repeats: int = 5, n: int = 2048) -> float:
    """The machine's matrix-product rate at the current thread count: the best of `repeats` n×n float32 products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(name: str, device, args, seg_batch: int | None, options: dict | None = None) -> dict:
    """One model's row: trainer, bare (None with --trainer-only) and eval img/s, peak memory, GFLOP per image and
    GFLOP/s."""
    seg = name not in CLASSIFIERS
    n = args.seg_steps_ if seg else args.steps_
    cfg = make_cfg(name, device.type, n, args.seg_size_ if seg else None, args.batch or (seg_batch if seg else None))
    for key, value in (options or {}).items():
        cfg.trainer[key] = value
    gflop = projection.gflop_per_image(cfg)
    bare_ips, bare_mem = (None, 0) if args.trainer_only else time_bare(cfg, device, n, args.warmup_)
    gc.collect()
    trainer_ips, trainer_mem, model = time_trainer(cfg, device, n, args.warmup_)
    eval_ips = time_eval(cfg, model, device, args.eval_batches)
    del model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return dict(
        batch=int(cfg.trainer.batch_size),
        shape=list(input_shape(cfg)),
        steps=n,
        epochs=int(cfg.trainer.epochs),
        trainer=trainer_ips,
        bare=bare_ips,
        mem=max(trainer_mem, bare_mem),
        eval=eval_ips,
        gflop=gflop,
        gflops=trainer_ips * gflop,
    )


def run_copies(argv: list[str], copies: int) -> list[dict]:
    """`copies` instances of this script at once (each with --copies 1 --json-out); their measurements."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"copy{i}.json" for i in range(copies)]
        base = [a for a in argv if a != "--options"]
        procs = [
            subprocess.Popen([sys.executable, __file__, *base, "--copies", "1", "--json-out", str(o)]) for o in outs
        ]
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
    from every run's FLOP (gcnn_study.projection) and its model's measured GFLOP/s."""
    from gcnn_study import reproduce

    out = []
    for table in STUDY_TABLES:
        runs = reproduce.plan(Path("results/full"), [0], [table])
        seconds, missing = 0.0, []
        for run in runs:
            cfg = run.config()
            model = str(cfg.model.name)
            if model not in rows:
                missing.append(model)
                continue
            seconds += projection.work_of(cfg).gflop / rows[model]["gflops"]
        out.append((table, len(runs), seconds / copies / 3600, sorted(set(missing))))
    return out


def report_path(out: Path, device: str, threads: int | None, copies: int, models: list[str], hardware: str) -> Path:
    """training_<device>[_<threads>t_<copies>x][_<model>+<model>]_on_<hardware>.md: a measurement of some models
    gets a file named after them, so it never replaces the table of all 11 (rates.csv merges them row by row
    instead), and one on another processor or GPU (`provenance.hardware_slug`) never replaces this one's."""
    suffix = "" if threads is None else f"_{threads}t_{copies}x"
    subset = "" if sorted(models) == sorted(MODELS) else "_" + "+".join(models)
    return out / f"training_{device}{suffix}{subset}_on_{hardware}.md"


def at_protocol(name: str, row: dict) -> bool:
    """Whether a row was measured at its protocol's batch and input size: only such rates may plan the protocol's
    runs (`make reproduce`), since the rate per image depends on both."""
    cfg = make_cfg(name, "cpu", 1, None)
    return row["batch"] == int(cfg.trainer.batch_size) and list(row["shape"]) == list(input_shape(cfg))


def write_rates(path: Path, key: str, threads: int, copies: int, rows: dict, when: str) -> None:
    """Replace this machine's rows of the measured models (same threads and copies) in rates.csv with the new
    measurement; the other models' rates stay (`--models cnn` re-measures one model, and loses no other)."""
    import csv

    fields = ["machine", "threads", "copies", "model", "gflops", "measured"]
    kept = []
    if path.exists():
        with open(path, newline="") as f:
            kept = [
                r
                for r in csv.DictReader(f)
                if (r["machine"], r["threads"], r["copies"]) != (key, str(threads), str(copies))
                or r["model"] not in rows
            ]
    new = [
        {
            "machine": key,
            "threads": threads,
            "copies": copies,
            "model": m,
            "gflops": f"{r['gflops']:.2f}",
            "measured": when,
        }
        for m, r in rows.items()
    ]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept + new)


def options_report(args, argv: list[str], device, header: str, out: Path) -> Path:
    """channels_last, torch.compile and 2 × 1 thread against the default, for P4CNN and P4SegNet."""
    lines = [
        header.replace("Training throughput", "CPU training paths compared"),
        "Trainer img/s per model (SegNet at --seg-batch). `2 copies × 1 thread` is the sum of two copies running at "
        "once (`make reproduce JOBS=2 ARGS=trainer.num_threads=1`); the others are one process at the default "
        "thread count. A path that fails is listed with its error.\n",
        "| model | default | channels_last | torch.compile | 2 copies × 1 thread (sum) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("p4cnn", "p4segnet"):
        cells = []
        for opts in ({}, {"channels_last": True}, {"compile": True}):
            try:
                cells.append(num(measure(name, device, args, args.seg_batch_, opts)["trainer"]))
            except Exception as err:  # a path that does not work is a result too
                cells.append(f"fails: {type(err).__name__}: {str(err).splitlines()[0][:80]}")
        two = run_copies([*argv_without(argv, "--models", "--threads"), "--models", name, "--threads", "1"], 2)
        cells.append(num(sum(c["rows"][name]["trainer"] for c in two)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    path = out / f"cpu_options_{device.type}_on_{provenance.hardware_slug(device.type)}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def argv_without(argv: list[str], *flags: str) -> list[str]:
    """argv without the given flags and their values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in flags:
            skip = True
        elif a != "--options":
            out.append(a)
    return out


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated, default all 11")
    p.add_argument(
        "--steps", type=int, default=None, help="timed steps per classifier loop (default 30 on CPU, 50 on CUDA)"
    )
    p.add_argument("--seg-steps", type=int, default=None, help="timed steps for SegNets (default 1 on CPU, 20 on CUDA)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1 on CPU, 10 on CUDA)")
    p.add_argument("--seg-size", type=int, default=None, help="SegNet input size (default: the protocol's 256)")
    p.add_argument("--seg-batch", type=int, default=None, help="SegNet batch (default: the protocol's, 20)")
    p.add_argument("--trainer-only", action="store_true", help="time the trainer loop only, not the bare loop")
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="override every batch size (for tests; the default is the study's, stated in the file)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads per copy (default: torch's)")
    p.add_argument("--copies", type=int, default=1, help="copies measured at once (as make reproduce JOBS=)")
    p.add_argument("--options", action="store_true", help="only compare channels_last, compile, 2 × 1 thread")
    p.add_argument("--eval-batches", type=int, default=2, help="batches timed for the evaluation estimate")
    p.add_argument("--profile-steps", type=int, default=None, help="trainer steps profiled (default 5 CPU, 20 CUDA)")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--out", default="results/bench")
    p.add_argument("--json-out", default=None, help=argparse.SUPPRESS)  # one copy's measurements (--copies)
    p.add_argument("--command", default=None, help="the command written at the top of the file")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := [m for m in models if m not in MODELS]:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = runtime.resolve_device(args.device)
    cuda = device.type == "cuda"
    # 30 classifier steps on a CPU: 5 steps of the CNN last 0.4 s, too short to time (docs/benchmarks.md)
    args.steps_ = args.steps or (50 if cuda else 30)
    # one SegNet step at batch 20 and 256² is 20-150 s on one CPU core, long enough to time
    # (--steps, the classifiers' count, does not apply: 30 such steps would take hours)
    args.seg_steps_ = args.seg_steps or (20 if cuda else 1)
    args.warmup_ = args.warmup if args.warmup is not None else (10 if cuda else 1)
    args.seg_size_ = args.seg_size
    args.seg_batch_ = args.seg_batch
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = args.command or "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *argv])
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = torch.get_num_threads()

    if args.options:  # the CPU paths compared, on their own
        header = f"# Training throughput on {device.type}\n\nMade by: `{command}` on {when}\n\n"
        header += f"Machine: {machine(device)}\n"
        print(f"written: {options_report(args, argv, device, header, out)}")
        return
    if args.json_out:  # one copy of a --copies measurement: numbers only
        import json

        peak = sgemm_gflops() if not cuda else None
        rows = {name: measure(name, device, args, args.seg_batch_) for name in models}
        Path(args.json_out).write_text(json.dumps({"peak": peak, "rows": rows}))
        return
    if args.copies > 1:
        copies = run_copies(argv, args.copies)
        rows, peak = mean_rows(copies), sum(c["peak"] for c in copies) / len(copies) if not cuda else None
    else:
        peak = sgemm_gflops() if not cuda else None
        rows = {}
        for name in models:
            rows[name] = r = measure(name, device, args, args.seg_batch_)
            bare = (
                f"bare {r['bare']:8.1f} img/s  ratio {r['trainer'] / r['bare']:5.2f}  " if r["bare"] is not None else ""
            )
            print(
                f"{name:<12} trainer {r['trainer']:8.1f} img/s  {bare}{r['gflops']:6.1f} GFLOP/s  "
                f"peak {r['mem'] / 2**20:7.0f} MiB  eval {r['eval']:8.1f} img/s",
                flush=True,
            )
    copies_note = f", {args.copies} copies at once (the rates are one copy's)" if args.copies > 1 else ""
    header = (
        f"# Training throughput on {device.type}\n\nMade by: `{command}` on {when}\n\n"
        f"Machine: {machine(device)}{copies_note}\n"
    )

    mem_what = (
        "`torch.cuda.max_memory_allocated` during the timed steps"
        if cuda
        else "increase of the process's resident set (RSS, sampled every 5 ms from /proc/self/statm) during the "
        "timed steps over its size before them; a lower bound of what the step allocates, since memory "
        "freed earlier is reused"
    )
    seg_note = (
        f"SegNets at **{args.seg_size}×{args.seg_size}**, not the protocol's 256/257"
        if args.seg_size
        else "SegNets at the protocol's 256×256 (257×257 for `_T`)"
    )
    if args.seg_batch_ and not args.batch:
        seg_note += (
            f", batch **{args.seg_batch_}**, not the protocol's 20 (on a CPU the rate per image at 256² depends on "
            "the batch, so the projection below is not the protocol's)"
        )
    bare_note = (
        "bare: not measured (`--trainer-only`)"
        if args.trainer_only
        else "bare = forward + loss + zero_grad + backward + Adam step over batches already on the device"
    )
    peak_note = f"{peak:.0f} GFLOP/s (2048² sgemm, {threads} threads)" if peak else "not measured on a GPU"
    lines = [
        header,
        f"Steps: {args.steps_} timed steps per loop for classifiers, {args.seg_steps_} for SegNets, after "
        f"{args.warmup_} untimed warm-up steps; {seg_note}"
        f"{f'; **every batch size set to {args.batch}** (not the study’s)' if args.batch else ''}. "
        "Trainer = `gcnn_study.engine.train_one_epoch` with "
        f"`trainer.limit_train_batches`; {bare_note}; same initialisation. Peak memory: {mem_what}. Evaluation: "
        f"`gcnn_study.engine.evaluate` over {args.eval_batches} batches at the eval batch size, "
        "after one warm-up pass. "
        f"GFLOP per image: forward + backward (`torch.utils.flop_counter`). The machine's peak: {peak_note}.\n",
        "| model | batch × input | trainer img/s | bare img/s | trainer / bare | peak memory MiB | eval img/s "
        "| GFLOP / image | GFLOP/s | share of sgemm |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        share = f"{100 * r['gflops'] / peak:.0f} %" if peak else "–"
        bare, ratio = (num(r["bare"]), f"{r['trainer'] / r['bare']:.3f}") if r["bare"] is not None else ("–", "–")
        lines.append(
            f"| {name} | {r['batch']} × {'×'.join(map(str, r['shape']))} | {num(r['trainer'])} | {bare} | "
            f"{ratio} | {r['mem'] / 2**20:.0f} | {num(r['eval'])} | {r['gflop']:.4g} | "
            f"{r['gflops']:.1f} | {share} |"
        )
    lines += [
        "",
        "## Projected hours of each table at the protocol as written, one seed\n",
        f"Σ over the table's runs (`make reproduce`) of GFLOP per run (training images × epochs + a third of the "
        f"evaluated images, `gcnn_study.projection`) ÷ the model's GFLOP/s above, ÷ {args.copies} run(s) at once. "
        "SegNet+ and P4SegNet+ are counted at SegNet's and P4SegNet's rate. Data loading, checkpoints and process "
        "start are not counted.\n",
        "| table | runs | projected hours | models not measured |",
        "| --- | ---: | ---: | --- |",
    ]
    hours = protocol_hours(rows, args.copies)
    for table, n_runs, h, missing in hours:
        lines.append(f"| {table} | {n_runs} | {h:.1f} | {', '.join(missing) or '–'} |")
    lines.append(f"| all four | | {sum(h for _, _, h, _ in hours):.1f} | |")
    counted = threads if args.threads or args.copies > 1 else None
    path = report_path(out, device.type, counted, args.copies, models, provenance.hardware_slug(device.type))
    path.write_text("\n".join(lines) + "\n")
    print(f"written: {path}")
    key = provenance.machine_key(provenance.collect(num_threads=threads), device.type)
    kept = {name: r for name, r in rows.items() if at_protocol(name, r)}
    if off := sorted(set(rows) - set(kept)):
        print(f"rates.csv: {', '.join(off)} not written (measured at another batch or size than the protocol's)")
    if kept:
        write_rates(out / "rates.csv", key, threads, args.copies, kept, when)
        print(f"written: {out / 'rates.csv'}")
    if not args.no_profile and args.copies == 1:
        ppath = profile(
            device,
            args.profile_steps or (20 if cuda else 5),
            out,
            header.replace("Training throughput", "Profile of the training loop"),
            args.batch,
        )
        print(f"written: {ppath}")


if __name__ == "__main__":
    allocator.ensure()  # timed with the allocator the training runs use
    main()
