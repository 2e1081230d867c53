"""The evaluation code on segmentation: an untrained P4 / D4 model scores the same on the test set and on its
four 90° rotations, exactly, as the trainer computes it; a plain SegNet does not. The models have the 1×1 head:
a threshold can be put between any two of its logits, while the notebook's ReLU → BN output gives every pixel it
zeroes one and the same logit.

Exact equality is a property of the maps only up to round-off: a pixel whose logit lies within round-off of
the threshold 0 may flip under rotation, because rotated inputs are summed in another order (which order
depends on the CPU's kernels). So the check runs in float64, where the model commutes with rot90 to ~1e-13,
and the threshold is put in the widest gap between the middle logits; the test asserts that no pixel lies
anywhere near it, so equality cannot hinge on the summation order.
"""

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf

from gcnn_study.data.ph2_synthetic import build_ph2_synthetic
from gcnn.models import SegNet
from gcnn_study.engine import evaluate

# no logit closer to the threshold than this fraction of the largest |logit|: float64 round-off is ~1e-13
MARGIN = 1e-8


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    b = build_ph2_synthetic(root, n_images=12, width=40, height=32, size=32, n_train=4, n_val=2, n_test=6)
    as64 = lambda split: (split[0].double(), split[1])  # noqa: E731
    return dataclasses.replace(b, train=as64(b.train), evals={k: as64(v) for k, v in b.evals.items()})


def _eval(model, data):
    tcfg = OmegaConf.create({"eval_batch_size": 5, "limit_eval_batches": None, "bf16": False, "channels_last": False})
    torch.manual_seed(0)
    model.double().train()
    with torch.no_grad():  # non-trivial batch-norm statistics, as after some training
        model(data.train[0])
        model.eval()
        # Move the threshold into the widest gap between the logits of the middle fifth of the test pixels,
        # so that about half the pixels are predicted lesion (a non-degenerate prediction) and none is near 0.
        logits = model(data.evals["test"][0]).flatten().sort().values
        n = len(logits)
        middle = logits[int(0.4 * n) : int(0.6 * n)]
        i = int((middle[1:] - middle[:-1]).argmax())
        # The logits' last additive term: the notebook's output BatchNorm (in eval mode a fixed affine map), or the
        # bias of a 1×1 head.
        last = model.decoder[-1].convs[-1] if model.head is None else model.head
        last.bias -= (middle[i] + middle[i + 1]) / 2
        for split in ("test", "test_rotated"):
            out = model(data.evals[split][0])
            assert out.dtype == torch.float64
            assert out.abs().min() > MARGIN * out.abs().max(), f"{split}: a logit within round-off of 0"
            assert 0.3 < (out > 0).double().mean() < 0.7  # about half the pixels predicted lesion
    return evaluate(model, data, tcfg, torch.device("cpu"))


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_untrained_group_model_scores_test_and_rotated_test_identically(group, data):
    torch.manual_seed(1)
    metrics = _eval(SegNet(group, channels=(4, 8, 8, 8), head="conv1x1", init="fan_in"), data)
    for metric in ("iou", "iou_score", "dice", "iou_dataset"):
        assert metrics[f"test_{metric}"] == metrics[f"test_rotated_{metric}"], metric
    assert 0.0 < metrics["test_iou"] < 1.0  # a real, non-degenerate prediction
    assert 0.0 < metrics["test_dice"] < 1.0


def test_plain_segnet_scores_rotated_test_differently(data):
    torch.manual_seed(1)
    metrics = _eval(SegNet("z2", channels=(4, 8, 8, 8), head="conv1x1", init="fan_in"), data)
    assert metrics["test_iou"] != metrics["test_rotated_iou"]
