"""gcnn_study.report.figures on tiny runs trained for two steps: every figure is a readable PNG, the angle sweep agrees
with the trainer's evaluation and with the p4 symmetry, the equivariance report tells exact from broken, bad input
gives one line, and notebooks/results.ipynb runs."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import hydra
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gcnn_study.run import records  # noqa: E402
from gcnn.equivariance import relative_error  # noqa: E402
from gcnn_study.measure import error_rows  # noqa: E402
from gcnn_study.report.figures import feature_maps_figure, load_run, predictions_vs_angle, run_figures  # noqa: E402
from gcnn.groups import transform_images  # noqa: E402
from gcnn_study.report.figures.angles import _title, angle_rows  # noqa: E402
from gcnn_study.report.figures import draw  # noqa: E402
from gcnn_study.report.figures.draw import draw_all  # noqa: E402
from gcnn_study.report.figures.maps import figure_arrays, read_figure_arrays  # noqa: E402
from gcnn_study.report.figures.rows import read_rows  # noqa: E402
from gcnn_study.train import run as train_run  # noqa: E402
from helpers import REPO, cell_text, compose_cfg, run_notebook, tiny

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_TEST = 32  # digits per tiny classifier test set: exactly what its evaluation (2 batches of 16) sees
# Narrow models (same architecture and groups, few channels) keep the 72-angle sweep cheap on a shared CPU.
CLS = [
    "dataset=mnist_sample",
    "dataset.max_train=64",
    f"dataset.max_test={N_TEST}",
    *tiny(epochs=1, eval_batch_size=16),
    "logger=none",
    "model.channels=[6,6,8,8,12]",
]
SEG = [
    "dataset=ph2_synthetic",
    "dataset.n_images=12",
    "dataset.n_train=6",
    "dataset.n_val=2",
    "dataset.n_test=4",
    "dataset.size=32",
    "dataset.width=40",
    "dataset.height=32",
    "trainer.epochs=1",
    "trainer.batch_size=3",
    "trainer.eval_batch_size=8",
    "logger=none",
    "model.channels=[4,8]",
]
RUNS = [
    ("table1", "cnn", []),
    ("table1", "p4cnn", []),
    ("table1", "d4cnn", []),
    ("table3", "segnet", []),
    ("table3", "p4segnet", []),
    ("table3", "d4segnet", []),
    ("table3", "segnet", ["dataset.augment=true"]),
    ("table3", "p4segnet", ["dataset.augment=true"]),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A results folder with tiny Table 1 and Table 3 runs, each trained once for two steps."""
    root = tmp_path_factory.mktemp("results")
    data = tmp_path_factory.mktemp("data")
    for experiment, model, extra in RUNS:
        tiny = CLS if experiment == "table1" else SEG
        train_run(
            compose_cfg(
                f"experiment={experiment}",
                f"model={model}",
                f"paths.results_dir={root}",
                f"paths.data_dir={data}",
                *tiny,
                *extra,
            )
        )
    return root


@pytest.fixture(scope="module")
def drawn(results):
    """Every figure drawn once from the tiny results (the angle sweep on all N_TEST digits)."""
    out, err = io.StringIO(), io.StringIO()
    written = draw_all(results, n_images=N_TEST, device="cpu", out=out, err=err)
    return written, err.getvalue()


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) >= 100, image.shape
    assert image[..., :3].std() > 0.01, f"{path} is blank"


def _near_ties(logits: torch.Tensor, tol: float = 1e-4) -> torch.Tensor:
    """Images whose two best logits are within float32 round-off of each other (their argmax may flip)."""
    top = logits.double().topk(2, dim=1).values
    return (top[:, 0] - top[:, 1]) <= tol * top.abs().amax(dim=1).clamp(min=1.0)


