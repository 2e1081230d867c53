"""`make reproduce`: the seed-major run list, the start-time budget, skipping finished records, one-line errors."""

from __future__ import annotations

import json
import os
from collections import defaultdict
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from gcnn_study.run import identity, records

from gcnn_study.reproduce import projection, cli as reproduce, plan as run_plan, scheduler

from gcnn_study.config import schema
from gcnn.equivariance import TRANSFORMS
from gcnn_study.config.specs import REPRODUCED, TABLES
from helpers import REPO

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
    runs = run_plan.plan(tmp_path, [0, 1, 2], list(REPRODUCED))
    tables = ("table1", "table2", "table3", "table4", "ablation_p6_table1", "ablation_p6_table2")
    per_seed = [(t, name) for t in tables for _, name in TABLES[t].rows]
    assert len(per_seed) == 18 + 24  # the study's four tables first, then the P6 ablation (12 rows × 2 protocols)
    assert [(r.seed, r.table, r.name) for r in runs] == [(s, t, m) for s in (0, 1, 2) for t, m in per_seed]
    by_key = {(r.table, r.name, r.seed): r for r in runs}
    # the protocol as written is an experiment config of its own, with its own runs folder
    assert by_key["table1", "cnn", 0].overrides[0] == "experiment=table1_written"
    assert by_key["table2", "d4cnn", 2].overrides[0] == "experiment=table2_written"
    assert by_key["table1", "cnn", 0].run_dir == tmp_path / "runs" / "table1_written" / "cnn" / "seed=0"
    assert not [r for r in runs if any(o.startswith("dataset=") for o in r.overrides)]
    plus = by_key["table3", "p4segnet+", 1]
    assert "model=p4segnet" in plus.overrides and "dataset.augment=true" in plus.overrides
    assert "dataset.augment=true" not in by_key["table3", "p4segnet", 1].overrides
    assert plus.run_dir == tmp_path / "runs" / "table3" / "p4segnet+" / "seed=1"  # where the trainer writes it


def test_each_run_dir_is_the_one_the_trainer_composes(tmp_path, make_cfg):
    for run in run_plan.plan(tmp_path, [1], list(REPRODUCED)):
        assert Path(make_cfg(*run.overrides).run_dir) == run.run_dir


def test_the_written_protocol_is_the_dataset_as_written_and_nothing_else(make_cfg):
    """experiment=table1_written is experiment=table1 with the official MNIST (and its own name), key for key."""
    for table, dataset in (("table1", "mnist"), ("table2", "rot_mnist")):
        written = make_cfg(f"experiment={table}_written", "model=p4cnn")
        as_run = make_cfg(f"experiment={table}", f"dataset={dataset}", "model=p4cnn")
        assert written.experiment_name == f"{table}_written"
        written.experiment_name = as_run.experiment_name = "x"
        assert identity.flat_settings(written) == identity.flat_settings(as_run)


def _fake_project(hours):
    """A projection per run name: (total, next epoch) in seconds."""
    return lambda run: run_plan.Projection(*hours[run.name], source="test")


# The smallest record of a finished run (gcnn_study.run.records.RECORD_KEYS), as a fake launch leaves it.
RECORD = {"seed": 0, "params": 1, "epochs": 1, "train_seconds": 1.0, "dataset": "x", "device": "cpu"}
RECORD |= {"synthetic": False, "metrics": {"test_acc": 0.5}}


def _fake_launch(started, stops=None):
    def launch(run, stop_at=None):
        started.append(str(run))
        if stops is not None:
            stops.append(stop_at)
        run.run_dir.mkdir(parents=True)
        records.write_config(run.run_dir / "config.yaml", run.config())  # what the trainer records first
        records.write_json(run.run_dir / "metrics.json", RECORD)
        return 0

    return launch


def test_with_a_budget_a_run_starts_only_when_it_or_its_next_epoch_fits(tmp_path):
    runs = run_plan.plan(tmp_path, [0], ["table1"])  # cnn, p4cnn, p6cnn, p8cnn, d4cnn
    hours = {  # (whole run, next epoch): p4cnn fits, p6cnn only epoch by epoch, p8cnn not even one epoch
        "cnn": (100.0, 10.0),
        "p4cnn": (500.0, 50.0),
        "p6cnn": (10_000.0, 300.0),
        "p8cnn": (20_000.0, 5_000.0),
        "d4cnn": (20_000.0, 5_000.0),
    }
    started, stops = [], []
    out = scheduler.execute(runs, 3600.0, launch=_fake_launch(started, stops), project=_fake_project(hours))
    assert [s.split()[1] for s in started] == ["cnn", "p4cnn", "p6cnn"]
    assert [r.name for r in out["not_started"]] == ["p8cnn", "d4cnn"]
    assert all(stop is not None and abs(stop - (time.time() + 3600)) < 60 for stop in stops)  # the deadline
    # a later, shorter run still starts when an earlier one cannot
    more = run_plan.plan(tmp_path, [1], ["table1"])
    hours["cnn"] = (30_000.0, 30_000.0)
    started = []
    out = scheduler.execute(more, 3600.0, launch=_fake_launch(started), project=_fake_project(hours))
    assert [s.split()[1] for s in started] == ["p4cnn", "p6cnn"]


