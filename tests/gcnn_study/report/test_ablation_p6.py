"""The P6 ablation (`make ablation-p6`, experiments ablation_p6_table1/2): harmonic classifiers at the study's
parameter budget, their exact invariances, every ablation config composing and running a tiny version end to end,
and the report's comparisons and tables (`gcnn_study.report.ablation`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hydra
import pandas as pd
import pytest
import torch

from gcnn_study.report import ablation
from gcnn.nn.bases import HARMONIC_BASES
from gcnn.models import count_parameters
from gcnn_study.report.stats import Sample, holm, welch
from gcnn_study.report.tables import TABLES
from gcnn_study.run.preflight import instantiate as _instantiate
from gcnn_study.train import ConfigError, run
from helpers import REPO, tiny

# model config → (its pixel counterpart, that counterpart's count as the study ran it)
HARMONIC = {
    "p4cnn_harmonic": ("p4cnn", 393_786),
    "p6cnn_harmonic": ("p6cnn", 395_362),
    "p6cnn_harmonic_bilinear": ("p6cnn", 395_362),
    "p8cnn_harmonic": ("p8cnn", 392_858),
    "p8cnn_harmonic_bilinear": ("p8cnn", 392_858),
    "d4cnn_harmonic": ("d4cnn", 392_858),
}
EXPECTED = {
    "p4cnn_harmonic": 392_984,
    "p6cnn_harmonic": 393_551,
    "p6cnn_harmonic_bilinear": 393_551,
    "p8cnn_harmonic": 392_335,
    "p8cnn_harmonic_bilinear": 392_335,
    "d4cnn_harmonic": 392_335,
}  # the counts quoted in the yaml comments
ABLATION_MODELS = [name for _, name in TABLES["ablation_p6_table1"].rows]  # the one list (gcnn_study.config.specs)
TINY = [*tiny(epochs=1), "logger=none"]


def _model(make_cfg, name):
    return hydra.utils.instantiate(make_cfg(f"model={name}").model)


@pytest.mark.parametrize("name", list(HARMONIC))
def test_harmonic_classifiers_keep_the_study_budget(make_cfg, name):
    pixel_name, study = HARMONIC[name]
    model = _model(make_cfg, name)
    params = count_parameters(model)
    assert model.filter_basis in HARMONIC_BASES
    assert model.group.name == _model(make_cfg, pixel_name).group.name
    assert abs(params - study) <= 0.01 * study
    assert params == EXPECTED[name]


def test_bilinear_variants_differ_only_in_the_filter_rotation(make_cfg):
    for name in ("p6cnn", "p8cnn"):
        pixel, bilinear = _model(make_cfg, name), _model(make_cfg, f"{name}_bilinear")
        assert bilinear.group.filter_interpolation == "bilinear" and pixel.group.filter_interpolation == "nearest"
        assert count_parameters(bilinear) == count_parameters(pixel)


def _model_settings(make_cfg, name) -> dict:
    cfg = make_cfg(f"model={name}").model
    return {k: v for k, v in cfg.items() if k != "name"}


@pytest.mark.parametrize("group", ["p6", "p8"])
def test_each_one_factor_pair_differs_in_one_factor(make_cfg, group):
    """harmonic, resampled bilinear against harmonic: only the filter transform (filter_basis, and the
    interpolation it uses); against pixel bilinear: only the filters (basis, and channels for the budget)."""
    resampled = _model_settings(make_cfg, f"{group}cnn_harmonic_bilinear")
    exact, pixel = _model_settings(make_cfg, f"{group}cnn_harmonic"), _model_settings(make_cfg, f"{group}cnn_bilinear")
    differs = lambda a, b: {k for k in a if a[k] != b[k]}
    assert differs(resampled, exact) == {"filter_basis", "filter_interpolation"}
    assert differs(resampled, pixel) == {"filter_basis", "channels"}
    assert resampled["filter_basis"] == "harmonic_resampled" and resampled["filter_interpolation"] == "bilinear"


def _settled(model):
    """Random weights, non-trivial batch-norm statistics, eval mode (as after training)."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 1, 33, 33))
    return model.eval()


@pytest.mark.parametrize(
    "name,turns,mirror",
    [("p4cnn_harmonic", (1, 2, 3), False), ("p6cnn_harmonic", (2,), False), ("d4cnn_harmonic", (1, 2, 3), True)],
)
def test_harmonic_classifiers_are_invariant_to_their_exact_rotations(make_cfg, name, turns, mirror):
    model = _settled(_model(make_cfg, name))
    x = torch.randn(2, 1, 33, 33)
    with torch.no_grad():
        logits = model(x)
        moved = [torch.rot90(x, k, (-2, -1)) for k in turns] + ([torch.flip(x, (-1,))] if mirror else [])
        for xm in moved:
            assert (model(xm) - logits).abs().max() <= 1e-5 * logits.abs().max()