# ----------------------------------------------------------------------------------------------- figures
def test_every_figure_is_a_readable_png(drawn, results):
    written, err = drawn
    assert set(written) == {"figure1", "figure2", "figure3", "angles", "equivariance", "curves"}, err
    pngs = [p for paths in written.values() for p in paths if p.suffix == ".png"]
    names = {p.name for p in pngs}
    assert {
        "figure1_feature_maps.png",
        "figure2_d4segnet_group_maps.png",
        "figure3_predictions.png",
        "accuracy_vs_angle.png",
        "equivariance.png",
        "training_curves_table1.png",
        "training_curves_table3.png",
    } <= names
    for path in pngs:
        assert path.parent == results / "figures"
        assert_png(path)
    assert (results / "equivariance.md").is_file()
    # Only the angle sweep notes what it lacks (no p6/p8 and no Table 2 runs here); nothing is skipped.
    assert "skipped" not in err and err.count("\n") <= 1, err
    assert err.startswith("Accuracy vs angle: drawn without table1/p6cnn, table1/p8cnn, table2/cnn"), err


def test_run_figures_draws_one_model_for_wandb(results, tmp_path):
    for run_dir, expected in [
        (results / "runs/table1/p4cnn/seed=0", {"feature_maps", "accuracy_vs_angle", "equivariance"}),
        (results / "runs/table3/d4segnet/seed=0", {"group_maps", "predictions", "equivariance"}),
    ]:
        run = load_run(run_dir)
        run.model.train()
        figures = run_figures(run.model, run.data, n_images=16, angle_step=90)
        assert set(figures) == expected
        assert run.model.training, "run_figures restores the model's mode"
        for name, fig in figures.items():
            path = tmp_path / f"{run_dir.parent.name}_{name}.png"
            fig.savefig(path)
            plt.close(fig)
            assert_png(path)


# ----------------------------------------------------------------------------------------------- angle sweep
def _metrics(results, experiment, run):
    return json.loads((results / f"runs/{experiment}/{run}/seed=0/metrics.json").read_text())["metrics"]


@pytest.mark.parametrize("run", ["cnn", "p4cnn", "d4cnn"])
def test_angle_sweep_at_0_degrees_is_the_evaluated_test_accuracy(drawn, results, run):
    df = pd.read_csv(results / "figures/accuracy_vs_angle.csv")
    row = df[(df.experiment == "table1") & (df.run == run) & (df.angle == 0)]
    assert len(row) == 1 and int(row.n_images.iloc[0]) == N_TEST
    evaluated = _metrics(results, "table1", run)["test_acc"]
    loaded = load_run(results / f"runs/table1/{run}/seed=0")
    x = loaded.data.evals["test"][0]
    assert len(x) == N_TEST  # the trainer evaluated exactly these images
    with torch.no_grad():
        ties = int(_near_ties(loaded.model(x)).sum())
    assert abs(row.accuracy.iloc[0] - evaluated) * N_TEST <= ties + 1e-9


def test_p4_and_p4m_sweeps_repeat_every_90_degrees_and_the_cnn_is_not_invariant(drawn, results):
    for run in ("p4cnn", "d4cnn", "cnn"):
        loaded = load_run(results / f"runs/table1/{run}/seed=0")
        x = loaded.data.evals["test"][0]
        pred = predictions_vs_angle(loaded.model, x, (0, 90, 180, 270), batch_size=25)
        with torch.no_grad():
            ties = torch.stack([_near_ties(loaded.model(torch.rot90(x, k, (-2, -1)))) for k in range(4)]).any(0)
        differ = (pred != pred[:1]).any(dim=0)
        if run == "cnn":  # two training steps may leave it predicting one class: compare its logits instead
            with torch.no_grad():
                assert relative_error(loaded.model(torch.rot90(x, 1, (-2, -1))), loaded.model(x)) > 1e-2
            continue
        assert not (differ & ~ties).any(), f"{run}: predictions changed under a quarter turn beyond round-off ties"
        df = pd.read_csv(results / "figures/accuracy_vs_angle.csv")
        acc = df[(df.run == run)].set_index("angle").accuracy
        assert max(abs(acc[a] - acc[0]) for a in (90, 180, 270)) * len(x) <= int(ties.sum())
        assert acc.index.tolist() == list(range(0, 360, 5))