def test_a_run_that_finishes_in_the_budget_goes_before_one_that_can_only_advance(tmp_path):
    """A finished record lands in git; a paused run's epochs live only in this work tree's checkpoint. Of the
    runs that can only advance, the longest goes first: it bounds how many stretches are still needed."""
    runs = run_plan.plan(tmp_path, [0], ["table1"])
    hours = {  # cnn and p6cnn can only advance, p4cnn and d4cnn fit whole, p8cnn not even one epoch
        "cnn": (10_000.0, 300.0),
        "p4cnn": (500.0, 50.0),
        "p6cnn": (20_000.0, 600.0),
        "p8cnn": (20_000.0, 5_000.0),
        "d4cnn": (900.0, 90.0),
    }
    started, stops = [], []
    out = scheduler.execute(runs, 3600.0, launch=_fake_launch(started, stops), project=_fake_project(hours))
    assert [s.split()[1] for s in started] == ["p4cnn", "d4cnn", "p6cnn", "cnn"]
    assert [r.name for r in out["not_started"]] == ["p8cnn"]


def test_a_paused_run_that_can_finish_goes_before_a_new_one(tmp_path):
    """Launch after launch, new runs that fit would otherwise start before the paused ones later in the list, and
    paused runs would pile up with their epochs only in this work tree's checkpoints."""
    runs = run_plan.plan(tmp_path, [0], ["table1"])
    done = {"p6cnn": 5, "d4cnn": 1, "p8cnn": 3}  # paused after these epochs; p8cnn cannot finish in the budget
    hours = {"cnn": (100.0, 10.0), "p4cnn": (500.0, 50.0), "p6cnn": (400.0, 40.0), "p8cnn": (9_000.0, 60.0)}
    hours["d4cnn"] = (900.0, 90.0)
    project = lambda run: run_plan.Projection(*hours[run.name], "test", epochs_done=done.get(run.name, 0))  # noqa
    started = []
    scheduler.execute(runs, 3600.0, launch=_fake_launch(started), project=project)
    assert [s.split()[1] for s in started] == ["p6cnn", "d4cnn", "cnn", "p4cnn", "p8cnn"]


def test_a_paused_run_that_can_only_advance_goes_before_a_new_one(tmp_path):
    """Of the runs that can only advance, the paused ones resume first, even when a new one is longer: otherwise
    every launch near a deadline would leave one more checkpoint paused outside git."""
    runs = run_plan.plan(tmp_path, [0], ["table1"])
    done = {"p4cnn": 2, "d4cnn": 7}  # paused; none of the five can finish in the budget
    hours = {name: (total, 60.0) for name, total in [("cnn", 9_000.0), ("p4cnn", 5_000.0), ("p6cnn", 20_000.0)]}
    hours |= {"p8cnn": (7_000.0, 60.0), "d4cnn": (6_000.0, 60.0)}
    project = lambda run: run_plan.Projection(*hours[run.name], "test", epochs_done=done.get(run.name, 0))  # noqa
    started = []
    scheduler.execute(runs, 3600.0, launch=_fake_launch(started), project=project)
    assert [s.split()[1] for s in started] == ["d4cnn", "p4cnn", "p6cnn", "cnn", "p8cnn"]


def test_near_the_deadline_only_paused_runs_advance(tmp_path):
    """With less than MIN_NEW_STRETCH_S left, a run not yet begun does not start for its few epochs that fit (one
    more checkpoint outside git); a paused one still advances, and a new one that finishes whole still starts."""
    runs = run_plan.plan(tmp_path, [0], ["table1"])
    done = {"p4cnn": 2}  # paused
    hours = {"cnn": (9_000.0, 60.0), "p4cnn": (5_000.0, 60.0), "p6cnn": (7_000.0, 60.0), "p8cnn": (300.0, 60.0)}
    hours["d4cnn"] = (6_000.0, 60.0)
    project = lambda run: run_plan.Projection(*hours[run.name], "test", epochs_done=done.get(run.name, 0))  # noqa
    left = run_plan.MIN_NEW_STRETCH_S - 1.0
    assert [r.name for _, r, _ in run_plan.startable(runs, left, project)] == ["p8cnn", "p4cnn"]
    started = [r.name for _, r, _ in run_plan.startable(runs, run_plan.MIN_NEW_STRETCH_S, project)]
    assert started == ["p8cnn", "p4cnn", "cnn", "p6cnn", "d4cnn"]


