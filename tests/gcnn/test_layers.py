"""The layers: equivariance to float32 round-off, parameter counts, z2 = PyTorch, gradients, init, cache."""

import pytest
import torch
import torch.nn as nn

from gcnn.groups import get_group
from gcnn.nn import (
    GroupBatchNorm,
    GroupConv2d,
    GroupConvTranspose2d,
    GroupPool,
    LiftingConv2d,
    SpatialMaxPool,
    SpatialUpsample,
)

TOL = 1e-5  # max abs error <= TOL * max |output|


def _max_rel_error(layer, x, group, elements, acts_on_input="image", acts_on_output="group", mode="bilinear"):
    act_in = group.act_on_image if acts_on_input == "image" else group.act_on_group_map
    act_out = {"group": group.act_on_group_map, "image": group.act_on_image, "none": lambda a, y, mode: y}[
        acts_on_output
    ]
    y = layer(x)
    errors = []
    for a in elements:
        y_of_gx = layer(act_in(a, x, mode=mode))
        errors.append(((y_of_gx - act_out(a, y, mode=mode)).abs().max() / y.abs().max()).item())
    return max(errors)


def _exact_layers(group, cin=3, cout=4):
    return {
        "lifting": (LiftingConv2d(cin, cout, 3, group, padding=1), torch.randn(2, cin, 9, 9), "image"),
        "group": (
            GroupConv2d(cin, cout, 3, group, padding=1),
            torch.randn(2, cin, get_group(group).order, 9, 9),
            "group",
        ),
        "transpose": (
            GroupConvTranspose2d(cin, cout, 3, group, stride=2, padding=1),
            torch.randn(2, cin, get_group(group).order, 9, 9),
            "group",
        ),
        "lifting5x5": (LiftingConv2d(cin, cout, 5, group, padding=2), torch.randn(2, cin, 10, 10), "image"),
    }


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("kind", ["lifting", "group", "transpose", "lifting5x5"])
def test_layers_commute_with_every_group_element(group, kind):
    g = get_group(group)
    layer, x, acts_on = _exact_layers(group)[kind]
    layer.bias.data.normal_()  # a non-zero bias must be shared over the group axis to stay equivariant
    assert _max_rel_error(layer, x, g, range(g.order), acts_on_input=acts_on) <= TOL


def _stack(group, cin=2):
    return nn.Sequential(
        LiftingConv2d(cin, 6, 3, group, padding=1),
        GroupConv2d(6, 6, 3, group, padding=1),
        GroupBatchNorm(6),
        nn.ReLU(),
        SpatialMaxPool(2),
        GroupConv2d(6, 5, 3, group, padding=1),
        GroupPool("max"),
    )


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("train_mode", [True, False])
def test_composed_stack_is_equivariant_and_invariant_after_global_pool(group, train_mode):
    g = get_group(group)
    stack = _stack(group).train(train_mode)
    x = torch.randn(3, 2, 12, 12)
    # after GroupPool the output is an image: it rotates (and mirrors) with the input
    assert _max_rel_error(stack, x, g, range(g.order), acts_on_output="image") <= TOL
    invariant = nn.Sequential(stack, nn.AdaptiveMaxPool2d(1), nn.Flatten()).train(train_mode)
    assert _max_rel_error(invariant, x, g, range(g.order), acts_on_output="none") <= TOL


@pytest.mark.parametrize("mode,size", [("max3", 9), ("up", 6)])
def test_spatial_pool_and_upsample_are_equivariant(mode, size):
    g = get_group("p4m")
    layer = SpatialMaxPool(3, 2, 1) if mode == "max3" else SpatialUpsample(2, "bilinear")
    x = torch.randn(2, 3, g.order, size, size)
    assert _max_rel_error(layer, x, g, range(g.order), acts_on_input="group") <= TOL


def test_group_pool_mean_and_bad_mode():
    x = torch.randn(2, 3, 4, 5, 5)
    assert torch.allclose(GroupPool("mean")(x), x.mean(2))
    with pytest.raises(ValueError, match="GroupPool mode"):
        GroupPool("sum")