# ----------------------------------------------------------------------------------------------- equivariance
def test_relative_error_is_the_normalised_distance():
    a = torch.ones(2, 3)
    assert relative_error(a, a) == 0.0
    assert relative_error(a + 1, a) == pytest.approx(1.0)
    assert relative_error(torch.zeros(1, 4), torch.ones(1, 4), f_x=2 * torch.ones(1, 4)) == pytest.approx(0.5)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(transform_images(x, 90), torch.rot90(x, 1, (-2, -1)))
    assert torch.equal(transform_images(x, 0, mirror=True), torch.flip(x, (-1,)))


def test_equivariance_report_is_round_off_for_p4_and_p4m_and_large_for_the_cnn(drawn, results):
    df = pd.read_csv(results / "figures/equivariance.csv", dtype={"record": str})
    err = df.set_index(["experiment", "run", "transform"]).error
    for run in ("p4cnn", "d4cnn"):
        assert err["table1", run, "90°"] < 1e-5 and err["table1", run, "180°"] < 1e-5
    assert err["table1", "d4cnn", "mirror"] < 1e-5
    for run in ("p4segnet", "d4segnet", "p4segnet+"):  # the pre-pooling group map
        assert err["table3", run, "90°"] < 1e-5
    assert err["table3", "d4segnet", "mirror"] < 1e-5
    assert err["table1", "cnn", "90°"] > 1e-2 and err["table3", "segnet", "90°"] > 1e-2
    assert err["table1", "p4cnn", "mirror"] > 1e-2, "p4 has no mirror: nothing makes it invariant to one"
    quantity = df.set_index(["run", "transform"]).quantity
    assert quantity["d4segnet", "90°"] == "pre-pooling group map" and quantity["segnet", "90°"] == "pooled logits"
    report = (results / "equivariance.md").read_text()
    line = next(line for line in report.splitlines() if line.startswith("| d4segnet |"))
    assert line.count("**exact**") == 3, line  # 90°, 180° and the mirror


# The records of a run finished before runs measured their own equivariance (no equivariance.csv).
BEFORE_OWN_MEASUREMENT = ("metrics.json", "history.csv", "config.yaml", "data_info.json")


def _records_only(src: Path, dst: Path, names=BEFORE_OWN_MEASUREMENT) -> None:
    """A run directory as a clone has it: the small records git keeps (`names`), no checkpoint."""
    dst.mkdir(parents=True)
    for name in names:
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


