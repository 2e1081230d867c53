"""Layers on feature maps over the group (B, C, |G|, H, W) that are not convolutions.

Each is equivariant for the reason given in its docstring; none has parameters tied to a group element. None
has a group of its own either: `check_equivariance()` checks them on p4m (`CHECK_GROUP`) unless given `group=`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from gcnn.equivariance import exact_size
from gcnn.groups import Group
from gcnn.nn.equivariant_module import EquivariantModule

UPSAMPLE_MODES = ("bilinear", "nearest")  # SpatialUpsample's modes (a SegNet's upsample_mode)
GROUP_POOL_MODES = ("max", "mean")  # GroupPool's modes (a SegNet's group_pool)


def _as_planar(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(B, C, |G|, H, W) → (B·C·|G|, 1, H, W) view for 2-D spatial ops, plus the leading shape."""
    if x.dim() != 5:
        raise ValueError(f"expected a feature map on the group (B, C, |G|, H, W), got {tuple(x.shape)}")
    lead = tuple(x.shape[:3])
    return x.reshape(-1, 1, x.shape[-2], x.shape[-1]), lead


class GroupBatchNorm(EquivariantModule, nn.BatchNorm3d):
    """Batch norm with one mean, variance, scale and bias per channel, shared over the group axis and space.

    Statistics pooled over |G| are invariant under the permutation of the group axis, so the layer commutes
    with the group action (per-element statistics would not).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"GroupBatchNorm expects (B, C, |G|, H, W), got {tuple(x.shape)}")
        return super().forward(x)


class SpatialMaxPool(EquivariantModule, nn.Module):
    """Max-pool over H, W only, never over the group axis.

    Subsampling keeps equivariance to the subgroup whose rotations map the pooling windows onto themselves:
    even sizes with 2×2/stride 2 windows, or odd sizes with 3×3/stride 2/padding 1 windows (33→17→9→5→3).
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None, padding: int = 0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        planar, lead = _as_planar(x)
        y = F.max_pool2d(planar, self.kernel_size, self.stride, self.padding)
        return y.view(*lead, y.shape[-2], y.shape[-1])

    def equivariance_shape(self, group: Group) -> tuple[int, ...]:
        n = exact_size(self.kernel_size, self.stride, self.padding)  # windows that map onto windows
        return (2, 3, group.order, n, n)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class SpatialUpsample(EquivariantModule, nn.Module):
    """Upsample H, W by an integer factor (nearest or bilinear with align_corners=False).

    Both sample positions symmetric about the image centre, so they commute with rot90 and mirrors; the
    group axis is untouched.
    """

    def __init__(self, scale_factor: int = 2, mode: str = "bilinear"):
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"SpatialUpsample mode must be one of {', '.join(UPSAMPLE_MODES)}, got {mode!r}")
        self.scale_factor, self.mode = scale_factor, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        planar, lead = _as_planar(x)
        kwargs = {"align_corners": False} if self.mode == "bilinear" else {}
        y = F.interpolate(planar, scale_factor=self.scale_factor, mode=self.mode, **kwargs)
        return y.view(*lead, y.shape[-2], y.shape[-1])

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode={self.mode}"


class GroupPool(EquivariantModule, nn.Module):
    """Pool over the group axis: (B, C, |G|, H, W) → (B, C, H, W).

    max (or mean) over a full orbit of the stabiliser is invariant to its permutation, so the result
    transforms like an image: rotating the input rotates the output.
    """

    def __init__(self, mode: str = "max"):
        super().__init__()
        if mode not in GROUP_POOL_MODES:
            raise ValueError(f"GroupPool mode must be one of {', '.join(GROUP_POOL_MODES)}, got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"GroupPool expects (B, C, |G|, H, W), got {tuple(x.shape)}")
        return x.amax(dim=2) if self.mode == "max" else x.mean(dim=2)

    def extra_repr(self) -> str:
        return f"mode={self.mode}"
