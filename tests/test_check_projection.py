"""scripts/check_projection.py: the projection beside the epochs a finished run measured."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

from omegaconf import OmegaConf

from gcnn import projection
from helpers import REPO, compose_cfg

spec = importlib.util.spec_from_file_location("check_projection", REPO / "scripts" / "check_projection.py")
check_projection = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_projection)

MACHINE = "cpu: test machine, 1 threads"


def fake_run(results: Path, epoch_seconds: list[float], model: str = "p4cnn") -> Path:
    cfg = compose_cfg("experiment=table1_written", f"model={model}", "dataset.max_train=1000")
    run = results / "runs" / "table1_written" / model / "seed=0"
    run.mkdir(parents=True)
    OmegaConf.save(cfg, run / "config.yaml")
    with open(run / "history.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train_loss", "seconds"])
        w.writerows([i + 1, 0.1, s] for i, s in enumerate(epoch_seconds))
    record = {"machine": MACHINE, "train_seconds": sum(epoch_seconds), "peak_memory_gib": 1.25}
    (run / "metrics.json").write_text(json.dumps(record))
    return run


def test_projected_epoch_is_flop_over_the_measured_rate_and_is_compared_with_the_fastest_epoch(tmp_path, capsys):
    rates = tmp_path / "rates.csv"
    rates.write_text(f'machine,threads,copies,model,gflops,measured\n"{MACHINE}",1,2,p4cnn,10.0,now\n')
    run = fake_run(tmp_path / "full", [4.0, 9.0, 5.0])
    row = check_projection.check(run, 2, rates)
    gflop = projection.gflop_per_image(OmegaConf.load(run / "config.yaml"))
    assert row["projected"] == gflop * 1000 / 10.0
    assert (row["fastest"], row["median"], row["epochs"]) == (4.0, 5.0, 3)
    out = tmp_path / "check.md"
    assert (
        check_projection.main(["--results-dir", str(tmp_path / "full"), "--rates", str(rates), "--out", str(out)]) == 0
    )
    within = abs(row["projected"] / 4.0 - 1) <= check_projection.TOLERANCE
    assert f"{int(within)} of 1 runs within 25%" in capsys.readouterr().out
    assert "runs/table1_written/p4cnn/seed=0" in out.read_text()
    # the memory make reproduce schedules with, beside the peak the run recorded
    memory = projection.training_memory_gib(OmegaConf.load(run / "config.yaml"))
    assert row["memory"] == memory and row["peak_memory"] == 1.25
    assert out.read_text().splitlines()[-3].endswith(f"| {memory:.2f} | 1.25 |")


def test_no_measured_rate_for_the_runs_machine_is_an_error(tmp_path, capsys):
    rates = tmp_path / "rates.csv"
    rates.write_text('machine,threads,copies,model,gflops,measured\n"another machine",1,2,p4cnn,10.0,now\n')
    fake_run(tmp_path / "full", [4.0])
    assert check_projection.main(["--results-dir", str(tmp_path / "full"), "--rates", str(rates)]) == 1
    assert "no finished run with a measured rate" in capsys.readouterr().err


def test_a_finished_run_without_a_rate_for_its_machine_is_named_not_dropped(tmp_path, capsys):
    rates = tmp_path / "rates.csv"
    rates.write_text(f'machine,threads,copies,model,gflops,measured\n"{MACHINE}",1,2,p4cnn,10.0,now\n')
    fake_run(tmp_path / "full", [4.0])
    other = fake_run(tmp_path / "full", [5.0], model="cnn")
    record = json.loads((other / "metrics.json").read_text()) | {"machine": "another machine"}
    (other / "metrics.json").write_text(json.dumps(record))
    assert check_projection.main(["--results-dir", str(tmp_path / "full"), "--rates", str(rates)]) == 0
    out = capsys.readouterr().out
    assert "of 1 runs within 25%" in out and "Not checked (1 of 2 finished runs):" in out
    assert "runs/table1_written/cnn/seed=0: no rate measured on its machine (another machine)" in out