def test_a_redrawing_keeps_the_runs_whose_checkpoints_are_not_here(drawn, results, tmp_path):
    """A clone has the records, not the checkpoints: redrawing where only some checkpoints are keeps the other
    runs' rows as measured (equivariance report and angle sweep), and drops those of a run trained again since."""
    partial = tmp_path / "partial"
    shutil.copytree(results / "runs/table1", partial / "runs/table1")
    (partial / "runs/table1/d4cnn/seed=0/checkpoint.pt").unlink()  # measured elsewhere, before runs measured
    (partial / "runs/table1/d4cnn/seed=0/equivariance.csv").unlink()  # themselves
    (partial / "runs/table1/d4cnn/seed=0/angles.csv").unlink()
    for run in (results / "runs/table3").glob("*/seed=*"):
        _records_only(run, partial / run.relative_to(results))
    shutil.copytree(results / "figures", partial / "figures")
    retrained = partial / "runs/table3/segnet/seed=0/metrics.json"
    retrained.write_text(retrained.read_text().replace("{", '{"again": 1, ', 1))  # another record of that run
    done = _cli("--results-dir", str(partial), "--device", "cpu", "--only", "angles", "equivariance", "curves")
    assert done.returncode == 0, done.stderr
    assert "Accuracy vs angle: table1/d4cnn seed=0 kept as measured before" in done.stderr
    # The curve draws d4cnn from the kept rows: only the models it truly lacks (never trained here) are named.
    (lacking,) = [line for line in done.stderr.splitlines() if line.startswith("Accuracy vs angle: drawn without")]
    assert "table1/p6cnn" in lacking and "table1/d4cnn" not in lacking, lacking
    kept = "table1/d4cnn seed=0, table3/d4segnet seed=0, table3/p4segnet seed=0, table3/p4segnet+ seed=0, "
    kept += "table3/segnet+ seed=0"
    assert f"Equivariance report: {kept} kept as measured before" in done.stderr
    assert "Equivariance report: table3/segnet seed=0 dropped (its record is gone or was rewritten" in done.stderr
    keys = ["experiment", "run", "seed", "transform"]
    before, after = (
        pd.read_csv(f / "figures/equivariance.csv", dtype={"record": str}).set_index(keys).sort_index()
        for f in (results, partial)
    )
    assert set(after.loc["table1"].index) == set(before.loc["table1"].index)  # measured or kept
    old3, new3 = before.loc["table3"].sort_index(), after.loc["table3"].sort_index()
    assert new3["error"].equals(old3["error"].drop("segnet", level="run"))
    assert (new3["inputs"] == old3["inputs"].drop("segnet", level="run")).all()
    assert after.loc[("table1", "d4cnn"), "error"].equals(before.loc[("table1", "d4cnn"), "error"])
    angles = pd.read_csv(partial / "figures/accuracy_vs_angle.csv")
    assert set(angles.run) == {"cnn", "p4cnn", "d4cnn"} and angles.record.notna().all()
    report = (partial / "equivariance.md").read_text()
    assert "## table1 (" in report and f"## table3 ({int(old3['inputs'].iloc[0])} test inputs per run)" in report
    assert f"Kept as measured before: {kept} (" in report
    assert "| segnet |" not in report.split("## table3")[1]
    assert (partial / "figures/training_curves_table3.png").exists()  # drawn from the records alone
    # Dropped and not measurable here: the report names it rather than reading as complete without it.
    assert "Equivariance report: table3/segnet seed=0 not measured (finished, but neither" in done.stderr
    listed = read_rows(partial / "figures/equivariance_unmeasured.csv")
    assert listed[["experiment", "run", "seed"]].values.tolist() == [["table3", "segnet", 0]]
    assert listed.record.iloc[0] == records.record_id(retrained.parent)
    assert "Not measured: table3/segnet seed=0. They finished" in report
    assert pd.read_csv(partial / "figures/accuracy_vs_angle_unmeasured.csv").empty


