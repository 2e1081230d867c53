"""gcnn_study.config.layout owns the run layout: names and paths round-trip, bad paths are refused, and the config,
Hydra's sweep folders, the tables' run list and `python -m gcnn_study.config.specs` all give what it builds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gcnn_study.config import layout, specs
from helpers import REPO, compose_cfg


@pytest.mark.parametrize(("model", "augment", "run"), [("segnet", True, "segnet+"), ("p4cnn", False, "p4cnn")])
def test_run_names_round_trip(model, augment, run):
    assert layout.run_name(model, augment) == run
    assert layout.model_of(run) == (model, augment)
    assert layout.overrides_of(run) == [f"model={model}", *(["dataset.augment=true"] if augment else [])]


@pytest.mark.parametrize("bad", ["", "+", "segnet++", "a+b", "a/b"])
def test_a_name_that_the_rule_cannot_make_is_refused(bad):
    with pytest.raises(ValueError, match="is not a run name"):
        layout.model_of(bad)


@pytest.mark.parametrize("results", ["results", "/tmp/r", "a b/c"])
@pytest.mark.parametrize(("experiment", "run", "seed"), [("table1", "cnn", 0), ("table3", "p4segnet+", 12)])
def test_run_paths_round_trip(results, experiment, run, seed):
    path = layout.run_dir(results, experiment, run, seed)
    assert path == Path(results) / "runs" / experiment / run / f"seed={seed}"
    parsed = layout.parse(path)
    assert parsed == layout.RunPath(Path(results), experiment, run, seed) and parsed.path == path
    assert layout.parse(str(path)) == parsed and parsed.key == f"{experiment}/{run}"


@pytest.mark.parametrize(
    "bad",
    [
        "results/runs/table1/cnn",  # no seed folder
        "results/runs/table1/cnn/seed=x",
        "results/runs/table1/cnn/seed=-1",
        "results/runs/table1/cnn/seed=01",  # not what run_dir writes: would not build back
        "results/other/table1/cnn/seed=0",  # not under runs/
        "runs/table1/cnn++/seed=0",
        "cnn/seed=0",
    ],
)
def test_a_path_outside_the_layout_is_refused(bad):
    with pytest.raises(ValueError, match="not a run"):
        layout.parse(bad)


def test_find_lists_the_run_directories_and_skips_the_others(tmp_path):
    made = [
        layout.run_dir(tmp_path, e, r, s) for e, r, s in [("table1", "cnn", 1), ("table1", "cnn", 0), ("t3", "a+", 0)]
    ]
    for path in made + [tmp_path / "runs/table1/cnn/seed=x", tmp_path / "runs/table1/seed=0"]:
        path.mkdir(parents=True)
    (tmp_path / "runs/table1/p4cnn").mkdir()
    (tmp_path / "runs/table1/p4cnn/seed=0").write_text("a file, not a run")
    assert [r.path for r in layout.find(tmp_path)] == sorted(made)
    assert [r.seed for r in layout.find(tmp_path, "table1", "cnn")] == [0, 1]
    assert list(layout.find(tmp_path / "nowhere")) == []


# ----------------------------------------------------------------------------------------------- its askers
@pytest.mark.parametrize("table", ["table1", "table3"])
def test_the_config_and_hydra_put_every_row_where_the_layout_says(table, tmp_path):
    """conf/ builds run_name and run_dir through gcnn_study.config.layout's resolvers; Hydra's single run and sweep
    folders are the same directory, for every row of the table (the "+" rows included)."""
    experiment = specs.experiment_of(table, "written")
    for row in specs.TABLES[table].rows:
        overrides = (f"experiment={experiment}", f"model={row.model}", "seed=3", f"paths.results_dir={tmp_path}")
        cfg = compose_cfg(*overrides, *row.extra, return_hydra_config=True)
        expected = layout.run_dir(tmp_path, experiment, row.run, 3)
        assert cfg.run_name == row.run and cfg.experiment_name == experiment
        assert Path(cfg.run_dir) == expected == Path(cfg.hydra.run.dir)
        assert Path(cfg.hydra.sweep.dir) / cfg.hydra.sweep.subdir == expected
        assert layout.parse(cfg.run_dir) == layout.RunPath(tmp_path, experiment, row.run, 3)


def test_an_older_config_that_names_plus_if_still_resolves():
    layout.register_resolvers()
    old = OmegaConf.create({"model": {"name": "segnet"}, "aug": True, "run": "${model.name}${gcnn.plus_if:${aug}}"})
    assert old.run == "segnet+"


def test_the_table_rows_follow_the_rule():
    plus = [row for name in specs.STUDY_TABLES for row in specs.TABLES[name].rows if row.augmented]
    assert [row.run for row in plus] == ["segnet+", "p4segnet+"]
    row = specs.TABLES["table3"].rows[3]
    assert (row.model, row.extra) == ("segnet", ["dataset.augment=true"])
    assert specs.sweeps("table3") == [
        ["model=segnet,p4segnet,d4segnet"],
        ["model=segnet,p4segnet", "dataset.augment=true"],
    ]
    assert specs.sweeps("table1") == [["model=cnn,p4cnn,p6cnn,p8cnn,d4cnn"]]
    assert specs.TABLES["table3"].models == ("segnet", "p4segnet", "d4segnet")
    assert specs.LABELS["p4segnet+"] == "P4SegNet+" and specs.LABELS["p6cnn"] == "P6CNN"  # the study's label first


def _specs(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "gcnn_study.config.specs", *args], capture_output=True, text=True, env=env
    )


def test_the_command_line_gives_the_makefile_what_it_asks():
    assert _specs("table3", "--plain").stdout == "segnet,p4segnet,d4segnet\n"
    assert _specs("table3", "--augmented").stdout == "segnet,p4segnet\n"
    assert _specs("table3", "--sweeps").stdout.splitlines() == [
        "model=segnet,p4segnet,d4segnet",
        "model=segnet,p4segnet dataset.augment=true",
    ]
    assert _specs("--count", "table1", "table2", "table3", "table4").stdout == "18\n"
    assert _specs("--run-dir", "R", "table3", "segnet+", "2").stdout == "R/runs/table3/segnet+/seed=2\n"
    for bad in (["--run-dir", "R", "table3", "segnet++", "2"], ["table9"], []):
        done = _specs(*bad)
        assert (
            done.returncode == 2 and len(done.stderr.strip().splitlines()[-1]) < 200 and "Traceback" not in done.stderr
        )