def test_a_run_alone_is_projected_at_the_rate_of_every_core(tmp_path, capsys):
    """A run that starts alone gets jobs x threads threads: its line gives the projection at that count when it
    was measured, not the slower one-run-per-core rate it was ranked by."""
    hours = {"p4cnn": (10_000.0, 300.0)}
    (run,) = run_plan.plan(tmp_path, [0], ["table1"], models=["p4cnn"])
    alone = lambda r: run_plan.Projection(3_000.0, 90.0, source="bench")  # noqa: E731
    launch = lambda r, stop_at=None, threads=None: _fake_launch([])(r)  # noqa: E731
    scheduler.execute(
        [run], 3600.0, jobs=2, launch=launch, project=_fake_project(hours), threads=1, project_alone=alone
    )
    assert "p4cnn seed=0: projected 0.83 h on 2 x 1 threads (bench), 1.00 h left: fits" in capsys.readouterr().out
    (run,) = run_plan.plan(tmp_path, [1], ["table1"], models=["p4cnn"])  # not measured on every core
    none = lambda r: None  # noqa: E731
    scheduler.execute([run], 3600.0, jobs=2, launch=launch, project=_fake_project(hours), threads=1, project_alone=none)
    assert "p4cnn seed=1: projected 2.78 h (test), 1.00 h left: only its next epochs fit (5 min each)" in (
        capsys.readouterr().out
    )


def test_the_alone_projection_uses_only_the_models_own_rate(tmp_path):
    (run,) = run_plan.plan(tmp_path, [0], ["table1"], models=["cnn"])
    p = run_plan.alone_projection({"cnn": 100.0})(run)
    assert p.source == "bench" and p.total == run_plan.project_run(run, {"cnn": 100.0}).total
    assert run_plan.project_run(run, {"cnn": 50.0}).total > p.total
    assert run_plan.alone_projection({"p4cnn": 100.0})(run) is None  # another model's rate: no guess
    assert run_plan.alone_projection({})(run) is None


def test_a_paused_run_is_neither_done_nor_failed(tmp_path):
    runs = run_plan.plan(tmp_path, [0], ["table1"], models=["cnn"])
    out = scheduler.execute(
        runs, 3600.0, launch=lambda run, stop_at: scheduler.PAUSED_EXIT, project=_fake_project({"cnn": (1e5, 60.0)})
    )
    assert out["paused"] == runs and not out["failed"] and not out["done"]


def test_a_run_that_will_be_alone_gets_the_cores_of_every_job(tmp_path, monkeypatch):
    """With JOBS=2 and one thread per run, the last run that can start, with none under way, trains on both
    cores; while another run could start beside it, it keeps its one thread."""
    given = {}  # run name: the thread count its launch was given (None: its own)
    p4cnn_started = threading.Event()

    def launch(run, stop_at=None, threads=None, pause=None):
        given[run.name] = threads
        if run.name == "p4cnn":
            p4cnn_started.set()
        elif run.name == "cnn" and run.seed == 0:  # still under way when p4cnn starts
            assert p4cnn_started.wait(timeout=30), "p4cnn did not start beside cnn"
        return _fake_launch([])(run)

    hours = {"cnn": (100.0, 10.0), "p4cnn": (10_000.0, 300.0), "p6cnn": (20_000.0, 5_000.0)}
    runs = run_plan.plan(tmp_path, [0], ["table1"], models=["cnn", "p4cnn", "p6cnn"])
    out = scheduler.execute(runs, 3600.0, jobs=2, launch=launch, project=_fake_project(hours), threads=1)
    assert given == {"cnn": None, "p4cnn": None}  # they started together; p6cnn cannot do one epoch
    assert [r.name for r in out["not_started"]] == ["p6cnn"]
    given.clear()  # alone: p4cnn is the only run that can start, and none is under way
    alone = run_plan.plan(tmp_path, [1], ["table1"], models=["p4cnn", "p6cnn"])
    scheduler.execute(alone, 3600.0, jobs=2, launch=launch, project=_fake_project(hours), threads=1)
    assert given == {"p4cnn": 2}
    for jobs, per_run, seed, expected in [(2, 1, 2, 2), (2, None, 3, None), (1, 1, 4, None), (3, 2, 5, 6)]:
        given.clear()  # without a budget: alone when it is the last in the queue
        (last,) = run_plan.plan(tmp_path, [seed], ["table1"], models=["cnn"])
        scheduler.execute([last], None, jobs=jobs, launch=launch, threads=per_run)
        assert given == {"cnn": expected}
    # the launch puts the count after the run's own overrides, where Hydra takes it
    called = []

    class Process:  # subprocess.Popen, without a process
        def __init__(self, cmd):
            called.append(cmd)

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(scheduler.subprocess, "Popen", Process)
    (run,) = run_plan.plan(tmp_path, [9], ["table1"], models=["cnn"], args=["trainer.num_threads=1"])
    assert scheduler.launch(run, stop_at=123.0, threads=2) == 0
    assert called[0][-3:] == ["trainer.num_threads=1", "trainer.stop_at=123", "trainer.num_threads=2"]
    assert run.config().trainer.num_threads == 1
    assert schema.compose(called[0][3:]).trainer.num_threads == 2


