"""How equivariant is a layer or a model? The relative error ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ (escnn's
`check_equivariance`, as one number per g), measured here so that figures and reports only draw it.

g is a `Transform` (a mirror, then a rotation by some degrees); the group's element that acts as g is
`Group.element_at(degrees, mirror)`, when the group has one. g acts on what f returns as the theory says:

    a group map (B, C, |G|, H, W) of a group that has g: `Group.act_on_group_map` (pixels moved, poses permuted);
    any other map (a plain CNN's, pooled logits):        its pixels moved alike (`transform_images`);
    a classifier's logits (B, K):                         not at all (the model should be invariant).

Rotations by multiples of 90° are exact index permutations (`torch.rot90`); other angles are bilinear
(`gcnn.groups.rotate_images`), and then only the disc inside the image is compared (`disc_mask`), since corners
rotate out of the frame.

- `check_layer(layer, x, element)`: one layer, at one element of its own group.
- `check_equivariance(model, x)`: a trained model at every g of `TRANSFORMS` (also the models' method);
  `error_rows` gives it as the report's rows, `measure_run` on a run's first test inputs (the trainer writes
  them to the run's equivariance.csv).
- `layer_error_table(variants)`: random single layers at their group's smallest rotation off the grid, on a smooth
  input (the P6 ablation's layer table; `python -m gcnn.ablation --layers` prints it).
- `filter_transform_is_group_action(group, filter_basis, interpolation)`: whether the filters turn like the group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import torch

from gcnn.groups import Group, get_group, transform_images

EXACT_TOL = 1e-4  # a relative error below this is float32 round-off, not an approximation


@dataclass(frozen=True)
class Transform:
    """g: mirror the image (flip of the width axis) if `mirror`, then rotate it by `degrees`."""

    label: str
    degrees: float
    mirror: bool = False

    @property
    def exact_on_grid(self) -> bool:
        return self.degrees % 90 == 0

    def element(self, group: Group | None) -> int | None:
        """The element of `group` that acts as this transform, or None when the group lacks it."""
        if group is None:
            return None
        try:
            return group.element_at(self.degrees, self.mirror)
        except ValueError:
            return None

    def on_images(self, x: torch.Tensor) -> torch.Tensor:
        return transform_images(x, self.degrees, self.mirror)


TRANSFORMS = (
    Transform("90°", 90),
    Transform("180°", 180),
    Transform("mirror", 0, True),
    Transform("45°", 45),
    Transform("60°", 60),
    Transform("30°", 30),
)


def disc_mask(h: int, w: int, device=None) -> torch.Tensor:
    """(H, W) bool: pixels strictly inside the inscribed circle, less one pixel of interpolation border."""
    yy, xx = torch.meshgrid(
        torch.arange(h, device=device) - (h - 1) / 2, torch.arange(w, device=device) - (w - 1) / 2, indexing="ij"
    )
    return (yy**2 + xx**2) <= (min(h, w) / 2 - 1.5) ** 2


def relative_error(
    f_gx: torch.Tensor, g_fx: torch.Tensor, f_x: torch.Tensor | None = None, mask: torch.Tensor | None = None
) -> float:
    """‖f(g·x) − g·f(x)‖ / ‖f(x)‖, Frobenius norms over the whole batch, in float64.

    mask (broadcast over the trailing spatial axes) restricts both norms to some pixels. f_x defaults to g_fx
    (equal norms whenever g permutes pixels)."""
    f_gx, g_fx = f_gx.double(), g_fx.double()
    ref = g_fx if f_x is None else f_x.double()
    if mask is not None:
        mask = mask.to(f_gx.device)
        f_gx, g_fx, ref = f_gx * mask, g_fx * mask, ref * mask
    denom = torch.linalg.vector_norm(ref)
    return float(torch.linalg.vector_norm(f_gx - g_fx) / denom) if denom > 0 else float("nan")


def act(group: Group | None, t: Transform, y: torch.Tensor) -> torch.Tensor:
    """g·y for an output y of a model or layer on `group` (see the module's docstring)."""
    if y.dim() == 2:
        return y
    a = t.element(group)
    if a is not None and y.dim() == 5 and y.shape[2] == group.order:
        return group.act_on_group_map(a, y)
    return t.on_images(y)


@torch.no_grad()
def transformed_pair(f, x: torch.Tensor, group: Group | None, t: Transform) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(g·x), g·f(x)) for a map f of images (a model's feature maps, a layer): equal when f is equivariant."""
    return f(t.on_images(x)), act(group, t, f(x))


# ----------------------------------------------------------------------------------------------- one layer
@torch.no_grad()
def check_layer(layer: torch.nn.Module, x: torch.Tensor, element: int = 1, mask: torch.Tensor | None = None) -> float:
    """The relative error of `layer` (a lifting conv for images x (B, C, H, W), any group layer for group maps
    (B, C, |G|, H, W)) at `element` of its own group (`layer.group`; default 1, the rotation by 360°/N)."""
    g = layer.group
    act_in = g.act_on_image if x.dim() == 4 else g.act_on_group_map
    y = layer(x)
    return relative_error(layer(act_in(element, x)), g.act_on_group_map(element, y), y, mask)


# ----------------------------------------------------------------------------------------------- a model
@torch.no_grad()
def check_equivariance(
    model: torch.nn.Module, x: torch.Tensor, transforms=TRANSFORMS, batch_size: int = 64, device=None
) -> dict[str, dict]:
    """{label: {"error": relative error, "in_group": bool, "exact_on_grid": bool, "quantity": str}} for one model
    on held-out inputs x (N, C, H, W); sums of squares are accumulated over batches of `batch_size`.

    f is a classifier's logits (invariant: g·f = f). For a SegNet it is the group map before pooling
    (`model.group_map`) when g is an element of its group; for a g outside the group (45° for a P4SegNet, any g
    for the plain SegNet) the map has no action of g, so the pooled logits are compared, their pixels moved."""
    device = device or next(model.parameters()).device
    group = getattr(model, "group", None)
    segmentation = getattr(model, "task", "classification") == "segmentation"
    sums = {t.label: [0.0, 0.0] for t in transforms}
    quantity = {}
    for chunk in x.split(batch_size):
        chunk = chunk.to(device)
        if segmentation:
            maps = model.group_map(chunk)
            logits = model.group_pool(maps)
        else:
            logits = model(chunk)
        for t in transforms:
            a = t.element(group)
            gx = t.on_images(chunk)
            if not segmentation:
                f_gx, f_x, quantity[t.label] = model(gx), logits, "logits (invariant)"
            elif a is not None and group.order > 1:
                f_gx, f_x, quantity[t.label] = model.group_map(gx), maps, "pre-pooling group map"
            else:
                f_gx, f_x, quantity[t.label] = model(gx), logits, "pooled logits"
            g_fx = act(group, t, f_x)
            if segmentation and not t.exact_on_grid:  # corners rotate out of the frame
                mask = disc_mask(*chunk.shape[-2:], device=device)
                f_gx, g_fx, f_x = f_gx * mask, g_fx * mask, f_x * mask
            sums[t.label][0] += float(torch.sum((f_gx.double() - g_fx.double()) ** 2))
            sums[t.label][1] += float(torch.sum(f_x.double() ** 2))
    out = {}
    for t in transforms:
        num, den = sums[t.label]
        out[t.label] = {
            "error": math.sqrt(num / den) if den > 0 else float("nan"),
            "in_group": t.element(group) is not None,
            "exact_on_grid": t.exact_on_grid,
            "quantity": quantity[t.label],
        }
    return out


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
# One random layer at its group's smallest rotation off the grid (60° for p6, 45° for p8), for each filter
# variant of the P6 ablation (gcnn.specs rows). The input decides whether the number describes the layer or the
# image. Here it is a smooth bump: white noise blurred three times by a 5×5 box, under a Gaussian envelope
# (σ = size/6), so it is smooth everywhere and near zero long before the border; its bilinear rotation is close
# to exact and nothing rotates into or out of the frame. (An input cut by a hard disc would let the rotated edge
# dominate the harmonic layers' error.) g·x and g·f(x) are bilinear rotations alike, so what is left is the
# layer's own error: the filter transform, and the pixel grid under the filter. Everything runs in float64, so
# the numbers do not depend on the machine.

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
    filter_interpolation) of `variants` (the P6 ablation's: `gcnn.ablation.layer_variants()`); cached: float64,
    deterministic."""
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


# ----------------------------------------------------------------------------------------------- filter transforms
@cache  # the tables ask once per cell; the answer depends on these arguments alone
def filter_transform_is_group_action(
    group: str, filter_basis: str, interpolation: str = "nearest", kernel_size: int = 3, tol: float = 1e-5
) -> bool:
    """Whether a layer's filter transform composes like the group: L_a L_b ψ = L_{a∘b} ψ for every pair of
    elements and every filter ψ the basis can store, for any basis.

    The basis gives the bank M_s = L_s·B (k² × n: each stored basis filter, transformed by s). The transform is an
    action exactly when, for each a, one linear map L_a takes every M_b to M_{a∘b} (on the span of the whole
    bank): then L_a L_b M_c = M_{a∘b∘c} = L_{a∘b} M_c. Solved by least squares, in float64, with the bases' float32
    interpolation weights' round-off below `tol`. (Nearest 60° on 3×3 pixels fails it, and so does any bilinear
    resampling off the quarter turns; nearest 45° on 3×3, the ring shift, passes, also on harmonic filters.)"""
    from gcnn.nn.bases import make_basis  # the layers import the groups; the groups never this module

    g = get_group(group, interpolation)
    basis = make_basis(filter_basis, g, kernel_size, in_group_axis=False).double()
    n = math.prod(basis.filter_shape)
    identity = torch.eye(n, dtype=torch.float64).view(1, n, 1, *basis.filter_shape)  # (F_out, F_in, |G_in|, ...)
    bank = basis.expand(identity)[0].transpose(-1, -2)  # (|G|, k², n): M_s
    every = torch.cat(list(bank), dim=1)  # (k², |G|·n): the bank side by side
    solve = torch.linalg.pinv(every, rtol=tol)
    for a in range(g.order):
        moved = torch.cat([bank[g.compose(a, b)] for b in range(g.order)], dim=1)
        if ((moved @ solve @ every - moved).abs().max() > tol * every.abs().max()).item():
            return False
    return True
