"""A run directory belongs to one resolved config: skip and resume only for the same settings; damaged runs
give one line; trainer.force=true archives whatever a run holds; the aggregator never averages across
settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gcnn_study.run import identity, rundir
from gcnn_study import train as train_module
from gcnn_study.run.rundir import RunDirError
from gcnn_study.report.tables import build_table
from gcnn_study.train import ConfigError, run
from helpers import SAMPLE_RUN, compose_cfg, tiny

TINY = tiny(epochs=1, limit_eval_batches=1)


def _cfg(results: Path, *more: str):
    return compose_cfg(*SAMPLE_RUN, f"paths.results_dir={results}", "logger=none", *TINY, *more)


@pytest.fixture
def finished(tmp_path) -> Path:
    """A finished 1-epoch CNN run; returns its metrics.json."""
    run(_cfg(tmp_path))
    return tmp_path / "runs/table1/cnn/seed=0/metrics.json"


@pytest.mark.parametrize(
    "change,key",
    [
        ("trainer.epochs=2", "trainer.epochs: 1 -> 2"),
        ("dataset.max_train=48", "dataset.max_train: 64 -> 48"),
        ("model.dropout=0.1", "model.dropout: 0.0 -> 0.1"),
    ],
)
def test_a_finished_run_with_other_settings_is_refused_and_kept(finished, change, key):
    before = finished.read_bytes()
    with pytest.raises(RunDirError) as err:
        run(_cfg(finished.parents[4], change))
    message = str(err.value)
    assert key in message and "trainer.force=true" in message and "paths.results_dir" in message
    assert "\n" not in message
    assert finished.read_bytes() == before


@pytest.mark.parametrize(
    "change",
    [
        "logger=wandb",
        "logger.mode=disabled",
        "trainer.num_threads=1",
        "trainer.progress=false",
        "paths.data_dir=elsewhere",
    ],
)
def test_settings_that_cannot_change_a_result_still_skip_the_finished_run(finished, change):
    stamp = finished.stat().st_mtime_ns
    again = run(_cfg(finished.parents[4], change))
    assert again == json.loads(finished.read_text()) and finished.stat().st_mtime_ns == stamp


def test_a_checkpoint_is_resumed_only_with_the_same_settings(tmp_path, interrupt_at_epoch):
    interrupt_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        run(_cfg(tmp_path, "trainer.epochs=3"))
    ckpt = tmp_path / "runs/table1/cnn/seed=0/checkpoint.pt"
    assert ckpt.exists()
    with pytest.raises(RunDirError, match=r"trainer\.lr: 5e-05 -> 0\.002"):
        run(_cfg(tmp_path, "trainer.epochs=3", "trainer.lr=0.002"))
    assert run(_cfg(tmp_path, "trainer.epochs=3"))["epochs"] == 3  # the same settings resume


def test_a_truncated_checkpoint_is_one_line_and_force_recovers(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "evaluate_splits", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run(_cfg(tmp_path))
    monkeypatch.undo()
    ckpt = tmp_path / "runs/table1/cnn/seed=0/checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(RunDirError) as err:
        run(_cfg(tmp_path))
    assert str(ckpt) in str(err.value) and "trainer.force=true" in str(err.value) and "\n" not in str(err.value)
    result = run(_cfg(tmp_path, "trainer.force=true"))
    assert result["epochs"] == 1
    archived = list((ckpt.parent / "previous").glob("*/checkpoint.pt"))
    assert len(archived) == 1 and archived[0].stat().st_size == 1000  # the damaged file is kept, not deleted
    torch.load(ckpt, weights_only=False)  # the new checkpoint is whole


def test_a_broken_metrics_file_is_one_line_and_force_recovers(finished):
    finished.write_text('{"experiment": "table1", ')
    results = finished.parents[4]
    with pytest.raises(RunDirError) as err:
        run(_cfg(results))
    assert str(finished) in str(err.value) and "trainer.force=true" in str(err.value)
    fixed = run(_cfg(results, "trainer.force=true"))
    assert json.loads(finished.read_text()) == fixed
    assert list((finished.parent / "previous").glob("*/metrics.json"))


def test_force_archives_an_unfinished_run_too(tmp_path):
    run_dir = tmp_path / "runs/table1/cnn/seed=0"
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoint.pt").write_bytes(b"half")
    run(_cfg(tmp_path, "trainer.force=true"))
    assert (next((run_dir / "previous").iterdir()) / "checkpoint.pt").read_bytes() == b"half"


def test_a_refused_setting_writes_no_run(tmp_path):
    with pytest.raises(ConfigError, match=r"trainer\.batch_size=0: must be >= 1"):
        run(_cfg(tmp_path, "trainer.batch_size=0"))
    assert not (tmp_path / "runs").exists()


def test_identity_ignores_exactly_the_listed_settings():
    a = compose_cfg("experiment=table1", "model=p4cnn")
    b = compose_cfg(
        "experiment=table1",
        "model=p4cnn",
        "logger=none",
        "trainer.force=true",
        "paths.results_dir=x",
        "trainer.num_threads=3",
    )
    assert identity.differences(identity.flat_settings(a), identity.flat_settings(b)) == []
    c = compose_cfg("experiment=table1", "model=p4cnn", "trainer.shuffle=false")
    assert identity.differences(identity.flat_settings(a), identity.flat_settings(c)) == [
        "trainer.shuffle: True -> False"
    ]


def test_the_aggregator_lists_runs_with_different_settings_instead_of_averaging(tmp_path):
    run(_cfg(tmp_path, "seed=0"))
    run(_cfg(tmp_path, "seed=1", "trainer.lr=0.002"))
    run(_cfg(tmp_path, "seed=0", "model=p4cnn"))
    run(_cfg(tmp_path, "seed=1", "model=p4cnn"))
    text = build_table("table1", tmp_path, seeds=[0, 1]).read_text()
    cnn_row = next(line for line in text.splitlines() if line.startswith("| CNN |"))
    assert "(n=" not in cnn_row  # nothing averaged
    assert "cnn seed=0,1: runs with different settings, not averaged" in text and "trainer.lr: 5e-05 -> 0.002" in text
    p4_row = next(line for line in text.splitlines() if line.startswith("| P4CNN |"))
    assert "(n=2)" in p4_row  # same settings, two seeds: averaged
    assert "- cnn seed=0: missing" not in text and "- cnn seed=1: missing" not in text


def test_a_run_that_failed_before_it_started_is_simply_started_again(tmp_path):
    run_dir = tmp_path / "runs/table1/cnn/seed=0"
    (run_dir / ".hydra/launch1").mkdir(parents=True)
    (run_dir / "failed.json").write_text('{"error": "DataError: MNIST files missing"}')
    assert not rundir.has_results(run_dir)
    assert run(_cfg(tmp_path))["epochs"] == 1
    assert not (run_dir / "failed.json").exists()


def test_the_wandb_logger_without_wandb_installed_is_refused_in_one_line(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(ConfigError, match=r"logger=wandb \(logger.mode=offline\) needs the wandb package.*logger=none"):
        run(_cfg(tmp_path, "logger=wandb", "logger.mode=offline"))
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------------------------- a record proves
def test_a_record_carries_the_identity_of_the_settings_it_was_trained_with(finished):
    record = json.loads(finished.read_text())
    assert record["settings_id"] == identity.settings_id(identity.load_config(finished.parent))
    assert record["settings_id"] == identity.settings_id(_cfg(finished.parents[4]))
    assert record["settings_id"] != identity.settings_id(_cfg(finished.parents[4], "seed=1"))
    state = torch.load(finished.parent / "checkpoint.pt", weights_only=False)
    assert state["settings_id"] == record["settings_id"]


def test_a_config_yaml_edited_after_the_run_is_refused_not_taken_for_the_new_settings(finished):
    """Issue: a finished 1-epoch run's config.yaml edited to `epochs: 5`, then `trainer.epochs=5`, answered
    'finished with these settings: skipped'. The record proves 1 epoch; the directory is inconsistent."""
    config = finished.parent / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 1\n", "epochs: 5\n", 1))
    before = finished.read_bytes()
    for asked in ("trainer.epochs=5", "trainer.epochs=1"):  # neither the edited nor the true settings are taken
        with pytest.raises(RunDirError) as err:
            run(_cfg(finished.parents[4], asked))
        message = str(err.value)
        assert "\n" not in message and str(config) in message and "inconsistent" in message
        assert "trainer.force=true" in message
    assert finished.read_bytes() == before
    text = build_table("table1", finished.parents[4], seeds=[0]).read_text()
    assert "(n=" not in next(line for line in text.splitlines() if line.startswith("| CNN |"))
    assert "cnn seed=0: inconsistent, not averaged: config.yaml (settings_id" in text


def test_a_checkpoint_of_other_settings_is_refused_on_resume(tmp_path, interrupt_at_epoch):
    interrupt_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        run(_cfg(tmp_path, "trainer.epochs=3"))
    run_dir = tmp_path / "runs/table1/cnn/seed=0"
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("lr: 5.0e-05\n", "lr: 0.002\n", 1))
    with pytest.raises(RunDirError, match=r"checkpoint\.pt was trained with other settings .* inconsistent"):
        run(_cfg(tmp_path, "trainer.epochs=3", "trainer.lr=0.002"))


def test_a_setting_added_with_its_old_behaviour_changes_no_identity(monkeypatch):
    """identity.ADDED: a key that older records lack, at the value they ran with, is the same run; at another value
    it is another run."""
    old = compose_cfg("experiment=table1", "model=p4cnn")
    shuffled = identity.settings_id(old)
    monkeypatch.setitem(identity.ADDED, "trainer.shuffle", True)
    without = identity.flat_settings(old)
    del without["trainer.shuffle"]  # as a config.yaml written before the key existed
    assert identity.settings_id(without) == identity.settings_id(old) != shuffled
    assert identity.settings_id(compose_cfg("experiment=table1", "model=p4cnn", "trainer.shuffle=false")) != (
        identity.settings_id(without)
    )


def test_a_config_yaml_from_before_a_key_existed_builds_the_model_it_trained(tmp_path):
    """identity.with_added: a SegNet config.yaml written before model.head and model.init existed builds the 1×1-head,
    fan-in model it trained (not the notebook's, which the keys' new defaults build); a classifier's gets only the
    keys its builder takes."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from gcnn.models import count_parameters

    seg = compose_cfg("experiment=table3", "model=d4segnet", "model.channels=[12,24,45,90]", "logger=none")
    old = OmegaConf.to_container(seg, resolve=True)
    del old["model"]["head"], old["model"]["init"]
    filled = identity.with_added(OmegaConf.create(old))
    assert (filled.model.head, filled.model.init) == ("conv1x1", "fan_in")
    assert count_parameters(instantiate(filled.model)) == 2_354_479  # the D4SegNet record's count
    assert count_parameters(instantiate(OmegaConf.create(old).model)) != 2_354_479  # what the new defaults build
    cls = OmegaConf.to_container(compose_cfg("experiment=table1", "model=p4cnn", "logger=none"), resolve=True)
    del cls["model"]["init"]
    filled = identity.with_added(OmegaConf.create(cls))
    assert filled.model.init == "fan_in" and "head" not in filled.model
    assert identity.settings_id(filled) == identity.settings_id(OmegaConf.create(cls))


