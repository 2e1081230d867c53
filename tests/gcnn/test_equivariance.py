"""gcnn.equivariance measures what the theory promises: zero (float64 round-off) for a P4 or D4 layer or model
at its own elements on inputs whose rotation is exact, clearly more for a plain CNN, and for g outside the group."""

from __future__ import annotations

import pytest
import torch

from gcnn import equivariance
from gcnn.equivariance import TRANSFORMS, Transform, act, check_equivariance, check_layer, transformed_pair
from gcnn.groups import get_group
from gcnn.models import GroupClassifier, SegNet
from gcnn.nn import GroupConv2d, LiftingConv2d

ROUND_OFF = 1e-12  # float64: an exact equivariance measures below this
BROKEN = 1e-2  # nothing built in: the error is of the order of the output


def _random(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _model(cls, group, seed=0, **kw):
    torch.manual_seed(seed)
    return cls(group, **kw).double().eval()


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("kind", ["lifting", "group"])
def test_a_p4_or_d4_layer_is_exact_at_every_element(group, kind):
    g = get_group(group)
    torch.manual_seed(0)
    layer = (LiftingConv2d(3, 4, 3, g, padding=1) if kind == "lifting" else GroupConv2d(3, 4, 3, g, padding=1)).double()
    x = _random(2, 3, 9, 9) if kind == "lifting" else _random(2, 3, g.order, 9, 9)
    for a in range(g.order):  # every element of p4 and p4m moves pixels by an index permutation
        assert check_layer(layer, x, a) < ROUND_OFF
    assert check_layer(layer, x, g.element_at(90)) < ROUND_OFF


def test_a_p8_layer_is_exact_at_90_degrees_only():
    g = get_group("p8")
    torch.manual_seed(0)
    layer = LiftingConv2d(2, 4, 3, g, padding=1).double()
    x = _random(1, 2, 17, 17)
    assert check_layer(layer, x, g.element_at(90)) < ROUND_OFF
    assert check_layer(layer, x, g.element_at(45)) > BROKEN  # an image turned by 45° must be interpolated


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_a_p4_classifier_is_invariant_at_90_degrees_and_a_cnn_is_not(group):
    x = _random(4, 1, 33, 33)  # 33×33: every pooling window maps onto one under rot90
    p4 = check_equivariance(_model(GroupClassifier, group, channels=(4, 4, 6, 6, 8)), x)
    cnn = check_equivariance(_model(GroupClassifier, "z2", channels=(4, 4, 6, 6, 8)), x)
    for label in ("90°", "180°"):
        assert p4[label]["error"] < ROUND_OFF and p4[label]["in_group"] and p4[label]["exact_on_grid"]
        assert cnn[label]["error"] > BROKEN and not cnn[label]["in_group"]
    assert p4["90°"]["quantity"] == "logits (invariant)"
    assert (p4["mirror"]["error"] < ROUND_OFF) == (group == "p4m") and p4["mirror"]["in_group"] == (group == "p4m")
    assert p4["45°"]["error"] > ROUND_OFF and not p4["45°"]["in_group"]


def test_a_p4_segnet_is_exact_on_its_group_map_and_a_segnet_is_not():
    x = _random(2, 3, 16, 16)
    p4 = _model(SegNet, "p4", channels=(4, 8))
    errors = p4.check_equivariance(x, TRANSFORMS)  # the model's own method, given the transforms
    assert errors == check_equivariance(p4, x)
    assert errors["90°"]["error"] < ROUND_OFF and errors["90°"]["quantity"] == "pre-pooling group map"
    assert errors["mirror"]["quantity"] == "pooled logits" and errors["mirror"]["error"] > BROKEN
    plain = check_equivariance(_model(SegNet, "z2", channels=(4, 8)), x)
    assert plain["90°"]["error"] > BROKEN and plain["90°"]["quantity"] == "pooled logits"


def test_the_group_map_is_what_the_segnet_pools():
    x = _random(1, 3, 16, 16)
    model = _model(SegNet, "p4m", channels=(4, 8))
    maps = model.group_map(x)
    assert maps.shape == (1, 1, 8, 16, 16) and torch.equal(model(x), maps.amax(dim=2))


def test_first_layer_maps_rotate_and_cycle_for_p4_and_only_rotate_for_nothing_else():
    x = _random(1, 1, 33, 33)
    quarter = Transform("90°", 90)
    p4 = _model(GroupClassifier, "p4", channels=(4, 4, 6, 6, 8))
    f_gx, g_fx = transformed_pair(p4.feature_maps, x, p4.group, quarter)
    assert f_gx.shape == (1, 4, 4, 33, 33) and torch.allclose(f_gx, g_fx, rtol=0, atol=1e-12)
    cnn = _model(GroupClassifier, "z2", channels=(4, 4, 6, 6, 8))
    f_gx, g_fx = transformed_pair(cnn.feature_maps, x, cnn.group, quarter)
    assert equivariance.relative_error(f_gx, g_fx) > BROKEN  # a CNN's filters are not a rotation of each other
    deeper = p4.feature_maps(x, depth=3)
    assert deeper.shape == (1, 6, 4, 9, 9)
    with pytest.raises(ValueError, match="depth must be 1 to 5"):
        p4.feature_maps(x, depth=0)


def test_g_acts_on_each_kind_of_output_as_the_theory_says():
    g, quarter = get_group("p4"), Transform("90°", 90)
    logits, maps, image = _random(2, 10), _random(2, 3, 4, 5, 5), _random(2, 1, 5, 5)
    assert torch.equal(act(g, quarter, logits), logits)
    assert torch.equal(act(g, quarter, maps), g.act_on_group_map(1, maps))
    assert torch.equal(act(g, quarter, image), torch.rot90(image, 1, (-2, -1)))
    assert torch.equal(act(g, Transform("m", 0, True), maps), torch.flip(maps, (-1,)))  # p4 has no mirror: pixels
    assert [t.element(get_group("p4m")) for t in TRANSFORMS] == [1, 2, 4, None, None, None]
