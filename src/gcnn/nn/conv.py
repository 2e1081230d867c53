"""Group convolutions in the split-group form (Cohen & Welling 2016, sec. 7).

A filter on the group is transformed by every stabiliser element once per forward — one precomputed linear
map: a gather from index tables (pixel basis) or an einsum with B·ρ(s) (harmonic basis) — and the whole
transformed bank goes through one planar `conv2d` (or `conv_transpose2d`). Feature maps on the group have
shape (B, C, |G|, H, W).

With group "z2" (|G| = 1) each layer is exactly the ordinary PyTorch layer on (B, C, 1, H, W), so one model
builder serves the plain CNN too.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from gcnn.groups import Group, get_group
from gcnn.harmonic import check_filter_basis, coefficient_filters


class _GroupConvBase(nn.Module):
    """What every group convolution shares: channels, bias, the filter on the group in its basis, the map that
    transforms it by every stabiliser element, and the eval-mode cache of the resulting bank.

    A subclass states only its filter layout (the class attributes below) and its forward. The filter has
    shape (F_out, F_in, |G_in|, k, k) in the pixel basis, (F_out, F_in, |G_in|, n_basis) in the harmonic one,
    with |G_in| = 1 for lifting; the bank built from it is a conv2d weight (F_out·|G|, F_in·|G_in|, k, k).

    filter_basis="pixel": the study's filters, rotated on the grid (`group.filter_interpolation`); exact only
        for multiples of 90° (and 45° for 3×3 filters). filter_basis="harmonic": steerable filters
        (`gcnn.harmonic`), transformed exactly for every pN / pNm; `max_frequency` caps their band limit.
        filter_basis="harmonic_resampled": the same smooth filters, rotated like pixel filters (not exact).
    """

    in_group_axis = True  # the input is a feature map on the group (False: lifting an image)
    transposed = False  # the weight is stored (C_in, C_out, …), as nn.ConvTranspose2d's is

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        group,
        stride=1,
        padding=0,
        bias=True,
        *,
        filter_basis="pixel",
        max_frequency=None,
    ):
        super().__init__()
        check_filter_basis(filter_basis, kernel_size, max_frequency)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.group: Group = get_group(group)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.filter_basis, self.max_frequency = filter_basis, max_frequency
        # A transposed conv applies the adjoint of a group correlation from out_channels to in_channels.
        filter_out, filter_in = (in_channels, out_channels) if self.transposed else (out_channels, in_channels)
        n = self.group.order
        in_order = n if self.in_group_axis else 1
        if filter_basis == "pixel":
            self._register_pixel_taps(in_order)
            filter_shape = (kernel_size, kernel_size)
        else:
            # L_s ψ at input element h is B·ρ(s)·c[s⁻¹h]: the coefficients of ψ(s⁻¹h), mapped by B·ρ(s)
            # (harmonic), or by T_s·B, the sampled filter rotated as pixels (harmonic_resampled).
            filters = coefficient_filters(filter_basis, self.group, kernel_size, max_frequency)  # (|G|, k², n_basis)
            perm = self.group.cayley[self.group.inverses] if self.in_group_axis else torch.zeros(n, 1, dtype=torch.long)
            self.register_buffer("_filters", filters.float(), persistent=False)
            self.register_buffer("_perm", perm.clone(), persistent=False)  # perm[s, h] = s⁻¹∘h
            filter_shape = (filters.shape[-1],)
        self.weight = nn.Parameter(torch.empty(filter_out, filter_in, in_order, *filter_shape))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._cache = None
        self.reset_parameters()

    def _register_pixel_taps(self, in_order: int) -> None:
        # [L_s ψ](h, p) = ψ(s⁻¹h, s⁻¹p): for output element s, input element h and pixel p the tap reads
        # ψ[s⁻¹h, index[s, p, t]] with weight coef[s, p, t]; the flat position in_order·k² holds a zero.
        n, k2 = self.group.order, self.kernel_size**2
        index, coef = self.group.filter_taps(self.kernel_size)  # (n, k², T)
        if self.in_group_axis:
            perm = self.group.cayley[self.group.inverses]  # perm[s, h] = s⁻¹∘h
            flat = perm[:, :, None, None] * k2 + index[:, None, :, :]  # (n, n, k², T)
            flat = torch.where(index[:, None] == k2, in_order * k2, flat)
            coef = coef[:, None].expand(n, n, k2, coef.shape[-1])
        else:
            flat = index
        self.register_buffer("_index", flat.reshape(n, -1, flat.shape[-1]).clone(), persistent=False)
        self.register_buffer("_coef", coef.reshape(n, -1, coef.shape[-1]).float().clone(), persistent=False)
        # A permutation needs no multiply-add: a gather of width 1 with unit weights.
        self._is_permutation = bool(coef.shape[-1] == 1 and torch.all(coef == 1))

    def reset_parameters(self) -> None:
        # Unit-scale activations: fan-in counts every input channel, group element and filter coefficient. The
        # harmonic basis blocks have unit mean squared column norm, so E|ψ|² per coefficient is the same as per
        # pixel. Each output pixel of a stride-s transposed conv sums about 1/s² of the taps.
        in_order, per_filter = self.weight.shape[2], self.weight[0, 0, 0].numel()
        fan_in = self.in_channels * in_order * per_filter / (self.stride**2 if self.transposed else 1)
        nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(fan_in))
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self._cache = None

    def transformed_filters(self) -> torch.Tensor:
        """(F_out, |G|, F_in, |G_in|·k²): the filter L_s ψ for every output element s, in one linear map."""
        if self.filter_basis != "pixel":
            coef = self.weight[:, :, self._perm]  # (F_out, F_in, |G|, |G_in|, n_basis)
            return torch.einsum("spb,oishb->osihp", self._filters.to(coef.dtype), coef).flatten(3)
        f_out, f_in = self.weight.shape[:2]
        w = self.weight.flatten(2)
        w = torch.cat([w, w.new_zeros(f_out, f_in, 1)], dim=2)
        if self._is_permutation:
            bank = w[:, :, self._index[..., 0]]  # (F_out, F_in, |G|, |G_in|·k²)
        else:
            bank = (w[:, :, self._index] * self._coef.to(w.dtype)).sum(-1)
        return bank.transpose(1, 2)

    def _bank(self) -> torch.Tensor:
        """The bank as a conv weight; cached while evaluating without grad (weights cannot change then)."""
        use_cache = not self.training and not torch.is_grad_enabled()
        key = (self.weight._version, self.weight.data_ptr(), self.weight.dtype, self.weight.device)
        if use_cache and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        f_out, f_in, in_order = self.weight.shape[:3]
        k = self.kernel_size
        bank = self.transformed_filters().reshape(f_out * self.group.order, f_in * in_order, k, k)
        self._cache = (key, bank) if use_cache else None
        return bank

    def _bias(self) -> torch.Tensor | None:
        # One bias per output channel, shared over the group axis (a per-element bias would break equivariance).
        return None if self.bias is None else self.bias.repeat_interleave(self.group.order)

    def _unfold(self, y: torch.Tensor) -> torch.Tensor:
        return y.view(y.shape[0], self.out_channels, self.group.order, y.shape[-2], y.shape[-1])

    def extra_repr(self) -> str:
        basis = "" if self.filter_basis == "pixel" else f", filter_basis={self.filter_basis}"
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, group={self.group.name}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}{basis}"
        )


class LiftingConv2d(_GroupConvBase):
    """(B, C_in, H, W) → (B, C_out, |G|, H', W'): correlation with the filter transformed by every s ∈ H."""

    in_group_axis = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"LiftingConv2d expects (B, C, H, W), got {tuple(x.shape)}")
        return self._unfold(F.conv2d(x, self._bank(), self._bias(), self.stride, self.padding))


class GroupConv2d(_GroupConvBase):
    """(B, C_in, |G|, H, W) → (B, C_out, |G|, H', W'): group correlation on the split group."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(_fold(x, self.group.order), self._bank(), self._bias(), self.stride, self.padding)
        return self._unfold(y)


