"""`make reproduce`: the seed-major run list, the start-time budget, skipping finished records, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gcnn import reproduce, rundir
from gcnn.specs import TABLES

REPO = Path(__file__).resolve().parents[1]
CLS_ARGS = (
    "dataset=mnist_sample trainer=quick trainer.epochs=1 trainer.limit_train_batches=1 "
    "trainer.limit_eval_batches=1 trainer.batch_size=8 trainer.eval_batch_size=8"
)
SEG_ARGS = (
    "dataset=ph2_synthetic dataset.n_images=12 dataset.n_train=6 dataset.n_val=2 dataset.n_test=4 "
    "dataset.size=32 dataset.width=40 dataset.height=32 trainer.epochs=1 trainer.batch_size=3 "
    "trainer.eval_batch_size=8"
)


def test_the_full_plan_is_seed_major_over_all_four_tables(tmp_path):
    runs = reproduce.plan(tmp_path, [0, 1, 2], list(reproduce.PROTOCOL))
    tables = ("table1", "table2", "table3", "table4", "ablation_p6_table1", "ablation_p6_table2")
    per_seed = [(t, name) for t in tables for _, name in TABLES[t].rows]
    assert len(per_seed) == 18 + 20  # the study's four tables first, then the P6 ablation
    assert [(r.seed, r.table, r.name) for r in runs] == [(s, t, m) for s in (0, 1, 2) for t, m in per_seed]
    by_key = {(r.table, r.name, r.seed): r for r in runs}
    assert "dataset=mnist" in by_key["table1", "cnn", 0].overrides
    assert "dataset=rot_mnist" in by_key["table2", "d4cnn", 2].overrides
    plus = by_key["table3", "p4segnet+", 1]
    assert "model=p4segnet" in plus.overrides and "dataset.augment=true" in plus.overrides
    assert "dataset.augment=true" not in by_key["table3", "p4segnet", 1].overrides
    assert plus.run_dir == tmp_path / "runs" / "table3" / "p4segnet+" / "seed=1"  # where the trainer writes it


def test_each_run_dir_is_the_one_the_trainer_composes(tmp_path, make_cfg):
    for run in reproduce.plan(tmp_path, [1], list(reproduce.PROTOCOL)):
        assert Path(make_cfg(*run.overrides).run_dir) == run.run_dir


def test_budget_stops_new_starts_and_jobs_keep_the_list_order(tmp_path):
    runs = reproduce.plan(tmp_path, [0, 1], ["table1"])
    started = []

    def fake_launch(run):
        started.append(str(run))
        run.run_dir.mkdir(parents=True)
        rundir.write_config(run.run_dir / "config.yaml", run.config())  # what the trainer records first
        (run.run_dir / "metrics.json").write_text("{}")
        return 0

    out = reproduce.execute(runs, budget_s=None, jobs=3, launch=fake_launch)
    assert sorted(started) == sorted(map(str, runs)) and len(out["done"]) == 10
    assert reproduce.execute(runs, budget_s=None, launch=fake_launch)["skipped"] == runs  # all finished: none run
    more = reproduce.plan(tmp_path, [2], ["table1"])
    out = reproduce.execute(more, budget_s=0.0, jobs=2, launch=fake_launch)
    assert out["not_started"] == more and not out["done"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--budget-min", "abc"], "BUDGET_MIN='abc' is not a number"),
        (["--jobs", "0"], "JOBS='0'"),
        (["--seeds", "a,b"], "SEEDS='a,b'"),
        (["--tables", "table9"], "TABLES='table9'"),
        (["--models", "resnet"], "MODELS: unknown run name(s) resnet"),
    ],
)
def test_bad_input_is_one_line(args, message, capsys):
    assert reproduce.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def _make_reproduce(results: Path, data: Path, budget: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GCNN_DATA_DIR": str(data), "WANDB_MODE": "disabled"}
    cmd = [
        "make",
        "--no-print-directory",
        "-o",
        "py-check",
        "reproduce",
        f"PY={sys.executable}",
        f"RESULTS={results}",
        "SEEDS=0,1",
        "TABLES=table1,table3",
        "MODELS=cnn,segnet",
        f"BUDGET_MIN={budget}",
        "ARGS=logger=none",
        f"CLS_ARGS={CLS_ARGS}",
        f"SEG_ARGS={SEG_ARGS}",
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_make_reproduce_stops_at_the_budget_and_the_same_command_continues(tmp_path):
    results, data = tmp_path / "full", tmp_path / "data"
    order = ["table1 cnn seed=0", "table3 segnet seed=0", "table1 cnn seed=1", "table3 segnet seed=1"]

    # A budget of 0.001 min: the first run starts at once, none after it.
    first = _make_reproduce(results, data, "0.001")
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.findall(r"start \d+/\d+: (.+)", first.stdout) == order[:1]
    assert "1 of 4 runs finished" in first.stdout and "the same command continues" in first.stdout
    record = results / "runs" / "table1" / "cnn" / "seed=0" / "metrics.json"
    assert json.loads(record.read_text())["seed"] == 0
    stamp = record.stat().st_mtime_ns
    assert (results / "table1.md").exists() and (results / "table3.md").exists()  # partial tables already

    second = _make_reproduce(results, data, "0.001")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "skip table1 cnn seed=0" in second.stdout
    assert re.findall(r"start \d+/\d+: (.+)", second.stdout) == order[1:2]
    assert "2 of 4 runs finished" in second.stdout and "the same command continues" in second.stdout
    assert record.stat().st_mtime_ns == stamp  # the first call's record was not touched
    seg = json.loads((results / "runs" / "table3" / "segnet" / "seed=0" / "metrics.json").read_text())
    assert seg["experiment"] == "table3" and seg["dataset"] == "ph2_synthetic"
    assert not (results / "runs" / "table1" / "cnn" / "seed=1").exists()


def test_a_gpu_stint_packs_the_records_a_clone_keeps_and_no_checkpoint(tmp_path):
    import tarfile

    out, results = tmp_path / "out", tmp_path / "full"
    env = {**os.environ, "OUT": str(out), "BUDGET_MIN": "0.001", "PY": sys.executable, "RESULTS": str(results)}
    env |= {"TABLES": "table1", "MODELS": "cnn", "SEEDS": "0", "CLS_ARGS": CLS_ARGS, "GCNN_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [str(REPO / "scripts" / "gpu_stint.sh")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "finished runs: 1" in proc.stdout
    with tarfile.open(out / "stint.tar.gz") as tar:
        names = tar.getnames()
    run = str(results / "runs" / "table1" / "cnn" / "seed=0").lstrip("/")
    for kept in ("metrics.json", "history.csv", "config.yaml", "data_info.json"):
        assert f"{run}/{kept}" in names
    assert str(results / "table1.md").lstrip("/") in names and str(results / "claims.md").lstrip("/") in names
    assert not [n for n in names if n.endswith(".pt") or "/wandb/" in n or "/.hydra/" in n]
