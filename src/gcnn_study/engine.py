"""The training loop and the evaluation, for every model and task. Read top to bottom.

The task (from the data bundle, which the model must match) picks the loss and the meter once; the loop
has no branch on it. Nothing in the loop waits for the device: the loss and the meters accumulate on it,
and the host reads them every `trainer.log_every` steps for a live progress bar and once per epoch.
Those reads also check that the loss is finite (NaN and inf stay in the running sum), so a diverged run stops
at the next read with `NonFinite`, not with a result; the evaluation checks the model's outputs the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gcnn_study.data.bundle import DataBundle
from gcnn_study.metrics import AccuracyMeter, SegmentationMeter
from gcnn_study.process.runtime import autocast

log = logging.getLogger(__name__)


class NonFinite(ArithmeticError):
    """The loss or the model's outputs became NaN or infinite: the run diverged and has no result."""


def _cross_entropy(logits, labels):
    return F.cross_entropy(logits.float(), labels)


def _bce_on_logits(logits, masks):
    return F.binary_cross_entropy_with_logits(logits.float(), masks)  # stable BCE on logits, as run


@dataclass(frozen=True)
class Task:
    loss: Callable
    meter: type
    train_meter: bool  # also measure the training batches (train_acc per epoch)


TASKS = {
    "classification": Task(_cross_entropy, AccuracyMeter, train_meter=True),
    "segmentation": Task(_bce_on_logits, SegmentationMeter, train_meter=False),
}


def train_one_epoch(model, optimizer, data: DataBundle, cfg, epoch: int, device) -> dict:
    """One pass over the training split; returns the epoch's row of history.csv."""
    tcfg, task = cfg.trainer, TASKS[data.task]
    model.train()
    x_all, y_all = data.train
    # A generator per (seed, epoch): resuming after any epoch replays exactly the same batches.
    gen = torch.Generator().manual_seed(int(cfg.seed) * 100_003 + epoch)
    order = torch.randperm(len(x_all), generator=gen) if tcfg.shuffle else torch.arange(len(x_all))
    batches = order.to(x_all.device).split(int(tcfg.batch_size))  # indices live beside the data
    if tcfg.limit_train_batches:
        batches = batches[: int(tcfg.limit_train_batches)]
    meter = task.meter() if task.train_meter else None
    loss_sum = torch.zeros((), dtype=_accumulator_dtype(device), device=device)
    # The first step whose loss was not finite (0: none yet), kept on the device: read only when the sum is not.
    first_bad = torch.zeros((), dtype=torch.int64, device=device)
    bar = Progress(f"epoch {epoch + 1}/{tcfg.epochs}", len(batches), tcfg.progress, int(tcfg.log_every))
    seen, start, cpu_start = 0, time.perf_counter(), time.process_time()
    where = lambda: f"epoch {epoch + 1}/{tcfg.epochs}, step {int(first_bad)}/{len(batches)}"  # noqa: E731
    for step, idx in enumerate(batches, 1):
        x, y = x_all[idx], y_all[idx]
        if data.augment is not None:
            x, y = data.augment(x, y, gen)
        x, y = to_device(x, device, tcfg), y.to(device, non_blocking=True)
        with autocast(device, tcfg.bf16):
            logits = model(x)
            loss = task.loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().to(loss_sum.dtype) * len(idx)
        first_bad = torch.where(first_bad > 0, first_bad, (~torch.isfinite(loss.detach())).long() * step)
        seen += len(idx)
        if meter is not None:
            meter.update(logits, y)
        if bar.tick():  # a live bar reads the device every log_every steps; a silent one never does
            loss_now = _finite(loss_sum.item() / seen, "the training loss", where, tcfg)
            bar.show({"loss": loss_now, **_acc(meter)}, seen / (time.perf_counter() - start))
    train_loss = _finite(loss_sum.item() / seen, "the training loss", where, tcfg)  # the epoch's one host read
    row = {"epoch": epoch + 1, "train_loss": train_loss}
    row["seconds"] = time.perf_counter() - start
    # The CPU time of the process's threads over the same epoch: cpu_seconds ÷ (seconds × trainer.num_threads) is
    # the share of its cores the run had; below 1, something else ran on them (scripts/check_projection.py).
    row["cpu_seconds"] = time.process_time() - cpu_start
    row["images_per_s"] = seen / row["seconds"]
    if meter is not None:
        row.update({f"train_{k}": v for k, v in meter.compute().items() if k != "n"})
    bar.close()
    log.info(
        "epoch %d/%d  %s", epoch + 1, tcfg.epochs, "  ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
    )
    return row


def evaluate(model, data: DataBundle, tcfg, device, splits=None) -> dict:
    """Metrics of the model as it is on every evaluation split (or those named in `splits`): `<split>_acc`, or
    `<split>_iou`, `_iou_score`, …"""
    return metrics_of(evaluate_splits(model, data, tcfg, device, splits), tcfg)


