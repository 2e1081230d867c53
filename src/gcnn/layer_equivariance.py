"""How equivariant is one layer at its group's smallest rotation off the grid (60° for p6, 45° for p8)?

The error is the one metric of the trained-model report, `gcnn.figures.equivariance.relative_error`:
‖f(g·x) − g·f(x)‖ / ‖f(x)‖ with Frobenius norms, compared inside the inscribed disc (`disc_mask`).

The input decides whether the number describes the layer or the image. Here it is a smooth bump: white noise
blurred three times by a 5×5 box, under a Gaussian envelope (σ = size/6), so it is smooth everywhere and near
zero long before the border; its bilinear rotation is close to exact and nothing rotates into or out of the
frame. (The earlier input cut the same noise by a hard disc; the rotated edge then dominated the harmonic
layers' error.) g·x and g·f(x) are bilinear rotations alike, so what is left is the layer's own error: the
filter transform, and the pixel grid under the filter. Everything runs in float64, so the numbers do not depend
on the machine. `python -m gcnn.layer_equivariance` prints the table.
"""

from __future__ import annotations

from functools import cache

import torch

from gcnn.figures.equivariance import disc_mask, relative_error
from gcnn.groups import get_group
from gcnn.nn import GroupConv2d, LiftingConv2d

# (label, filter_basis, filter_interpolation): the filter variants of the P6 ablation (gcnn.specs rows).
VARIANTS = (
    ("pixel, nearest (as run)", "pixel", "nearest"),
    ("pixel, bilinear (as written)", "pixel", "bilinear"),
    ("harmonic, resampled bilinear", "harmonic_resampled", "bilinear"),
    ("harmonic (exact)", "harmonic", "nearest"),
)
CASES = (("p6", "lifting"), ("p6", "group"), ("p8", "lifting"), ("p8", "group"))
SIZE, SEEDS = 41, (0, 1, 2)


def smooth_bump(size: int, channels: int, seed: int = 0) -> torch.Tensor:
    """(1, channels, size, size) float64: blurred white noise under a Gaussian envelope of σ = size/6."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, size, size, generator=gen, dtype=torch.float64)
    box = torch.ones(channels, 1, 5, 5, dtype=torch.float64) / 25
    for _ in range(3):
        x = torch.nn.functional.conv2d(x, box, padding=2, groups=channels)
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(*(torch.arange(size, dtype=torch.float64) - c,) * 2, indexing="ij")
    return x * torch.exp(-(yy**2 + xx**2) / (2 * (size / 6) ** 2))


def layer_error(
    group: str, kind: str, filter_basis: str, interpolation: str, seed: int, size: int = SIZE, element: int = 1
) -> float:
    """The relative error of one random layer (lifting or group conv, 2 → 4 channels, 3×3) at a group element
    (default 1: the rotation by 360°/N)."""
    g = get_group(group, interpolation)
    with torch.random.fork_rng(devices=[]):  # the layer's initialisation leaves the caller's generator alone
        torch.manual_seed(seed)
        cls = LiftingConv2d if kind == "lifting" else GroupConv2d
        layer = cls(2, 4, 3, g, padding=1, filter_basis=filter_basis).double().eval()
    if kind == "lifting":
        x, act = smooth_bump(size, 2, seed), g.act_on_image
    else:
        x, act = smooth_bump(size, 2 * g.order, seed).view(1, 2, g.order, size, size), g.act_on_group_map
    a = element
    with torch.no_grad():
        y = layer(x)
        return relative_error(layer(act(a, x)), g.act_on_group_map(a, y), y, disc_mask(size, size))


@cache
def error_table(seeds: tuple[int, ...] = SEEDS, size: int = SIZE) -> dict[tuple[str, str], dict[str, float]]:
    """{(group, kind): {variant label: mean error over `seeds` random layers}} (cached: float64, deterministic)."""
    return {
        (group, kind): {
            label: sum(layer_error(group, kind, basis, interp, s, size) for s in seeds) / len(seeds)
            for label, basis, interp in VARIANTS
        }
        for group, kind in CASES
    }


def markdown(table: dict[tuple[str, str], dict[str, float]]) -> str:
    """The table as markdown: one row per layer, one column per filter variant."""
    labels = [label for label, _, _ in VARIANTS]
    lines = ["| layer | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    for (group, kind), errors in table.items():
        degrees = 360 // get_group(group).n_rotations
        lines.append(f"| {group} {kind} conv, {degrees}° | " + " | ".join(f"{errors[k]:.3f}" for k in labels) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(error_table()))