@pytest.mark.parametrize("kind", ["lifting", "group", "transpose"])
def test_p8_is_exact_on_its_90_degree_subgroup(kind):
    g = get_group("p8")
    layer, x, acts_on = _exact_layers("p8")[kind]
    assert _max_rel_error(layer, x, g, g.exact_elements, acts_on_input=acts_on) <= TOL


def test_parameter_counts_follow_the_formula():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    for group, order in [("z2", 1), ("p4", 4), ("p4m", 8), ("p6", 6)]:
        assert count(LiftingConv2d(3, 7, 5, group)) == 7 * 3 * 25 + 7
        assert count(LiftingConv2d(3, 7, 5, group, bias=False)) == 7 * 3 * 25
        assert count(GroupConv2d(3, 7, 3, group)) == 7 * 3 * order * 9 + 7
        assert count(GroupConvTranspose2d(3, 7, 3, group, stride=2)) == 7 * 3 * order * 9 + 7
        assert count(GroupBatchNorm(7)) == 14


def test_z2_layers_equal_pytorch_layers():
    x = torch.randn(2, 3, 9, 9)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    lift = LiftingConv2d(3, 5, 3, "z2", stride=2, padding=1)
    gconv = GroupConv2d(3, 5, 3, "z2", stride=2, padding=1)
    with torch.no_grad():
        for layer in (lift, gconv):
            layer.weight.copy_(conv.weight[:, :, None])
            layer.bias.copy_(conv.bias)
    assert torch.equal(lift(x)[:, :, 0], conv(x))
    assert torch.equal(gconv(x[:, :, None])[:, :, 0], conv(x))

    convt = nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1, output_padding=1)
    gconvt = GroupConvTranspose2d(3, 5, 3, "z2", stride=2, padding=1, output_padding=1)
    with torch.no_grad():
        gconvt.weight.copy_(convt.weight[:, :, None])
        gconvt.bias.copy_(convt.bias)
    assert torch.equal(gconvt(x[:, :, None])[:, :, 0], convt(x))

    bn, gbn = nn.BatchNorm2d(3), GroupBatchNorm(3)
    assert torch.allclose(gbn(x[:, :, None])[:, :, 0], bn(x), atol=1e-6)


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: LiftingConv2d(2, 2, 3, "p4", padding=1), (1, 2, 4, 4)),
        (lambda: GroupConv2d(2, 2, 3, "p4m", padding=1), (1, 2, 8, 4, 4)),
        (lambda: GroupConvTranspose2d(2, 2, 3, "p4", stride=2, padding=1), (1, 2, 4, 3, 3)),
        (lambda: GroupConv2d(1, 2, 3, get_group("p6", "bilinear"), padding=1), (1, 1, 6, 4, 4)),
        (lambda: GroupBatchNorm(2), (2, 2, 4, 3, 3)),
        (lambda: SpatialMaxPool(3, 2, 1), (1, 2, 4, 5, 5)),
        (lambda: SpatialUpsample(2, "bilinear"), (1, 2, 4, 3, 3)),
        (lambda: GroupPool("max"), (1, 2, 4, 3, 3)),
        (lambda: GroupPool("mean"), (1, 2, 4, 3, 3)),
    ],
)
def test_gradcheck(make, shape):
    layer = make().double()
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    params = tuple(p for p in layer.parameters())
    assert torch.autograd.gradcheck(lambda inp, *ps: layer(inp), (x, *params), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("group", ["z2", "p4", "p4m"])
def test_initialisation_keeps_unit_scale(group):
    g = get_group(group)
    torch.manual_seed(1)
    x = torch.randn(8, 16, g.order, 16, 16)
    y = GroupConv2d(16, 32, 3, group, padding=1)(x)[..., 1:-1, 1:-1]  # interior: no zero padding
    assert 0.85 < y.std().item() < 1.15
    y = LiftingConv2d(16, 32, 3, group, padding=1)(x[:, :, 0])[..., 1:-1, 1:-1]
    assert 0.85 < y.std().item() < 1.15


def test_eval_cache_is_used_and_invalidated_by_weight_updates():
    layer = GroupConv2d(2, 3, 3, "p4", padding=1).eval()
    x = torch.randn(1, 2, 4, 5, 5)
    with torch.no_grad():
        first = layer(x)
        assert layer._cache is not None
        bank = layer._cache[1]
        layer(x)
        assert layer._cache[1] is bank  # reused
        layer.weight.add_(1.0)  # an optimiser step bumps the version counter
        second = layer(x)
    assert not torch.allclose(first, second)
    layer.train()
    assert layer(x).requires_grad and layer._cache is None


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_group_layers_trace_as_one_graph_under_torch_compile(training):
    """trainer.compile traces the model; the eval-time bank cache (a data-pointer key) must not break the graph,
    or every layer shape recompiles a piece and dynamo's recompile limit sends the rest back to eager."""
    model = nn.Sequential(
        LiftingConv2d(1, 3, 3, "p4m", padding=1),
        GroupBatchNorm(3),
        GroupConv2d(3, 4, 3, "p4m", padding=1),
        GroupConvTranspose2d(4, 2, 3, "p4m", stride=2, padding=1),
        GroupPool(),
    ).train(training)
    torch._dynamo.reset()
    with torch.set_grad_enabled(training):
        explained = torch._dynamo.explain(model)(torch.randn(2, 1, 5, 5))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert all(conv._cache is None for conv in model if hasattr(conv, "_cache"))  # nothing cached while traced


def test_wrong_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(B, C, 4, H, W\)"):
        GroupConv2d(2, 3, 3, "p4")(torch.randn(1, 2, 8, 5, 5))
    with pytest.raises(ValueError, match="LiftingConv2d expects"):
        LiftingConv2d(2, 3, 3, "p4")(torch.randn(1, 2, 4, 5, 5))


# ----------------------------------------------------------------------------------------------- init
@pytest.mark.parametrize("layer", ["lifting", "group", "transpose"])
@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_notebook_init_draws_what_the_notebooks_group_layers_draw(layer, group):
    """The notebooks' LiftingConv2d / GroupConv2d / GroupConvTranspose2d: torch.Tensor(shape) filled by
    normal_(0, 1/sqrt(out*in)), bias ones * 0.01. Same seed, same shape, same draws: the same numbers."""
    from gcnn.groups import get_group
    from gcnn.nn import GroupConv2d, GroupConvTranspose2d, LiftingConv2d

    order = get_group(group).order
    c_in, c_out = 3, 5
    torch.manual_seed(7)
    if layer == "lifting":
        ours, shape = LiftingConv2d(c_in, c_out, 3, group, init="notebook"), (c_out, c_in, 3, 3)
    elif layer == "group":
        ours, shape = GroupConv2d(c_in, c_out, 3, group, init="notebook"), (c_out, c_in, order, 3, 3)
    else:
        ours, shape = GroupConvTranspose2d(c_in, c_out, 3, group, stride=2, init="notebook"), (c_in, c_out, order, 3, 3)
    torch.manual_seed(7)
    theirs = torch.nn.init.normal_(torch.empty(shape), mean=0.0, std=1.0 / (c_out * c_in) ** 0.5)
    assert torch.equal(ours.weight.detach().reshape(shape), theirs)
    assert torch.equal(ours.bias.detach(), torch.full((c_out,), 0.01))


@pytest.mark.parametrize("transposed", [False, True])
def test_notebook_init_of_a_plain_layer_is_pytorchs_default(transposed):
    """The notebooks' plain SegNet and CNN used nn.Conv2d / nn.ConvTranspose2d: their default init, draw for draw."""
    from gcnn.nn import GroupConvTranspose2d, LiftingConv2d

    torch.manual_seed(3)
    if transposed:
        ours = GroupConvTranspose2d(4, 6, 3, "z2", stride=2, padding=1, init="notebook")
    else:
        ours = LiftingConv2d(4, 6, 3, "z2", padding=1, init="notebook")
    torch.manual_seed(3)
    theirs = (torch.nn.ConvTranspose2d if transposed else torch.nn.Conv2d)(4, 6, 3)
    assert torch.equal(ours.weight.detach().reshape(theirs.weight.shape), theirs.weight.detach())
    assert torch.equal(ours.bias.detach(), theirs.bias.detach())


def test_an_unknown_init_is_refused():
    from gcnn.nn import GroupConv2d

    with pytest.raises(ValueError, match="init='xavier': one of fan_in, notebook"):
        GroupConv2d(2, 2, 3, "p4", init="xavier")
