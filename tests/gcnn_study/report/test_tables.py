"""The aggregator: real tiny runs in, the study's layout out, missing and failed runs listed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gcnn_study.report.tables import (
    README_BEGIN,
    README_END,
    TABLES,
    aggregate,
    build_table,
    render_markdown,
    study_reference,
    write_readme,
)
from gcnn_study.train import run
from helpers import TINY, compose_cfg


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Two seeds of the CNN on the sample digits, one failed P4CNN run; the other models are missing."""
    root = tmp_path_factory.mktemp("results")
    for seed in (0, 1):
        run(
            compose_cfg(
                *[
                    "experiment=table1",
                    "model=cnn",
                    "dataset=mnist_sample",
                    "dataset.max_train=64",
                    "dataset.max_test=64",
                    f"seed={seed}",
                    f"paths.results_dir={root}",
                    "logger=none",
                    *TINY,
                ]
            )
        )
    failed = root / "runs/table1/p4cnn/seed=0"
    failed.mkdir(parents=True)
    (failed / "failed.json").write_text(json.dumps({"error": "DataError: something broke"}))
    return root


def test_table_from_real_runs_lists_missing_and_failed(results):
    out = build_table("table1", results, seeds=[0, 1], command="make table1 SEEDS=0,1")
    text = out.read_text()
    table = pd.read_csv(results / "table1.csv")
    assert table["model"].tolist() == ["CNN", "P4CNN", "P6CNN", "P8CNN", "D4CNN"]  # the study's order
    accs = [
        json.loads((results / f"runs/table1/cnn/seed={s}/metrics.json").read_text())["metrics"]["test_acc"]
        for s in (0, 1)
    ]
    cnn = table.iloc[0]
    assert cnn["n"] == 2 and cnn["test_acc_mean"] == pytest.approx(sum(accs) / 2)
    assert cnn["test_acc_study"] == 0.982 and cnn["params"] == 395_882
    assert f"{sum(accs) / 2 * 100:.2f}" in text and "98.20 %" in text and "(n=2)" in text
    assert "p4cnn seed=0: failed: DataError: something broke" in text
    for name in ("p6cnn", "p8cnn", "d4cnn"):
        assert f"{name} seed=0: missing" in text and f"{name} seed=1: missing" in text
    assert "p4cnn seed=1: missing" in text
    assert "mnist_sample at 33×33, 2 epochs, cpu: 2 runs" in text
    machine = json.loads((results / "runs/table1/cnn/seed=0/metrics.json").read_text())["machine"]
    assert f"- {machine}: cnn" in text  # the footer names the machine of the runs
    assert "Made by: `make table1 SEEDS=0,1`" in text


def test_empty_results_give_a_table_of_missing_runs(tmp_path):
    text = build_table("table3", tmp_path, seeds=[0]).read_text()
    for name in ("segnet", "p4segnet", "d4segnet", "segnet+", "p4segnet+"):
        assert f"{name} seed=0: missing" in text
    assert "0.718" in text  # the study's value stands even when ours is missing


def test_reference_file_covers_every_table_cell():
    ref = study_reference()
    for spec in TABLES.values():  # a table of kept records stands beside the study's table it repeats (spec.study)
        for _, model in spec.rows:
            for _, metric in spec.columns:
                assert ((ref.table == spec.study) & (ref.model == model) & (ref.metric == metric)).sum() == 1


