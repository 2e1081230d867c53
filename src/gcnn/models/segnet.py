"""One SegNet-like encoder-decoder for every group: SegNet, P4SegNet, D4SegNet and their "_T" variants.

encoder block = 2 × [3×3 conv (padding 1) → ReLU → GroupBatchNorm], then SpatialMaxPool
decoder block = ×2 upsampling, then 2 × [3×3 conv → ReLU → GroupBatchNorm]
output        = head "conv_relu_bn" (the notebooks'): the last decoder block's last conv goes to out_channels, and
                its ReLU → GroupBatchNorm are the logits; head "conv1x1": the last block keeps channels[0], then a
                1×1 group conv to out_channels without activation or BN. Then GroupPool (max) over the group axis.

The first conv lifts the image to the group, every other conv is a group conv; with group z2 (|G| = 1) the
same code is the plain CNN. No pooling indices, and no skip connections unless `skip=True`.

Two decoders, each with the pooling that keeps rot90 (and mirrors) exact:
    "upsample":  2×2/stride-2 pooling on even sizes (256→128→64→32→16), bilinear ×2 upsampling back.
    "transpose": 3×3/stride-2/padding-1 pooling on odd sizes (257→129→65→33→17), and a 3×3/stride-2/padding-1
                 transposed group conv (n → 2n − 1) back. The transposed conv *is* the block's first
                 conv (then ReLU → BN like any other), so both decoders have exactly the same parameters.

Decoder block i mirrors encoder block i: channels[i] → channels[i] → channels[i-1], the last block ending in
out_channels (conv_relu_bn) or channels[0] (conv1x1). With channels 32/64/128/256 the plain model has 2,347,011
parameters as the notebook built it (2,356,065 with the 1×1 head). `init` is how the filters start
(`gcnn.nn.conv.INITS`: the notebooks' by default for a SegNet).
`filter_basis="harmonic"` builds every conv from steerable filters (`gcnn.harmonic`): fewer parameters per
filter (6 instead of 9 for 3×3), so widen the channels to compare at equal budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from gcnn.groups import Group, get_group
from gcnn.nn import (
    EquivariantModel,
    GroupBatchNorm,
    GroupConv2d,
    GroupConvTranspose2d,
    GroupPool,
    LiftingConv2d,
    SpatialMaxPool,
    SpatialUpsample,
)
from gcnn.nn.bases import check_filter_basis

DECODERS = ("upsample", "transpose")
SEGNET_HEADS = ("conv_relu_bn", "conv1x1")  # model.head: the notebooks' output block, or a 1×1 conv
SEGNET_FILTER_BASES = ("pixel", "harmonic")  # the bases of gcnn.nn.bases that a SegNet offers (model.filter_basis)


def _conv_relu_bn(conv: nn.Module) -> list[nn.Module]:
    # The study's order: conv → ReLU → BN (BN statistics are shared over the group axis).
    return [conv, nn.ReLU(inplace=True), GroupBatchNorm(conv.out_channels)]


class _DecoderBlock(nn.Module):
    """×2 upsampling (`up`), optionally concatenate the encoder skip, then the convs."""

    def __init__(self, up: nn.Module, convs: nn.Sequential):
        super().__init__()
        self.up, self.convs = up, convs

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        return self.convs(x if skip is None else torch.cat([x, skip], dim=1))


class SegNet(EquivariantModel, nn.Module):
    """Logits (B, out_channels, H, W) for images (B, in_channels, H, W); equivariant to the group's
    stabiliser (rot90 for p4, rot90 and mirrors for p4m) when H, W fit the pooling scheme (see
    `check_input_size`)."""

    task = "segmentation"  # what the model predicts; the trainer checks it against the data bundle's task

    def __init__(
        self,
        group: str = "z2",
        channels: Sequence[int] = (32, 64, 128, 256),
        decoder: str = "upsample",
        filter_basis: str = "pixel",
        in_channels: int = 3,
        out_channels: int = 1,
        upsample_mode: str = "bilinear",
        skip: bool = False,
        group_pool: str = "max",
        head: str = "conv_relu_bn",
        init: str = "notebook",
        name: str | None = None,
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"SegNet decoder must be one of {DECODERS}, got {decoder!r}")
        if head not in SEGNET_HEADS:
            raise ValueError(f"model.head={head!r}: a SegNet takes {', '.join(SEGNET_HEADS)}")
        check_filter_basis(filter_basis, 3, prefix="model.")
        if filter_basis not in SEGNET_FILTER_BASES:
            raise ValueError(f"model.filter_basis={filter_basis!r}: a SegNet takes {', '.join(SEGNET_FILTER_BASES)}")
        basis = {"filter_basis": filter_basis, "init": init}
        channels = tuple(int(c) for c in channels)  # a Hydra ListConfig becomes a plain tuple
        if not channels:
            raise ValueError("SegNet needs at least one encoder block (channels is empty)")
        self.group = get_group(group)
        self.channels, self.decoder_kind, self.skip, self.head_kind = channels, decoder, bool(skip), head
        self.name = name or {"z2": "segnet", "p4": "p4segnet", "p4m": "d4segnet"}.get(
            self.group.name, f"{self.group.name}segnet"
        ) + ("_t" if decoder == "transpose" else "")
        g, transpose = self.group, decoder == "transpose"

        self.encoder = nn.ModuleList()
        for i, c in enumerate(channels):
            if i == 0:  # the image is lifted to the group once, by the very first conv
                first = LiftingConv2d(in_channels, c, 3, g, padding=1, **basis)
            else:
                first = GroupConv2d(channels[i - 1], c, 3, g, padding=1, **basis)
            second = GroupConv2d(c, c, 3, g, padding=1, **basis)
            self.encoder.append(nn.Sequential(*_conv_relu_bn(first), *_conv_relu_bn(second)))
        self.pool = SpatialMaxPool(3, 2, 1) if transpose else SpatialMaxPool(2, 2)

        self.decoder = nn.ModuleList()
        for i in reversed(range(len(channels))):
            c_in, c_out = channels[i], channels[max(i - 1, 0)]
            if i == 0 and head == "conv_relu_bn":  # the notebooks' last conv: its ReLU → BN are the logits
                c_out = out_channels
            c_skip = c_in if self.skip else 0
            if transpose:  # the transposed conv does the first conv's job (c_in → c_in), then one conv
                up = nn.Sequential(*_conv_relu_bn(GroupConvTranspose2d(c_in, c_in, 3, g, stride=2, padding=1, **basis)))
                convs = [GroupConv2d(c_in + c_skip, c_out, 3, g, padding=1, **basis)]
            else:
                up = SpatialUpsample(2, upsample_mode)
                convs = [
                    GroupConv2d(c_in + c_skip, c_in, 3, g, padding=1, **basis),
                    GroupConv2d(c_in, c_out, 3, g, padding=1, **basis),
                ]
            layers = [m for conv in convs for m in _conv_relu_bn(conv)]
            self.decoder.append(_DecoderBlock(up, nn.Sequential(*layers)))

        # conv1x1: logits from a 1×1 conv, no activation, no BN. conv_relu_bn: the last block's output is the logits.
        self.head = GroupConv2d(channels[0], out_channels, 1, g, **basis) if head == "conv1x1" else None
        self.group_pool = GroupPool(group_pool)

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a one-line ValueError unless every pooling step is exact under rot90 and the decoder
        restores the input size (see `input_size_problem`)."""
        problem = input_size_problem(height, width, self.decoder_kind, len(self.channels))
        if problem:
            raise ValueError(f"SegNet '{self.name}' {problem}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.group_pool(self.group_map(x))

    def group_map(self, x: torch.Tensor) -> torch.Tensor:
        """The logits before group pooling, one map per group element: (B, out_channels, |G|, H, W) for images
        x (B, C, H, W). Figure 2 shows them; they are what the group acts on (`gcnn.equivariance`)."""
        if x.dim() != 4:
            raise ValueError(f"SegNet expects images (B, C, H, W), got {tuple(x.shape)}")
        self.check_input_size(x.shape[-2], x.shape[-1])
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x if self.skip else None)
            x = self.pool(x)
        for block, s in zip(self.decoder, reversed(skips)):
            x = block(x, s)
        return x if self.head is None else self.head(x)

    def equivariance_shape(self, group: Group) -> tuple[int, ...]:
        """`check_equivariance()`'s input: one image of the smallest size but one that `check_input_size` takes."""
        n = 2 ** (len(self.channels) + 1) + (self.decoder_kind == "transpose")
        return (1, self.encoder[0][0].in_channels, n, n)

    def equivariance_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.group_map(x)  # the logits before group pooling: what the group acts on

    def extra_repr(self) -> str:
        return (
            f"name={self.name}, group={self.group.name}, decoder={self.decoder_kind}, skip={self.skip}, "
            f"head={self.head_kind}"
        )


def input_size_problem(height: int, width: int, decoder: str, depth: int) -> str | None:
    """Why an H×W input does not fit a SegNet of `depth` blocks, or None: H, W divisible by 2^depth
    ("upsample"), or ≡ 1 mod 2^depth ("transpose"), so every pooling step is exact under rot90 and the decoder
    restores the input size. Used by the model and, before any run starts, by the settings check."""
    m = 2**depth
    if decoder == "upsample":
        if height % m or width % m or min(height, width) < m:
            return (
                f"(decoder=upsample) needs H and W divisible by {m}, got {height}×{width}: set dataset.size to a "
                f"multiple of {m} (e.g. {16 * m}, {4 * m})"
            )
    elif height % m != 1 or width % m != 1 or min(height, width) <= m:
        return (
            f"(decoder=transpose) needs H and W ≡ 1 mod {m} (e.g. {16 * m + 1}, {4 * m + 1}), got {height}×{width}: "
            f"set dataset.size to {16 * m + 1} (≡ 1 mod {m})"
        )
    return None
