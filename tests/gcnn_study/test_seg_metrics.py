"""Segmentation metrics and accuracy on hand-made masks with known answers."""

from __future__ import annotations

import pytest
import torch

from gcnn_study.metrics import (
    THRESHOLDS,
    SegmentationMeter,
    accuracy,
    dice_per_image,
    iou_per_image,
    iou_score_per_image,
)


def mask(*pixels, size=4) -> torch.Tensor:
    """(1, 1, size, size) float mask with ones at the given flat pixel indices."""
    m = torch.zeros(size * size)
    m[list(pixels)] = 1.0
    return m.reshape(1, 1, size, size)


def scores(pred, target):
    iou = iou_per_image(pred, target)
    return iou.item(), dice_per_image(pred, target).item(), iou_score_per_image(iou).item()


def test_thresholds_exact():
    assert THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 0])) == pytest.approx(0.5)


def test_perfect_prediction():
    t = mask(0, 1, 4, 5)
    assert scores(t, t) == (1.0, 1.0, 1.0)


def test_empty_prediction_nonempty_target():
    assert scores(mask(), mask(0, 1, 4, 5)) == (0.0, 0.0, 0.0)


def test_both_empty_is_perfect_by_convention():
    assert scores(mask(), mask()) == (1.0, 1.0, 1.0)


def test_empty_target_nonempty_prediction():
    assert scores(mask(3), mask()) == (0.0, 0.0, 0.0)


def test_half_overlap():
    # target 4 pixels; prediction covers 2 of them plus 2 outside: |P&T| = 2, |P|T| = 6, |P|+|T| = 8
    iou, dice, _ = scores(mask(0, 1, 2, 3), mask(0, 1, 4, 5))
    assert iou == pytest.approx(2 / 6)
    assert dice == pytest.approx(4 / 8)


def test_accepts_bool_and_3d():
    p = mask(0, 1, 2, 3)[:, 0].bool()
    t = mask(0, 1, 4, 5)[:, 0].bool()
    assert iou_per_image(p, t).item() == pytest.approx(2 / 6)


def test_score_strictly_exceeds():
    iou = torch.tensor([0.5, 0.76, 0.4999, 1.0, 0.0])
    got = iou_score_per_image(iou).tolist()
    assert got == pytest.approx([0.0, 0.6, 0.0, 1.0, 0.0])
    # an IoU of exactly 0.5 from counts (2 of 4) also scores 0
    assert scores(mask(0, 1), mask(0, 1, 2, 3))[2] == 0.0


def _batch(n=7, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = (torch.rand(n, 1, size, size, generator=g) > 0.6).float()
    logits = torch.randn(n, 1, size, size, generator=g) + 2 * (masks - 0.5)
    return logits, masks


def test_meter_independent_of_batching():
    logits, masks = _batch()
    one = SegmentationMeter()
    one.update(logits, masks)
    split = SegmentationMeter()
    for lo, hi in [(0, 1), (1, 5), (5, 7)]:
        split.update(logits[lo:hi], masks[lo:hi])
    a, b = one.compute(), split.compute()
    assert a["n"] == b["n"] == 7
    for key in ("iou", "iou_dataset", "iou_score", "dice"):
        assert a[key] == pytest.approx(b[key], abs=1e-12)
    assert a["iou"] == pytest.approx(iou_per_image(logits > 0, masks).mean().item())


def test_meter_dataset_iou_differs_from_per_image_mean():
    # image 1: tiny lesion, missed: IoU 0 (I 0, U 1). image 2: big lesion 8/8 hit: IoU 1 (I 8, U 8).
    target = torch.cat([mask(0), mask(*range(8))])
    pred = torch.cat([mask(), mask(*range(8))])
    meter = SegmentationMeter()
    meter.update(pred * 2 - 1, target)  # logits > 0 exactly where pred is 1
    out = meter.compute()
    assert out["iou"] == pytest.approx(0.5)
    assert out["iou_dataset"] == pytest.approx(8 / 9)
    assert out["iou_score"] == pytest.approx(0.5)
    assert out["dice"] == pytest.approx(0.5)
    assert out["n"] == 2


def test_meter_requires_data():
    with pytest.raises(ValueError):
        SegmentationMeter().compute()
