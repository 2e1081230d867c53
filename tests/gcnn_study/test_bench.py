"""`make bench-train` runs on the CPU and writes its file: all 11 models, the ratio, the projected tables, a profile;
its rates.csv is written and read by gcnn_study.reproduce.projection."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from helpers import REPO, load_script

from gcnn_study.run.provenance import cpu_model, hardware_slug

HERE = hardware_slug("cpu")  # every report is named after the machine that measured it

MODELS = [
    "cnn",
    "p4cnn",
    "p6cnn",
    "p8cnn",
    "d4cnn",
    "segnet",
    "p4segnet",
    "d4segnet",
    "segnet_t",
    "p4segnet_t",
    "d4segnet_t",
]


def test_make_bench_train_writes_every_model_row_and_a_profile(tmp_path):
    tiny = f"--out {tmp_path} --batch 2 --seg-size 16 --steps 1 --warmup 0 --eval-batches 1 --profile-steps 1"
    cmd = [
        "make",
        "--no-print-directory",
        "-o",
        "py-check",
        "bench-train",
        f"PY={sys.executable}",
        "DEVICE=cpu",
        f"BENCH_ARGS={tiny}",
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / f"training_cpu_on_{HERE}.md").read_text()
    assert "torch " in text and "Made by: `" in text and "Machine: " in text and cpu_model() in text
    assert "every batch size set to 2" in text and "16×16" in text  # the reduced settings are stated
    assert re.search(r"The machine's peak: \d+ GFLOP/s \(2048² sgemm", text)
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| (\w+) \| \d+ × [\d×]+ \|.*$", text, re.M)}
    assert sorted(rows) == sorted(MODELS)
    for line in rows.values():  # trainer, bare, ratio, memory, eval, GFLOP/img, GFLOP/s, share
        cells = [c.strip() for c in line.split("|")[1:-1]]
        trainer, bare, ratio, gflop, gflops = (float(cells[i]) for i in (2, 3, 4, 7, 8))
        assert trainer > 0 and bare > 0 and abs(ratio - trainer / bare) <= 0.002 * (1 + ratio)
        assert gflops == pytest.approx(trainer * gflop, rel=0.01, abs=0.06) and cells[9].endswith("%")
    # the projection is at the protocol (FLOP at 256², not at the measured 16²): hours per table, none missing
    assert re.search(r"^\| table4 \| 3 \| [\d.]+ \| – \|$", text, re.M)
    # rates at batch 2 and 16² would plan the protocol's runs wrongly: none is written, and the output says why
    assert not (tmp_path / "rates.csv").exists()
    assert "not written (measured at another batch or size than the protocol's)" in done.stdout
    profile = (tmp_path / f"profile_cpu_on_{HERE}.md").read_text()
    assert "Self CPU" in profile and "aten::" in profile


def _bench_module():
    return load_script("benchmark_training")


def test_re_measuring_some_models_keeps_the_other_rates(tmp_path):
    import csv

    from gcnn_study.reproduce.projection import measured_rates, write_rates

    path = tmp_path / "rates.csv"
    write_rates(path, "m", 1, 2, {"cnn": {"gflops": 30.0}, "p4cnn": {"gflops": 50.0}}, "t0")
    write_rates(path, "other", 1, 2, {"cnn": {"gflops": 99.0}}, "t0")
    write_rates(path, "m", 1, 2, {"cnn": {"gflops": 40.0}}, "t1")  # `--models cnn` again on machine m
    with open(path, newline="") as f:
        rates = {(r["machine"], r["model"]): (r["gflops"], r["measured"]) for r in csv.DictReader(f)}
    assert rates == {("m", "p4cnn"): ("50.00", "t0"), ("other", "cnn"): ("99.00", "t0"), ("m", "cnn"): ("40.00", "t1")}
    assert measured_rates("m", copies=2, path=path) == {"p4cnn": 50.0, "cnn": 40.0}  # the reader reads what it wrote


def test_a_measurement_never_replaces_one_of_other_models_or_of_another_machine(tmp_path):
    bench = _bench_module()
    assert (
        bench.MODELS == MODELS
    )  # the study's eleven, from gcnn_study.config.specs through gcnn_study.reproduce.throughput
    every = bench.report_path(tmp_path, "cpu", None, 1, list(reversed(MODELS)), "amd-epyc")
    assert every == tmp_path / "training_cpu_on_amd-epyc.md"
    assert (
        bench.report_path(tmp_path, "cpu", 1, 2, MODELS, "amd-epyc") == tmp_path / "training_cpu_1t_2x_on_amd-epyc.md"
    )
    some = bench.report_path(tmp_path, "cpu", 1, 2, ["cnn", "p4cnn"], "amd-epyc")
    assert some == tmp_path / "training_cpu_1t_2x_cnn+p4cnn_on_amd-epyc.md"
    other = bench.report_path(tmp_path, "cpu", 1, 2, ["cnn", "p4cnn"], "intel-xeon-processor")
    assert other == tmp_path / "training_cpu_1t_2x_cnn+p4cnn_on_intel-xeon-processor.md"


def test_the_hardware_slug_names_the_processor_in_a_file_name(monkeypatch):
    from gcnn_study.run import provenance

    for name, slug in {
        "AMD EPYC": "amd-epyc",
        "Intel(R) Xeon(R) Processor": "intel-xeon-processor",
        "Intel(R) Core(TM) i7-9700K CPU @ 3.60GHz": "intel-core-i7-9700k-cpu-3-60ghz",
        "": "unknown",
    }.items():
        monkeypatch.setattr(provenance, "cpu_model", lambda name=name: name)
        assert provenance.hardware_slug("cpu") == slug


def test_only_rates_at_the_protocols_batch_and_size_may_plan_its_runs():
    from gcnn_study.reproduce.throughput import at_protocol

    assert at_protocol("segnet", {"batch": 20, "shape": [3, 256, 256]})
    assert at_protocol("segnet_t", {"batch": 20, "shape": [3, 257, 257]})
    assert at_protocol("p4cnn", {"batch": 64, "shape": [1, 33, 33]})
    assert not at_protocol("segnet", {"batch": 2, "shape": [3, 256, 256]})  # the old CPU default
    assert not at_protocol("segnet_t", {"batch": 20, "shape": [3, 256, 256]})
    assert not at_protocol("p4cnn", {"batch": 2, "shape": [1, 33, 33]})


def test_trainer_only_leaves_the_bare_columns_empty_and_says_so(tmp_path):
    args = ["--device", "cpu", "--models", "cnn,segnet", "--out", str(tmp_path), "--trainer-only", "--no-profile"]
    args += ["--steps", "2", "--warmup", "1", "--eval-batches", "1", "--seg-size", "16", "--seg-batch", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "scripts/benchmark_training.py", *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / f"training_cpu_cnn+segnet_on_{HERE}.md").read_text()
    assert "bare: not measured (`--trainer-only`)" in text and "batch **2**, not the protocol's 20" in text
    rows = {m.group(1): m.group(0).split("|")[1:-1] for m in re.finditer(r"^\| (\w+) \| \d+ × .*$", text, re.M)}
    assert sorted(rows) == ["cnn", "segnet"]
    assert all(float(r[2]) > 0 and r[3].strip() == r[4].strip() == "–" for r in rows.values())
    # the CNN ran at its protocol (batch 64, 33²) and its rate is written; the reduced SegNet's is not
    rates = (tmp_path / "rates.csv").read_text().splitlines()
    assert len(rates) == 2 and rates[1].split(",")[-3] == "cnn"


def test_copies_that_would_not_fit_the_memory_are_refused_before_they_start():
    """Two copies of D4SegNet at 256² (over 10 GiB each, counted on the meta device) in 16 GiB: one line naming the
    model and the fix, instead of the kernel killing a copy (or a run training beside the measurement)."""
    bench = _bench_module()
    args = bench.parse_args(["--models", "cnn,d4segnet", "--copies", "2"])
    with pytest.raises(SystemExit) as err:
        bench.refuse_what_does_not_fit(args, available=16.0)
    message = str(err.value)
    assert "\n" not in message and "2 copies of d4segnet need about" in message and "--copies 1" in message
    bench.refuse_what_does_not_fit(bench.parse_args(["--models", "cnn", "--copies", "2"]), available=16.0)
