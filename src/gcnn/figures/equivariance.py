"""How equivariant is a trained model? The relative error ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ for rotations and mirrors.

f is the model's output for the (invariant) classifiers, so g·f(x) = f(x); for SegNets it is the group
feature map before pooling over the group (the output of `model.head`, (B, 1, |G|, H, W)), on which g acts by
`Group.act_on_group_map` when g is an element of the model's group. For a g outside the group (the 45° of a
P4SegNet, any g of the plain SegNet), the group map has no action of g, so the pooled logits are compared with
the transformed logits instead. Rotations by multiples of 90° use `torch.rot90` (exact); other angles are
interpolated (`gcnn.groups.rotate_images`, bilinear) and then only the disc inside the image is compared, since
corners rotate out of the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gcnn.groups import Group, transform_images

EXACT_TOL = 1e-4  # a relative error below this is float32 round-off, not an approximation


@dataclass(frozen=True)
class Transform:
    label: str
    degrees: float
    mirror: bool = False

    @property
    def exact_on_grid(self) -> bool:
        return self.degrees % 90 == 0


TRANSFORMS = (
    Transform("90°", 90),
    Transform("180°", 180),
    Transform("mirror", 0, True),
    Transform("45°", 45),
    Transform("60°", 60),
    Transform("30°", 30),
)


def group_element(group: Group, t: Transform) -> int | None:
    """Index of the element of `group` that acts as `t` on images, or None when the group lacks it."""
    for a, (m, r) in enumerate(group.elements):
        if bool(m) == t.mirror and math.isclose((360.0 * r / group.n_rotations) % 360, t.degrees % 360, abs_tol=1e-9):
            return a
    return None


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


class _HeadOutput:
    """Forward hook keeping the output of `model.head` (the SegNet's pre-pooling group map)."""

    def __init__(self, module: torch.nn.Module):
        self.value = None
        self.handle = module.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.value = output.detach()

    def close(self):
        self.handle.remove()


@torch.no_grad()
def group_feature_map(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pre-pooling map of `model.head` (B, C, |G|, H, W), pooled logits) of a SegNet for images x."""
    hook = _HeadOutput(model.head)
    try:
        logits = model(x)
    finally:
        hook.close()
    return hook.value, logits


@torch.no_grad()
def equivariance_errors(
    model: torch.nn.Module, x: torch.Tensor, transforms=TRANSFORMS, batch_size: int = 64, device=None
) -> dict[str, dict]:
    """{label: {"error": relative error, "in_group": bool, "exact_on_grid": bool, "quantity": str}} for one model
    on held-out inputs x (N, C, H, W); sums of squares are accumulated over batches of `batch_size`."""
    device = device or next(model.parameters()).device
    group = getattr(model, "group", None)
    segmentation = getattr(model, "task", "classification") == "segmentation"
    sums = {t.label: [0.0, 0.0] for t in transforms}
    quantity = {}
    for chunk in x.split(batch_size):
        chunk = chunk.to(device)
        if segmentation:
            maps, logits = group_feature_map(model, chunk)
        else:
            logits = model(chunk)
        for t in transforms:
            a = group_element(group, t) if group is not None else None
            gx = transform_images(chunk, t.degrees, t.mirror)
            mask = None if t.exact_on_grid else disc_mask(*chunk.shape[-2:], device=device)
            if not segmentation:
                f_gx, g_fx, f_x, mask, quantity[t.label] = model(gx), logits, logits, None, "logits (invariant)"
            elif a is not None and group.order > 1:
                f_gx = group_feature_map(model, gx)[0]
                g_fx, f_x, quantity[t.label] = group.act_on_group_map(a, maps), maps, "pre-pooling group map"
            else:
                f_gx, g_fx, f_x = model(gx), transform_images(logits, t.degrees, t.mirror), logits
                quantity[t.label] = "pooled logits"
            if mask is not None:
                f_gx, g_fx, f_x = f_gx * mask, g_fx * mask, f_x * mask
            sums[t.label][0] += float(torch.sum((f_gx.double() - g_fx.double()) ** 2))
            sums[t.label][1] += float(torch.sum(f_x.double() ** 2))
    out = {}
    for t in transforms:
        num, den = sums[t.label]
        a = group_element(group, t) if group is not None else None
        out[t.label] = {
            "error": math.sqrt(num / den) if den > 0 else float("nan"),
            "in_group": a is not None,
            "exact_on_grid": t.exact_on_grid,
            "quantity": quantity[t.label],
        }
    return out


def verdict(error: float, in_group: bool) -> str:
    """'exact' (g ∈ G, round-off), 'approx.' (g ∈ G, above round-off) or '' (g ∉ G: no equivariance built in)."""
    if not in_group:
        return ""
    return "exact" if error < EXACT_TOL else "approx."


# ----------------------------------------------------------------------------------------------- report
def summarise(rows):
    """Per-seed rows (experiment, run, seed, group, transform, error, in_group, quantity) → one row per
    (experiment, run, transform): mean and max of the error over seeds, n seeds."""
    import pandas as pd

    df = pd.DataFrame(rows)
    keys = ["experiment", "run", "group", "transform", "in_group", "quantity"]
    out = df.groupby(keys, sort=False)["error"].agg(mean="mean", max="max", n="count").reset_index()
    return out


def equivariance_markdown(rows, n_inputs: dict[str, int], source: str) -> str:
    """The report: one table per experiment, exact / approximate marked, and a summary of both."""
    summary = summarise(rows)
    labels = [t.label for t in TRANSFORMS if t.label in set(summary["transform"])]
    lines = [
        "# Equivariance of the trained models",
        "",
        f"Relative error ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ over held-out test inputs of the runs in `{source}` "
        "(mean over seeds; n = seeds). Classifiers: f = the logits, which should be invariant (g·f = f). "
        "SegNets: f = the group feature map before group pooling (output of `model.head`) when g is in the "
        "model's group, otherwise the pooled logits. Multiples of 90° are exact pixel permutations (`torch.rot90`); "
        "45°, 60° and 30° are bilinear rotations compared inside the central disc. "
        f"**exact**: g ∈ G and error < {EXACT_TOL:g} (float32 round-off); **approx.**: g ∈ G, error above "
        "round-off (an interpolated rotation or a filter rotation that is not a group action); no mark: g ∉ G, "
        "nothing is built in.",
        "",
    ]
    for experiment, part in summary.groupby("experiment", sort=True):
        lines += [
            f"## {experiment} ({n_inputs.get(experiment, '?')} test inputs per run)",
            "",
            "| model | group | n | " + " | ".join(labels) + " |",
            "| --- | --- | --- | " + " | ".join("---" for _ in labels) + " |",
        ]
        for run, rows_run in part.groupby("run", sort=False):
            cells = []
            for label in labels:
                sel = rows_run[rows_run["transform"] == label]
                if not len(sel):
                    cells.append("")
                    continue
                r = sel.iloc[0]
                mark = verdict(r["max"], bool(r["in_group"]))
                cells.append(f"{r['mean']:.1e}" + (f" **{mark}**" if mark else ""))
            lines.append(
                f"| {run} | {rows_run.iloc[0]['group']} | {int(rows_run['n'].max())} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    exact = summary[summary.in_group & (summary["max"] < EXACT_TOL)]
    approx = summary[summary.in_group & (summary["max"] >= EXACT_TOL)]
    outside = summary[~summary.in_group]
    lines += ["## Summary", ""]
    if len(exact):
        lines.append(
            f"- Exact (round-off): {len(exact)} (model, g) pairs, largest error over seeds "
            f"{exact['max'].max():.1e}: "
            + ", ".join(f"{r.experiment}/{r.run} {r.transform}" for r in exact.itertuples())
            + "."
        )
    if len(approx):
        lines.append(
            "- Approximate although g ∈ G: "
            + ", ".join(f"{r.experiment}/{r.run} {r.transform} {r.mean:.2g}" for r in approx.itertuples())
            + "."
        )
    if len(outside):
        lines.append(f"- Not built in (g ∉ G): errors from {outside['mean'].min():.2g} to {outside['mean'].max():.2g}.")
    return "\n".join(lines) + "\n"


def equivariance_figure(rows):
    """A heat map of log10 relative error: one row per (experiment, model), one column per g."""
    import matplotlib.pyplot as plt
    import numpy as np

    summary = summarise(rows)
    labels = [t.label for t in TRANSFORMS if t.label in set(summary["transform"])]
    models = list(dict.fromkeys(zip(summary["experiment"], summary["run"])))
    grid = np.full((len(models), len(labels)), np.nan)
    marks = np.full(grid.shape, "", dtype=object)
    for r in summary.itertuples():
        i, j = models.index((r.experiment, r.run)), labels.index(r.transform)
        grid[i, j] = np.log10(max(r.mean, 1e-12))
        marks[i, j] = f"{r.mean:.0e}" + ("*" if r.in_group else "")
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 3, 0.38 * len(models) + 2.0))
    im = ax.imshow(grid, cmap="viridis", vmin=-8, vmax=0, aspect="auto")
    for (i, j), text in np.ndenumerate(marks):
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if grid[i, j] < -4 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(models)), [f"{e}/{m}" for e, m in models], fontsize=8)
    fig.colorbar(im, ax=ax, label="log10 relative error")
    ax.set_title("‖f(g·x) − g·f(x)‖ / ‖f(x)‖   (* = g in the model's group)", fontsize=9)
    fig.tight_layout()
    return fig
