"""Tiny runs of every experiment whose results must stay bit-identical across a refactor, on the same machine.

    python scripts/quick_runs.py DIR                 # a tiny run of every experiment into DIR (1 thread, no download)
    python scripts/quick_runs.py DIR --against REF   # the same, then compare with the runs in REF

Compared: every column of history.csv and every value of metrics.json except wall-clock times (seconds,
images_per_s, train_seconds) and provenance (which names the commit). Exit 1 on the first difference.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

COMMON = ["seed=0", "logger=none", "trainer.num_threads=1"]
CLS = ["trainer=quick", "trainer.epochs=1", "trainer.limit_train_batches=8", "trainer.limit_eval_batches=2"]
SEG = ["dataset=ph2_synthetic", "trainer=quick_seg", "trainer.epochs=1"]  # + size: 32 upsampling, 33 transposed
# A tiny run of every experiment, each with a model of its own (every group and both SegNet decoders).
RUNS = {
    "table1/p4cnn": ["experiment=table1", "model=p4cnn", "dataset=mnist_sample", "trainer=quick"],
    "table3/p4segnet": [
        "experiment=table3",
        "model=p4segnet",
        "dataset=ph2_synthetic",
        "trainer=quick_seg",
        "trainer.epochs=2",
    ],
    "table1_written/cnn": ["experiment=table1_written", "model=cnn", "dataset=mnist_sample", *CLS],
    "table2/p8cnn": ["experiment=table2", "model=p8cnn", "dataset=rot_mnist_sample", *CLS],
    "table2_written/d4cnn": ["experiment=table2_written", "model=d4cnn", "dataset=rot_mnist_sample", *CLS],
    "ablation_p6_table1/p6cnn_harmonic": [
        "experiment=ablation_p6_table1",
        "model=p6cnn_harmonic",
        "dataset=mnist_sample",
        *CLS,
    ],
    "ablation_p6_table2/p6cnn_bilinear": [
        "experiment=ablation_p6_table2",
        "model=p6cnn_bilinear",
        "dataset=rot_mnist_sample",
        *CLS,
    ],
    "table3/d4segnet": ["experiment=table3", "model=d4segnet", *SEG, "dataset.size=32"],
    "table3_conv1x1/segnet": ["experiment=table3_conv1x1", "model=segnet", *SEG, "dataset.size=32"],
    "table4/d4segnet_t": ["experiment=table4", "model=d4segnet_t", *SEG, "dataset.size=33"],
    "table4_conv1x1/p4segnet_t": ["experiment=table4_conv1x1", "model=p4segnet_t", *SEG, "dataset.size=33"],
}
# The training entry point (python -m TRAIN); --train names the old one when comparing across a rename.
TRAIN = "gcnn_study.train"
# wall-clock times, memory peaks and the launch records (they name the commit and the command)
TIMES = {
    "seconds",
    "cpu_seconds",
    "val_seconds",
    "images_per_s",
    "train_seconds",
    "peak_memory_gib",
    "provenance",
    "launches",
}


def results(run_dir: Path) -> dict:
    with open(run_dir / "history.csv", newline="") as f:
        history = [{k: v for k, v in row.items() if k not in TIMES} for row in csv.DictReader(f)]
    metrics = {k: v for k, v in json.loads((run_dir / "metrics.json").read_text()).items() if k not in TIMES}
    return {"history": history, "metrics": metrics}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--against", type=Path, help="a folder made by this script before the change")
    p.add_argument("--only", help="comma-separated run names (default: all)")
    args = p.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    names = list(RUNS) if not args.only else args.only.split(",")
    for name in names:
        cmd = [sys.executable, "-m", TRAIN, *RUNS[name], *COMMON, f"paths.results_dir={args.dir}"]
        subprocess.run(cmd, env=env, check=True)
    if args.against is None:
        return 0
    for name in names:
        run = f"runs/{name}/seed=0"
        before, after = results(args.against / run), results(args.dir / run)
        if before != after:
            print(f"DIFFERENT: {name}: {args.against / run} and {args.dir / run}")
            return 1
        print(f"identical: {name} ({len(after['history'])} epochs, {len(after['metrics'])} metric fields)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
