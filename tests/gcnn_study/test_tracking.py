"""What reaches W&B: a recording stand-in for the wandb module checks names, config, metrics and finish()."""

import sys
import types

import pytest

from gcnn_study import train as train_module
from gcnn_study.run.tracking import _resolve_mode
from gcnn_study.train import run
from helpers import SAMPLE_RUN, TINY, compose_cfg


class FakeRun:
    def __init__(self, **kwargs):
        self.init, self.logged, self.summary, self.finished = kwargs, [], {}, []

    def log(self, values, step=None):
        self.logged.append((step, dict(values)))

    def finish(self, exit_code=0):
        self.finished.append(exit_code)


@pytest.fixture
def fake_wandb(monkeypatch):
    runs = []
    module = types.ModuleType("wandb")

    def init(**kwargs):
        runs.append(FakeRun(**kwargs))
        return runs[-1]

    module.init = init
    module.Image = lambda figure: ("image", figure)
    monkeypatch.setitem(sys.modules, "wandb", module)
    return runs


def _cfg(tmp_path, logger="logger.mode=offline"):
    return compose_cfg(*SAMPLE_RUN, f"paths.results_dir={tmp_path}", "seed=3", logger, *TINY)


def test_run_name_group_config_metrics_and_finish(fake_wandb, tmp_path):
    result = run(_cfg(tmp_path))
    (wandb_run,) = fake_wandb
    init = wandb_run.init
    assert init["project"] == "gcnn" and init["group"] == "table1" and init["name"] == "cnn-s3"
    assert init["mode"] == "offline" and init["dir"].endswith("runs/table1/cnn/seed=3")
    assert init["config"]["trainer"]["epochs"] == 2 and init["config"]["model"]["name"] == "cnn"  # resolved config
    epochs = [step for step, values in wandb_run.logged if "train_loss" in values]
    assert epochs == [1, 2]
    assert wandb_run.summary["params"] == result["params"] == 395_882
    assert wandb_run.summary["test_acc"] == result["metrics"]["test_acc"]
    assert wandb_run.finished == [0]
    figures = {k: v for _, values in wandb_run.logged for k, v in values.items() if k.startswith("figures/")}
    assert {"figures/feature_maps", "figures/accuracy_vs_angle", "figures/equivariance"} <= set(figures)
    assert all(kind == "image" for kind, _ in figures.values())


def test_the_figures_draw_the_recorded_sweeps_without_sweeping_again(fake_wandb, tmp_path, monkeypatch):
    """W&B shows the numbers of angles.csv and equivariance.csv: run_figures is handed the rows measured for the
    records, so neither sweep runs a second time."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from gcnn_study.report import figures

    def again(*args, **kwargs):
        raise AssertionError("swept a second time for W&B")

    drawn = {}

    def draw(name):
        def figure(rows):
            drawn[name] = rows
            return plt.figure()

        return figure

    monkeypatch.setattr(figures, "angle_rows", again)
    monkeypatch.setattr(figures, "measure_run", again)
    monkeypatch.setattr(figures, "angle_figure", draw("angles"))
    monkeypatch.setattr(figures, "equivariance_figure", draw("equivariance"))
    run(_cfg(tmp_path))
    run_dir = tmp_path / "runs/table1/cnn/seed=3"
    recorded = pd.read_csv(run_dir / "angles.csv").drop(columns="record")
    assert drawn["angles"].reset_index(drop=True).equals(recorded) and len(recorded) == 72
    recorded = pd.read_csv(run_dir / "equivariance.csv").drop(columns="record")
    assert len(drawn["equivariance"]) == len(recorded) > 0
    assert [r["transform"] for r in drawn["equivariance"]] == list(recorded["transform"])


def test_the_run_is_finished_when_training_raises(fake_wandb, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("exploded")

    monkeypatch.setattr(train_module, "train_one_epoch", boom)
    with pytest.raises(RuntimeError, match="exploded"):
        run(_cfg(tmp_path))
    assert fake_wandb[0].finished == [1]


def test_synthetic_data_is_tagged(fake_wandb, tmp_path):
    run(
        compose_cfg(
            *[
                "experiment=table3",
                "model=segnet",
                "dataset=ph2_synthetic",
                "dataset.n_images=12",
                "dataset.n_train=6",
                "dataset.n_val=2",
                "dataset.n_test=4",
                "dataset.size=16",
                "model.channels=[4,4,4,4]",
                "trainer.epochs=1",
                "trainer.batch_size=3",
                f"paths.data_dir={tmp_path}",
                f"paths.results_dir={tmp_path}",
                "logger.mode=offline",
            ]
        )
    )
    assert "synthetic" in fake_wandb[0].init["tags"] and fake_wandb[0].summary["synthetic"] is True


def test_logger_none_never_imports_wandb(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # any import of wandb would raise ImportError
    run(_cfg(tmp_path, logger="logger=none"))


def test_auto_mode(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert _resolve_mode("auto") == "offline"
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password x\n")
    assert _resolve_mode("auto") == "online"
    monkeypatch.setenv("WANDB_API_KEY", "k")
    assert _resolve_mode("auto") == "online"
    assert _resolve_mode("disabled") == "disabled"
    with pytest.raises(ValueError, match="logger.mode"):
        _resolve_mode("sometimes")