def _pausable(run, pause, calls, threads=None):
    """A fake launch of a run that trains until it is asked to pause (`pause` set: it then stops after its epoch,
    PAUSED_EXIT) or 30 s have passed (then it finishes); `calls` records (run name, threads) of each launch."""
    calls.append((run.name, threads))
    if pause is not None and pause.wait(timeout=30):
        return scheduler.PAUSED_EXIT
    return _fake_launch([])(run)


def test_a_run_left_alone_is_paused_and_relaunched_on_the_freed_cores(tmp_path):
    """JOBS=2, one thread each: when cnn ends and nothing is left to start, p4cnn (still under way) is asked to
    pause after its epoch under way, and is relaunched at once on both cores (the same run: its checkpoint)."""
    p4cnn_started, calls = threading.Event(), []

    def launch(run, stop_at=None, threads=None, pause=None):
        if run.name == "cnn":
            assert p4cnn_started.wait(timeout=30), "p4cnn did not start beside cnn"
            return _fake_launch([])(run)
        p4cnn_started.set()
        return _pausable(run, pause, calls, threads)

    runs = run_plan.plan(tmp_path, [0], ["table1"], models=["cnn", "p4cnn"])
    out = scheduler.execute(runs, None, jobs=2, launch=launch, threads=1)
    assert len(out["done"]) == 2 and not out["paused"]
    assert calls == [("p4cnn", None), ("p4cnn", 2)]


def test_a_run_whose_neighbours_do_not_fit_its_memory_gets_the_cores(tmp_path):
    """JOBS=2, one thread each, 18 GiB: P4SegNet and D4SegNet (12 GiB each) never train together. SegNet (5 GiB)
    starts beside P4SegNet; when SegNet ends, D4SegNet has to wait for P4SegNet's memory, so P4SegNet is paused
    and relaunched on both cores, and D4SegNet, alone after it, starts on both. A run that no run left could join
    in the memory starts on both cores at once."""
    memory = {"segnet": 5.0, "p4segnet": 12.0, "d4segnet": 12.0}
    project = lambda run: run_plan.Projection(60.0, 6.0, "test", memory[run.name])  # noqa: E731
    calls, p4segnet_started = [], threading.Event()

    def launch(run, stop_at=None, threads=None, pause=None):
        if run.name == "p4segnet" and threads is None:  # started beside segnet: trains until it is paused
            p4segnet_started.set()
            return _pausable(run, pause, calls)
        if run.name == "segnet":
            assert p4segnet_started.wait(timeout=30), "p4segnet did not start beside segnet"
        calls.append((run.name, threads))
        return _fake_launch([])(run)

    runs = run_plan.plan(tmp_path, [0], ["table3"], models=list(memory))
    out = scheduler.execute(runs, 3600.0, jobs=2, launch=launch, project=project, memory_gib=18.0, threads=1)
    assert len(out["done"]) == 3 and not out["paused"]
    assert sorted(calls, key=str) == [("d4segnet", 2), ("p4segnet", 2), ("p4segnet", None), ("segnet", None)]
    assert calls.index(("p4segnet", 2)) < calls.index(("d4segnet", 2))  # D4SegNet waited for P4SegNet's memory
    calls.clear()
    pair = run_plan.plan(tmp_path, [1], ["table3"], models=["p4segnet", "d4segnet"])
    scheduler.execute(pair, 3600.0, jobs=2, launch=launch, project=project, memory_gib=18.0, threads=1)
    assert calls == [("p4segnet", 2), ("d4segnet", 2)]  # each alone from its start: never paused


