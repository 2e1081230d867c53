"""The harmonic (steerable) filter basis: a true group action for every pN / pNm, rot90 and the mirror exactly
where the grid allows them, equivariant layers, a smaller 60° error than pixel filters, bad input; and its
resampled variant (`filter_basis=harmonic_resampled`): smooth filters whose transform is not a group action."""

import math

import pytest
import torch

from gcnn import equivariance

from gcnn.equivariance import relative_error
from gcnn.groups import get_group
from gcnn.harmonic import (
    band_limits,
    coefficient_representation,
    harmonic_basis,
    harmonic_filter_matrices,
    resampled_basis,
    transformed_basis,
)
from gcnn.nn import GroupConv2d, GroupConvTranspose2d, LiftingConv2d
from gcnn.nn.bases import check_filter_basis

TOL = 1e-5  # float32 layers on exact elements: relative error (the one metric, ‖·‖/‖·‖) <= TOL


# ---------------------------------------------------------------------------------------------- the basis
def test_basis_follows_escnn_rings_and_band_limits_and_is_well_conditioned():
    assert band_limits(3) == [0, 2] and band_limits(5) == [0, 2, 2] and band_limits(7) == [0, 2, 3, 2]
    assert band_limits(5, max_frequency=1) == [0, 1, 1]
    for k, n_basis in [(1, 1), (3, 6), (5, 11), (7, 18)]:
        basis, freqs = harmonic_basis(k)
        assert basis.shape == (k * k, n_basis) and len(freqs) == n_basis
        assert torch.linalg.cond(basis) < 3  # well conditioned: coefficients ↔ filters is stable
        centre = basis[(k * k) // 2]
        assert torch.all(centre[torch.tensor(freqs) > 0] == 0)  # no angle at the centre: only j = 0 lives there
    # one scale per (ring, frequency) block: unit mean squared column norm, so E|B c|² = n_basis σ²
    assert math.isclose(harmonic_basis(3)[0].pow(2).sum().item(), 6.0, rel_tol=1e-12)


@pytest.mark.parametrize("name", ["p6", "p8", "p6m", "p8m", "p12"])
@pytest.mark.parametrize("k", [3, 5])
def test_harmonic_filter_transform_is_a_group_action(name, k):
    """T(a)·T(b) = T(a∘b) for every pair, on coefficients (ρ) and on pixels (T = B ρ B⁺), in float64."""
    g = get_group(name)
    rho = coefficient_representation(g.n_rotations, g.mirror, k)
    mats = harmonic_filter_matrices(g, k)
    assert torch.allclose(rho[g.identity], torch.eye(rho.shape[-1], dtype=torch.float64), atol=0)
    for a in range(g.order):
        for b in range(g.order):
            ab = g.compose(a, b)
            assert (rho[a] @ rho[b] - rho[ab]).abs().max() < 1e-6
            assert (mats[a] @ mats[b] - mats[ab]).abs().max() < 1e-6
    # the pixel basis is not: nearest 60° rotation of a 3×3 filter, twice, is not the 120° rotation
    if name == "p6" and k == 3:
        pixel = g.filter_matrices(3)
        assert (pixel[1] @ pixel[1] - pixel[2]).abs().max() > 0.5


@pytest.mark.parametrize("name", ["p4", "p4m", "p8", "p8m", "p12", "p6m", "p2m"])
@pytest.mark.parametrize("k", [3, 5])
def test_exact_elements_agree_with_rot90_and_the_mirror_of_the_sampled_filter(name, k):
    """For multiples of 90° (and the mirror) the grid maps onto itself: B·ρ(a)·c equals the pixel transform
    of B·c, i.e. torch.rot90 / flip of the width axis in the same order as `Group.act_on_image`."""
    g = get_group(name)
    basis = harmonic_basis(k)[0]
    moved = transformed_basis(g, k)
    pixel = g.filter_matrices(k)
    psi = basis @ torch.randn(basis.shape[1], dtype=torch.float64)
    for a in g.exact_elements:
        assert (moved[a] - pixel[a] @ basis).abs().max() < 1e-12
        expected = g.act_on_image(a, psi.view(1, k, k))  # flip (if mirrored), then rot90
        assert (harmonic_filter_matrices(g, k)[a] @ psi - expected.flatten()).abs().max() < 1e-12


def test_mirror_flips_the_sine_part():
    g = get_group("p4m")
    rho = coefficient_representation(4, True, 3)
    freqs = torch.tensor(harmonic_basis(3)[1])
    mirror = rho[g.index(1, 0)]
    sines = torch.tensor([i > 0 and freqs[i] > 0 and freqs[i - 1] == freqs[i] for i in range(len(freqs))])
    assert torch.equal(mirror.diagonal(), torch.where(sines, -1.0, 1.0).double())


# ---------------------------------------------------------------------------------------------- resampled
def _out_of_band(filters: torch.Tensor) -> float:
    """Mean share of each filter's norm (columns) outside the span of the 3×3 harmonic basis."""
    basis = harmonic_basis(3)[0]
    inside = basis @ torch.linalg.pinv(basis) @ filters
    return ((filters - inside).norm(dim=0) / filters.norm(dim=0)).mean().item()


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resampled_harmonic_filters_are_smooth_but_not_a_group_action_for_p6(interpolation):
    """The harmonic filter rotated as a pixel image: T(60°)·T(60°)·B ≠ T(120°)·B, unlike B·ρ; yet its rotated
    copies keep much less energy outside the harmonic (band-limited) span than pixel filters rotated alike."""
    g = get_group("p6", interpolation)
    pixel, resampled, exact = g.filter_matrices(3), resampled_basis(g, 3), transformed_basis(g, 3)
    torch.manual_seed(0)
    c, psi = torch.randn(6, 500, dtype=torch.float64), torch.randn(9, 500, dtype=torch.float64)
    for a in g.exact_elements:  # identity and 180°: the grid maps onto itself, resampling is exact
        assert (resampled[a] - exact[a]).abs().max() < 1e-12
    twice, once = pixel[1] @ resampled[1] @ c, resampled[2] @ c  # L_60 L_60 ψ against L_120 ψ
    assert ((twice - once).norm() / once.norm()).item() > 0.1
    assert ((exact[1] - resampled[1]) @ c).norm() / (exact[1] @ c).norm() > 0.1  # not the exact rotation
    assert _out_of_band(resampled[0] @ c) < 1e-12  # at the identity: a harmonic filter
    for a in (1, 2):
        assert _out_of_band(resampled[a] @ c) < 0.7 * _out_of_band(pixel[a] @ psi)


@pytest.mark.parametrize("name", ["p4", "p4m"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resampled_equals_harmonic_where_every_rotation_is_a_quarter_turn(name, interpolation):
    g = get_group(name, interpolation)
    assert (resampled_basis(g, 3) - transformed_basis(g, 3)).abs().max() < 1e-12


def test_resampled_p8_is_a_group_action_only_with_the_nearest_ring_shift():
    """Nearest 45° on 3×3 is the exact ring shift (two steps = rot90); bilinear 45° is not a group action."""
    for interpolation, composes in [("nearest", True), ("bilinear", False)]:
        g = get_group("p8", interpolation)
        pixel, resampled = g.filter_matrices(3), resampled_basis(g, 3)
        error = (pixel[1] @ resampled[1] - resampled[2]).abs().max().item()
        assert (error < 1e-12) is composes


@pytest.mark.parametrize("group", ["p4", "p6", "p8"])
@pytest.mark.parametrize("kind", ["lifting", "group"])
def test_resampled_layers_are_exact_on_quarter_and_half_turns(group, kind):
    g = get_group(group, "bilinear")
    layer, x = _layers(g, basis="harmonic_resampled")[kind]
    layer.bias.data.normal_()
    assert layer.weight.shape[-1] == 6
    assert max(_rel_error(layer, x, g, a) for a in g.exact_elements) <= TOL


# ---------------------------------------------------------------------------------------------- bad input
def test_unknown_basis_or_too_high_band_limit_is_one_clear_line():
    with pytest.raises(
        ValueError, match=r"^model\.filter_basis='foo' is unknown; use pixel, harmonic, harmonic_resampled$"
    ):
        check_filter_basis("foo", 3, prefix="model.")
    with pytest.raises(ValueError, match=r"max_frequency=3 is too high for kernel_size=3.*up to frequency 2"):
        LiftingConv2d(1, 2, 3, "p6", filter_basis="harmonic", max_frequency=3)
    with pytest.raises(ValueError, match="odd kernel_size"):
        GroupConv2d(1, 2, 4, "p6", filter_basis="harmonic")
    with pytest.raises(ValueError, match="filter_basis='steerable' is unknown"):
        GroupConvTranspose2d(1, 2, 3, "p4", filter_basis="steerable")
    check_filter_basis("pixel", 4)  # the pixel basis takes any kernel
    LiftingConv2d(1, 2, 7, "p6", filter_basis="harmonic", max_frequency=3)  # a 7×7 grid holds frequency 3


# ---------------------------------------------------------------------------------------------- layers
def _layers(group, basis="harmonic", cin=3, cout=4):
    order = get_group(group).order
    return {
        "lifting": (LiftingConv2d(cin, cout, 3, group, padding=1, filter_basis=basis), torch.randn(2, cin, 9, 9)),
        "group": (GroupConv2d(cin, cout, 3, group, padding=1, filter_basis=basis), torch.randn(2, cin, order, 9, 9)),
        "transpose": (
            GroupConvTranspose2d(cin, cout, 3, group, stride=2, padding=1, filter_basis=basis),
            torch.randn(2, cin, order, 9, 9),
        ),
        "lifting5x5": (LiftingConv2d(cin, cout, 5, group, padding=2, filter_basis=basis), torch.randn(2, cin, 10, 10)),
    }


def _rel_error(layer, x, g, a):
    """‖f(g·x) − g·f(x)‖ / ‖f(x)‖ (`gcnn_study.report.figures.equivariance.relative_error`, the metric of every
    report)."""
    act_in = g.act_on_image if x.dim() == 4 else g.act_on_group_map
    with torch.no_grad():
        y = layer(x)
        return relative_error(layer(act_in(a, x)), g.act_on_group_map(a, y), y)


@pytest.mark.parametrize("group", ["p4", "p4m", "p8", "p6", "p12"])
@pytest.mark.parametrize("kind", ["lifting", "group", "transpose", "lifting5x5"])
def test_harmonic_layers_are_equivariant_to_their_exact_elements(group, kind):
    g = get_group(group)
    layer, x = _layers(group)[kind]
    layer.bias.data.normal_()
    assert layer.weight.shape[-1] == harmonic_basis(layer.kernel_size)[0].shape[1]  # coefficients, not pixels
    assert max(_rel_error(layer, x, g, a) for a in g.exact_elements) <= TOL


def test_harmonic_parameter_counts_and_unit_scale_init():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    for group, order in [("z2", 1), ("p4", 4), ("p6m", 12)]:
        assert count(LiftingConv2d(3, 7, 5, group, filter_basis="harmonic")) == 7 * 3 * 11 + 7
        assert count(GroupConv2d(3, 7, 3, group, filter_basis="harmonic")) == 7 * 3 * order * 6 + 7
        assert count(GroupConvTranspose2d(3, 7, 3, group, stride=2, filter_basis="harmonic")) == 7 * 3 * order * 6 + 7
    torch.manual_seed(1)
    x = torch.randn(8, 16, 6, 16, 16)
    y = GroupConv2d(16, 32, 3, "p6", padding=1, filter_basis="harmonic")(x)[..., 1:-1, 1:-1]
    assert 0.85 < y.std().item() < 1.15
    y = LiftingConv2d(16, 32, 3, "p6", padding=1, filter_basis="harmonic")(x[:, :, 0])[..., 1:-1, 1:-1]
    assert 0.85 < y.std().item() < 1.15


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: LiftingConv2d(2, 2, 3, "p6", padding=1, filter_basis="harmonic"), (1, 2, 4, 4)),
        (lambda: GroupConv2d(2, 2, 3, "p6m", padding=1, filter_basis="harmonic"), (1, 2, 12, 4, 4)),
        (lambda: GroupConvTranspose2d(2, 2, 3, "p8", stride=2, padding=1, filter_basis="harmonic"), (1, 2, 8, 3, 3)),
    ],
)
def test_harmonic_gradcheck(make, shape):
    layer = make().double()
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp, *ps: layer(inp), (x, *layer.parameters()), eps=1e-6, atol=1e-5)


