"""The evaluation code on segmentation: an untrained P4 model scores the same on the test set and on its
four 90° rotations, exactly, as the trainer computes it; a plain SegNet does not."""

import pytest
import torch
from omegaconf import OmegaConf

from gcnn.data.ph2_synthetic import build_ph2_synthetic
from gcnn.models import SegNet
from gcnn.train import evaluate


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return build_ph2_synthetic(root, n_images=12, width=40, height=32, size=32, n_train=4, n_val=2, n_test=6)


def _eval(model, data):
    tcfg = OmegaConf.create({"eval_batch_size": 5, "limit_eval_batches": None, "bf16": False})
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():  # non-trivial batch-norm statistics, as after some training
        model(data.train[0])
        model.eval()
        # centre the logits so that about half the pixels are predicted lesion: a non-degenerate prediction
        model.head.bias -= model(data.evals["test"][0]).median()
    return evaluate(model, data, tcfg, torch.device("cpu"))


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_untrained_group_model_scores_test_and_rotated_test_identically(group, data):
    torch.manual_seed(1)
    metrics = _eval(SegNet(group, channels=(4, 8, 8, 8)), data)
    for metric in ("iou", "iou_score", "dice", "iou_dataset"):
        assert metrics[f"test_{metric}"] == metrics[f"test_rotated_{metric}"], metric
    assert 0.0 < metrics["test_iou"] < 1.0  # a real, non-degenerate prediction


def test_plain_segnet_scores_rotated_test_differently(data):
    torch.manual_seed(1)
    metrics = _eval(SegNet("z2", channels=(4, 8, 8, 8)), data)
    assert metrics["test_iou"] != metrics["test_rotated_iou"]