def test_a_paused_run_whose_next_epoch_no_longer_fits_the_budget_stays_paused(tmp_path):
    """Paused to be handed the cores, a run is relaunched only when its next epoch still fits before the deadline
    (here its own epochs, measured meanwhile, are slower than projected): otherwise it waits for the next launch."""
    hours = {"cnn": (1.0, 1.0), "p4cnn": (1e5, 600.0)}  # p4cnn: only its next epochs fit the hour
    p4cnn_started, calls = threading.Event(), []

    def launch(run, stop_at=None, threads=None, pause=None):
        if run.name == "cnn":
            assert p4cnn_started.wait(timeout=30), "p4cnn did not start beside cnn"
            return _fake_launch([])(run)
        p4cnn_started.set()
        calls.append(threads)
        assert pause is not None and pause.wait(timeout=30), "p4cnn was not asked to pause"
        hours["p4cnn"] = (1e5, 5000.0)  # its epochs so far: longer than the hour left
        return scheduler.PAUSED_EXIT

    runs = run_plan.plan(tmp_path, [0], ["table1"], models=["cnn", "p4cnn"])
    out = scheduler.execute(runs, 3600.0, jobs=2, launch=launch, project=_fake_project(hours), threads=1)
    assert calls == [None] and [r.name for r in out["paused"]] == ["p4cnn"]


def test_a_launch_asked_to_pause_signals_its_run_only_once_it_listens(tmp_path, capfd):
    """A real training process asked to pause from its start: the signal waits until the run holds its lock (its
    handler is installed by then; before, SIGUSR1 would end the process), and the run stops in order before its
    next epoch, exit PAUSED_EXIT, with nothing recorded as finished or failed."""
    more = ["dataset=mnist_sample", "trainer=quick", "trainer.epochs=1000", "trainer.limit_train_batches=2"]
    more += ["trainer.batch_size=16", "logger=none", "trainer.num_threads=1"]
    (run,) = run_plan.plan(tmp_path, [0], ["table1"], models=["cnn"], cls_args=more)
    pause = threading.Event()
    pause.set()
    assert scheduler.launch(run, pause=pause) == scheduler.PAUSED_EXIT
    said = capfd.readouterr().err.strip().splitlines()[-1]
    assert said.startswith(f"paused: {run.run_dir} stopped before epoch ") and "launcher asked (SIGUSR1)" in said
    assert not (run.run_dir / "metrics.json").exists() and not (run.run_dir / "failed.json").exists()


def test_projection_from_flop_then_from_the_runs_own_epochs(tmp_path):
    (run,) = run_plan.plan(tmp_path, [0], ["table3"], models=["p4segnet"])
    assert run_plan.project_run(run, {"p4segnet@conv1x1": 100.0}, done=[]).source == "bench (median)"  # not its head
    p = run_plan.project_run(run, {"p4segnet@conv_relu_bn": 100.0, "p4segnet@conv1x1": 50.0}, done=[])
    work = projection.work_of(run.config())
    # evaluated: train, val, test and the test set in 4 rotations, then the run's own equivariance measurement
    equivariance = 8 * (1 + len(TRANSFORMS))  # f(x) and f(g·x) on 8 test images
    assert work.train_images == 100 and work.epochs == 40 and work.eval_images == 400 + equivariance
    assert 155 < work.gflop_per_image < 165  # the notebook's P4SegNet at 256x256, forward + backward
    assert p.source == "bench" and p.total == pytest.approx(work.gflop / 100.0)
    # ten measured epochs of 60 s: 30 left, then the evaluation's images at a third of a training image
    p = run_plan.project_run(run, {}, done=[{"seconds": 60.0}] * 10)
    assert p.source == "own epochs" and p.total == pytest.approx(60 * 30 + 60 * (400 + equivariance) / 3 / 100)
    assert (p.epochs_done, p.epochs) == (10, 40)


def test_another_seeds_epochs_count_only_where_they_trained_on_this_machine(tmp_path):
    """Seed 0 finished, its first epochs on another processor (100 s) and the rest here (40 s): seed 1 is projected
    from the epochs made here; with none made here, from the rate measured here, not from another processor's."""
    zen4, zen5 = (
        "cpu: AMD EPYC (AuthenticAMD family 25 model 17), 1 threads",
        "cpu: AMD EPYC (family 26 model 2), 1 threads",
    )
    done, todo = run_plan.plan(tmp_path, [0, 1], ["table3"], models=["segnet"])
    done.run_dir.mkdir(parents=True)
    launches = [{"machine": zen4, "epochs": [1, 2]}, {"machine": zen5, "epochs": [3, 4]}]
    record = {"seed": 0, "params": 1, "epochs": 4, "train_seconds": 280.0, "dataset": "ph2", "device": "cpu"}
    record |= {"synthetic": False, "metrics": {"test_iou_score": 0.5}, "machine": "mixed", "launches": launches}
    (done.run_dir / "metrics.json").write_text(json.dumps(record))
    with open(done.run_dir / "history.csv", "w", newline="") as f:
        f.write("epoch,train_loss,seconds\n1,0.5,100\n2,0.4,100\n3,0.3,40\n4,0.2,40\n")
    assert [r["seconds"] for r in todo.sibling_history(zen5)] == ["40", "40"]
    assert [r["seconds"] for r in todo.sibling_history()] == ["100", "100", "40", "40"]  # any machine
    here = run_plan.project_run(todo, {}, done=[], machine=zen5)
    work = projection.work_of(todo.config())
    assert here.source == "another seed" and here.total == pytest.approx(
        40 * work.epochs + projection.final_eval_seconds(40, work.train_images, work.eval_images)
    )
    elsewhere = run_plan.project_run(todo, {"segnet@conv_relu_bn": 100.0}, done=[], machine="cpu: a third one")
    assert elsewhere.source == "bench" and elsewhere.total == pytest.approx(work.gflop / 100.0)
    (done.run_dir / "metrics.json").write_text("{")  # not a finished record: its epochs are no estimate
    assert todo.sibling_history(zen5) == []


