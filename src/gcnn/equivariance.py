"""Measures how equivariant a layer or a model is: escnn-style `check_equivariance()` and the study's error per g.

Two questions, one error, ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ (escnn's `check_equivariance`), g acting on what f returns as
the theory says (`act`, `act_by_element`): a group map (B, C, |G|, H, W) by `Group.act_on_group_map` (pixels moved,
poses permuted), any other map by moving its pixels, a classifier's logits (B, K) not at all (invariance).

- `element_errors(f, x, group)`: the error at every element of a group, asserted at the exact ones (multiples
  of 90°, mirrors: index permutations) within atol + rtol · max|g·f(x)|; others (45°, 60°) are interpolated,
  reported only. Every layer and model calls it as `check_equivariance()` (`gcnn.nn.equivariant_module`).
- `check_equivariance(model, x, transforms)`: a trained model at every g of `TRANSFORMS` (a `Transform` need not be
  in the model's group); `model.check_equivariance(x, transforms)` is the same. `check_layer`: one layer, one element.
- `filter_transform_is_group_action(group, filter_basis, interpolation)`: whether the filters turn like the group.

Rotations by multiples of 90° are exact index permutations (`torch.rot90`); other angles are bilinear
(`gcnn.groups.rotate_images`), and then only the disc inside the image is compared (`disc_mask`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import torch

from gcnn.groups import Group, get_group, transform_images

EXACT_TOL = 1e-4  # a relative error below this is float32 round-off, not an approximation
# check_equivariance() at an exact element: max|f(g·x) − g·f(x)| <= CHECK_ATOL + CHECK_RTOL · max|g·f(x)| (float32)
CHECK_ATOL, CHECK_RTOL = 1e-6, 1e-5
CHECK_GROUP = "p4m"  # the group a layer without one of its own (batch norm, pooling, upsampling) is checked on
CHECK_SIZE = 9  # a layer's random input is (2, C, |G|, n, n) (or (2, C, n, n)), n at least this


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


# ----------------------------------------------------------------------------------------------- every element
def element_label(group: Group, a: int) -> str:
    """What element a does to an image: '90°', 'mirror, 90°'."""
    return ("mirror, " if group.elements[a][0] else "") + f"{group.degrees(a):g}°"


def act_by_element(group: Group, a: int, y: torch.Tensor) -> torch.Tensor:
    """a·y: logits (B, K) untouched, a group map (B, C, |G|, H, W) permuted and moved, any other map moved."""
    if y.dim() == 2:
        return y
    if y.dim() == 5 and y.shape[2] == group.order:
        return group.act_on_group_map(a, y)
    return group.act_on_image(a, y)


def exact_size(kernel_size: int, stride: int, padding: int, at_least: int = CHECK_SIZE) -> int:
    """The least side n >= at_least whose sliding windows map onto windows under rot90 and mirrors (the grid is
    symmetric about the centre): n + 2·padding − kernel_size divisible by stride."""
    return next(n for n in range(at_least, at_least + stride) if (n + 2 * padding - kernel_size) % stride == 0)


def failures(rows: dict[str, dict]) -> list[str]:
    """The labels of `element_errors` rows at exact elements beyond their bound (NaN included)."""
    return [label for label, row in rows.items() if row["exact"] and not row["max_abs"] <= row["bound"]]


@torch.no_grad()
def element_errors(
    f, x: torch.Tensor, group: Group, atol=CHECK_ATOL, rtol=CHECK_RTOL, name="module", assertion=True
) -> dict[str, dict]:
    """{element label: {"element", "exact", "error", "max_abs", "bound"}} of f at every element of `group` on x:
    the relative error, max|f(g·x) − g·f(x)| and its bound atol + rtol·max|g·f(x)| (inside the disc for an
    interpolated element). With `assertion`, a one-line AssertionError names the first exact element beyond it."""
    y, rows = f(x), {}
    for a in range(group.order):
        f_gx, g_fx = f(act_by_element(group, a, x)), act_by_element(group, a, y)
        exact = group.is_exact(a)
        mask = None if exact or g_fx.dim() < 4 else disc_mask(*g_fx.shape[-2:], device=g_fx.device)
        diff, ref = (f_gx - g_fx, g_fx) if mask is None else ((f_gx - g_fx) * mask, g_fx * mask)
        max_abs = float(diff.abs().max())
        rows[element_label(group, a)] = {
            "element": a,
            "exact": exact,
            "error": 0.0 if max_abs == 0 else relative_error(f_gx, g_fx, y, mask),  # 0, not 0/0, when f(x) = 0
            "max_abs": max_abs,
            "bound": atol + rtol * float(ref.abs().max()),
        }
    bad = failures(rows)
    if assertion and bad:
        row = rows[bad[0]]
        raise AssertionError(
            f"{name} is not equivariant to {bad[0]} of {group.name}: max|f(g·x) − g·f(x)| = {row['max_abs']:.3g} > "
            f"atol + rtol·max|g·f(x)| = {row['bound']:.3g} (relative error {row['error']:.3g})"
        )
    return rows


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