def test_both_ablation_tables_have_the_same_rows_each_in_its_own_run_directory(make_cfg):
    for table in ("ablation_p6_table1", "ablation_p6_table2"):
        assert [name for _, name in TABLES[table].rows] == ABLATION_MODELS
        assert TABLES[table].experiment == table
    run_names = {make_cfg("experiment=ablation_p6_table1", f"model={m}").run_name for m in ABLATION_MODELS}
    assert len(run_names) == len(ABLATION_MODELS)  # every variant gets its own run directory


def test_the_rows_are_the_variants_of_the_varied_groups_and_the_controls():
    assert ABLATION_MODELS == [
        *("p6cnn", "p6cnn_bilinear", "p6cnn_harmonic_bilinear", "p6cnn_harmonic"),
        *("p8cnn", "p8cnn_bilinear", "p8cnn_harmonic_bilinear", "p8cnn_harmonic"),
        *("p4cnn", "p4cnn_harmonic", "d4cnn", "d4cnn_harmonic"),
    ]
    labels = dict((run, label) for label, run in TABLES["ablation_p6_table1"].rows)
    assert labels["p6cnn_harmonic_bilinear"] == "P6CNN harmonic, resampled bilinear"
    assert labels["d4cnn_harmonic"] == "D4CNN harmonic"


def test_the_tables_mark_exactly_the_runs_whose_filter_transform_is_not_a_group_action():
    marked = {run for run in ABLATION_MODELS if ablation.not_a_group_action(run)}
    assert marked == {"p6cnn", "p6cnn_bilinear", "p6cnn_harmonic_bilinear", "p8cnn_bilinear", "p8cnn_harmonic_bilinear"}
    table = ablation.variant_table(None, ablation.TRANSFORMED)
    assert table.count("†") == len(marked)
    assert ablation.layer_variants() == (
        ("pixel, nearest (as run)", "pixel", "nearest"),
        ("pixel, bilinear (as written)", "pixel", "bilinear"),
        ("harmonic, resampled bilinear", "harmonic_resampled", "bilinear"),
        ("harmonic (exact)", "harmonic", "nearest"),
    )


@pytest.mark.parametrize("experiment,protocol", [("ablation_p6_table1", "table1"), ("ablation_p6_table2", "table2")])
def test_ablation_configs_follow_their_table_protocol(make_cfg, experiment, protocol):
    for model in ABLATION_MODELS:
        cfg = make_cfg(f"experiment={experiment}", f"model={model}", "paths.results_dir=R")
        reference = make_cfg(f"experiment={protocol}", f"model={model}", "paths.results_dir=R")
        assert cfg.run_dir == f"R/runs/{experiment}/{model}/seed=0"
        assert cfg.dataset == reference.dataset and cfg.trainer == reference.trainer and cfg.model == reference.model


@pytest.mark.parametrize(
    "experiment,dataset,models",
    [
        ("ablation_p6_table1", "mnist_sample", ["p6cnn_harmonic", "p6cnn_bilinear", "p6cnn_harmonic_bilinear"]),
        ("ablation_p6_table2", "rot_mnist_sample", ["d4cnn_harmonic", "p4cnn_harmonic", "p8cnn_bilinear"]),
    ],
)
def test_ablation_configs_run_a_tiny_version_end_to_end(make_cfg, experiment, dataset, models, tmp_path):
    for model in models:
        cfg = make_cfg(
            f"experiment={experiment}", f"model={model}", f"dataset={dataset}", f"paths.results_dir={tmp_path}", *TINY
        )
        result = run(cfg)
        saved = json.loads((Path(cfg.run_dir) / "metrics.json").read_text())
        assert saved == result and saved["experiment"] == experiment and saved["model"] == model
        expected = {"test_acc", "test_transformed_acc"} if experiment.endswith("table1") else {"test_acc"}
        assert set(saved["metrics"]) == expected and all(0 <= v <= 1 for v in saved["metrics"].values())


