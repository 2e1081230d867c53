"""The P6 ablation (issue 11): harmonic classifiers at the study's parameter budget, their exact invariances,
and every ablation config composing and running a tiny version end to end."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import torch

from gcnn.harmonic import HARMONIC_BASES
from gcnn.models import count_parameters
from gcnn.tables import TABLES
from gcnn.train import ConfigError, _instantiate, run

REPO = Path(__file__).resolve().parents[1]
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
ABLATION_MODELS = [name for _, name in TABLES["ablation_p6_table1"].rows]  # the one list (gcnn.specs)
TINY = [
    "trainer.epochs=1",
    "trainer.batch_size=16",
    "trainer.eval_batch_size=32",
    "trainer.limit_train_batches=2",
    "trainer.limit_eval_batches=2",
    "logger=none",
]


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
