"""Two quick runs whose results must stay bit-identical across a refactor, on the same machine.

    python scripts/quick_runs.py DIR                 # P4CNN and P4SegNet quick runs into DIR (1 thread, no download)
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
RUNS = {
    "table1/p4cnn": ["experiment=table1", "model=p4cnn", "dataset=mnist_sample", "trainer=quick"],
    "table3/p4segnet": [
        "experiment=table3",
        "model=p4segnet",
        "dataset=ph2_synthetic",
        "trainer=quick_seg",
        "trainer.epochs=2",
    ],
}
TIMES = {"seconds", "val_seconds", "images_per_s", "train_seconds", "provenance"}


def results(run_dir: Path) -> dict:
    with open(run_dir / "history.csv", newline="") as f:
        history = [{k: v for k, v in row.items() if k not in TIMES} for row in csv.DictReader(f)]
    metrics = {k: v for k, v in json.loads((run_dir / "metrics.json").read_text()).items() if k not in TIMES}
    return {"history": history, "metrics": metrics}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--against", type=Path, help="a folder made by this script before the change")
    args = p.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    for overrides in RUNS.values():
        cmd = [sys.executable, "-m", "gcnn.train", *overrides, *COMMON, f"paths.results_dir={args.dir}"]
        subprocess.run(cmd, env=env, check=True)
    if args.against is None:
        return 0
    for name in RUNS:
        run = f"runs/{name}/seed=0"
        before, after = results(args.against / run), results(args.dir / run)
        if before != after:
            print(f"DIFFERENT: {name}: {args.against / run} and {args.dir / run}")
            return 1
        print(f"identical: {name} ({len(after['history'])} epochs, {len(after['metrics'])} metric fields)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