def test_bad_filter_basis_in_a_config_is_one_line_before_training(make_cfg):
    for override, pattern in [
        ("model.filter_basis=foo", r"model\.filter_basis='foo' is unknown; use pixel, harmonic, harmonic_resampled"),
        ("model.max_frequency=5", r"model\.max_frequency=5 is too high for model\.kernel_size=3"),
    ]:
        cfg = make_cfg("experiment=ablation_p6_table1", "model=p6cnn_harmonic", override)
        with pytest.raises(ConfigError, match=pattern) as err:
            _instantiate(cfg.model, "model")
        assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------------------------- the report
def _ablation_frame(trans: dict[str, tuple[float, float]], n: int = 3) -> pd.DataFrame:
    """ablation_p6_table1.csv's layout: {run: (mean, std)} of the "+transforms" accuracy, upright 0.95 ± 0.01."""
    labels = {name: label for label, name in TABLES["ablation_p6_table1"].rows}
    return pd.DataFrame(
        [
            {"model": labels[r], "run_name": r, "n": n, "params": 1000,
             "test_acc_mean": 0.95, "test_acc_std": 0.01, "test_acc_n": n,
             "test_transformed_acc_mean": m, "test_transformed_acc_std": s, "test_transformed_acc_n": n}
            for r, (m, s) in trans.items()
        ]
    )  # fmt: skip


BASE = {
    "p6cnn": (0.40, 0.01),
    "p6cnn_bilinear": (0.38, 0.01),
    "p6cnn_harmonic": (0.58, 0.01),
    "p8cnn": (0.56, 0.01),
    "p8cnn_bilinear": (0.52, 0.01),
    "p8cnn_harmonic": (0.63, 0.01),
    "p4cnn": (0.58, 0.01),
    "p4cnn_harmonic": (0.61, 0.01),
    "d4cnn": (0.72, 0.01),
    "d4cnn_harmonic": (0.73, 0.01),
}


def test_a_comparison_awaits_its_rows_until_they_are_run():
    rows = ablation.comparisons(_ablation_frame(BASE)).set_index(["a", "b"])
    resampled = {"p6cnn_harmonic_bilinear", "p8cnn_harmonic_bilinear"}
    awaiting = {pair for pair in rows.index if resampled & set(pair)}
    assert len(awaiting) == 4 and set(rows.index[rows.status == "awaiting runs"]) == awaiting
    assert rows.loc[("p6cnn_harmonic", "p6cnn_harmonic_bilinear"), "missing"] == "p6cnn_harmonic_bilinear"
    assert rows.loc[list(awaiting), "difference"].isna().all() and not rows.loc[list(awaiting), "significant"].any()
    assert (rows.family == len(rows) - len(awaiting)).all()  # the family is what the seeds can test
    table = ablation.contrast_table(rows.reset_index(), one_factor=True)
    assert "| awaiting runs (p6cnn_harmonic_bilinear) |" in table
    assert "awaiting runs †" in ablation.variant_table(_ablation_frame(BASE), "test_transformed_acc")


def test_each_comparison_carries_its_welch_test_and_its_holm_adjusted_p():
    """Every testable comparison of the report is one family: each row has Welch's p and its Holm-adjusted p, and
    only an adjusted p below 0.05 is marked significant."""
    frame = _ablation_frame(BASE | {"p6cnn_harmonic_bilinear": (0.45, 0.01), "p8cnn_harmonic_bilinear": (0.60, 0.01)})
    rows = ablation.comparisons(frame)
    assert list(zip(rows.a, rows.b)) == [(c.a, c.b) for c in ablation.CONTRASTS] and (rows.status == "tested").all()
    samples = [[ablation.sample(frame, r, "test_transformed_acc") for r in pair] for pair in zip(rows.a, rows.b)]
    tests = [welch(a, b) for a, b in samples]
    assert rows.welch_p.tolist() == [w.p for w in tests] and rows.holm_p.tolist() == holm([w.p for w in tests])
    assert rows.difference.tolist() == pytest.approx([a.mean - b.mean for a, b in samples])
    assert rows.significant.tolist() == [p < 0.05 for p in rows.holm_p] and (rows.family == 12).all()
    action = rows.set_index(["a", "b"]).loc["p6cnn_harmonic", "p6cnn_harmonic_bilinear"]  # 58 − 45, spread 1
    assert action.difference == pytest.approx(0.13) and action.significant and action.holm_p < action.welch_p * 12
    table = ablation.contrast_table(rows, one_factor=True)
    line = next(x for x in table.splitlines() if x.startswith("| P6CNN harmonic (exact) − P6CNN harmonic, resampled"))
    w = welch(Sample(0.58, 0.01, 3), Sample(0.45, 0.01, 3))
    assert f"| +13.0 | [{100 * w.low:+.1f}, {100 * w.high:+.1f}] | < 0.001 | " in line and line.endswith(" * | 3, 3 |")
    full = BASE | {"p6cnn_harmonic_bilinear": (0.45, 0.01), "p8cnn_harmonic_bilinear": (0.60, 0.01)}
    wide = ablation.comparisons(_ablation_frame({run: (mean, 0.05) for run, (mean, _) in full.items()}))
    assert (wide.welch_p < 0.05).sum() == 2 and not wide.significant.any()  # p < 0.05 alone, not in the family
    assert (wide.holm_p >= wide.welch_p).all()


