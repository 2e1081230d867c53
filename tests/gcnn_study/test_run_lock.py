"""One process at a time in a run directory: a second launch refuses in one line naming the holder (host and pid),
a dead holder's lock is taken over, Ctrl-C / SIGTERM stop a run in one line with its epochs saved, and SIGUSR1
pauses it after its epoch under way (exit 75)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gcnn_study.run import lock, rundir
from gcnn_study.run.lock import RunLock
from gcnn_study.run.rundir import LOCK, RunDirError
from helpers import REPO, SAMPLE_RUN


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(run_dir: Path, host: str, pid: int, age_s: float = 0.0) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    path.write_text(json.dumps({"host": host, "pid": pid, "started": time.time() - age_s, "token": "old"}))
    os.utime(path, (time.time() - age_s, time.time() - age_s))
    return path


def test_a_held_run_directory_is_refused_in_one_line_naming_host_and_pid(tmp_path):
    with RunLock(tmp_path / "run"):
        holder = json.loads((tmp_path / "run" / LOCK).read_text())
        assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
        with pytest.raises(RunDirError) as err:
            RunLock(tmp_path / "run").__enter__()
    message = str(err.value)
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in message and "\n" not in message
    assert not (tmp_path / "run" / LOCK).exists()  # released on exit


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), RunLock(tmp_path / "run"):
        raise RuntimeError("boom")
    assert not (tmp_path / "run" / LOCK).exists()


def test_a_lock_whose_process_is_gone_is_taken_over_with_a_log_line(tmp_path, caplog):
    _write_lock(tmp_path / "run", socket.gethostname(), _dead_pid())  # as after SIGKILL
    with caplog.at_level(logging.WARNING, logger="gcnn_study.run.lock"), RunLock(tmp_path / "run"):
        assert json.loads((tmp_path / "run" / LOCK).read_text())["pid"] == os.getpid()
    assert "took over the stale lock" in caplog.text and "its process is gone" in caplog.text
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []  # nothing left behind


def test_another_hosts_lock_holds_while_it_beats_and_is_taken_over_after_the_timeout(tmp_path, caplog):
    _write_lock(tmp_path / "run", "node-17", 4242, age_s=60)  # a live job on another node
    with pytest.raises(RunDirError, match="in use by pid 4242 on host node-17"):
        RunLock(tmp_path / "run").__enter__()
    _write_lock(tmp_path / "run", "node-17", 4242, age_s=lock.STALE_AFTER_S + 60)  # the node is gone
    with caplog.at_level(logging.WARNING, logger="gcnn_study.run.lock"), RunLock(tmp_path / "run"):
        pass
    assert "no heartbeat for 11 min" in caplog.text


def test_the_holder_refreshes_its_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "HEARTBEAT_S", 0.05)
    with RunLock(tmp_path / "run"):
        path = tmp_path / "run" / LOCK
        os.utime(path, (time.time() - 500, time.time() - 500))
        time.sleep(0.5)
        assert time.time() - path.stat().st_mtime < 5


def test_the_lock_is_not_a_result_and_stays_when_a_run_is_archived(tmp_path):
    with RunLock(tmp_path / "run"):
        assert not rundir.has_results(tmp_path / "run")
        (tmp_path / "run" / "checkpoint.pt").write_bytes(b"x")
        rundir.archive(tmp_path / "run")
        assert (tmp_path / "run" / LOCK).exists()


# ----------------------------------------------------------------------------------------------- real processes
LONG = [*SAMPLE_RUN, "trainer.epochs=1000", "trainer.batch_size=16", "trainer.limit_train_batches=2"]
LONG += ["trainer.limit_eval_batches=1", "logger=none", "trainer.num_threads=1"]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HYDRA_FULL_ERROR": ""}


def _train(results: Path, *more: str, multirun=False):
    """A training process; its output goes to a file (a long run's log would fill a pipe nobody reads)."""
    cmd = [sys.executable, "-m", "gcnn_study.train", *(["--multirun"] if multirun else []), *LONG, *more]
    cmd.append(f"paths.results_dir={results}")
    log = open(results.parent / f"stderr-{time.monotonic_ns()}.txt", "w+")
    # Ctrl-C's default action in the child even when this suite runs in a background job, whose shell sets
    # SIGINT to "ignore" for it (and Python keeps an ignored SIGINT ignored, so the run would train on).
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
        cwd=results.parent,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    proc.log = log
    return proc


def _stderr(proc, timeout=300) -> str:
    proc.wait(timeout=timeout)
    proc.log.seek(0)
    return proc.log.read()


def _wait_for_a_saved_epoch(run_dir: Path, proc, timeout=180) -> None:
    """Until the run in `proc` writes its checkpoint (once more than when this was called)."""
    path, deadline = run_dir / "checkpoint.pt", time.time() + timeout
    before = path.stat().st_mtime_ns if path.exists() else None
    while not path.exists() or path.stat().st_mtime_ns == before:
        assert proc.poll() is None, _stderr(proc)
        assert time.time() < deadline, "the run saved no epoch in time"
        time.sleep(0.05)


def test_a_second_process_is_refused_and_signals_stop_the_holder_in_one_line(tmp_path):
    results = tmp_path / "results"
    run_dir = results / "runs/table1/cnn/seed=0"
    holder = _train(results)
    try:
        _wait_for_a_saved_epoch(run_dir, holder)
        # the same command, the same run with other settings (the case that once mixed two runs' files), and
        # a multirun job: each refused in one line naming the holder, while the holder trains on
        same = _train(results)
        other = _train(results, "trainer.epochs=1")
        sweep = _train(results, "trainer.epochs=2", "seed=0", multirun=True)
        for proc in (same, other, sweep):
            err = _stderr(proc)
            assert proc.returncode == 1 and "Traceback" not in err, err
            assert f"is in use by pid {holder.pid} on host {socket.gethostname()}" in err
        assert holder.poll() is None
        holder.send_signal(signal.SIGTERM)  # a cluster's time limit
        err = _stderr(holder, 120)
    finally:
        holder.kill()
    assert holder.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"interrupted: {run_dir} stopped by SIGTERM at epoch ")
    assert "are saved and the same command resumes from them" in last
    assert "epochs: 1000" in (run_dir / "config.yaml").read_text()  # the refused launches wrote nothing
    assert not (run_dir / LOCK).exists() and not (run_dir / "failed.json").exists()
    assert not (run_dir / "metrics.json").exists()

    resumed = _train(results)  # the same command resumes; Ctrl-C stops it the same way
    try:
        _wait_for_a_saved_epoch(run_dir, resumed)
        resumed.send_signal(signal.SIGINT)
        err = _stderr(resumed, 120)
    finally:
        resumed.kill()
    assert resumed.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "resuming" in err and err.strip().splitlines()[-1].startswith(f"interrupted: {run_dir} stopped by SIGINT")

    paused = _train(results)  # SIGUSR1: the epoch under way ends and is saved, the next does not start
    try:
        _wait_for_a_saved_epoch(run_dir, paused)
        saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)["epoch"]
        paused.send_signal(signal.SIGUSR1)
        err = _stderr(paused, 120)
    finally:
        paused.kill()
    last = err.strip().splitlines()[-1]
    assert paused.returncode == 75 and "Traceback" not in err, err
    assert last.startswith(f"paused: {run_dir} stopped before epoch ") and "as its launcher asked (SIGUSR1)" in last
    epoch = torch.load(run_dir / "checkpoint.pt", weights_only=False)["epoch"]
    assert epoch >= saved and f"before epoch {epoch + 1}/1000" in last and f"epochs 1-{epoch} are saved" in last

    killed = _train(results)  # SIGKILL leaves its lock behind; the next launch takes it over
    try:
        _wait_for_a_saved_epoch(run_dir, killed)
    finally:
        killed.kill()
        killed.wait()
    assert json.loads((run_dir / LOCK).read_text())["pid"] == killed.pid
    with RunLock(run_dir):
        pass