def test_a_folder_of_records_alone_draws_the_report_from_the_runs_own_measurements(results, tmp_path):
    """A clone's results folder: the records git keeps, no checkpoint and no earlier report. The equivariance report
    reads what each run measured at its end (equivariance.csv, the same numbers as its checkpoint gives), and names
    the runs it cannot: one without that file (finished before runs measured themselves), one trained again since
    its file was written. The angle sweep reads each classifier's own sweep (angles.csv) the same way."""
    clone = tmp_path / "clone"
    for run in (results / "runs").glob("*/*/seed=*"):
        _records_only(run, clone / run.relative_to(results), records.RECORDS)
    (clone / "runs/table3/segnet/seed=0/equivariance.csv").unlink()
    again = clone / "runs/table1/cnn/seed=0/metrics.json"
    again.write_text(again.read_text().replace("{", '{"again": 1, ', 1))
    done = _cli("--results-dir", str(clone), "--device", "cpu", "--only", "angles", "equivariance", "curves")
    assert done.returncode == 0, done.stderr
    assert "Equivariance report: table1/cnn seed=0, table3/segnet seed=0 not measured" in done.stderr
    listed = read_rows(clone / "figures/equivariance_unmeasured.csv")
    assert sorted(zip(listed.experiment, listed.run)) == [("table1", "cnn"), ("table3", "segnet")]
    report = pd.read_csv(clone / "figures/equivariance.csv", dtype={"record": str})
    finished = {(r.parts[-3], r.parts[-2]) for r in (clone / "runs").glob("*/*/seed=*")}
    assert set(zip(report.experiment, report.run)) == finished - {("table1", "cnn"), ("table3", "segnet")}
    d4 = load_run(results / "runs/table1/d4cnn/seed=0")
    x = d4.data.evals["test"][0][: int(report.set_index("run").inputs["d4cnn"].iloc[0])]
    again = pd.DataFrame(error_rows(d4.model, x, "table1", "d4cnn", 0)).set_index("transform").error
    own = report[report.run == "d4cnn"].set_index("transform").error
    assert own.to_dict() == pytest.approx(again.to_dict(), rel=1e-6, abs=1e-9)
    assert (
        "Not measured: table1/cnn seed=0, table3/segnet seed=0. They finished"
        in (clone / "equivariance.md").read_text()
    )
    angles = pd.read_csv(clone / "figures/accuracy_vs_angle_unmeasured.csv")
    assert list(zip(angles.experiment, angles.run)) == [("table1", "cnn")]  # trained again since its sweep
    assert "Accuracy vs angle: drawn without table1/cnn (finished, but neither its angles.csv nor its" in done.stderr
    swept = pd.read_csv(clone / "figures/accuracy_vs_angle.csv", dtype={"record": str})
    assert set(swept.run) == {"p4cnn", "d4cnn"} and (swept.n_images == N_TEST).all()
    remeasured = angle_rows(d4.model, *(t[:N_TEST] for t in d4.data.evals["test"]), "table1", "d4cnn", 0)
    own = swept[swept.run == "d4cnn"].set_index("angle").accuracy
    assert own.to_dict() == pytest.approx({r["angle"]: r["accuracy"] for r in remeasured}, abs=1.01 / N_TEST)
    assert (swept[swept.run == "d4cnn"].record == records.record_id(clone / "runs/table1/d4cnn/seed=0")).all()
    assert (clone / "figures/training_curves_table1.png").exists()


def test_a_report_from_before_the_record_column_keeps_the_rows_of_runs_whose_record_is_here(drawn, results, tmp_path):
    """A CSV without the record and inputs columns: the rows of a run whose record is here are kept, and how many
    inputs they measured is unknown (the report says "?"; it never reads the old equivariance.md)."""
    partial = tmp_path / "partial"
    shutil.copytree(results / "runs/table1", partial / "runs/table1")
    _records_only(results / "runs/table3/d4segnet/seed=0", partial / "runs/table3/d4segnet/seed=0")
    (partial / "figures").mkdir()
    before = pd.read_csv(results / "figures/equivariance.csv", dtype={"record": str})
    before.drop(columns=["inputs", "record"]).to_csv(partial / "figures/equivariance.csv", index=False)
    (partial / "equivariance.md").write_text((results / "equivariance.md").read_text())  # its headings: not read
    done = _cli("--results-dir", str(partial), "--device", "cpu", "--only", "equivariance")
    assert done.returncode == 0, done.stderr
    after = pd.read_csv(partial / "figures/equivariance.csv", dtype={"record": str})
    assert sorted(set(after[after.experiment == "table3"].run)) == ["d4segnet"]  # the others have no record here
    assert after[after.experiment == "table1"]["inputs"].notna().all()  # measured now
    assert after[after.experiment == "table3"]["inputs"].isna().all()  # kept: the old CSV has no count
    assert "## table3 (? test inputs per run)" in (partial / "equivariance.md").read_text()