def test_harmonic_bank_is_cached_in_eval():
    layer = GroupConv2d(2, 3, 3, "p6", padding=1, filter_basis="harmonic").eval()
    x = torch.randn(1, 2, 6, 5, 5)
    with torch.no_grad():
        first = layer(x)
        bank = layer._cache[1]
        assert layer(x).equal(first) and layer._cache[1] is bank
        layer.weight.add_(1.0)
        assert not torch.allclose(layer(x), first)


@pytest.mark.parametrize("group,decoder,size", [("p4", "upsample", 16), ("p4m", "transpose", 17)])
def test_harmonic_segnet_is_exactly_equivariant(group, decoder, size):
    from gcnn.models import SegNet

    model = SegNet(group, channels=(4, 6), decoder=decoder, filter_basis="harmonic").eval()
    g = get_group(group)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        y = model(x)
        for a in range(g.order):
            assert (model(g.act_on_image(a, x)) - g.act_on_image(a, y)).abs().max() <= TOL * y.abs().max()


@pytest.mark.parametrize(
    "group, basis, interpolation, action",
    [
        ("p4", "pixel", "nearest", True),
        ("p4m", "pixel", "bilinear", True),  # quarter turns and the mirror: index permutations
        ("p8", "pixel", "nearest", True),  # the ring shift of the 3×3 border
        ("p8", "harmonic_resampled", "nearest", True),  # the same ring shift, on harmonic filters
        ("p4", "harmonic_resampled", "bilinear", True),
        ("p6", "harmonic", "nearest", True),  # coefficients turned by ρ(s)
        ("p8", "harmonic", "bilinear", True),  # (the interpolation setting does not touch them)
        ("p6m", "harmonic", "nearest", True),
        ("p6", "pixel", "nearest", False),  # as the study ran it
        ("p6", "pixel", "bilinear", False),
        ("p8", "pixel", "bilinear", False),
        ("p6m", "pixel", "nearest", False),
        ("p6", "harmonic_resampled", "bilinear", False),
        ("p8", "harmonic_resampled", "bilinear", False),
    ],
)
def test_which_filter_transforms_are_group_actions(group, basis, interpolation, action):
    assert equivariance.filter_transform_is_group_action(group, basis, interpolation) is action
