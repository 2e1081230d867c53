"""Trainer efficiency: images/s of a training epoch against a bare step loop, for the study's 11 models.

    python scripts/benchmark_training.py [--device auto|cpu|cuda] [--steps N] [--warmup N] [--models cnn,segnet]
                                         [--seg-size S] [--out results/bench] [--no-profile]

For each model, at the study's batch size and input size (classifiers: batch 64, 33×33; SegNets: batch 20,
256×256, 257×257 for the `_T` models; on the CPU the SegNets default to --seg-size 64, stated in the file):

- bare step: `loss = lossfn(model(x), y); opt.zero_grad(); loss.backward(); opt.step()` over a list of
  batches already on the device;
- trainer:   `train_one_epoch(model, optimizer, data, cfg, ...)` on a DataBundle of random tensors of the same
  shape (placed on the device as the trainer places real data), with `trainer.limit_train_batches=--steps`;
  the config is composed from conf/ by Hydra (experiment=table1/3/4, model=..., logger=none, no progress bar);
- both from the same model initialisation (seed 0) and the same Adam settings; --warmup steps run first and
  are not timed; each timing is wall-clock around --steps steps, with a device synchronisation at both ends.

Then: peak memory, evaluation images/s (`evaluate`, forward only), seconds per epoch at full protocol and the
projected wall time of each table, written with the machine, torch version and command to
`<out>/training_<device>.md`. A `torch.profiler` run over a few trainer steps of p4cnn goes to
`<out>/profile_<device>.md`.
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
from hydra import compose, initialize_config_dir

from gcnn import schema
from gcnn.data.bundle import DataBundle
from gcnn.engine import TASKS, evaluate, prepare, train_one_epoch
from gcnn.train import CONF_DIR, resolve_device, seed_everything

CLASSIFIERS = ["cnn", "p4cnn", "p6cnn", "p8cnn", "d4cnn"]
SEGNETS = ["segnet", "p4segnet", "d4segnet"]
SEGNETS_T = ["segnet_t", "p4segnet_t", "d4segnet_t"]
MODELS = CLASSIFIERS + SEGNETS + SEGNETS_T
EXPERIMENT = {
    **{m: "table1" for m in CLASSIFIERS},
    **{m: "table3" for m in SEGNETS},
    **{m: "table4" for m in SEGNETS_T},
}

# The full protocol as written, per table: (train images per epoch, evaluation images per run, run names whose
# speed stands for each row). Table 1: 60k train; test 10k + "+transforms" 10k. Table 2: 60k; test 10k.
# Tables 3-4: PH2 100 train; evaluation of train 100 + val 50 + test 50 + rotated test 4×50 = 400 images.
TABLE_ROWS = {
    "table1": (60_000, 20_000, CLASSIFIERS),
    "table2": (60_000, 10_000, CLASSIFIERS),
    "table3": (100, 400, SEGNETS + ["segnet", "p4segnet"]),  # SegNet+, P4SegNet+ timed as SegNet, P4SegNet
    "table4": (100, 400, SEGNETS_T),
}
SEEDS = 3


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
    schema.register()
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        return compose("train", overrides=overrides)


def task_of(cfg) -> str:
    return "classification" if "pad_to" in cfg.dataset else "segmentation"


def input_shape(cfg) -> tuple[int, ...]:
    size = int(cfg.dataset.pad_to) if task_of(cfg) == "classification" else int(cfg.dataset.size)
    return (int(cfg.model.in_channels), size, size)


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
    seed_everything(0, bool(cfg.trainer.deterministic))  # the same initialisation for trainer and bare step
    model = hydra.utils.instantiate(cfg.model)
    model = prepare(model, cfg.trainer, device)  # the trainer's device settings, for both loops
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg.trainer.lr), weight_decay=float(cfg.trainer.weight_decay))
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
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and x.is_cuda):
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
    path = out / f"profile_{device.type}.md"
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
    cpu = platform.processor() or platform.machine()
    text = (
        f"{platform.node() or 'host'}: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads)"
    )
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        text += f", GPU {gpu} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})"
    return text


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated, default all 11")
    p.add_argument("--steps", type=int, default=None, help="timed steps per loop (default 5 on CPU, 50 on CUDA)")
    p.add_argument("--seg-steps", type=int, default=None, help="timed steps for SegNets (default 2 on CPU, 20 on CUDA)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1 on CPU, 10 on CUDA)")
    p.add_argument(
        "--seg-size", type=int, default=None, help="SegNet input size (default: the study's 256 on CUDA, 64 on the CPU)"
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="override every batch size (for tests; the default is the study's, stated in the file)",
    )
    p.add_argument("--eval-batches", type=int, default=2, help="batches timed for the evaluation estimate")
    p.add_argument("--profile-steps", type=int, default=None, help="trainer steps profiled (default 5 CPU, 20 CUDA)")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--out", default="results/bench")
    p.add_argument("--command", default=None, help="the command written at the top of the file")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := [m for m in models if m not in MODELS]:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (50 if cuda else 5)
    seg_steps = args.seg_steps or args.steps or (20 if cuda else 2)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    seg_size = args.seg_size or (None if cuda else 64)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = args.command or "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = f"# Training throughput on {device.type}\n\nMade by: `{command}` on {when}\n\nMachine: {machine(device)}\n"

    rows = {}
    for name in models:
        seg = name not in CLASSIFIERS
        n = seg_steps if seg else steps
        cfg = make_cfg(name, device.type, n, seg_size if seg else None, args.batch)
        shape = input_shape(cfg)
        bare_ips, bare_mem = time_bare(cfg, device, n, warmup)
        gc.collect()
        trainer_ips, trainer_mem, model = time_trainer(cfg, device, n, warmup)
        eval_ips = time_eval(cfg, model, device, args.eval_batches)
        del model
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
        rows[name] = dict(
            batch=int(cfg.trainer.batch_size),
            shape=shape,
            steps=n,
            epochs=int(cfg.trainer.epochs),
            trainer=trainer_ips,
            bare=bare_ips,
            mem=max(trainer_mem, bare_mem),
            eval=eval_ips,
        )
        r = rows[name]
        print(
            f"{name:<12} trainer {trainer_ips:8.1f} img/s  bare {bare_ips:8.1f} img/s  "
            f"ratio {trainer_ips / bare_ips:5.2f}  "
            f"peak {r['mem'] / 2**20:7.0f} MiB  eval {eval_ips:8.1f} img/s",
            flush=True,
        )

    mem_what = (
        "`torch.cuda.max_memory_allocated` during the timed steps"
        if cuda
        else "increase of the process's resident set (RSS, sampled every 5 ms from /proc/self/statm) during the "
        "timed steps over its size before them; a lower bound of what the step allocates, since memory "
        "freed earlier is reused"
    )
    seg_note = (
        f"SegNets at **{seg_size}×{seg_size}** ({seg_size + 1 if seg_size % 2 == 0 else seg_size}"
        f" for `_T`), not the study's 256/257, to fit the CPU"
        if seg_size
        else "SegNets at the study's 256×256 (257×257 for `_T`)"
    )
    lines = [
        header,
        f"Steps: {steps} timed steps per loop for classifiers, {seg_steps} for SegNets, after {warmup} "
        f"untimed warm-up steps; {seg_note}"
        f"{f'; **every batch size set to {args.batch}** (not the study’s)' if args.batch else ''}. "
        "Trainer = `gcnn.engine.train_one_epoch` with "
        f"`trainer.limit_train_batches`; bare = forward + loss + zero_grad + backward + Adam step over batches "
        f"already on the device; same initialisation. Peak memory: {mem_what}. Evaluation: "
        f"`gcnn.engine.evaluate` over {args.eval_batches} batches at the eval batch size, after one warm-up pass.\n",
        "| model | batch × input | trainer img/s | bare img/s | trainer / bare | peak memory MiB | eval img/s "
        "| s / epoch (full protocol) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        table = EXPERIMENT[name] if name not in CLASSIFIERS else "table1"
        epoch_s = TABLE_ROWS[table][0] / r["trainer"]
        lines.append(
            f"| {name} | {r['batch']} × {'×'.join(map(str, r['shape']))} | {num(r['trainer'])} | {num(r['bare'])} | "
            f"{r['trainer'] / r['bare']:.3f} | {r['mem'] / 2**20:.0f} | {num(r['eval'])} | {num(epoch_s)} |"
        )
    lines += [
        "",
        "## Projected wall time of each table at full protocol\n",
        f"Σ over the table's rows of (train images per epoch × epochs ÷ trainer img/s + evaluation images ÷ "
        f"eval img/s) × {SEEDS} seeds, one run at a time. Assumptions: the throughput above holds for the whole "
        "run (at the input size measured here); data loading, checkpointing and process start are not counted; "
        "SegNet+ and P4SegNet+ run at the speed of SegNet and P4SegNet (the CPU-side flip/rot90 augmentation "
        "is not timed). Train images per epoch / evaluation images: Table 1 60,000 / 20,000 (test and "
        "+transforms test), Table 2 60,000 / 10,000, Tables 3–4 100 / 400 (train, val, test and the "
        "4 rotations of test). Epochs: 30 (classifiers), 40 (SegNets).\n",
        "| table | rows | projected wall time | missing models |",
        "| --- | ---: | ---: | --- |",
    ]
    total = 0.0
    for table, (n_train, n_eval, names) in TABLE_ROWS.items():
        have = [m for m in names if m in rows]
        missing = sorted(set(names) - set(rows))
        seconds = sum(n_train * rows[m]["epochs"] / rows[m]["trainer"] + n_eval / rows[m]["eval"] for m in have) * SEEDS
        total += seconds
        lines.append(f"| {table} | {len(names)} | {fmt_time(seconds)} | {', '.join(missing) or '–'} |")
    lines.append(f"| all four | | {fmt_time(total)} | |")
    path = out / f"training_{device.type}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"written: {path}")
    if not args.no_profile:
        ppath = profile(
            device,
            args.profile_steps or (20 if cuda else 5),
            out,
            header.replace("Training throughput", "Profile of the training loop"),
            args.batch,
        )
        print(f"written: {ppath}")


if __name__ == "__main__":
    main()
