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

from gcnn.equivariance import CHECK_SIZE, exact_size
from gcnn.groups import Group, get_group
from gcnn.nn.bases import FilterBasis, make_basis
from gcnn.nn.equivariant_module import EquivariantModule

#: How a layer's filters and bias start (`init=`):
#:   "fan_in":   normal with std 1/√fan_in (every input channel, group element and filter coefficient), bias 0:
#:               unit-scale activations whatever the group.
#:   "notebook": as the study's notebooks built their layers: a group layer (|G| > 1) normal with std
#:               1/√(out_channels · in_channels) and bias 0.01; a plain layer (z2, their nn.Conv2d and
#:               nn.ConvTranspose2d) PyTorch's default, Kaiming-uniform with a = √5 and a uniform bias.
INITS = ("fan_in", "notebook")


class _GroupConvBase(EquivariantModule, nn.Module):
    """What every group convolution shares: channels, bias, the filter on the group in its basis (`basis`, a
    `gcnn.nn.bases.FilterBasis` that transforms it by every stabiliser element), and the eval-mode cache of the
    resulting bank.

    A subclass states only its filter layout (the class attributes below) and its forward. The filter has
    shape (F_out, F_in, |G_in|, k, k) in the pixel basis, (F_out, F_in, |G_in|, n_basis) in the harmonic one,
    with |G_in| = 1 for lifting; the bank built from it is a conv2d weight (F_out·|G|, F_in·|G_in|, k, k).

    filter_basis: a name of `gcnn.nn.bases.BASES` ("pixel", "harmonic", "harmonic_resampled"); `max_frequency`
        caps the band limit of the harmonic ones.
    init: how the parameters start, one of INITS.
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
        init="fan_in",
    ):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init={init!r}: one of {', '.join(INITS)}")
        self.init = init
        self.in_channels, self.out_channels = in_channels, out_channels
        self.group: Group = get_group(group)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.filter_basis, self.max_frequency = filter_basis, max_frequency
        # A transposed conv applies the adjoint of a group correlation from out_channels to in_channels.
        filter_out, filter_in = (in_channels, out_channels) if self.transposed else (out_channels, in_channels)
        in_order = self.group.order if self.in_group_axis else 1
        self.basis: FilterBasis = make_basis(
            filter_basis, self.group, kernel_size, in_group_axis=self.in_group_axis, max_frequency=max_frequency
        )
        self.weight = nn.Parameter(torch.empty(filter_out, filter_in, in_order, *self.basis.filter_shape))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init == "notebook":
            self._notebook_init()
            self._cache = None
            return
        # Unit-scale activations: fan-in counts every input channel, group element and filter coefficient. The
        # harmonic basis blocks have unit mean squared column norm, so E|ψ|² per coefficient is the same as per
        # pixel. Each output pixel of a stride-s transposed conv sums about 1/s² of the taps.
        in_order, per_filter = self.weight.shape[2], self.weight[0, 0, 0].numel()
        fan_in = self.in_channels * in_order * per_filter / (self.stride**2 if self.transposed else 1)
        nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(fan_in))
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self._cache = None

    def _notebook_init(self) -> None:
        if self.group.order > 1:  # the notebooks' LiftingConv2d, GroupConv2d, GroupConvTranspose2d
            nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(self.out_channels * self.in_channels))
            if self.bias is not None:
                nn.init.constant_(self.bias, 0.01)
            return
        # Their plain nn.Conv2d / nn.ConvTranspose2d: PyTorch's reset_parameters, on the same fans (the weight's
        # extra group axis has size 1, so torch computes the fans of the 4-D weight).
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def transformed_filters(self) -> torch.Tensor:
        """(F_out, |G|, F_in, |G_in|·k²): the filter L_s ψ for every output element s, in one linear map."""
        return self.basis.expand(self.weight)

    def _bank(self) -> torch.Tensor:
        """The bank as a conv weight; cached while evaluating without grad (weights cannot change then). Not
        under torch.compile: the cache key's data pointer breaks the graph, and a compiled graph builds the bank
        inside itself anyway."""
        use_cache = not self.training and not torch.is_grad_enabled() and not torch.compiler.is_compiling()
        key = (
            (self.weight._version, self.weight.data_ptr(), self.weight.dtype, self.weight.device) if use_cache else None
        )
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

    def equivariance_shape(self, group: Group) -> tuple[int, ...]:
        """`check_equivariance()`'s input: a side whose output grid is symmetric about the centre (a transposed conv's
        is for any side when output_padding is 0)."""
        n = CHECK_SIZE if self.transposed else exact_size(self.kernel_size, self.stride, self.padding)
        return (2, self.in_channels, *((group.order,) if self.in_group_axis else ()), n, n)

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
        init="fan_in",
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
            init=init,
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