def test_dry_run_says_where_a_paused_run_resumes(tmp_path, capsys, monkeypatch):
    segnet, p4segnet = run_plan.plan(tmp_path, [0], ["table3"], models=["segnet", "p4segnet"])
    monkeypatch.setattr(run_plan.Run, "history", lambda run: [{"seconds": 60.0}] * (7 if run == p4segnet else 0))
    reproduce.dry_run([segnet, p4segnet], {"segnet": 100.0, "p4segnet": 100.0})
    lines = capsys.readouterr().out.splitlines()
    assert "[to run, " in lines[0] and "paused" not in lines[0]
    # 33 epochs of 60 s, then the evaluation: 400 images and the equivariance measurement's, a third of 0.6 s each
    hours = (33 * 60 + (400 + 8 * (1 + len(TRANSFORMS))) * 0.6 / 3) / 3600
    assert f"[to run, paused at epoch 7/40, {hours:.2f} h (own epochs), " in lines[1]


def test_budget_stops_new_starts_and_jobs_keep_the_list_order(tmp_path):
    runs = run_plan.plan(tmp_path, [0, 1], ["table1"])
    started = []
    fake_launch = _fake_launch(started)
    out = scheduler.execute(runs, budget_s=None, jobs=3, launch=fake_launch)
    assert sorted(started) == sorted(map(str, runs)) and len(out["done"]) == 10
    assert scheduler.execute(runs, budget_s=None, launch=fake_launch)["skipped"] == runs  # all finished: none run
    more = run_plan.plan(tmp_path, [2], ["table1"])
    any_run = _fake_project(defaultdict(lambda: (1.0, 1.0)))
    out = scheduler.execute(more, budget_s=0.0, jobs=2, launch=fake_launch, project=any_run)
    assert out["not_started"] == more and not out["done"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--budget-min", "abc"], "BUDGET_MIN='abc' is not a number"),
        (["--jobs", "0"], "JOBS='0'"),
        (["--seeds", "a,b"], "SEEDS='a,b'"),
        (["--tables", "table9"], "TABLES='table9'"),
        (["--models", "resnet"], "MODELS: unknown run name(s) resnet"),
        (["--memory-gib", "lots"], "MEMORY_GIB='lots' is not a number of GiB, auto or none"),
        (["--memory-gib", "-2"], "MEMORY_GIB='-2' must be > 0"),
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
    record = results / "runs" / "table1_written" / "cnn" / "seed=0" / "metrics.json"

    # No time left: nothing starts, the tables are written (all missing), and the command says so.
    first = _make_reproduce(results, data, "0")
    assert first.returncode == 0, first.stdout + first.stderr
    assert not re.findall(r"start \d+/\d+", first.stdout)
    assert "0 of 4 runs finished" in first.stdout and "4 runs not started" in first.stdout
    assert (results / "table1.md").exists() and (results / "table3.md").exists()

    second = _make_reproduce(results, data, "")  # no budget: every run
    assert second.returncode == 0, second.stdout + second.stderr
    assert "4 of 4 runs finished" in second.stdout
    assert json.loads(record.read_text())["seed"] == 0
    seg = json.loads((results / "runs" / "table3" / "segnet" / "seed=0" / "metrics.json").read_text())
    assert seg["experiment"] == "table3" and seg["dataset"] == "ph2_synthetic"
    stamp = record.stat().st_mtime_ns

    third = _make_reproduce(results, data, "0")
    assert third.returncode == 0 and "skip table1 cnn seed=0" in third.stdout
    assert "4 of 4 runs finished" in third.stdout and not re.findall(r"start \d+/\d+", third.stdout)
    assert record.stat().st_mtime_ns == stamp  # the finished record was not touched


def test_a_gpu_stint_packs_the_records_a_clone_keeps_and_no_checkpoint(tmp_path):
    import tarfile

    out, results = tmp_path / "out", tmp_path / "full"
    env = {**os.environ, "OUT": str(out), "BUDGET_MIN": "5", "PY": sys.executable, "RESULTS": str(results)}
    env |= {"TABLES": "table1", "MODELS": "cnn", "SEEDS": "0", "CLS_ARGS": CLS_ARGS, "GCNN_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [str(REPO / "scripts" / "gpu_stint.sh")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "finished runs: 1" in proc.stdout
    with tarfile.open(out / "stint.tar.gz") as tar:
        names = tar.getnames()
    run = str(results / "runs" / "table1_written" / "cnn" / "seed=0").lstrip("/")
    for kept in records.RECORDS:
        assert f"{run}/{kept}" in names
    assert str(results / "table1.md").lstrip("/") in names and str(results / "claims.md").lstrip("/") in names
    # the equivariance of the run finished there, measured where its checkpoint is, and its training curves
    for drawn in ("equivariance.md", "figures/equivariance.csv", "figures/training_curves_table1_written.png"):
        assert str(results / drawn).lstrip("/") in names
    assert set(pd.read_csv(results / "figures/equivariance.csv").run) == {"cnn"}
    assert not [n for n in names if n.endswith(".pt") or "/wandb/" in n or "/.hydra/" in n]


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "run"])
@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--args", "trainer.epoch=3"],
            "table1 cnn seed=0: trainer.epoch: no such setting; the closest is trainer.epochs",
        ),
        (["--args", "+trainer.epoch=3"], "table1 cnn seed=0: trainer.epoch: no such setting"),
        (
            ["--cls-args", "dataset=mnist_smaple"],
            "table1 cnn seed=0: In 'train': Could not find 'dataset/mnist_smaple'",
        ),
        (["--seg-args", "trainer.epochs=0"], "table3 segnet seed=0: trainer.epochs=0: must be >= 1"),
    ],
)
def test_bad_overrides_are_one_line_before_anything_is_launched(args, message, dry, tmp_path, capsys, monkeypatch):
    launched = []  # a check that let the overrides through would reach execute(): record it, launch nothing
    monkeypatch.setattr(scheduler, "execute", lambda runs, *a, **k: launched.append(runs) or {})
    monkeypatch.setattr(reproduce, "aggregate", lambda *a, **k: 0)
    results = tmp_path / "full"
    argv = ["--results-dir", str(results), "--tables", "table1,table3", *args, *(["--dry-run"] if dry else [])]
    assert reproduce.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {message}"), err
    assert not launched and not results.exists()