def test_one_seed_comparisons_give_the_direction_only():
    rows = ablation.comparisons(_ablation_frame(BASE, n=1))
    first = rows.iloc[0]
    assert first.status == "one seed" and first.difference == pytest.approx(0.07)  # P8: 63 − 56
    assert rows.welch_p.isna().all() and rows.holm_p.isna().all() and (rows.family == 0).all()
    assert "| +7.0 | one seed: direction only |" in ablation.contrast_table(rows, one_factor=True)


def test_model_errors_are_the_mean_over_seeds_of_the_figures_csv(tmp_path):
    rows = [
        {"experiment": e, "run": "p6cnn_harmonic", "seed": s, "group": "p6", "transform": t, "error": x + s * 0.02}
        for e in ("ablation_p6_table1", "ablation_p6_table2") for s in (0, 1) for t, x in (("60°", 0.7), ("30°", 0.5))
    ]  # fmt: skip
    csv = tmp_path / "figures" / "equivariance.csv"
    csv.parent.mkdir()
    pd.DataFrame(rows).assign(error=lambda d: d.error + (d.experiment == "ablation_p6_table2")).to_csv(csv, index=False)
    errors = ablation.model_errors(csv)
    assert errors == {"p6cnn_harmonic": {"60°": pytest.approx(0.71), "30°": pytest.approx(0.51)}}
    assert ablation.model_errors(tmp_path / "absent.csv") == {}
    text = ablation.errors_table(errors)
    assert "| p6cnn_harmonic | 60° | 0.71 | 0.51 |" in text and not ablation.errors_table({})


def test_the_report_names_each_table_s_command_from_its_json(tmp_path):
    _ablation_frame(BASE).to_csv(tmp_path / "ablation_p6_table1.csv", index=False)
    (tmp_path / "ablation_p6_table1.json").write_text(
        json.dumps({"command": "make ablation-p6 SEEDS=0", "machines": {}})
    )
    assert ablation.write(tmp_path) == tmp_path / "ablation_p6.md"
    text = (tmp_path / "ablation_p6.md").read_text()
    assert "| `ablation_p6_table1` | `make ablation-p6 SEEDS=0` |" in text
    assert "| `ablation_p6_table2` | not recorded (no `ablation_p6_table2.json`) |" in text
    assert pd.read_csv(tmp_path / "ablation_p6.csv").shape == (len(ablation.CONTRASTS), len(ablation.numbers.COLUMNS))
    (tmp_path / "ablation_p6_table1.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"ablation_p6_table1\.json holds no table's command: rebuild it with"):
        ablation.write(tmp_path)


def test_without_table_1_the_command_line_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match=r"holds no ablation_p6_table1\.csv; build it with `make ablation-p6`"):
        ablation.main(["--results-dir", str(tmp_path)])


@pytest.mark.records
def test_the_committed_ablation_report_is_what_the_code_writes(tmp_path):
    """results/reduced_cpu/ablation_p6.csv and .md, written again from the files they read."""
    folder = REPO / "results" / "reduced_cpu"
    assert (folder / "ablation_p6.csv").is_file(), "write it: make ablation-report RESULTS=results/reduced_cpu"
    for name in (
        "ablation_p6_table1.csv",
        "ablation_p6_table2.csv",
        "ablation_p6_table1.json",
        "ablation_p6_table2.json",
    ):
        if (folder / name).exists():  # a table's .json is written by the aggregator since it was added
            shutil.copy(folder / name, tmp_path / name)
    (tmp_path / "figures").mkdir()
    shutil.copy(folder / "figures" / "equivariance.csv", tmp_path / "figures" / "equivariance.csv")
    ablation.write(tmp_path)
    assert (folder / "ablation_p6.csv").read_text() == (tmp_path / "ablation_p6.csv").read_text()
    again = (tmp_path / "ablation_p6.md").read_text().replace(str(tmp_path), "results/reduced_cpu")
    assert (folder / "ablation_p6.md").read_text() == again