def test_command_line(results):
    proc = subprocess.run(
        [sys.executable, "-m", "gcnn_study.report.tables", "table1", "--results-dir", str(results)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "| CNN |" in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "gcnn_study.report.tables", "table9"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0 and "table9" in bad.stderr
    none = subprocess.run(
        [sys.executable, "-m", "gcnn_study.report.tables"], capture_output=True, text=True, timeout=120
    )
    assert none.returncode == 2 and "give the tables to build, or --readme README.md" in none.stderr


def _fake_runs(rows: list[dict]) -> pd.DataFrame:
    """Finished runs as collect_runs returns them (only the columns aggregate reads)."""
    base = {"params": 100, "train_seconds": 1.0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_n_is_counted_per_metric_where_a_run_lacks_one():
    """Three runs of one row, one of which has no rotated score: that column's n is 2, its mean of the two."""
    runs = _fake_runs(
        [
            {
                "run": "segnet_t",
                "seed": 0,
                "train_iou_score": 0.8,
                "test_iou_score": 0.6,
                "test_rotated_iou_score": 0.5,
            },
            {
                "run": "segnet_t",
                "seed": 1,
                "train_iou_score": 0.9,
                "test_iou_score": 0.7,
                "test_rotated_iou_score": 0.7,
            },
            {"run": "segnet_t", "seed": 2, "train_iou_score": 0.7, "test_iou_score": 0.5},
        ]
    )
    spec = TABLES["table4"]
    table = aggregate(spec, runs, study_reference())
    row = table.set_index("run_name").loc["segnet_t"]
    assert row["n"] == 3 and row["test_iou_score_n"] == 3 and row["test_rotated_iou_score_n"] == 2
    assert row["test_rotated_iou_score_mean"] == pytest.approx(0.6)
    assert row["test_rotated_iou_score_std"] == pytest.approx(0.1414213562, rel=1e-9)  # sample std of 0.5, 0.7
    text = render_markdown(spec, table, runs.assign(dataset="ph2", input_size="33×33", epochs=1, device="cpu",
                                                    synthetic=False, machine="cpu: x"), [], [], "cmd")  # fmt: skip
    assert "0.600 ± 0.141 (n=2)" in text and "0.600 ± 0.100 (n=3)" in text
    assert table.set_index("run_name").loc["d4segnet_t", "test_iou_score_n"] == 0  # a row without runs: n = 0


def test_only_tables_with_study_columns_cite_the_study():
    runs = _fake_runs([{"run": "p6cnn", "seed": 0, "test_acc": 0.9, "test_transformed_acc": 0.4}])
    for name, cites in [("ablation_p6_table1", False), ("table1", True)]:
        spec = TABLES[name]
        text = render_markdown(spec, aggregate(spec, runs, study_reference()), runs.iloc[0:0], [], [], "cmd")
        assert ("study_results.csv" in text) is cites and "Ours: mean ± sample std" in text


def _readme(tmp_path: Path, body: str = "old text\n") -> Path:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{README_BEGIN}\n{body}{README_END}\n\n## After\n")
    return readme


def test_the_readme_block_shows_finished_rows_beside_the_study(results, tmp_path):
    readme = _readme(tmp_path)
    assert write_readme(readme, results) is True
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith(f"{README_END}\n\n## After\n")  # only the block changes
    block = text[text.index(README_BEGIN) + len(README_BEGIN) : text.index(README_END)]
    acc = pd.read_csv(build_table("table1", results, seeds=[0, 1]).with_suffix(".csv")).iloc[0]
    cnn = next(line for line in block.splitlines() if line.startswith("| CNN |"))
    assert f"{acc['test_acc_mean'] * 100:.2f}" in cnn and "98.20 %" in cnn and "34.10 %" in cnn
    assert next(line for line in block.splitlines() if line.startswith("| P4CNN |")).startswith("| P4CNN | – | 95.80 %")
    assert "| D4SegNet_T | – | 0.834 | – | 0.693 |" in block  # a row without runs still shows the study's
    link = os.path.relpath(results, tmp_path)
    heads = [line.split(" | ")[0] for line in block.splitlines() if line.startswith("| [")]
    assert heads == [f"| [Table {i}]({link}/table{i}.md)" for i in (1, 2, 3, 4)]  # the four tables, each linked
    tables, verdicts = block.split("[The study's 28 claims](")  # the tables, then the claims by verdict
    assert all(line.startswith("|") for line in tables.splitlines() if line.strip())  # no prose among the tables
    assert verdicts.startswith(f"{link}/claims.md), by our verdict:") and "- **not checked** (27)" in verdicts
    assert write_readme(readme, results) is False  # written once, it stands


def test_a_readme_without_its_block_is_refused_in_one_line(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    with pytest.raises(SystemExit, match="README.md needs one results block"):
        write_readme(readme, results)
    readme.write_text(f"{README_END}\n{README_BEGIN}\n")  # the markers the wrong way round
    with pytest.raises(SystemExit, match="needs one results block"):
        write_readme(readme, results)
    assert readme.read_text() == f"{README_END}\n{README_BEGIN}\n"


def test_runs_trained_by_several_launches_are_listed_with_the_commit_of_their_epochs(results, tmp_path):
    import shutil

    from gcnn_study.run import provenance

    text = build_table("table1", results, seeds=[0, 1], command="make table1").read_text()
    assert "several launches" not in text  # each tiny run was one process
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    path = copy / "runs/table1/cnn/seed=1/metrics.json"
    record = json.loads(path.read_text())
    (launch,) = record["launches"]
    assert launch["epochs"] == [1, 2] and launch["machine"] == record["machine"]
    old = {**launch, "epochs": [1, 1], "commit": provenance.NOT_RECORDED, "machine": provenance.NOT_RECORDED}
    later = {**launch, "epochs": [2, 2], "commit": "0123456789abcdef" + "0" * 24, "dirty": True}
    record["launches"] = [old, later]
    path.write_text(json.dumps(record))
    text = build_table("table1", copy, seeds=[0, 1], command="make table1").read_text()
    assert "- cnn seed=1: epoch 1 not recorded; epoch 2 at 0123456 (uncommitted changes)" in text
    assert "- cnn seed=0:" not in text


ONE = "cpu: AMD EPYC, capability AVX512, 1 threads, portable mode off, torch 2.14.1"
TWO = ONE.replace("1 threads", "2 threads")


def test_each_run_s_placement_comes_from_its_record():
    from gcnn_study.report.tables import placement

    assert placement({"machine": ONE, "cores": 2}) == "1 thread of 2 cores"
    assert placement({"machine": TWO, "cores": 2}) == "2 threads of 2 cores"
    assert placement({"machine": ONE, "cores": float("nan")}) == "1 thread"  # cores not recorded
    assert placement({"machine": ONE, "cores": 2}, processor=True) == "AMD EPYC, 1 thread of 2 cores"
    assert placement({"machine": "cuda: NVIDIA H100, torch 2.14.1, CUDA 13.0, cuDNN 92400"}) == "GPU"
    assert placement({"machine": "machine not recorded"}) == ""
    resumed = {"machine": "mixed: …", "cores": 2, "launches": [{"machine": ONE, "epochs": [1, 1]},
                                                                 {"machine": TWO, "epochs": [2, 40]}]}  # fmt: skip
    assert placement(resumed) == "1 thread of 2 cores for epoch 1, 2 threads of 2 cores for epochs 2-40"
    same = {**resumed, "machine": ONE, "launches": [{**x, "machine": ONE} for x in resumed["launches"]]}
    assert placement(same) == "1 thread of 2 cores"  # paused and resumed alike: one placement


def test_the_time_column_says_how_the_rows_were_placed():
    spec = TABLES["table3"]
    runs = _fake_runs(
        [
            {"run": "p4segnet", "seed": 0, "train_seconds": 13482.957, "machine": ONE, "cores": 2},
            {"run": "p4segnet+", "seed": 0, "train_seconds": 4660.71, "machine": TWO, "cores": 2},
            {"run": "segnet", "seed": 0, "machine": ONE, "cores": 2},
            {"run": "segnet", "seed": 1, "machine": TWO, "cores": 2},
        ]
    ).assign(dataset="ph2", input_size="256×256", epochs=40, device="cpu", synthetic=False)
    table = aggregate(spec, runs, study_reference()).set_index("run_name")
    assert table.loc["p4segnet", "placement"] == "1 thread of 2 cores"
    assert table.loc["p4segnet+", "placement"] == "2 threads of 2 cores"
    assert table.loc["segnet", "placement"] == "mixed: 1 thread of 2 cores / 2 threads of 2 cores"
    assert table.loc["d4segnet", "placement"] == ""  # no run
    text = render_markdown(spec, table.reset_index(), runs, [], [], "cmd")
    assert "| 224.7 min (1 thread of 2 cores) |" in text and "| 77.7 min (2 threads of 2 cores) |" in text
    assert "train time / run (placement) |" in text
    assert "The rows here were placed differently: compare their times only between rows placed alike." in text
    alike = runs[runs.run == "p4segnet"]
    text = render_markdown(spec, aggregate(spec, alike, study_reference()), alike, [], [], "cmd")
    assert "All rows here were placed alike." in text


# ----------------------------------------------------------------------------------------------- the row's model
def _foreign_run(results: Path, seed: int, *model: str) -> subprocess.CompletedProcess:
    """The issue's command, narrowed: `model=cnn model.group=p5` trains a P5 network and files it as cnn."""
    cmd = [sys.executable, "-m", "gcnn_study.train", "experiment=table1", "model=cnn", *model, "dataset=mnist_sample"]
    cmd += ["dataset.max_train=64", "dataset.max_test=64", *TINY, "logger=none", f"seed={seed}"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src"), "HYDRA_FULL_ERROR": ""}
    cmd += [f"paths.results_dir={results}"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=results)


def test_a_run_that_is_not_its_rows_model_is_warned_listed_and_never_averaged(results, tmp_path):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    proc = _foreign_run(copy, 2, "model.group=p5", "model.channels=[4,4,4,4,4]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = proc.stdout + proc.stderr  # Hydra's log goes to stdout
    assert "model.group=p5 model.channels=[4,4,4,4,4] changes the model of table1's cnn row" in said
    text = build_table("table1", copy, seeds=[0, 1, 2]).read_text()
    accs = [json.loads((copy / f"runs/table1/cnn/seed={s}/metrics.json").read_text())["metrics"] for s in (0, 1)]
    cnn = next(line for line in text.splitlines() if line.startswith("| CNN |"))
    assert f"{sum(a['test_acc'] for a in accs) / 2 * 100:.2f}" in cnn and "(n=2)" in cnn  # seeds 0 and 1 alone
    assert "| 395,882 |" in cnn  # the CNN's parameters, not the P5 network's
    (listed,) = [line for line in text.splitlines() if line.startswith("- cnn seed=2: ")]
    assert listed.startswith(
        "- cnn seed=2: not this row's model, not averaged: model.channels=[4,4,4,4,4] (the row's [16,32,64,128,256]), "
        "model.group=p5 (the row's z2), not conf/model/cnn.yaml as experiment=table1 composes it"
    )
    # Alone in its row, it is no number at all.
    for seed in (0, 1):
        shutil.rmtree(copy / f"runs/table1/cnn/seed={seed}")
    text = build_table("table1", copy, seeds=[2]).read_text()
    cnn = next(line for line in text.splitlines() if line.startswith("| CNN |"))
    assert cnn.startswith("| CNN | not this row's model | 98.20 % | not this row's model | 34.10 % | – |")
    readme = _readme(tmp_path)
    write_readme(readme, copy)
    assert "| CNN | not this row's model | 98.20 % | not this row's model | 34.10 % |" in readme.read_text()


def test_a_run_recorded_before_a_model_key_was_added_is_still_its_rows_model(results, tmp_path, monkeypatch):
    """A key added to the model configs later (gcnn_study.run.identity.ADDED) is absent from older records: it compares
    as the value those runs trained with, so the record stays its row's model, and a row whose default moved on does
    not."""
    from gcnn_study.report import collect

    monkeypatch.setattr(collect, "ADDED", {"model.init": "fan_in", "model.head": "conv1x1"})
    old = {"name": "cnn", "group": "z2", "channels": [16, 32]}  # as a record written before `init` was
    assert collect._architecture(old) == {
        "model.init": "fan_in",
        "model.head": "conv1x1",
        "model.group": "z2",
        "model.channels": [16, 32],
    }
    assert collect._architecture({**old, "init": "notebook"})["model.init"] == "notebook"
    copy = tmp_path / "results"
    import shutil

    shutil.copytree(results, copy)
    config = copy / "runs/table1/cnn/seed=0/config.yaml"
    config.write_text("\n".join(line for line in config.read_text().splitlines() if line.strip() != "init: fan_in"))
    assert collect.foreign_model(config.parent, "table1", "cnn") is None
    text = build_table("table1", copy, seeds=[0, 1]).read_text()
    assert "(n=2)" in next(line for line in text.splitlines() if line.startswith("| CNN |"))