def test_the_runs_of_the_protocol_as_written_are_drawn(results, tmp_path):
    """`make reproduce` writes runs/table1_written/: the figures read the experiment the folder holds."""
    written = tmp_path / "written"
    shutil.copytree(results / "runs/table1", written / "runs/table1_written")
    done = _cli("--results-dir", str(written), "--device", "cpu", "--n-images", "8", "--only", "figure1", "angles")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("Accuracy vs angle: drawn without table1_written/p6cnn"), done.stderr
    assert "skipped" not in done.stderr
    assert_png(written / "figures/figure1_feature_maps.png")
    angles = pd.read_csv(written / "figures/accuracy_vs_angle.csv")
    assert set(angles["experiment"]) == {"table1_written"} and set(angles["run"]) == {"cnn", "p4cnn", "d4cnn"}
    assert _title("table1_written") == "Table 1 models (trained upright), protocol as written"
    assert (
        _title("table1") == "Table 1 models (trained upright)" and _title("ablation_p6_table1") == "ablation_p6_table1"
    )
    shutil.copytree(results / "runs/table1", written / "runs/table1")  # both protocols in one folder: refused
    both = _cli("--results-dir", str(written), "--device", "cpu", "--only", "figure1")
    assert both.returncode != 0 and "Traceback" not in both.stderr
    assert "both protocols (table1, table1_written)" in both.stderr.strip().splitlines()[-1]


def test_feature_maps_of_a_p4_layer_rotate_and_cycle(results):
    loaded = load_run(results / "runs/table1/p4cnn/seed=0")
    fig = feature_maps_figure({"p4": loaded.model}, loaded.data.evals["test"][0][:1])
    titles = [ax.get_title() for ax in fig.axes]
    plt.close(fig)
    error = next(t for t in titles if "rel. error" in t).split("rel. error")[1]
    assert float(error) < 1e-5


# ----------------------------------------------------------------------------------------------- bad input
def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "gcnn_study.report.figures", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def test_missing_runs_are_named_with_the_reason_and_the_other_figures_still_drawn(results, tmp_path):
    """A finished run whose checkpoint is gone (git keeps records, not checkpoints) is told apart from a run that
    never finished; Figure 1 is skipped without its CNN, Figure 3 is drawn from the Table 3 models that are here."""
    partial = tmp_path / "partial"
    shutil.copytree(results / "runs/table1", partial / "runs/table1")
    for run in ("d4segnet", "segnet"):
        shutil.copytree(results / f"runs/table3/{run}", partial / f"runs/table3/{run}")
    for run in ("table1/cnn", "table3/segnet"):  # as a run finished before runs recorded their figure arrays
        (partial / f"runs/{run}/seed=0/checkpoint.pt").unlink()
        (partial / f"runs/{run}/seed=0/{records.FIGURE_ARRAYS}").unlink()
    done = _cli("--results-dir", str(partial), "--device", "cpu", "--only", "figure1", "figure2", "figure3", "curves")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in done.stderr, lines
    gone = "(finished, but neither its figures.npz nor its checkpoint.pt is in this folder)"
    assert lines[0] == f"Figure 1: skipped, table1/cnn {gone} in {partial / 'runs'}"
    never = "table3/p4segnet, table3/segnet+, table3/p4segnet+ (no finished run)"
    assert lines[1] == f"Figure 3: drawn without table3/segnet {gone}; {never} in {partial / 'runs'}"
    for name in ("figure2_d4segnet_group_maps.png", "figure3_predictions.png", "training_curves_table1.png"):
        assert_png(partial / "figures" / name)
    assert not (partial / "figures/figure1_feature_maps.png").exists()
    # The figure itself says which of the table's models it lacks, and why.
    figure = draw.figure3(draw.Context(partial, n_images=4, device="cpu"))
    title = figure._suptitle.get_text()
    plt.close(figure)
    assert (
        "Not shown: SegNet: finished, but neither its figures.npz nor its checkpoint.pt is in this folder; "
        "P4SegNet: no finished run" in title
    )
    assert "D4SegNet" not in title and len(figure.axes) == 2 * 3 * 2  # 3 images upright and turned; input + 1 model


