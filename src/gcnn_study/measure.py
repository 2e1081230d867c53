"""What a model shows, measured for the records and reports: a trained run's equivariance on held-out inputs
(equivariance.csv) and the P6 ablation's table of single random layers."""

from __future__ import annotations

from functools import cache

import torch

from gcnn.equivariance import check_equivariance, check_layer, disc_mask
from gcnn.groups import get_group

EQUIV_IMAGES = {"classification": 100, "segmentation": 8}  # held-out inputs per model (capped by the caller's)


def error_rows(
    model: torch.nn.Module, x: torch.Tensor, experiment: str, run: str, seed: int, device=None
) -> list[dict]:
    """One row per transform: experiment, run, seed, the model's group, and its measured error on inputs x."""
    errors = check_equivariance(model, x, device=device)
    group = model.group.name if hasattr(model, "group") else "z2"
    return [
        {"experiment": experiment, "run": run, "seed": seed, "group": group, "transform": label, **value}
        for label, value in errors.items()
    ]


def measure_run(
    model: torch.nn.Module, test_x: torch.Tensor, experiment: str, run: str, seed: int, device=None, limit=None
) -> list[dict]:
    """`error_rows` of a trained model in eval mode on its first EQUIV_IMAGES[task] test inputs (fewer with
    `limit`), each row with the number of inputs (`inputs`). The model's train/eval mode is restored afterwards."""
    n = EQUIV_IMAGES[getattr(model, "task", "classification")]
    x = test_x[: n if limit is None else min(n, limit)]
    was_training = model.training
    model.eval()
    try:
        rows = error_rows(model, x, experiment, run, seed, device=device)
    finally:
        model.train(was_training)
    return [{**r, "inputs": len(x)} for r in rows]


# ----------------------------------------------------------------------------------------------- single layers
# One random layer at its group's smallest rotation off the grid (60° for p6, 45° for p8), for each filter variant of
# the P6 ablation (gcnn_study.config.specs rows). The input decides whether the number describes the layer or the
# image. Here
# it is a smooth bump: white noise blurred three times by a 5×5 box, under a Gaussian envelope (σ = size/6), so it is
# smooth everywhere and near zero long before the border; its bilinear rotation is close to exact and nothing rotates
# into or out of the frame. (An input cut by a hard disc would let the rotated edge dominate the harmonic layers'
# error.) g·x and g·f(x) are bilinear rotations alike, so what is left is the layer's own error: the filter transform,
# and the pixel grid under the filter. Everything runs in float64, so the numbers do not depend on the machine.

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
    (default 1: the rotation by 360°/N), on a smooth bump, inside the disc."""
    from gcnn.nn import GroupConv2d, LiftingConv2d  # the layers import the groups; the groups never this module

    g = get_group(group, interpolation)
    with torch.random.fork_rng(devices=[]):  # the layer's initialisation leaves the caller's generator alone
        torch.manual_seed(seed)
        cls = LiftingConv2d if kind == "lifting" else GroupConv2d
        layer = cls(2, 4, 3, g, padding=1, filter_basis=filter_basis).double().eval()
    if kind == "lifting":
        x = smooth_bump(size, 2, seed)
    else:
        x = smooth_bump(size, 2 * g.order, seed).view(1, 2, g.order, size, size)
    return check_layer(layer, x, element, disc_mask(size, size))


@cache
def layer_error_table(
    variants: tuple[tuple[str, str, str], ...], seeds: tuple[int, ...] = SEEDS, size: int = SIZE
) -> dict[tuple[str, str], dict[str, float]]:
    """{(group, kind): {variant label: mean error over `seeds` random layers}} for each (label, filter_basis,
    filter_interpolation) of `variants` (the P6 ablation's: `gcnn_study.report.ablation.layer_variants()`);
    cached: float64, deterministic."""
    return {
        (group, kind): {
            label: sum(layer_error(group, kind, basis, interp, s, size) for s in seeds) / len(seeds)
            for label, basis, interp in variants
        }
        for group, kind in CASES
    }


def layer_table_markdown(table: dict[tuple[str, str], dict[str, float]]) -> str:
    """The table as markdown: one row per layer, one column per filter variant."""
    labels = list(next(iter(table.values())))
    lines = ["| layer | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    for (group, kind), errors in table.items():
        degrees = 360 // get_group(group).n_rotations
        lines.append(f"| {group} {kind} conv, {degrees}° | " + " | ".join(f"{errors[k]:.3f}" for k in labels) + " |")
    return "\n".join(lines)
