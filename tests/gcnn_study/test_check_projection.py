"""scripts/check_projection.py: the projection beside the epochs a finished run measured."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from omegaconf import OmegaConf

from gcnn_study.reproduce import projection

from gcnn_study.run import provenance
from helpers import compose_cfg, load_script

check_projection = load_script("check_projection")

MACHINE = "cpu: test machine, 1 threads"


def fake_run(
    results: Path,
    epoch_seconds: list[float],
    model: str = "p4cnn",
    launches: list | None = None,
    cpu_seconds: list | None = None,
) -> Path:
    cfg = compose_cfg("experiment=table1_written", f"model={model}", "dataset.max_train=1000")
    run = results / "runs" / "table1_written" / model / "seed=0"
    run.mkdir(parents=True)
    OmegaConf.save(cfg, run / "config.yaml")
    with open(run / "history.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train_loss", "seconds", *(["cpu_seconds"] if cpu_seconds else [])])
        cpu = cpu_seconds or [None] * len(epoch_seconds)
        w.writerows(
            [i + 1, 0.1, s, *(["" if c is None else c] if cpu_seconds else [])]
            for i, (s, c) in enumerate(zip(epoch_seconds, cpu))
        )
    record = {"machine": MACHINE, "train_seconds": sum(epoch_seconds), "peak_memory_gib": 1.25}
    if launches is not None:
        record["launches"] = launches
    (run / "metrics.json").write_text(json.dumps(record))
    return run


def test_projected_epoch_is_flop_over_the_measured_rate_and_is_compared_with_the_fastest_epoch(tmp_path, capsys):
    rates = tmp_path / "rates.csv"
    rates.write_text(f'machine,threads,copies,model,gflops,measured\n"{MACHINE}",1,2,p4cnn,10.0,now\n')
    run = fake_run(tmp_path / "full", [4.0, 9.0, 5.0])
    (group,) = check_projection.groups(run, cores=2)
    assert group.copies == 2 and group.label == "test machine, 1 thread × 2"
    row = check_projection.check(group, rates)
    gflop = projection.gflop_per_image(OmegaConf.load(run / "config.yaml"))
    assert row["projected"] == gflop * 1000 / 10.0
    assert (row["fastest"], row["median"], row["epochs"]) == (4.0, 5.0, 3)
    out = tmp_path / "check.md"
    assert (
        check_projection.main(["--results-dir", str(tmp_path / "full"), "--rates", str(rates), "--out", str(out)]) == 0
    )
    within = abs(row["projected"] / 4.0 - 1) <= check_projection.TOLERANCE
    assert f"{int(within)} of 1 rows within 25%" in capsys.readouterr().out
    assert "runs/table1_written/p4cnn/seed=0" in out.read_text()
    # the memory make reproduce schedules with, beside the peak the run recorded
    memory = projection.training_memory_gib(OmegaConf.load(run / "config.yaml"))
    assert row["memory"] == memory and row["peak_memory"] == 1.25
    (line,) = [line for line in out.read_text().splitlines() if line.startswith("| runs/")]
    assert line.endswith(f"| – | {memory:.2f} | 1.25 |")  # no cpu_seconds recorded: no core share


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
    assert "of 1 rows within 25%" in out and "Not checked (1 of 2 rows):" in out
    assert "runs/table1_written/cnn/seed=0, 1 epochs on another machine: no rate measured on its machine" in out


def test_each_call_of_a_resumed_run_is_checked_against_its_own_machine_and_thread_count(tmp_path, capsys):
    """A run paused on one machine and resumed on another, then alone on two threads, has a row per machine key;
    the two-thread call ran alone (1 at once), and a rate measured with 2 at once is not its rate."""
    other, two = "cpu: other machine, 1 threads", "cpu: test machine, 2 threads"
    launches = [
        {"machine": provenance.NOT_RECORDED, "epochs": [1, 2]},  # older records: the run's machine
        {"machine": other, "epochs": [3, 4]},
        {"machine": two, "epochs": [5, 6]},
        {"machine": MACHINE, "epochs": [7, 7]},
        {"machine": MACHINE, "epochs": [8, 7]},  # a call that only evaluated
    ]
    run = fake_run(tmp_path / "full", [4.0, 5.0, 8.0, 7.0, 2.5, 3.0, 6.0], launches=launches)
    got = {g.machine: (g.seconds, g.copies) for g in check_projection.groups(run, cores=2)}
    assert got == {MACHINE: ((4.0, 5.0, 6.0), 2), other: ((8.0, 7.0), 2), two: ((2.5, 3.0), 1)}
    rates = tmp_path / "rates.csv"
    rates.write_text(
        "machine,threads,copies,model,gflops,measured\n"
        f'"{MACHINE}",1,2,p4cnn,10.0,now\n"{other}",1,2,p4cnn,20.0,now\n"{two}",2,2,p4cnn,30.0,now\n'
    )
    assert check_projection.main(["--results-dir", str(tmp_path / "full"), "--rates", str(rates)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| runs/")]
    assert [r.split(" | ")[1:4] for r in rows] == [
        ["test machine, 1 thread × 2", "3", "10.0"],
        ["other machine, 1 thread × 2", "2", "20.0"],
    ]
    assert "2 of 3 rows" not in out and "Not checked (1 of 3 rows):" in out
    assert "2 epochs on test machine, 2 threads × 1: no rate measured on its machine" in out
    with rates.open("a") as f:  # measured alone, as the call ran
        f.write(f'"{two}",2,1,p4cnn,40.0,now\n')
    check_projection.main(["--results-dir", str(tmp_path / "full"), "--rates", str(rates)])
    out = capsys.readouterr().out
    assert "| test machine, 2 threads × 1 | 2 | 40.0 |" in out and "Not checked" not in out


def _outside_line(tmp_path, capsys, seconds, cpu_seconds) -> str:
    """The check's line for a one-run result whose projection (10 s an epoch) lies outside the tolerance."""
    rates = tmp_path / "rates.csv"
    run = fake_run(tmp_path / "full", seconds, cpu_seconds=cpu_seconds)
    gflop = projection.gflop_per_image(OmegaConf.load(run / "config.yaml"))
    rates.write_text(f'machine,threads,copies,model,gflops,measured\n"{MACHINE}",1,2,p4cnn,{gflop * 100},now\n')
    assert check_projection.main(["--results-dir", str(tmp_path / "full"), "--rates", str(rates)]) == 0
    out = capsys.readouterr().out
    assert "0 of 1 rows within 25%" in out and "Outside 25% (1 rows):" in out
    (line,) = [line for line in out.splitlines() if line.startswith("- runs/table1_written/p4cnn")]
    return line


