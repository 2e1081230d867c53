"""Group convolutions in the split-group form (Cohen & Welling 2016, sec. 7).

A filter on the group is transformed by every stabiliser element once per forward — a single gather built
from index tables precomputed at construction — and the whole transformed bank goes through one planar
`conv2d` (or `conv_transpose2d`). Feature maps on the group have shape (B, C, |G|, H, W).

With group "z2" (|G| = 1) each layer is exactly the ordinary PyTorch layer on (B, C, 1, H, W), so one model
builder serves the plain CNN too.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from gcnn.groups import Group, get_group


class _GroupConvBase(nn.Module):
    """A filter on the group, the gather tables of its transform, and the eval-mode cache of the bank.

    The filter has shape (F_out, F_in, |G_in|, k, k) with |G_in| = 1 for lifting; the bank built from it is a
    conv2d weight (F_out·|G|, F_in·|G_in|, k, k). Subclasses decide how the bank is applied.
    """

    def __init__(self, filter_out, filter_in, kernel_size, group, stride, padding, in_group_axis):
        super().__init__()
        self.group: Group = get_group(group)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        n, k2 = self.group.order, kernel_size * kernel_size
        in_order = n if in_group_axis else 1
        self.weight = nn.Parameter(torch.empty(filter_out, filter_in, in_order, kernel_size, kernel_size))

        # [L_s ψ](h, p) = ψ(s⁻¹h, s⁻¹p): for output element s, input element h and pixel p the tap reads
        # ψ[s⁻¹h, index[s, p, t]] with weight coef[s, p, t]; the flat position in_order·k² holds a zero.
        index, coef = self.group.filter_taps(kernel_size)  # (n, k², T)
        if in_group_axis:
            perm = self.group.cayley[self.group.inverses]  # perm[s, h] = s⁻¹∘h
            flat = perm[:, :, None, None] * k2 + index[:, None, :, :]  # (n, n, k², T)
            flat = torch.where(index[:, None] == k2, n * k2, flat)
            coef = coef[:, None].expand(n, n, k2, coef.shape[-1])
        else:
            flat = index
        self.register_buffer("_index", flat.reshape(n, -1, flat.shape[-1]).clone(), persistent=False)
        self.register_buffer("_coef", coef.reshape(n, -1, coef.shape[-1]).float().clone(), persistent=False)
        # A permutation needs no multiply-add: a gather of width 1 with unit weights.
        self._is_permutation = bool(coef.shape[-1] == 1 and torch.all(coef == 1))
        self._cache = None

    def _init_weight(self, fan_in: float) -> None:
        # Unit-scale activations: fan-in counts every input channel, group element and kernel pixel.
        nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(fan_in))
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self._cache = None

    def transformed_filters(self) -> torch.Tensor:
        """(F_out, |G|, F_in, |G_in|·k²): the filter L_s ψ for every output element s, in one gather."""
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
        f_out, f_in, in_order, k, _ = self.weight.shape
        bank = self.transformed_filters().reshape(f_out * self.group.order, f_in * in_order, k, k)
        self._cache = (key, bank) if use_cache else None
        return bank

    def _bias(self) -> torch.Tensor | None:
        # One bias per output channel, shared over the group axis (a per-element bias would break equivariance).
        return None if self.bias is None else self.bias.repeat_interleave(self.group.order)

    def _unfold(self, y: torch.Tensor) -> torch.Tensor:
        return y.view(y.shape[0], self.out_channels, self.group.order, y.shape[-2], y.shape[-1])

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, group={self.group.name}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


class LiftingConv2d(_GroupConvBase):
    """(B, C_in, H, W) → (B, C_out, |G|, H', W'): correlation with the filter transformed by every s ∈ H."""

    def __init__(self, in_channels, out_channels, kernel_size, group, stride=1, padding=0, bias=True):
        super().__init__(out_channels, in_channels, kernel_size, group, stride, padding, in_group_axis=False)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self._init_weight(self.in_channels * self.kernel_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"LiftingConv2d expects (B, C, H, W), got {tuple(x.shape)}")
        return self._unfold(F.conv2d(x, self._bank(), self._bias(), self.stride, self.padding))


class GroupConv2d(_GroupConvBase):
    """(B, C_in, |G|, H, W) → (B, C_out, |G|, H', W'): group correlation on the split group."""

    def __init__(self, in_channels, out_channels, kernel_size, group, stride=1, padding=0, bias=True):
        super().__init__(out_channels, in_channels, kernel_size, group, stride, padding, in_group_axis=True)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self._init_weight(self.in_channels * self.group.order * self.kernel_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(_fold(x, self.group.order), self._bank(), self._bias(), self.stride, self.padding)
        return self._unfold(y)


class GroupConvTranspose2d(_GroupConvBase):
    """(B, C_in, |G|, H, W) → (B, C_out, |G|, H', W'): the adjoint of a group correlation C_out → C_in.

    The adjoint of an equivariant map between permutation (orthogonal) representations is equivariant, so
    `conv_transpose2d` with the bank of a group correlation is an equivariant learned upsampling. With kernel
    3, stride 2, padding 1 and odd input sizes (n → 2n − 1) the sampling grid is rot90-symmetric and the layer
    is exact. The weight has shape (C_in, C_out, |G|, k, k), as `nn.ConvTranspose2d`'s is (C_in, C_out, k, k).
    """

    def __init__(
        self, in_channels, out_channels, kernel_size, group, stride=1, padding=0, output_padding=0, bias=True
    ):
        # The filter of a group correlation from out_channels to in_channels: its bank (C_in·|G|, C_out·|G|, k, k)
        # is exactly the weight layout conv_transpose2d expects.
        super().__init__(in_channels, out_channels, kernel_size, group, stride, padding, in_group_axis=True)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.output_padding = output_padding
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Each output pixel of a stride-s transposed conv sums about C_in·|G|·k²/s² terms.
        self._init_weight(self.in_channels * self.group.order * self.kernel_size**2 / self.stride**2)

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
