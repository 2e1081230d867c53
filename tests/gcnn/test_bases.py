"""The filter bases of `gcnn.nn.bases`: each basis expands a filter into the bank of transformed filters L_s ψ, and
the bank equals an independent construction (element by element, from the group's actions)."""

import pytest
import torch

from gcnn.groups import get_group
from gcnn.harmonic import coefficient_representation, harmonic_basis
from gcnn.nn import GroupConv2d, GroupConvTranspose2d, LiftingConv2d
from gcnn.nn.bases import (
    BASES,
    FILTER_BASES,
    HARMONIC_BASES,
    HarmonicBasis,
    PixelBasis,
    ResampledHarmonicBasis,
    check_filter_basis,
    make_basis,
)


def _s_inverse_h(g, s, h):
    return g.compose(g.inverse(s), h)


def _moved(g, weight, s, in_group_axis):
    """ψ(s⁻¹h, ·) for every h: the filter read at s⁻¹∘h, from the group's algebra (not its table)."""
    return weight[:, :, [_s_inverse_h(g, s, h) for h in range(g.order)]] if in_group_axis else weight


def _pixel_bank(g, weight, in_group_axis):
    """L_s ψ (h, p) = ψ(s⁻¹h, s⁻¹p), one element at a time: rot90 and flip of every filter (exact elements only)."""
    banks = [g.act_on_image(s, _moved(g, weight, s, in_group_axis)).flatten(2) for s in range(g.order)]
    return torch.stack(banks, 1)  # (F_out, |G|, F_in, |G_in|·k²)


@pytest.mark.parametrize("name", ["z2", "p2", "p4", "p2m", "p4m"])
@pytest.mark.parametrize("in_group_axis", [True, False])
@pytest.mark.parametrize("kernel_size", [3, 4, 5])
def test_pixel_basis_is_exactly_rot90_and_flip_of_every_filter(name, in_group_axis, kernel_size):
    g = get_group(name)
    basis = PixelBasis(g, kernel_size, in_group_axis)
    assert basis.is_permutation and basis.filter_shape == (kernel_size, kernel_size)
    weight = torch.randn(3, 2, g.order if in_group_axis else 1, kernel_size, kernel_size)
    assert torch.equal(basis.expand(weight), _pixel_bank(g, weight, in_group_axis))


@pytest.mark.parametrize("name", ["p8", "p6"])
def test_pixel_basis_on_the_exact_subgroup_of_p8_and_p6(name):
    g = get_group(name)
    weight = torch.randn(3, 2, g.order, 3, 3)
    bank, expected = PixelBasis(g, 3).expand(weight), _pixel_bank(g, weight, True)
    for s in g.exact_elements:  # act_on_image interpolates the others: compare only where both are exact
        assert torch.equal(bank[:, s], expected[:, s])


@pytest.mark.parametrize("name", ["p4", "p4m", "p6", "p8m"])
@pytest.mark.parametrize("in_group_axis", [True, False])
def test_harmonic_bases_equal_their_construction_element_by_element(name, in_group_axis):
    """harmonic: B·ρ(s)·c[s⁻¹h]; harmonic_resampled: T_s·B·c[s⁻¹h] with T_s the pixel filter transform."""
    g, k = get_group(name), 5
    basis_matrix = harmonic_basis(k)[0]
    rho = coefficient_representation(g.n_rotations, g.mirror, k)
    transforms = g.filter_matrices(k)
    weight = torch.randn(3, 2, g.order if in_group_axis else 1, basis_matrix.shape[1], dtype=torch.float64)
    for cls, maps in [
        (HarmonicBasis, [basis_matrix @ rho[s] for s in range(g.order)]),
        (ResampledHarmonicBasis, [transforms[s] @ basis_matrix for s in range(g.order)]),
    ]:
        basis = cls(g, k, in_group_axis).double()
        assert basis.filter_shape == (basis_matrix.shape[1],)
        bank = basis.expand(weight)
        for s in range(g.order):
            expected = torch.einsum("pb,oihb->oihp", maps[s], _moved(g, weight, s, in_group_axis)).flatten(2)
            # the layer stores its map in float32 (a layer's dtype), so it agrees to float32 round-off
            torch.testing.assert_close(bank[:, s], expected, rtol=1e-5, atol=1e-6)


def test_harmonic_filters_turn_like_pixels_on_quarter_turns():
    g, k = get_group("p4m"), 3
    weight = torch.randn(2, 2, g.order, 6, dtype=torch.float64)
    bank = HarmonicBasis(g, k).double().expand(weight)
    pixels = torch.einsum("pb,oihb->oihp", harmonic_basis(k)[0], weight).unflatten(-1, (k, k))
    torch.testing.assert_close(bank, _pixel_bank(g, pixels, True), rtol=1e-5, atol=1e-6)


def test_registry_names_every_basis_once_and_the_layers_use_it():
    assert FILTER_BASES == ("pixel", "harmonic", "harmonic_resampled") == tuple(BASES)
    assert HARMONIC_BASES == ("harmonic", "harmonic_resampled")
    assert all(BASES[name].name == name for name in BASES)
    for name, cls in BASES.items():
        for layer in (
            LiftingConv2d(2, 3, 3, "p4m", filter_basis=name),
            GroupConv2d(2, 3, 3, "p4m", filter_basis=name),
            GroupConvTranspose2d(2, 3, 3, "p4m", stride=2, filter_basis=name),
        ):
            assert type(layer.basis) is cls and layer.filter_basis == name
            assert torch.equal(layer.transformed_filters(), layer.basis.expand(layer.weight))
            assert not any(k.startswith("basis") for k in layer.state_dict())  # tables are rebuilt, never saved


def test_bad_names_and_kernels_are_one_line():
    with pytest.raises(ValueError, match=r"^filter_basis='foo' is unknown; use pixel, harmonic, harmonic_resampled$"):
        make_basis("foo", get_group("p4"), 3)
    with pytest.raises(ValueError, match="filter_basis=harmonic_resampled needs an odd kernel_size"):
        check_filter_basis("harmonic_resampled", 4)
    check_filter_basis("pixel", 4, max_frequency=9)  # the pixel basis takes any kernel and ignores a band limit
