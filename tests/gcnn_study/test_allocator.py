"""gcnn_study.process.allocator: the training processes keep the memory a step frees, and compute the same bits."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from gcnn_study.process import allocator
from helpers import REPO

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _env(tunables: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != allocator.VARIABLE}
    env["PYTHONPATH"] = str(REPO / "src")
    return env if tunables is None else {**env, allocator.VARIABLE: tunables}


def test_ensure_restarts_the_process_once_with_the_tunables_unless_the_variable_is_set(monkeypatch):
    calls = []
    fake_execve = lambda path, argv, env: calls.append((path, argv, env))  # noqa: E731
    monkeypatch.setattr(sys, "platform", "linux")
    allocator.ensure({"HOME": "/h"}, execve=fake_execve)
    ((path, argv, env),) = calls
    assert path == sys.executable and argv[0] == sys.executable
    assert env == {"HOME": "/h", allocator.VARIABLE: allocator.TUNABLES}
    for already in ({allocator.VARIABLE: allocator.TUNABLES}, {allocator.VARIABLE: ""}):  # set, or set empty: off
        allocator.ensure(already, execve=fake_execve)
    monkeypatch.setattr(sys, "platform", "darwin")
    allocator.ensure({}, execve=fake_execve)
    assert len(calls) == 1
    assert allocator.in_effect({allocator.VARIABLE: ""}) is None and allocator.in_effect({}) is None


def test_import_gcnn_restarts_only_the_training_commands():
    assert allocator.training_command(["/usr/bin/python3", "-m", "gcnn_study.train", "model=p4cnn"])
    assert allocator.training_command(["/usr/bin/python3", "/venv/bin/gcnn-train", "model=p4cnn"])
    for other in (
        ["python", "-m", "pytest"],
        ["python", "-m", "gcnn_study.reproduce.cli"],
        ["python", "-c", "import gcnn_study"],
        [],
    ):
        assert not allocator.training_command(other)


def test_the_setting_a_training_process_gets_and_whether_it_keeps_freed_memory(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert allocator.for_training({}) == allocator.TUNABLES  # ensure() adds it
    assert allocator.for_training({allocator.VARIABLE: ""}) is None  # off
    assert allocator.for_training({allocator.VARIABLE: "glibc.malloc.hugetlb=1"}) == "glibc.malloc.hugetlb=1"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator.for_training({}) is None
    assert allocator.keeps_freed_memory(allocator.TUNABLES)
    assert allocator.keeps_freed_memory("glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0")
    for other in (None, "", "glibc.malloc.hugetlb=1", "glibc.malloc.mmap_max=10", "glibc.malloc.mmap_max=0x"):
        assert not allocator.keeps_freed_memory(other)


# A step's worth of large blocks, allocated and freed again and again, as a training step does with activations;
# the fewest page faults of one step among ten (the heap's layout varies from process to process).
FAULTS = """
import resource, torch
def step():
    for _ in range(4):
        x = torch.ones(16 * 2**20)  # 64 MiB, above glibc's largest mmap threshold
        del x
step()
counts = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(min(counts))
"""


@pytest.mark.skipif(not GLIBC, reason="glibc's tunables")
def test_with_the_tunables_freed_blocks_are_reused_without_new_page_faults():
    def faults(tunables):
        env = {**_env(tunables), "OMP_NUM_THREADS": "1"}  # one thread: every block is the main thread's
        done = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return int(done.stdout)

    default, kept = faults(""), faults(allocator.TUNABLES)
    assert default >= 4 * 16 * 2**20 // 4096 * 0.9  # each 64 MiB block mapped and zeroed again, page by page
    assert kept < default / 4


@pytest.mark.skipif(not GLIBC, reason="glibc's tunables")
def test_a_run_records_its_allocator_and_computes_the_same_bits_with_it(tmp_path):
    """`python -m gcnn_study.train` restarts itself with the tunables and records them; with GLIBC_TUNABLES set empty
    it keeps glibc's defaults. The two runs end with the same loss and metrics to the bit."""
    records = {}
    for name, tunables in [("kept", None), ("default", "")]:
        cmd = [sys.executable, "-m", "gcnn_study.train", "experiment=table1", "model=p4cnn", "dataset=mnist_sample"]
        cmd += ["trainer=quick", "trainer.epochs=1", "trainer.num_threads=1", "logger=none"]
        cmd += [f"paths.results_dir={tmp_path / name}", "dataset.max_train=128", "dataset.max_test=64"]
        done = subprocess.run(cmd, env=_env(tunables), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        (path,) = (tmp_path / name).glob("runs/*/*/seed=0/metrics.json")
        records[name] = json.loads(path.read_text())
    kept, default = records["kept"], records["default"]
    assert kept["provenance"]["allocator"] == allocator.TUNABLES and default["provenance"]["allocator"] is None
    assert kept["metrics"] == default["metrics"]
    with open(path.parent / "history.csv") as f:  # the default run's; the kept run's must have the same loss
        loss = f.read().splitlines()[1].split(",")[1]
    with open(next((tmp_path / "kept").glob("runs/*/*/seed=0/history.csv"))) as f:
        assert f.read().splitlines()[1].split(",")[1] == loss