def validate(model, data: DataBundle, tcfg, device) -> dict:
    """The epoch's scores on the validation split, when the data has one (PH2's 50 images), so that a run's curve
    shows whether it converged; {} otherwise. Eval mode and no gradient: the training is the same bits with it."""
    if "val" not in data.evals:
        return {}
    start = time.perf_counter()
    scores = evaluate(model, data, tcfg, device, splits=("val",))
    return {**scores, "val_seconds": time.perf_counter() - start}


def metrics_of(meters: dict, tcfg) -> dict:
    """The metrics of `evaluate_splits`'s meters, each checked to be finite."""
    metrics = {f"{split}_{k}": float(v) for split, m in meters.items() for k, v in m.compute().items() if k != "n"}
    for key, value in metrics.items():
        _finite(value, key, lambda: "the final evaluation", tcfg)
    return metrics


def per_image_rows(meters: dict) -> list[dict]:
    """One row per image of every split: split, index in the split, and the meter's per-image values."""
    rows = []
    for split, meter in meters.items():
        columns = meter.per_image()
        for i, values in enumerate(zip(*columns.values())):
            rows.append({"split": split, "index": i, **dict(zip(columns, values))})
    return rows


@torch.no_grad()
def evaluate_splits(model, data: DataBundle, tcfg, device, splits=None) -> dict:
    """{split: its meter} after one pass of the model in eval mode over every evaluation split (or `splits`)."""
    task = TASKS[data.task]
    model.eval()
    meters = {}
    for split, (x_all, y_all) in data.evals.items():
        if splits is not None and split not in splits:
            continue
        chunks = torch.arange(len(x_all), device=x_all.device).split(int(tcfg.eval_batch_size))
        if tcfg.limit_eval_batches:
            chunks = chunks[: int(tcfg.limit_eval_batches)]
        meter = task.meter()
        finite = torch.ones((), dtype=torch.bool, device=device)  # all outputs finite so far, read once per split
        for idx in chunks:
            x, y = to_device(x_all[idx], device, tcfg), y_all[idx].to(device)
            with autocast(device, tcfg.bf16):
                logits = model(x)
            finite &= torch.isfinite(logits).all()
            meter.update(logits.float(), y)
        if not finite.item():  # NaN outputs still give an accuracy (argmax picks a class): not a result
            raise NonFinite(f"the model's outputs on {split} are not finite: {_advice(tcfg)}")
        meters[split] = meter
    return meters


def _finite(value: float, what: str, where: Callable[[], str], tcfg) -> float:
    """`value`, or NonFinite naming what went non-finite and where (`where()` is read only then)."""
    if not math.isfinite(value):
        raise NonFinite(f"{what} is {value} at {where()}: {_advice(tcfg)}")
    return value


def _advice(tcfg) -> str:
    return (
        f"the training diverged, so the run has no result (failed.json); try a smaller trainer.lr (now {tcfg.lr:g}) "
        "with trainer.force=true"
    )


# ----------------------------------------------------------------------------------------------- device
def prepare(model, tcfg, device: torch.device):
    """Put the model on the device in the trainer's memory layout; returns the module to step with (compiled
    when trainer.compile: it shares the parameters, so checkpoints still come from `model`). The backend
    switches are `gcnn_study.process.runtime.set_backends`, set before the model is built."""
    model.to(device)
    if tcfg.channels_last:  # 4-D weights only: the group models keep 5-D filter banks, which have no such layout
        for param in model.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=torch.channels_last)
    return torch.compile(model) if tcfg.compile else model


def place(data: DataBundle, device: torch.device) -> DataBundle:
    """On a GPU, move every split there once (MNIST is 0.3 GB, PH2 at 257² 0.2 GB), so a batch is a slice on
    the device. A training split augmented by albumentations stays on the CPU, where the augmentation runs."""
    if device.type == "cpu":
        return data
    move = lambda split: tuple(t.to(device) for t in split)  # noqa: E731
    train = data.train if data.augment is not None else move(data.train)
    return dataclasses.replace(data, train=train, evals={k: move(v) for k, v in data.evals.items()})


def to_device(x: torch.Tensor, device, tcfg) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if tcfg.channels_last and x.dim() == 4 else x


def _accumulator_dtype(device) -> torch.dtype:
    return torch.float32 if torch.device(device).type == "mps" else torch.float64  # MPS has no float64


def _acc(meter) -> dict:
    return {"acc": meter.compute()["acc"]} if isinstance(meter, AccuracyMeter) else {}


class Progress:
    """A one-line progress bar on a terminal, refreshed every `every` steps and at the last; silent otherwise
    (the per-epoch log line remains)."""

    def __init__(self, label: str, total: int, mode="auto", every: int = 50):
        self.label, self.total, self.every, self.done = label, total, max(1, every), 0
        self.live = sys.stderr.isatty() if mode == "auto" else bool(mode)

    def tick(self) -> bool:
        """Count a step; True when the bar should be redrawn now."""
        self.done += 1
        return self.live and (self.done % self.every == 0 or self.done == self.total)

    def show(self, values: dict, images_per_s: float) -> None:
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        shown = " ".join(f"{k} {v:.4f}" for k, v in values.items())
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{shown} {images_per_s:.0f} img/s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.live:
            sys.stderr.write("\n")
