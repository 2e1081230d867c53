"""One classifier for every group: the study's five-block network, as its notebooks ran it.

block = 3×3 conv (padding 1) → GroupBatchNorm → SpatialMaxPool(3, stride 2, padding 1) → ReLU,
five times (the first conv lifts the image to the group), then max over the group axis and the remaining
space, then a linear layer. With group z2 this is the plain CNN.

On 33×33 inputs the pooled sizes are 33→17→9→5→3: every 3×3/stride-2/padding-1 window maps onto a window
under rot90, so the p4/p8/p4m networks are exactly invariant to 90° rotations (and p4m to mirrors).

`init` is how the filters start (`gcnn.nn.conv.INITS`): "fan_in" by default, as every classifier record was
trained; "notebook" starts them as the notebooks did (the linear layer is PyTorch's default in both).

`filter_basis="harmonic"` builds every filter from steerable basis functions (`gcnn.harmonic`), transformed
exactly by every pN / pNm; a 3×3 filter then has 6 coefficients instead of 9, so its configs widen the
channels by √(9/6) to keep the parameter budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from gcnn.groups import Group, get_group
from gcnn.nn import EquivariantModel, GroupBatchNorm, GroupConv2d, GroupPool, LiftingConv2d, SpatialMaxPool
from gcnn.nn.bases import check_filter_basis


class GroupClassifier(EquivariantModel, nn.Module):
    task = "classification"  # what the model predicts; the trainer checks it against the data bundle's task

    def __init__(
        self,
        group: str = "z2",
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        in_channels: int = 1,
        num_classes: int = 10,
        kernel_size: int = 3,
        filter_basis: str = "pixel",
        max_frequency: int | None = None,
        dropout: float = 0.0,
        filter_interpolation: str = "nearest",
        init: str = "fan_in",
        name: str | None = None,
    ):
        super().__init__()
        check_filter_basis(filter_basis, kernel_size, max_frequency, prefix="model.")
        self.filter_basis = filter_basis
        self.group = get_group(group, filter_interpolation)
        self.name = name or self.group.name + "cnn"
        blocks = []
        for i, (c_in, c_out) in enumerate(zip([in_channels, *channels[:-1]], channels)):
            conv_cls = LiftingConv2d if i == 0 else GroupConv2d
            layers = [
                conv_cls(
                    c_in,
                    c_out,
                    kernel_size,
                    self.group,
                    padding=kernel_size // 2,
                    filter_basis=filter_basis,
                    max_frequency=max_frequency,
                    init=init,
                ),
                GroupBatchNorm(c_out),
                SpatialMaxPool(3, 2, 1),
                nn.ReLU(inplace=True),
            ]
            # The text says dropout, the notebooks had none: off by default. Dropout3d drops a whole
            # (channel, group element, space) map, so it does not favour any pose.
            if dropout > 0:
                layers.append(nn.Dropout3d(dropout))
            blocks.append(nn.Sequential(*layers))
        self.features = nn.Sequential(*blocks)
        self.group_pool = GroupPool("max")
        self.head = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.group_pool(self.features(x))  # (B, C, h, w): invariant to the stabiliser up to a rotation
        return self.head(z.amax(dim=(-2, -1)))  # max over space removes the rotation

    def feature_maps(self, x: torch.Tensor, depth: int = 1) -> torch.Tensor:
        """The group feature maps (B, C, |G|, H, W) that the convolution of block `depth` (1: the lifting
        convolution) gives for images x, before its batch norm: what Figure 1 shows."""
        if not 1 <= depth <= len(self.features):
            raise ValueError(f"depth must be 1 to {len(self.features)}, got {depth}")
        for block in self.features[: depth - 1]:
            x = block(x)
        return self.features[depth - 1][0](x)

    def equivariance_shape(self, group: Group) -> tuple[int, ...]:
        """`check_equivariance()`'s input: 2^blocks + 1 pixels a side (33 for five blocks), pooled at odd sizes
        only, where every window maps onto one under rot90 and mirrors. f is the logits (invariant)."""
        n = 2 ** len(self.features) + 1
        return (2, self.features[0][0].in_channels, n, n)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
