"""Filter bases: how a group convolution's filter is stored, and how it is transformed by every group element.

A basis is built for one group, one kernel size and one filter layout (on the group, or on the plane for a lifting
layer). It holds the precomputed linear map as buffers, so it moves with its layer between devices and dtypes,
and `expand(weight)` applies it: the filter ψ in the basis, (F_out, F_in, |G_in|, *filter_shape), becomes the
bank of transformed filters L_s ψ for every output element s, (F_out, |G|, F_in, |G_in|·k²). A group convolution
reads its filter on the group at s⁻¹h, through the group's own table (`Group.inverse_products`):

    [L_s ψ](h, p) = ψ(s⁻¹h, s⁻¹p)

`BASES` is the registry: the names a config may give (`model.filter_basis`) and the class each stands for.

    pixel               the study's filters, k×k pixels rotated on the grid by `group.filter_interpolation`; exact
                        only for multiples of 90° (and 45° for 3×3 filters).
    harmonic            steerable filters (`gcnn.harmonic`): ψ = B·c, transformed exactly for every pN / pNm by
                        B·ρ(s); `max_frequency` caps their band limit.
    harmonic_resampled  the same smooth filters, rotated like pixel filters (T_s·B, not exact).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from gcnn.groups import Group
from gcnn.harmonic import check_harmonic, resampled_basis, transformed_basis


class FilterBasis(nn.Module):
    """The filter transform of one layer: `expand(weight)` maps the stored filter to the bank of L_s ψ."""

    name: str

    def __init__(self, group: Group, kernel_size: int, in_group_axis: bool = True, max_frequency: int | None = None):
        super().__init__()
        self.group, self.kernel_size, self.in_group_axis = group, kernel_size, in_group_axis
        self.max_frequency = max_frequency

    @classmethod
    def check(cls, kernel_size: int, max_frequency: int | None = None, prefix: str = "") -> None:
        """One-line ValueError when this basis cannot be built for the kernel size (a pixel basis takes any)."""

    @property
    def filter_shape(self) -> tuple[int, ...]:
        """The trailing shape of one stored filter: (k, k) for pixels, (n_basis,) for coefficients."""
        raise NotImplementedError

    def expand(self, weight: torch.Tensor) -> torch.Tensor:
        """(F_out, F_in, |G_in|, *filter_shape) → (F_out, |G|, F_in, |G_in|·k²): L_s ψ for every element s."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"group={self.group.name}, kernel_size={self.kernel_size}"


class PixelBasis(FilterBasis):
    """k×k pixels; L_s ψ is a gather from index tables (a permutation for multiples of 90°)."""

    name = "pixel"

    def __init__(self, group: Group, kernel_size: int, in_group_axis: bool = True, max_frequency: int | None = None):
        super().__init__(group, kernel_size, in_group_axis, max_frequency)
        # For output element s, input element h and pixel p the tap reads ψ[s⁻¹h, index[s, p, t]] with weight
        # coef[s, p, t]; the flat position in_order·k² holds a zero.
        n, k2 = group.order, kernel_size**2
        in_order = n if in_group_axis else 1
        index, coef = group.filter_taps(kernel_size)  # (n, k², T)
        if in_group_axis:
            flat = group.inverse_products[:, :, None, None] * k2 + index[:, None, :, :]  # (n, n, k², T)
            flat = torch.where(index[:, None] == k2, in_order * k2, flat)
            coef = coef[:, None].expand(n, n, k2, coef.shape[-1])
        else:
            flat = index
        self.register_buffer("index", flat.reshape(n, -1, flat.shape[-1]).clone(), persistent=False)
        self.register_buffer("coef", coef.reshape(n, -1, coef.shape[-1]).float().clone(), persistent=False)
        # A permutation needs no multiply-add: a gather of width 1 with unit weights.
        self.is_permutation = bool(coef.shape[-1] == 1 and torch.all(coef == 1))

    @property
    def filter_shape(self) -> tuple[int, ...]:
        return (self.kernel_size, self.kernel_size)

    def expand(self, weight: torch.Tensor) -> torch.Tensor:
        f_out, f_in = weight.shape[:2]
        w = weight.flatten(2)
        w = torch.cat([w, w.new_zeros(f_out, f_in, 1)], dim=2)
        if self.is_permutation:
            bank = w[:, :, self.index[..., 0]]  # (F_out, F_in, |G|, |G_in|·k²)
        else:
            bank = (w[:, :, self.index] * self.coef.to(w.dtype)).sum(-1)
        return bank.transpose(1, 2)