def _committed_records() -> list[Path]:
    """The metrics.json files git keeps under results/ (not a local `make demo`'s runs, which git ignores)."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    try:
        listed = subprocess.run(["git", "ls-files", "results"], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the folders whose records git keeps
        return sorted(repo.glob("results/full/runs/*/*/seed=*/metrics.json"))
    return sorted(repo / p for p in listed.stdout.splitlines() if "/runs/" in p and p.endswith("/metrics.json"))


COMMITTED = _committed_records()


@pytest.mark.records
@pytest.mark.parametrize("record", COMMITTED, ids=lambda p: "/".join(p.parts[-5:-1]))
def test_every_committed_record_keeps_its_identity_and_rebuilds_its_model(record):
    """Each committed record: its config.yaml is the settings its settings_id proves (where it has one), its model
    rebuilds with the parameters it counted, and the run the reproduction would plan for it (experiment, run, seed)
    composes the same settings, so a paused or finished run is found again after any change of the code."""
    from hydra.utils import instantiate

    from gcnn_study.config import layout

    from gcnn_study.reproduce import plan as run_plan
    from gcnn.models import count_parameters
    from gcnn_study.config.specs import REPRODUCED, table_of

    metrics = json.loads(record.read_text())
    stored = identity.load_config(record.parent)
    if "settings_id" in metrics:
        assert identity.settings_id(stored) == metrics["settings_id"]
    from omegaconf import OmegaConf

    assert count_parameters(instantiate(identity.with_added(OmegaConf.create(stored)).model)) == metrics["params"]
    ref = layout.parse(record.parent)
    table = table_of(ref.experiment)
    if table not in REPRODUCED:
        return
    (planned,) = [
        r for r in run_plan.plan(ref.results_dir, [ref.seed], [table], models=[ref.run]) if r.run_dir == record.parent
    ]
    identity.check_identity(record.parent, planned.config(), metrics.get("settings_id"), "metrics.json")