def test_a_folder_of_records_alone_draws_figures_1_to_3_as_the_checkpoints_would(drawn, results, tmp_path):
    """git keeps figures.npz, not the checkpoint: a clone of the records draws Figures 1-3 from the arrays each run
    recorded at its end, and those arrays are the ones its checkpoint gives."""
    clone = tmp_path / "clone"
    for run in (results / "runs").glob("*/*/seed=*"):
        _records_only(run, clone / run.relative_to(results), records.RECORDS)
    assert not list(clone.rglob("checkpoint.pt"))
    done = _cli("--results-dir", str(clone), "--device", "cpu", "--only", "figure1", "figure2", "figure3")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    for name in ("figure1_feature_maps.png", "figure2_d4segnet_group_maps.png", "figure3_predictions.png"):
        assert_png(clone / "figures" / name)
    for run, figures in (("table1/p4cnn", ["figure1"]), ("table3/d4segnet", ["figure2", "figure3"])):
        loaded = load_run(results / f"runs/{run}/seed=0")
        again = figure_arrays(loaded.model, loaded.data)
        for figure in figures:
            recorded = read_figure_arrays(clone / f"runs/{run}/seed=0/{records.FIGURE_ARRAYS}", figure)
            for name, value in recorded.items():
                expected = again.get(f"{figure}/{name}")
                if expected is None:  # Figure 2's image, kept once with Figure 3's
                    continue
                if value.dtype.kind == "f":
                    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=f"{run} {name}")
                elif value.dtype == np.int8:  # quantised maps: one step of rounding at most
                    assert np.abs(value.astype(np.int64) - expected.astype(np.int64)).max() <= 1, (run, name)
                else:  # labels, images, masks
                    assert np.array_equal(value, expected), (run, name)
    assert (clone / "runs/table3/segnet/seed=0/figures.npz").stat().st_size < records.FIGURE_ARRAYS_MAX_BYTES


def test_figure_arrays_of_a_d4segnet_at_the_protocols_size_stay_under_a_megabyte():
    """The largest record of figures: a group SegNet at 256×256 (Figure 2's eight maps and Figure 3's images)."""
    sizes = ["dataset.size=256", "dataset.n_images=8", "dataset.n_train=2", "dataset.n_val=2", "dataset.n_test=4"]
    cfg = compose_cfg("experiment=table3", "model=d4segnet", "dataset=ph2_synthetic", *sizes, "logger=none")
    data = hydra.utils.instantiate(cfg.dataset)
    model = hydra.utils.instantiate(cfg.model).eval()
    arrays = figure_arrays(model, data)
    assert arrays["figure2/maps"].shape == (8, 256, 256) and arrays["figure3/pred"].shape == (3, 2, 256, 256)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    assert len(buffer.getvalue()) < records.FIGURE_ARRAYS_MAX_BYTES


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None], ids=["empty", "absent"])
def test_an_empty_or_absent_folder_is_one_line(tmp_path, make):
    folder = tmp_path / "nothing"
    make(folder)
    done = _cli("--results-dir", str(folder))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and str(folder) in done.stderr and "Traceback" not in done.stderr


# ----------------------------------------------------------------------------------------------- notebook
def test_results_notebook_runs_on_a_results_folder(results, monkeypatch):
    monkeypatch.setenv("GCNN_RESULTS_DIR", str(results))
    monkeypatch.setenv("GCNN_FIGURE_IMAGES", "16")
    path = REPO / "notebooks/results.ipynb"
    assert all(not cell.get("outputs") for cell in json.loads(path.read_text())["cells"]), "stored without outputs"
    # Executed in a Jupyter kernel, as a reader runs it; the kernel inherits GCNN_RESULTS_DIR from this process.
    executed = run_notebook(path, last_cell="import json; print(json.dumps([str(RESULTS), sorted(shown)]))")
    folder, shown = json.loads(cell_text(executed.cells[-1]))
    assert Path(folder) == results
    assert {"figure1", "figure2", "figure3", "angles", "equivariance", "curves"} <= set(shown)