class HarmonicBasis(FilterBasis):
    """Steerable filters ψ = B·c: L_s ψ at input element h is B·ρ(s)·c[s⁻¹h], the coefficients of ψ(s⁻¹h) mapped
    by B·ρ(s) (`coefficient_filters`)."""

    name = "harmonic"

    def __init__(self, group: Group, kernel_size: int, in_group_axis: bool = True, max_frequency: int | None = None):
        super().__init__(group, kernel_size, in_group_axis, max_frequency)
        self.check(kernel_size, max_frequency)
        filters = self.coefficient_filters(group, kernel_size, max_frequency)  # (|G|, k², n_basis)
        n = group.order
        perm = group.inverse_products if in_group_axis else torch.zeros(n, 1, dtype=torch.long)
        self.register_buffer("filters", filters.float(), persistent=False)
        self.register_buffer("perm", perm.clone(), persistent=False)  # perm[s, h] = s⁻¹∘h

    @classmethod
    def check(cls, kernel_size: int, max_frequency: int | None = None, prefix: str = "") -> None:
        check_harmonic(kernel_size, max_frequency, prefix, basis=cls.name)

    @staticmethod
    def coefficient_filters(group: Group, kernel_size: int, max_frequency: int | None) -> torch.Tensor:
        """(|G|, k², n_basis) float64: B·ρ(s), the filter L_s ψ as a map of ψ's coefficients."""
        return transformed_basis(group, kernel_size, max_frequency)

    @property
    def filter_shape(self) -> tuple[int, ...]:
        return (self.filters.shape[-1],)

    def expand(self, weight: torch.Tensor) -> torch.Tensor:
        coef = weight[:, :, self.perm]  # (F_out, F_in, |G|, |G_in|, n_basis)
        return torch.einsum("spb,oishb->osihp", self.filters.to(coef.dtype), coef).flatten(3)


class ResampledHarmonicBasis(HarmonicBasis):
    """The harmonic filters rotated as pixel images: T_s·B instead of B·ρ(s) (not a group action for p6)."""

    name = "harmonic_resampled"

    @staticmethod
    def coefficient_filters(group: Group, kernel_size: int, max_frequency: int | None) -> torch.Tensor:
        return resampled_basis(group, kernel_size, max_frequency)


BASES: dict[str, type[FilterBasis]] = {cls.name: cls for cls in (PixelBasis, HarmonicBasis, ResampledHarmonicBasis)}
FILTER_BASES = tuple(BASES)  # the allowed values of `filter_basis`, for the schema and the error messages
HARMONIC_BASES = tuple(name for name, cls in BASES.items() if issubclass(cls, HarmonicBasis))


def check_filter_basis(filter_basis: str, kernel_size: int, max_frequency: int | None = None, prefix: str = "") -> None:
    """One-line ValueError for an unknown basis, or one its class cannot build (a harmonic band limit the k×k
    grid cannot sample)."""
    if filter_basis not in BASES:
        raise ValueError(f"{prefix}filter_basis={filter_basis!r} is unknown; use {', '.join(FILTER_BASES)}")
    BASES[filter_basis].check(kernel_size, max_frequency, prefix)


def make_basis(
    filter_basis: str, group: Group, kernel_size: int, *, in_group_axis: bool = True, max_frequency: int | None = None
) -> FilterBasis:
    """The basis named `filter_basis` (a key of BASES), built for `group` and `kernel_size`."""
    check_filter_basis(filter_basis, kernel_size, max_frequency)
    return BASES[filter_basis](group, kernel_size, in_group_axis, max_frequency)
