"""The five classifiers: parameter counts as the study ran them, and exact invariances on 33×33 inputs."""

import hydra
import pytest
import torch

from gcnn.models import GroupClassifier, count_parameters

STUDY_PARAMS = {"cnn": 395_882, "p4cnn": 393_786, "p6cnn": 395_362, "p8cnn": 392_858, "d4cnn": 392_858}


@pytest.fixture
def load_model(make_cfg):
    """`load_model("p4cnn")`: the model `model=p4cnn` configures (its file inherits cnn.yaml)."""
    return lambda name: hydra.utils.instantiate(make_cfg(f"model={name}").model)


@pytest.mark.parametrize("name", list(STUDY_PARAMS))
def test_parameter_counts_match_the_study(name, load_model):
    params = count_parameters(load_model(name))
    assert abs(params - STUDY_PARAMS[name]) <= 0.01 * STUDY_PARAMS[name]
    assert params == STUDY_PARAMS[name]  # same architecture, so the count is exact


def _trained_looking(model):
    """Random weights plus non-trivial batch-norm statistics, then eval mode."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 1, 33, 33))
    return model.eval()


@pytest.mark.parametrize("name", ["p4cnn", "p8cnn", "d4cnn"])
def test_rot90_invariance_of_logits(name, load_model):
    model = _trained_looking(load_model(name))
    x = torch.randn(4, 1, 33, 33)
    with torch.no_grad():
        logits = model(x)
        for k in (1, 2, 3):
            rotated = model(torch.rot90(x, k, (-2, -1)))
            assert (rotated - logits).abs().max() <= 1e-5 * logits.abs().max()


def test_p6cnn_is_invariant_to_180_degrees(load_model):
    model = _trained_looking(load_model("p6cnn"))
    x = torch.randn(4, 1, 33, 33)
    with torch.no_grad():
        logits = model(x)
        assert (model(torch.rot90(x, 2, (-2, -1))) - logits).abs().max() <= 1e-5 * logits.abs().max()


def test_d4cnn_is_also_mirror_invariant_and_p4cnn_is_not(load_model):
    x = torch.randn(4, 1, 33, 33)
    mirrored = torch.flip(x, (-1,))
    with torch.no_grad():
        d4 = _trained_looking(load_model("d4cnn"))
        assert (d4(mirrored) - d4(x)).abs().max() <= 1e-5 * d4(x).abs().max()
        assert (d4(torch.rot90(mirrored, 1, (-2, -1))) - d4(x)).abs().max() <= 1e-5 * d4(x).abs().max()
        p4 = _trained_looking(load_model("p4cnn"))
        assert (p4(mirrored) - p4(x)).abs().max() > 1e-3 * p4(x).abs().max()


def test_plain_cnn_is_not_rotation_invariant(load_model):
    model = _trained_looking(load_model("cnn"))
    x = torch.randn(4, 1, 33, 33)
    with torch.no_grad():
        assert (model(torch.rot90(x, 1, (-2, -1))) - model(x)).abs().max() > 1e-3 * model(x).abs().max()


def test_dropout_is_a_setting_and_off_by_default():
    assert not any(isinstance(m, torch.nn.Dropout3d) for m in GroupClassifier("p4", [4, 4, 4, 4, 4]).modules())
    with_dropout = GroupClassifier("p4", [4, 4, 4, 4, 4], dropout=0.3)
    assert sum(isinstance(m, torch.nn.Dropout3d) for m in with_dropout.modules()) == 5


@pytest.mark.parametrize("name", list(STUDY_PARAMS))
def test_the_task_is_the_class_s_not_a_setting(name, make_cfg):
    cfg = make_cfg(f"model={name}").model
    assert "task" not in cfg and "odd_input" not in cfg  # the class says what it predicts; the data set its size
    assert hydra.utils.instantiate(cfg).task == GroupClassifier.task == "classification"
    with pytest.raises(TypeError):
        GroupClassifier("p4", [4, 4, 4, 4, 4], task="segmentation")
