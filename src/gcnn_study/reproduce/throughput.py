"""Measuring training throughput: images/s of the trainer's epoch and of a bare step loop, peak memory, eval rate.

For each of the study's models at its protocol's input size and batch (classifiers: batch 64, 33×33; SegNets:
batch 20, 256×256, 257×257 for the `_T` models), on random tensors already on the device:

- bare step: `loss = lossfn(model(x), y); opt.zero_grad(); loss.backward(); opt.step()` over a list of batches;
- trainer: `train_one_epoch(model, optimizer, data, cfg, ...)` on a DataBundle of random tensors of the same shape
  (placed as the trainer places real data), with `trainer.limit_train_batches` = the timed steps; the config is
  composed from conf/ by Hydra (the model's table's experiment, logger=none, no progress bar);
- both from the same model initialisation (seed 0) and the same Adam settings; the warm-up steps run first and
  are not timed; each timing is wall-clock around the steps, with a device synchronisation at both ends.

`scripts/benchmark_training.py` is its command line and report. Study side: the library never imports it.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import sys
import threading
import time

import hydra
import torch

from gcnn_study.config import schema
from gcnn_study.config.specs import TABLES
from gcnn_study.data.bundle import DataBundle
from gcnn_study.engine import TASKS, evaluate, prepare, train_one_epoch
from gcnn_study.process import runtime
from gcnn_study.reproduce import projection
from gcnn_study.reproduce.projection import input_shape
from gcnn_study.run import provenance

# The study's models, each once, with the table (experiment) whose protocol it is timed at: gcnn_study.config.specs.
EXPERIMENT = {model: TABLES[t].experiment for t in ("table1", "table3", "table4") for model in TABLES[t].models}
MODELS = list(EXPERIMENT)
CLASSIFIERS = list(TABLES["table1"].models)


# ----------------------------------------------------------------------------------------------- setup
def make_cfg(model: str, device: str, steps: int, seg_size: int | None, batch: int | None = None):
    """The composed config a model is timed with: its table's experiment, `steps` training batches, no logger."""
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


def measure(name, device, steps, warmup, eval_batches, seg_size=None, batch=None, trainer_only=False) -> dict:
    """One model's row: trainer, bare (None when `trainer_only`) and eval img/s, peak memory, GFLOP per image and
    GFLOP/s, at its protocol's batch and size unless `batch` or `seg_size` (a SegNet's) says otherwise."""
    cfg = make_cfg(name, device.type, steps, seg_size, batch)
    gflop = projection.gflop_per_image(cfg)
    bare_ips, bare_mem = (None, 0) if trainer_only else time_bare(cfg, device, steps, warmup)
    gc.collect()
    trainer_ips, trainer_mem, model = time_trainer(cfg, device, steps, warmup)
    eval_ips = time_eval(cfg, model, device, eval_batches)
    del model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return dict(
        key=projection.rate_key(cfg.model),  # its row in rates.csv
        batch=int(cfg.trainer.batch_size),
        shape=list(input_shape(cfg)),
        steps=steps,
        epochs=int(cfg.trainer.epochs),
        trainer=trainer_ips,
        bare=bare_ips,
        mem=max(trainer_mem, bare_mem),
        eval=eval_ips,
        gflop=gflop,
        gflops=trainer_ips * gflop,
    )


def at_protocol(name: str, row: dict) -> bool:
    """Whether a row was measured at its protocol's batch and input size: only such rates may plan the protocol's
    runs (`make reproduce`), since the rate per image depends on both."""
    cfg = make_cfg(name, "cpu", 1, None)
    return row["batch"] == int(cfg.trainer.batch_size) and list(row["shape"]) == list(input_shape(cfg))


# ----------------------------------------------------------------------------------------------- the machine
def sgemm_gflops(repeats: int = 5, n: int = 2048) -> float:
    """The machine's matrix-product rate at the current thread count: the best of `repeats` n×n float32 products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def machine(device) -> str:
    """The host, platform, processor, CPU count, torch version and threads (and the GPU) of a measurement."""
    cpu = f"{provenance.cpu_model()} ({platform.machine()})"
    text = (
        f"{platform.node() or 'host'}: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads)"
    )
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        text += f", GPU {gpu} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})"
    return text


def profile_tables(device, steps: int, batch: int | None = None) -> str:
    """`torch.profiler`'s top 15 by self CPU (and CUDA) time over `steps` trainer steps of p4cnn, as markdown."""
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
        f"`torch.profiler` over {steps} trainer steps of p4cnn (batch {cfg.trainer.batch_size}, 33×33), "
        "after one warm-up epoch of the same length.\n",
    ]
    for kind in ("cpu", "cuda") if device.type == "cuda" else ("cpu",):
        table = averages.table(sort_by=f"self_{kind}_time_total", row_limit=15)
        text += [f"## Top 15 by self {kind.upper()} time\n", f"```\n{table}\n```\n"]
    return "\n".join(text)
