"""The P6 ablation (`make ablation-p6`, experiments ablation_p6_table1/2): harmonic classifiers at the study's
parameter budget, their exact invariances, and every ablation config composing and running a tiny version end to
end."""

from __future__ import annotations

import json
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
from gcnn_study.train import ConfigError, _instantiate, run
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
ABLATION_MODELS = [name for _, name in TABLES["ablation_p6_table1"].rows]  # the one list (gcnn_study.specs)
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


def test_the_reading_awaits_the_one_factor_rows_until_they_are_run():
    frame = _ablation_frame(BASE)
    text = "\n".join(ablation.reading(frame, {"p6cnn_harmonic": {"60°": 0.7, "30°": 0.5}}))
    assert "Awaiting the one-factor runs" in text and "The two causes" not in text
    assert "Smooth filters matter on their own" in text and "+7.0 points" in text  # P8: 63 − 56, spread 1
    # P6 − P4, −3 points at p ≈ 0.02 alone, does not survive Holm's correction for the report's comparisons
    assert "With exact filters P6 still trails in the means" in text and "-5.0 points" in text
    assert "-3.0 points" in text and "significant alone but not after Holm's correction for the report's" in text
    wider = "\n".join(ablation.reading(_ablation_frame(BASE | {"p4cnn_harmonic": (0.70, 0.01)}), {}))
    assert "P6 still trails with exact filters" in wider and "significant at 95 % after Holm's correction" in wider
    assert "no more invariant at 60°" in text and "0.70 against 0.50" in text
    row = ablation.contrast_row(frame, ablation.CONTRASTS[5], "test_transformed_acc")  # exact − resampled, P6
    assert row[3] == "awaiting runs (p6cnn_harmonic_bilinear)"
    assert "awaiting runs †" in ablation.variant_table(frame, "test_transformed_acc")


def test_the_reading_separates_the_two_causes_once_the_rows_exist():
    """Resampled P6 at 0.45: the group action is worth 58 − 45 = 13 points, smooth filters 45 − 38 = 7."""
    frame = _ablation_frame(BASE | {"p6cnn_harmonic_bilinear": (0.45, 0.01), "p8cnn_harmonic_bilinear": (0.60, 0.01)})
    text = "\n".join(ablation.reading(frame, {}))
    w = welch(Sample(0.58, 0.01, 3), Sample(0.45, 0.01, 3))
    assert "Awaiting" not in text and "The two causes, one factor at a time" in text
    assert f"+13.0 points (95 % CI [{100 * w.low:+.1f}, {100 * w.high:+.1f}]" in text and "+7.0 points" in text
    verdict = next(line for line in text.splitlines() if "What that shows" in line)
    # P8: exact 63 against resampled 60 (+3.0), resampled 60 against pixel bilinear 52 (+8.0)
    assert "Shown at 95 %: the group action for P6CNN (+13.0 points); smooth filters for P6CNN (+7.0 points)" in verdict
    assert "the group action for P6CNN (+13.0 points against +7.0); smooth filters for P8CNN (+8.0" in verdict
    assert "For P6 the group action is shown to matter" in verdict


def test_the_verdict_says_when_no_cause_is_shown():
    wide = {r: (m, 0.08) for r, (m, _) in BASE.items()}
    frame = _ablation_frame(wide | {"p6cnn_harmonic_bilinear": (0.50, 0.08), "p8cnn_harmonic_bilinear": (0.60, 0.08)})
    verdict = next(line for line in ablation.reading(frame, {}) if "What that shows" in line)
    assert "No one-factor difference is significant at 95 %" in verdict
    assert "For P6 neither cause is shown at n = 3, 3" in verdict


def test_a_p8_gain_within_the_spread_is_not_read_as_an_effect():
    frame = _ablation_frame(BASE | {"p8cnn_harmonic": (0.58, 0.05), "p8cnn": (0.56, 0.05)})
    text = "\n".join(ablation.reading(frame, {}))
    assert "Smooth filters alone: not shown" in text and "on their own" not in text


def test_the_comparisons_carry_their_holm_adjusted_p():
    """Every testable comparison of the report is one family: each row shows Welch's p and its Holm-adjusted p."""
    frame = _ablation_frame(BASE | {"p6cnn_harmonic_bilinear": (0.45, 0.01), "p8cnn_harmonic_bilinear": (0.60, 0.01)})
    family = ablation.adjusted_p(frame, "test_transformed_acc")
    assert set(family) == {(c.a, c.b) for c in ablation.CONTRASTS}  # every row present: all 12 are tested
    raw = [welch(*(ablation._sample(frame, r, "test_transformed_acc") for r in pair)).p for pair in family]
    assert list(family.values()) == holm(raw)
    row = ablation.contrast_row(frame, ablation.CONTRASTS[9], "test_transformed_acc")  # P6 − P8, harmonic
    assert f"Welch p = {raw[9]:.3f}, Holm p = {family['p6cnn_harmonic', 'p8cnn_harmonic']:.3f}, n = 3, 3" in row[4]
    assert ablation.adjusted_p(_ablation_frame(BASE, n=1), "test_transformed_acc") == {}  # one seed: no test


def test_one_seed_contrasts_read_the_direction_only():
    row = ablation.contrast_row(_ablation_frame(BASE, n=1), ablation.CONTRASTS[0], "test_transformed_acc")
    assert row[3] == "+7.0 points" and row[4].startswith("one seed: direction only")


def test_model_errors_are_read_back_from_the_equivariance_report(tmp_path):
    from gcnn_study.report.figures.equivariance import equivariance_markdown

    rows = [
        {"experiment": "ablation_p6_table1", "run": "p6cnn_harmonic", "seed": s, "group": "p6", "transform": t,
         "error": e + s * 0.02, "in_group": t == "60°", "quantity": "logits", "inputs": 10}
        for s in (0, 1) for t, e in (("60°", 0.7), ("30°", 0.5))
    ]  # fmt: skip
    (tmp_path / "equivariance.md").write_text(equivariance_markdown(rows, "x"))
    errors = ablation.model_errors(tmp_path / "equivariance.md")
    assert errors == {"p6cnn_harmonic": {"60°": pytest.approx(0.71), "30°": pytest.approx(0.51)}}  # as printed
    assert ablation.model_errors(tmp_path / "absent.md") == {}


def test_the_committed_ablation_report_is_what_the_code_writes():
    folder = REPO / "results" / "reduced_cpu"
    assert (folder / "ablation_p6.md").read_text() == ablation.render(folder).replace(
        str(folder), "results/reduced_cpu"
    )
