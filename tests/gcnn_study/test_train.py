"""The trainer end to end: every experiment config composes and runs a tiny version; resume, skip, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from gcnn_study.run import records

from gcnn_study.process import runtime
from gcnn_study.data.bundle import DataError
from gcnn.equivariance import EXACT_TOL, TRANSFORMS
from gcnn_study.config.specs import TABLES
from gcnn_study.report.figures.angles import ANGLES, RECORDED_IMAGES
from gcnn_study.train import ConfigError, run
from helpers import REPO, SAMPLE_RUN, TINY, compose_cfg


def _write_amat(path: Path, n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(n, 784, generator=g)
    labels = torch.arange(n) % 10
    with open(path, "w") as f:
        for row, label in zip(pixels.tolist(), labels.tolist()):
            f.write(" ".join(f"{v:.4f}" for v in row) + f" {label}.0\n")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Small Larochelle-format files, so table1/table2 run with their own (as-run) datasets offline."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist_larochelle").mkdir()
    _write_amat(root / "mnist_larochelle" / "mnist_train.amat", 64, 0)
    _write_amat(root / "mnist_larochelle" / "mnist_test.amat", 48, 1)
    (root / "mnist_rotation_new").mkdir()
    _write_amat(root / "mnist_rotation_new" / "mnist_all_rotation_normalized_float_train_valid.amat", 64, 2)
    _write_amat(root / "mnist_rotation_new" / "mnist_all_rotation_normalized_float_test.amat", 48, 3)
    return root


def make_cfg(overrides: list[str]):
    return compose_cfg(*overrides)


def _seg_overrides(size=32):
    return [
        "dataset=ph2_synthetic",
        "dataset.n_images=12",
        "dataset.n_train=6",
        "dataset.n_val=2",
        "dataset.n_test=4",
        f"dataset.size={size}",
        "dataset.width=40",
        "dataset.height=32",
        "trainer.epochs=1",
        "trainer.batch_size=3",
        "trainer.eval_batch_size=8",
    ]


# Every model of every table, from the tables' own list (gcnn_study.config.specs); "+" rows are the same model
# augmented.
EXPERIMENTS = [
    (t, list(TABLES[t].models), TINY if t in ("table1", "table2") else None)
    for t in ("table1", "table2", "table3", "table4")
]


@pytest.mark.parametrize("experiment,models,_", EXPERIMENTS)
def test_every_experiment_and_model_config_composes_and_instantiates(experiment, models, _, tmp_path):
    import hydra

    for model in models:
        cfg = make_cfg([f"experiment={experiment}", f"model={model}", f"paths.results_dir={tmp_path}"])
        assert cfg.experiment_name == experiment
        assert cfg.run_dir == f"{tmp_path}/runs/{experiment}/{model}/seed=0"
        for key in ("epochs", "batch_size", "lr", "device", "force"):
            assert key in cfg.trainer
        net = hydra.utils.instantiate(cfg.model)
        assert net.task == ("classification" if experiment in ("table1", "table2") else "segmentation")
    protocol = make_cfg([f"experiment={experiment}"])
    if experiment == "table1":
        assert protocol.dataset.source == "larochelle" and protocol.trainer.lr == 5e-5 and protocol.trainer.epochs == 30
    if experiment == "table3":
        assert protocol.trainer.lr == 1e-4 and protocol.trainer.batch_size == 20 and protocol.trainer.epochs == 40
        assert protocol.dataset.size == 256
    if experiment == "table4":
        assert protocol.dataset.size == 257  # 257×257 for the transposed-convolution models


@pytest.mark.parametrize("experiment,models,tiny", EXPERIMENTS)
def test_every_experiment_runs_a_tiny_version_end_to_end(experiment, models, tiny, data_dir, tmp_path):
    model = models[1]  # a group model: the most complicated path
    extra = tiny if tiny else _seg_overrides(33 if experiment == "table4" else 32)
    cfg = make_cfg(
        [
            f"experiment={experiment}",
            f"model={model}",
            f"paths.results_dir={tmp_path}",
            f"paths.data_dir={data_dir}",
            "logger.mode=offline",
            *extra,
        ]
    )
    result = run(cfg)
    run_dir = Path(cfg.run_dir)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved == result
    for key in (
        "experiment",
        "run",
        "model",
        "group",
        "dataset",
        "seed",
        "params",
        "epochs",
        "device",
        "train_seconds",
        "metrics",
    ):
        assert key in saved
    assert saved["experiment"] == experiment and saved["run"] == saved["model"] == model and saved["device"] == "cpu"
    origin = saved["provenance"]  # where the numbers came from: code, software, machine
    assert {"git", "python", "torch", "packages", "cpu", "cpu_capability", "num_threads", "gpu"} <= set(origin)
    assert "commit" in origin["git"] and saved["machine"].startswith("cpu: ")
    # the process's peak resident set when it finished (this process: torch alone is above 0.1 GiB)
    assert 0.1 < saved["peak_memory_gib"] <= runtime.peak_memory_gib(torch.device("cpu")) + 0.001
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == list(range(1, cfg.trainer.epochs + 1))
    # each epoch's CPU time beside its wall time: positive, and no more than its threads could spend
    assert (
        (history["cpu_seconds"] > 0) & (history["cpu_seconds"] <= history["seconds"] * torch.get_num_threads() + 0.05)
    ).all()
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1, "one offline W&B run per job"
    if experiment in ("table1", "table2"):
        expected = {"test_acc", "test_transformed_acc"} if experiment == "table1" else {"test_acc"}
        assert set(saved["metrics"]) == expected
        assert all(0.0 <= v <= 1.0 for v in saved["metrics"].values())
    else:
        for key in (
            "train_iou",
            "test_iou",
            "test_rotated_iou",
            "train_iou_score",
            "test_iou_score",
            "test_rotated_iou_score",
            "test_dice",
        ):
            assert 0.0 <= saved["metrics"][key] <= 1.0
        assert saved["synthetic"] is True
        assert json.loads((run_dir / "data_info.json").read_text())["split"]["test"]
    # The run measured its own equivariance (git keeps this, not the checkpoint): a row per g, of this record, and
    # the group's rotations on the pixel grid exact to round-off.
    equivariance = pd.read_csv(run_dir / "equivariance.csv", dtype={"record": str})  # a digits-only id stays text
    assert list(equivariance["transform"]) == [t.label for t in TRANSFORMS]
    assert (equivariance.record == records.record_id(run_dir)).all() and (equivariance.run == model).all()
    exact = equivariance[equivariance.in_group & equivariance.exact_on_grid]
    assert "180°" in set(exact["transform"]) and (exact.error < EXACT_TOL).all(), exact
    # A classifier also records its accuracy against the angle (the figures' curve, from the records alone): 72
    # angles on its first test digits, of this record; upright, the same digits its own per-image results score.
    if experiment in ("table1", "table2"):
        angles = pd.read_csv(run_dir / records.ANGLES_RECORD, dtype={"record": str})
        per_image = pd.read_csv(run_dir / "per_image.csv")
        test = per_image[per_image.split == "test"].sort_values("index")
        n = min(RECORDED_IMAGES, len(test))
        assert list(angles.angle) == list(ANGLES) and (angles.n_images == n).all() and (angles.run == model).all()
        assert (angles.record == records.record_id(run_dir)).all()
        upright = angles.set_index("angle").accuracy[0]
        correct = (test.target == test.pred).iloc[:n]
        assert upright == pytest.approx(correct.mean(), abs=1.01 / n)  # argmax ties aside
    else:
        assert not (run_dir / records.ANGLES_RECORD).exists()


def test_augmented_runs_get_their_own_directory(tmp_path):
    cfg = make_cfg(["experiment=table3", "model=p4segnet", "dataset.augment=true", f"paths.results_dir={tmp_path}"])
    assert cfg.run_name == "p4segnet+" and cfg.run_dir.endswith("table3/p4segnet+/seed=0")


def _cls_cfg(results, data_dir, *more):
    return make_cfg(
        [
            "experiment=table1",
            "model=cnn",
            f"paths.results_dir={results}",
            f"paths.data_dir={data_dir}",
            "logger=none",
            *TINY,
            "trainer.epochs=3",
            *more,
        ]
    )


def test_interrupted_run_resumes_to_the_same_metrics(data_dir, tmp_path, interrupt_at_epoch):
    reference = run(_cls_cfg(tmp_path / "a", data_dir))

    cfg = _cls_cfg(tmp_path / "b", data_dir)
    interrupt_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    run_dir = Path(cfg.run_dir)
    assert (run_dir / "checkpoint.pt").exists()
    assert not (run_dir / "failed.json").exists()  # interrupted, not failed: the table says "unfinished"
    assert not (run_dir / "metrics.json").exists()
    resumed = run(cfg)
    assert resumed["metrics"] == reference["metrics"]
    assert not (run_dir / "failed.json").exists()
    a = pd.read_csv(tmp_path / "a/runs/table1/cnn/seed=0/history.csv")
    b = pd.read_csv(run_dir / "history.csv")
    assert a["train_loss"].tolist() == b["train_loss"].tolist()


def test_same_seed_same_metrics_and_finished_runs_are_skipped_or_archived(data_dir, tmp_path):
    first = run(_cls_cfg(tmp_path / "a", data_dir))
    again = run(_cls_cfg(tmp_path / "b", data_dir))
    assert first["metrics"] == again["metrics"]
    metrics_file = tmp_path / "a/runs/table1/cnn/seed=0/metrics.json"
    stamp = metrics_file.stat().st_mtime_ns
    skipped = run(_cls_cfg(tmp_path / "a", data_dir))
    assert skipped == first and metrics_file.stat().st_mtime_ns == stamp
    forced = run(_cls_cfg(tmp_path / "a", data_dir, "trainer.force=true"))
    archived = list((tmp_path / "a/runs/table1/cnn/seed=0/previous").glob("*/metrics.json"))
    assert len(archived) == 1 and json.loads(archived[0].read_text()) == first
    assert forced["metrics"] == first["metrics"]


def test_a_different_seed_gives_different_training(data_dir, tmp_path):
    run(_cls_cfg(tmp_path, data_dir, "seed=0"))
    run(_cls_cfg(tmp_path, data_dir, "seed=1"))
    ha = pd.read_csv(tmp_path / "runs/table1/cnn/seed=0/history.csv")
    hb = pd.read_csv(tmp_path / "runs/table1/cnn/seed=1/history.csv")
    assert ha["train_loss"].tolist() != hb["train_loss"].tolist()


def test_a_model_that_does_not_fit_the_data_is_a_clear_error_and_writes_nothing(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="segmentation model"):
        run(
            make_cfg(
                [
                    "experiment=table1",
                    "model=segnet",
                    f"paths.results_dir={tmp_path}",
                    f"paths.data_dir={data_dir}",
                    "logger=none",
                    *TINY,
                ]
            )
        )
    assert not (tmp_path / "runs").exists()


def test_a_classification_trainer_profile_simply_works_for_segmentation(tmp_path):
    """The task comes with the data; a trainer profile holds only numbers."""
    result = run(
        make_cfg(
            [
                "experiment=table3",
                "trainer=quick",
                f"paths.results_dir={tmp_path}",
                f"paths.data_dir={tmp_path}",
                "logger=none",
                *_seg_overrides(),
                "trainer.epochs=1",
            ]
        )
    )
    assert 0.0 <= result["metrics"]["test_iou"] <= 1.0


def test_missing_data_is_one_clear_line_and_a_nonzero_exit(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gcnn_study.train",
            "experiment=table1",
            "dataset=mnist",
            "dataset.download=false",
            f"paths.data_dir={tmp_path / 'nowhere'}",
            f"paths.results_dir={tmp_path}",
            "logger=none",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "nowhere" in last and "train-images-idx3-ubyte.gz" in last
    assert "Traceback" not in proc.stderr
    failed = json.loads((tmp_path / "runs/table1/cnn/seed=0/failed.json").read_text())
    assert "DataError" in failed["error"]


def test_missing_ph2_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="PH2"):
        run(
            make_cfg(
                ["experiment=table3", f"paths.results_dir={tmp_path}", f"paths.data_dir={tmp_path}", "logger=none"]
            )
        )


def test_splits_move_to_an_accelerator_once_except_an_augmented_train_split():
    from gcnn_study.data.bundle import DataBundle
    from gcnn_study.engine import place

    split = (torch.zeros(4, 1, 5, 5), torch.zeros(4, dtype=torch.long))
    data = DataBundle("classification", "x", split, {"test": split})
    meta = torch.device("meta")  # stands in for a GPU on a CPU-only machine
    assert place(data, torch.device("cpu")) is data
    moved = place(data, meta)
    assert moved.train[0].device == meta and moved.evals["test"][1].device == meta
    augmented = place(DataBundle("classification", "x", split, {"test": split}, augment=lambda x, y, g: (x, y)), meta)
    assert augmented.train[0].device.type == "cpu" and augmented.evals["test"][0].device == meta


def test_an_input_size_the_segnet_cannot_pool_exactly_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.size"):
        run(
            make_cfg(
                [
                    "experiment=table3",
                    f"paths.results_dir={tmp_path}",
                    f"paths.data_dir={tmp_path}",
                    "logger=none",
                    *_seg_overrides(),
                    "dataset.size=40",
                ]
            )
        )
    assert not (tmp_path / "runs/table3/segnet/seed=0/checkpoint.pt").exists()


def test_a_run_pauses_before_its_deadline_and_the_same_command_resumes_it(tmp_path):
    """trainer.stop_at: the epoch that would end after it does not start; exit 75 with the epochs saved, no
    failed.json, no metrics.json; the same command without a deadline finishes from the checkpoint."""
    import time

    cmd = [sys.executable, "-m", "gcnn_study.train", "experiment=table1", "model=cnn", "dataset=mnist_sample"]
    cmd += ["trainer=quick", "trainer.epochs=3", "logger=none", f"paths.results_dir={tmp_path}"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    # epoch 1 always starts; epoch 2 cannot end before a deadline 1 s after launch
    first = subprocess.run([*cmd, f"trainer.stop_at={time.time() + 1:.0f}"], env=env, capture_output=True, text=True)
    run_dir = tmp_path / "runs" / "table1" / "cnn" / "seed=0"
    assert first.returncode == 75, first.stderr[-2000:]
    assert first.stderr.strip().splitlines()[-1].startswith("paused: ") and "epochs 1-1 are saved" in first.stderr
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "metrics.json").exists()
    assert not (run_dir / "failed.json").exists()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming" in second.stdout + second.stderr
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["epochs"] == 3
    # the record says which process trained which epochs, with its command, commit and machine
    paused, resumed = record["launches"]
    assert [paused["epochs"], resumed["epochs"]] == [[1, 1], [2, 3]]
    assert "trainer.stop_at=" in paused["command"] and "trainer.stop_at" not in resumed["command"]
    assert resumed["command"] == "python -m gcnn_study.train " + " ".join(cmd[3:])
    assert paused["commit"] == resumed["commit"] == record["provenance"]["git"]["commit"]
    assert paused["machine"] == resumed["machine"] == record["machine"]


def test_a_run_resumed_on_more_threads_says_which_epochs_ran_on_which(tmp_path):
    """How `make reproduce` hands a run the cores its neighbours freed (gcnn_study.reproduce.scheduler): paused on one
    thread,
    relaunched on two. The thread count does not define the run (gcnn_study.run.identity.IGNORED), so the checkpoint
    resumes, and the record's launches say which epochs ran on which count."""
    import time

    cmd = [sys.executable, "-m", "gcnn_study.train", "experiment=table1", "model=cnn", "dataset=mnist_sample"]
    cmd += ["trainer=quick", "trainer.epochs=3", "logger=none", f"paths.results_dir={tmp_path}"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    first = subprocess.run([*cmd, "trainer.num_threads=1", f"trainer.stop_at={time.time() + 1:.0f}"], env=env)
    assert first.returncode == 75
    second = subprocess.run([*cmd, "trainer.num_threads=2"], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-2000:]
    record = json.loads((tmp_path / "runs/table1/cnn/seed=0/metrics.json").read_text())
    assert [x["epochs"] for x in record["launches"]] == [[1, 1], [2, 3]]
    one, two = (x["machine"] for x in record["launches"])
    assert ", 1 threads," in one and ", 2 threads," in two and record["machine"].startswith("mixed: ")
    assert record["provenance"]["num_threads"] == 2


# ----------------------------------------------------------------------------------------------- the batch
def _sample(tmp_path: Path, *more: str):
    return compose_cfg(*SAMPLE_RUN, f"paths.results_dir={tmp_path}", "logger=none", "trainer.device=cpu", *TINY, *more)


def test_a_batch_larger_than_the_training_set_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError) as err:
        run(_sample(tmp_path, "trainer.batch_size=65"))  # 64 sample digits
    assert str(err.value) == (
        "trainer.batch_size=65 is larger than the training set (64 images of dataset=mnist_sample): every epoch would "
        "be one step on the whole set; choose trainer.batch_size <= 64"
    )
    assert not (tmp_path / "runs").exists()