class GroupConvTranspose2d(_GroupConvBase):
    """(B, C_in, |G|, H, W) → (B, C_out, |G|, H', W'): the adjoint of a group correlation C_out → C_in.

    The adjoint of an equivariant map between permutation (orthogonal) representations is equivariant, so
    `conv_transpose2d` with the bank of a group correlation is an equivariant learned upsampling. With kernel
    3, stride 2, padding 1 and odd input sizes (n → 2n − 1) the sampling grid is rot90-symmetric and the layer
    is exact. The weight has shape (C_in, C_out, |G|, …), as `nn.ConvTranspose2d`'s is (C_in, C_out, k, k): the
    bank (C_in·|G|, C_out·|G|, k, k) of that group correlation is exactly the layout conv_transpose2d expects.
    """

    transposed = True

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        group,
        stride=1,
        padding=0,
        output_padding=0,
        bias=True,
        *,
        filter_basis="pixel",
        max_frequency=None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            group,
            stride,
            padding,
            bias,
            filter_basis=filter_basis,
            max_frequency=max_frequency,
        )
        self.output_padding = output_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(
            _fold(x, self.group.order), self._bank(), self._bias(), self.stride, self.padding, self.output_padding
        )
        return self._unfold(y)


def _fold(x: torch.Tensor, order: int) -> torch.Tensor:
    """(B, C, |G|, H, W) → (B, C·|G|, H, W), checking the group axis."""
    if x.dim() != 5 or x.shape[2] != order:
        raise ValueError(f"expected a feature map on the group (B, C, {order}, H, W), got {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1, x.shape[-2], x.shape[-1])
