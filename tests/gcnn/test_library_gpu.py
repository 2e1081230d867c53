"""The library on a GPU: every model kind keeps its exact equivariance on CUDA (marked `gpu`: skipped without one)."""

from __future__ import annotations

import pytest
import torch

from gcnn.models import GroupClassifier, SegNet

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("group", ["z2", "p4", "p4m"])
def test_a_classifier_on_the_gpu_passes_its_equivariance_check(group):
    model = GroupClassifier(group, channels=[4, 4, 4]).cuda()
    rows = model.check_equivariance()  # raises at an exact element beyond its tolerance
    assert rows and all(r["error"] == r["error"] for r in rows.values())  # measured, not nan
    assert next(model.parameters()).is_cuda


@pytest.mark.parametrize("group, decoder", [("p4", "upsample"), ("p4m", "transpose")])
def test_a_segnet_on_the_gpu_passes_its_equivariance_check(group, decoder):
    model = SegNet(group, channels=[4, 4, 4, 4], decoder=decoder).cuda()
    rows = model.check_equivariance()
    assert any(r["exact"] for r in rows.values())
    assert torch.cuda.is_available() and next(model.parameters()).is_cuda