def test_an_unusable_results_dir_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert reproduce.main(["--results-dir", str(tmp_path / "a_file" / "full"), "--tables", "table1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be created (Not a directory)" in err


def test_a_record_of_a_diverged_run_is_not_finished(tmp_path):
    run = run_plan.plan(tmp_path, [0], ["table1"])[0]
    _fake_launch([])(run)
    assert run.finished
    record = json.loads((run.run_dir / "metrics.json").read_text())
    record["metrics"]["test_acc"] = float("nan")  # as an older version wrote a diverged run
    (run.run_dir / "metrics.json").write_text(json.dumps(record))
    assert not run.finished  # launched again, and the trainer refuses the record in one line


def test_the_rates_a_reproduction_reads_follow_the_device_its_runs_are_given():
    assert run_plan.run_device(["logger=none", "trainer.device=cuda:1"]) == "cuda"
    assert run_plan.run_device(["trainer.device=cpu"]) == "cpu"
    assert run_plan.run_device(["trainer.device=auto"]) is None and run_plan.run_device([]) is None


def test_runs_start_together_only_when_their_memory_fits(tmp_path):
    runs = run_plan.plan(tmp_path, [0], ["table3"])  # segnet, p4segnet, d4segnet, segnet+, p4segnet+
    memory = {"segnet": 5.0, "p4segnet": 9.0, "d4segnet": 12.0, "segnet+": 5.0, "p4segnet+": 9.0}
    under_way, peaks, lock = {}, [], threading.Lock()

    def project(run):
        return run_plan.Projection(60.0, 6.0, "test", memory[run.name])

    def launch(run, stop_at=None):
        with lock:
            under_way[run.name] = memory[run.name]
            peaks.append(dict(under_way))
        time.sleep(0.05 if run.name != "d4segnet" else 0.3)
        with lock:
            del under_way[run.name]
        return _fake_launch([])(run)

    out = scheduler.execute(runs, 3600.0, jobs=2, launch=launch, project=project, memory_gib=18.0)
    assert sorted(r.name for r in out["done"]) == sorted(memory) and not out["not_started"]
    assert all(sum(p.values()) <= 18.0 for p in peaks)  # never more at once than the limit
    # a later run that fits starts beside one under way: P4SegNet waits (in its launch) until SegNet+ has
    # started, which it can only do by skipping D4SegNet (9 + 12 > 18); a scheduler that does not skip fails here
    ahead = run_plan.plan(tmp_path, [3], ["table3"], models=["p4segnet", "d4segnet", "segnet+"])
    second_started, started = threading.Event(), []

    def launch_ordered(run, stop_at=None):
        started.append(run.name)
        if run.name == "p4segnet":
            assert second_started.wait(timeout=30), "SegNet+ did not start beside P4SegNet"
        else:
            second_started.set()
        return _fake_launch([])(run)

    out = scheduler.execute(ahead, None, jobs=2, launch=launch_ordered, project=project, memory_gib=18.0)
    assert started[:2] == ["p4segnet", "segnet+"] and len(out["done"]) == 3
    # a run alone always starts, even above the limit; without a limit two start at once
    more = run_plan.plan(tmp_path, [1], ["table3"], models=["d4segnet", "p4segnet"])
    peaks.clear()
    out = scheduler.execute(more, None, jobs=2, launch=launch, project=project, memory_gib=10.0)
    assert len(out["done"]) == 2 and max(len(p) for p in peaks) == 1
    last = run_plan.plan(tmp_path, [2], ["table3"], models=["d4segnet", "p4segnet"])
    peaks.clear()
    scheduler.execute(last, None, jobs=2, launch=launch, project=project)
    assert max(len(p) for p in peaks) == 2


def test_a_run_counts_the_memory_autograd_saves(tmp_path, monkeypatch):
    (d4,) = run_plan.plan(tmp_path, [0], ["table3"], models=["d4segnet"])
    (p4,) = run_plan.plan(tmp_path, [0], ["table3"], models=["p4segnet"])
    (cnn,) = run_plan.plan(tmp_path, [0], ["table1"], models=["cnn"])
    gib = {r.name: projection.training_memory_gib(r.config()) for r in (d4, p4, cnn)}
    # batch 20 at 256² against batch 64 at 33²; D4's 8 group elements keep more feature maps than P4's 4
    assert gib["cnn"] < 1.5 < gib["p4segnet"] < gib["d4segnet"]
    assert 10 < gib["d4segnet"] < 14  # one real step of D4SegNet peaked at 10.1 GiB resident
    # a heap that keeps what it frees holds HEAP_FACTOR times the saved tensors: the training processes of
    # `make reproduce` do, unless GLIBC_TUNABLES is set otherwise (empty: glibc's defaults)
    kept = projection.training_memory_gib(d4.config(), keeps_freed=True)
    PROCESS = projection.PROCESS_GIB
    assert kept - PROCESS == pytest.approx(projection.HEAP_FACTOR * (gib["d4segnet"] - PROCESS))
    for tunables, expected in [("", gib["d4segnet"]), ("glibc.malloc.mmap_max=0", kept), (None, kept)]:
        if tunables is None:
            monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
            monkeypatch.setattr(sys, "platform", "linux")
        else:
            monkeypatch.setenv("GLIBC_TUNABLES", tunables)
        assert run_plan.project_run(d4, {}, done=[]).memory_gib == expected


def test_git_keeps_exactly_the_records_of_a_full_run():
    """.gitignore keeps gcnn_study.run.records.RECORDS of each results/full run (a clone continues from them and
    redraws the equivariance report from them) and nothing else of it: no checkpoint, log or W&B file."""
    run = "results/full/runs/table3/d4segnet/seed=0"
    others = ["checkpoint.pt", "train.log", "failed.json", ".hydra/config.yaml", "wandb/run.wandb", "previous/x/a.json"]
    paths = [f"{run}/{name}" for name in (*records.RECORDS, *others)]
    done = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=REPO, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    assert set(done.stdout.split()) == {f"{run}/{name}" for name in others}


def test_a_rate_is_keyed_by_the_model_and_its_output_block():
    """The SegNets' output block changes their speed about 3×, so rates.csv keeps one rate per head."""
    from omegaconf import OmegaConf

    assert projection.rate_key(OmegaConf.create({"name": "cnn", "group": "z2"})) == "cnn"
    assert projection.rate_key(OmegaConf.create({"name": "segnet", "head": "conv1x1"})) == "segnet@conv1x1"
    (run,) = run_plan.plan(Path("unused"), [0], ["table4"], models=["d4segnet_t"])
    assert projection.rate_key(run.config().model) == "d4segnet_t@conv_relu_bn"
