"""The launchers a sweep can use: a real 2-job joblib sweep and a real 2-job submitit_local sweep write the
same runs, with the same metrics, as the sequential sweep (CPU, same seeds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, compose_cfg, tiny

SWEEP = [
    "experiment=table1", "model=cnn,p4cnn", "seed=0", "dataset=mnist_sample", "dataset.max_train=64",
    "dataset.max_test=32", *tiny(epochs=1, limit_eval_batches=None), "logger=none", "trainer.num_threads=1",
]  # fmt: skip
LAUNCHERS = {
    "sequential": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
}


def _sweep(results: Path, launcher: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "gcnn_study.train", "--multirun", *SWEEP, *launcher, f"paths.results_dir={results}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=results.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {
        p.parent.parent.name: json.loads(p.read_text())["metrics"]
        for p in sorted((results / "runs/table1").glob("*/seed=*/metrics.json"))
    }


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> dict:
    return _sweep(tmp_path_factory.mktemp("sequential") / "results", LAUNCHERS["sequential"])


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_parallel_sweep_gives_the_runs_and_metrics_of_the_sequential_one(launcher, sequential, tmp_path):
    assert set(sequential) == {"cnn", "p4cnn"}
    parallel = _sweep(tmp_path / "results", LAUNCHERS[launcher])
    assert parallel == sequential


def test_the_slurm_launcher_has_overridable_defaults():
    cfg = compose_cfg(
        "experiment=table1", "hydra/launcher=slurm", "hydra.launcher.partition=gpu", return_hydra_config=True
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1 and launcher.cpus_per_task == 8
    assert launcher.timeout_min == 120 and launcher.array_parallelism == 16
    assert launcher.max_num_timeout > 0  # a job that hits its time limit is requeued and resumes its checkpoint