def test_a_row_outside_the_tolerance_says_whether_the_run_had_its_cores(tmp_path, capsys):
    """cpu_seconds ÷ seconds of a one-thread run is the share of its core it had: an epoch of 20 s wall with 10 s
    of CPU shared its core half the time, and says nothing about the rate; 20 s wall with 19 s CPU is a miss."""
    shared = _outside_line(tmp_path / "a", capsys, [20.0, 20.0, 24.0], [10.0, 10.0, 12.0])
    assert "projected ÷ fastest 0.50" in shared and "it had 50% of its cores: other processes ran on them" in shared
    (group,) = check_projection.groups(tmp_path / "a/full/runs/table1_written/p4cnn/seed=0", cores=2)
    assert group.cpu_seconds == (10.0, 10.0, 12.0) and check_projection.core_share(group) == 0.5
    alone = _outside_line(tmp_path / "b", capsys, [20.0, 20.0], [19.0, 20.0])
    assert "it had 98% of its cores: the projection itself is off" in alone
    unknown = _outside_line(tmp_path / "c", capsys, [20.0, 20.0], None)
    assert "CPU time is not recorded" in unknown
    # a run resumed across the commit that added the column: only its recorded epochs count
    (group,) = check_projection.groups(
        fake_run(tmp_path / "d", [20.0, 20.0, 20.0], cpu_seconds=[None, 5.0, 5.0]), cores=2
    )
    assert group.cpu_seconds == (None, 5.0, 5.0) and check_projection.core_share(group) == 0.25