def test_a_batch_whose_step_will_not_fit_is_refused_in_one_line_with_the_estimate(tmp_path, monkeypatch):
    import re

    from gcnn_study.reproduce import projection
    from gcnn_study.data import bundle

    # 3 MiB left: room for the 64 + 2 × 32 sample digits (the dataset's own check), not for a step of 16 (about 8 MiB)
    monkeypatch.setattr(bundle, "available_memory", lambda: 3 * 2**20)
    with pytest.raises(ConfigError) as err:
        run(_sample(tmp_path))
    assert re.fullmatch(
        r"trainer\.batch_size=16 needs about \d+ MiB for one training step of model=cnn on \(1, 33, 33\) images, "
        r"more than the 3 MiB this machine has free: choose a smaller trainer\.batch_size",
        str(err.value),
    ), str(err.value)
    need = (projection.training_memory_gib(_sample(tmp_path)) - projection.PROCESS_GIB) * 2**10
    assert f"about {need:.0f} MiB" in str(err.value)  # the projection's own estimate, not another
    assert not (tmp_path / "runs").exists()
    monkeypatch.setattr(bundle, "available_memory", lambda: None)  # a system that does not say: no refusal
    assert run(_sample(tmp_path, "trainer.epochs=1"))["epochs"] == 1


def test_on_a_gpu_the_batch_is_checked_against_its_free_memory_with_the_data_it_receives(tmp_path, monkeypatch):
    """The CUDA branch, without a GPU: torch.cuda.mem_get_info says how much is free; the data moves there too."""
    import hydra

    from gcnn_study.run import preflight

    cfg = _sample(tmp_path)
    data = hydra.utils.instantiate(cfg.dataset)
    split_bytes = sum(t.numel() * t.element_size() for split in [data.train, *data.evals.values()] for t in split)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (split_bytes, 80 * 2**30))
    with pytest.raises(
        ConfigError, match=r"^trainer\.batch_size=16 needs about \d+ MiB .* more than the \d+ MiB cuda:0 has free"
    ):
        preflight.check_batch(cfg, data, torch.device("cuda:0"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (80 * 2**30, 80 * 2**30))
    preflight.check_batch(cfg, data, torch.device("cuda:0"))  # fits: nothing said
