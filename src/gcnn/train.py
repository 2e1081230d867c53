"""Train one model on one dataset with one seed: `python -m gcnn.train experiment=table1 model=p4cnn seed=1`.

Every run owns `results/runs/<experiment>/<model>/seed=<seed>/`. A checkpoint is written after every epoch and
the same command resumes from it; a run whose metrics.json exists is skipped unless `trainer.force=true`
(then its files move to `previous/<time>/`). So a sweep that died halfway is finished by typing the same
command again, and nothing a finished run wrote is lost.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import random
import shutil
import sys
import time
from pathlib import Path

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

import gcnn.config  # noqa: F401  (registers the resolvers conf/ uses)
from gcnn.data.bundle import DataBundle, DataError
from gcnn.metrics import SegmentationMeter, count_correct
from gcnn.models import count_parameters
from gcnn.tracking import make_tracker

log = logging.getLogger("gcnn.train")
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and what to use instead."""


# ----------------------------------------------------------------------------------------------- entry point
@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> dict | None:
    try:
        return run(cfg)
    except (DataError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        if _hydra_mode() == "MULTIRUN":
            raise  # the sweep runs its other jobs, then reports the first failure and exits non-zero
        sys.exit(1)


def _hydra_mode() -> str | None:
    from hydra.core.hydra_config import HydraConfig

    return str(HydraConfig.get().mode.name) if HydraConfig.initialized() else None


# ----------------------------------------------------------------------------------------------- one run
def run(cfg: DictConfig) -> dict:
    """Train and evaluate as `cfg` says; returns the content of metrics.json."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists():
        if not cfg.trainer.force:
            log.info("%s is finished (metrics.json exists): skipped; trainer.force=true retrains it", run_dir)
            return json.loads(metrics_path.read_text())
        _archive_previous(run_dir)
    try:
        return _train(cfg, run_dir)
    except BaseException as err:
        _write_json(run_dir / "failed.json", {"error": f"{type(err).__name__}: {err}", "time": time.time()})
        raise


def _train(cfg: DictConfig, run_dir: Path) -> dict:
    tcfg = cfg.trainer
    seed_everything(int(cfg.seed), bool(tcfg.deterministic))
    if tcfg.get("num_threads"):
        torch.set_num_threads(int(tcfg.num_threads))
    device = resolve_device(tcfg.device)

    data = _instantiate(cfg.dataset, "dataset")
    model = _instantiate(cfg.model, "model")
    task = getattr(model, "task", "classification")
    if task != data.task:
        raise ConfigError(f"model={cfg.model.name} is a {task} model but dataset={data.name} holds {data.task} data")
    if tcfg.task != data.task:
        raise ConfigError(
            f"trainer.task={tcfg.task} does not fit dataset={data.name} ({data.task}); "
            f"use trainer={'segmentation or trainer=quick_seg' if data.task == 'segmentation' else 'default or trainer=quick'}"
        )
    if hasattr(model, "check_input_size"):  # fail before training, in one line, not inside the first forward
        try:
            model.check_input_size(*data.train[0].shape[-2:])
        except ValueError as err:
            raise ConfigError(str(err)) from None
    data = _place(data, device)
    if data.synthetic:
        log.warning("dataset %s is SYNTHETIC: its numbers show the pipeline works, not the study's results", data.name)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(tcfg.lr), weight_decay=float(tcfg.weight_decay))

    resolved = OmegaConf.to_container(cfg, resolve=True)
    if not (run_dir / "config.yaml").exists():
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    _write_json(run_dir / "data_info.json", {"name": data.name, "synthetic": data.synthetic, **data.info})

    ckpt_path = run_dir / "checkpoint.pt"
    start_epoch, history = 0, []
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, history = state["epoch"], state["history"]
        log.info("resuming %s from epoch %d", run_dir, start_epoch)

    params = count_parameters(model)
    epochs = int(tcfg.epochs)
    tags = ["synthetic"] if data.synthetic else []
    with make_tracker(cfg.logger, resolved, run_dir, tags) as tracker:
        tracker.summary({"params": params, "synthetic": data.synthetic})
        for row in history:  # a resumed run re-logs its earlier epochs so W&B shows the whole curve
            tracker.log(row, step=row["epoch"])
        for epoch in range(start_epoch, epochs):
            row = train_one_epoch(model, optimizer, data, cfg, epoch, device)
            history.append(row)
            tracker.log(row, step=row["epoch"])
            _atomic_torch_save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "epoch": epoch + 1,
                    "history": history,
                },
                ckpt_path,
            )
        metrics = evaluate(model, data, tcfg, device)
        tracker.summary(metrics)
        tracker.log({f"final/{k}": v for k, v in metrics.items()}, step=epochs)

        result = {
            "experiment": cfg.experiment_name,
            "model": cfg.run_name,
            "architecture": cfg.model.name,
            "group": model.group.name if hasattr(model, "group") else "z2",
            "dataset": data.name,
            "synthetic": data.synthetic,
            "seed": int(cfg.seed),
            "params": params,
            "epochs": epochs,
            "device": str(device),
            "train_seconds": round(sum(r["seconds"] for r in history), 3),
            "metrics": metrics,
        }
        _write_history(run_dir / "history.csv", history)
        _write_json(run_dir / "metrics.json", result)
    (run_dir / "failed.json").unlink(missing_ok=True)
    log.info("%s done: %s", run_dir, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return result


# ----------------------------------------------------------------------------------------------- the loop
def train_one_epoch(model, optimizer, data: DataBundle, cfg, epoch: int, device) -> dict:
    tcfg = cfg.trainer
    model.train()
    x_all, y_all = data.train
    n = len(x_all)
    # A generator per (seed, epoch): resuming after any epoch replays exactly the same batches.
    gen = torch.Generator().manual_seed(int(cfg.seed) * 100_003 + epoch)
    order = torch.randperm(n, generator=gen) if tcfg.shuffle else torch.arange(n)
    batches = list(order.split(int(tcfg.batch_size)))
    if tcfg.limit_train_batches:
        batches = batches[: int(tcfg.limit_train_batches)]
    bar = Progress(f"epoch {epoch + 1}/{tcfg.epochs}", len(batches), tcfg.progress)
    total_loss, correct, seen, start = 0.0, 0.0, 0, time.perf_counter()
    for idx in batches:
        idx = idx.to(x_all.device)
        x, y = x_all[idx], y_all[idx]
        if data.augment is not None:
            x, y = data.augment(x, y, gen)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with _autocast(device, tcfg.bf16):
            logits = model(x)
            loss = _loss(logits, y, data.task)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        seen += len(idx)
        if data.task == "classification":
            correct += count_correct(logits, y)
        bar.update(loss=total_loss / seen, acc=correct / seen if data.task == "classification" else None,
                   ips=seen / (time.perf_counter() - start))
    seconds = time.perf_counter() - start
    bar.close()
    row = {"epoch": epoch + 1, "train_loss": total_loss / seen, "seconds": seconds, "images_per_s": seen / seconds}
    if data.task == "classification":
        row["train_acc"] = correct / seen
    log.info("epoch %d/%d  %s", epoch + 1, tcfg.epochs, "  ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"))
    return row


def _loss(logits, y, task):
    if task == "classification":
        return F.cross_entropy(logits.float(), y)
    return F.binary_cross_entropy_with_logits(logits.float(), y)  # stable BCE on logits, as run


@torch.no_grad()
def evaluate(model, data: DataBundle, tcfg, device) -> dict:
    """Metrics of the last epoch on every evaluation split: `<split>_acc` or `<split>_iou`, `_iou_score`, …"""
    model.eval()
    metrics = {}
    for split, (x_all, y_all) in data.evals.items():
        chunks = list(torch.arange(len(x_all)).split(int(tcfg.eval_batch_size)))
        if tcfg.limit_eval_batches:
            chunks = chunks[: int(tcfg.limit_eval_batches)]
        correct, seen, meter = 0, 0, SegmentationMeter()
        for idx in chunks:
            idx = idx.to(x_all.device)
            x, y = x_all[idx].to(device), y_all[idx].to(device)
            with _autocast(device, tcfg.bf16):
                logits = model(x).float()
            if data.task == "classification":
                correct += count_correct(logits, y)
                seen += len(idx)
            else:
                meter.update(logits, y)
        if data.task == "classification":
            metrics[f"{split}_acc"] = correct / seen
        else:
            for key, value in meter.compute().items():
                if key != "n":
                    metrics[f"{split}_{key}"] = float(value)
    return metrics


# ----------------------------------------------------------------------------------------------- helpers
def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN (a debugging aid): a third of CPU time.
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but this machine has no CUDA device; use trainer.device=auto or cpu")
    return device


def _place(data: DataBundle, device: torch.device) -> DataBundle:
    """On a GPU, move every split there once (MNIST is 0.3 GB, PH2 at 257² 0.2 GB), so a batch is a slice on
    the device. A training split augmented by albumentations stays on the CPU, where the augmentation runs."""
    if device.type == "cpu":
        return data
    move = lambda split: tuple(t.to(device) for t in split)  # noqa: E731
    train = data.train if data.augment is not None else move(data.train)
    return dataclasses.replace(data, train=train, evals={k: move(v) for k, v in data.evals.items()})


def _autocast(device, bf16: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bool(bf16) and device.type == "cuda")


def _instantiate(node, what: str):
    try:
        return hydra.utils.instantiate(node)
    except Exception as err:  # Hydra wraps errors raised by the target; show ours, one line
        cause = err
        while cause.__cause__ is not None and not isinstance(cause, (DataError, ConfigError)):
            cause = cause.__cause__
        if isinstance(cause, (DataError, ConfigError, ValueError)):
            raise (cause if isinstance(cause, (DataError, ConfigError)) else ConfigError(f"{what}: {cause}")) from None
        raise


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_history(path: Path, history: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0].keys()) if history else ["epoch"])
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def _archive_previous(run_dir: Path) -> None:
    """trainer.force=true: move the finished run's files aside instead of overwriting them."""
    dest = run_dir / "previous" / time.strftime("%Y%m%d-%H%M%S")
    dest.mkdir(parents=True)
    for item in run_dir.iterdir():
        if item.name not in ("previous", ".hydra", "train.log"):
            shutil.move(str(item), dest / item.name)
    log.info("trainer.force=true: earlier results of %s moved to %s", run_dir, dest)


class Progress:
    """A one-line progress bar on a terminal; silent otherwise (the per-epoch log line remains)."""

    def __init__(self, label: str, total: int, mode="auto"):
        self.label, self.total, self.done = label, total, 0
        self.live = sys.stderr.isatty() if mode == "auto" else bool(mode)

    def update(self, loss: float, acc: float | None, ips: float) -> None:
        self.done += 1
        if self.live:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            extra = f" acc {acc:.3f}" if acc is not None else ""
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"loss {loss:.4f}{extra} {ips:.0f} img/s"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.live:
            sys.stderr.write("\n")


if __name__ == "__main__":
    main()
