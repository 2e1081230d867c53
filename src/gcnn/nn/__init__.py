"""Group-equivariant layers on feature maps of shape (B, C, |G|, H, W)."""

from gcnn.nn.conv import GroupConv2d, GroupConvTranspose2d, LiftingConv2d
from gcnn.nn.equivariant_module import EquivariantModel, EquivariantModule
from gcnn.nn.layers import GroupBatchNorm, GroupPool, SpatialMaxPool, SpatialUpsample

__all__ = [
    "EquivariantModule",
    "EquivariantModel",
    "LiftingConv2d",
    "GroupConv2d",
    "GroupConvTranspose2d",
    "GroupBatchNorm",
    "SpatialMaxPool",
    "SpatialUpsample",
    "GroupPool",
]
