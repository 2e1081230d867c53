"""The study's picture figures, each one function returning a matplotlib Figure from loaded models.

Figure 1  `feature_maps_figure`:  first-layer feature maps of a digit upright and rotated (P4CNN vs CNN).
Figure 2  `group_maps_figure`:    a SegNet's last layer before group pooling, one map per group element.
Figure 3  `predictions_figure`:   segmentations of test images and of their 90° rotations, rotated back.
"""

from __future__ import annotations

import numpy as np
import torch

from gcnn.equivariance import Transform, relative_error, transformed_pair
from gcnn.metrics import iou_per_image


def _element_label(group, a: int) -> str:
    return ("mirror, " if group.elements[a][0] else "") + f"{round(group.degrees(a))}°"


def _symmetric_turn(group) -> Transform:
    """The quarter turn when the group has it (or is trivial), else the half turn (p2, p6, …)."""
    quarter = Transform("90°", 90)
    if group.order == 1 or quarter.element(group) is not None:
        return quarter
    return Transform("180°", 180)


def _show(ax, image, title=None, **kw):
    ax.imshow(image, **kw)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


@torch.no_grad()
def feature_maps_figure(models: dict, image: torch.Tensor, n_maps: int = 4):
    """Rows: each model on the digit upright and turned (90°, or 180° for groups without it). Columns: the
    input, `n_maps` first-layer maps (one channel on each group element; a plain CNN's first channels), and
    |Φ(g·x) − g·Φ(x)| with its relative error. Rotating the input rotates a group model's maps and cycles them
    along the group axis, so the difference is zero; a CNN's maps are not a rotation of each other."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2 * len(models), n_maps + 2, figsize=(1.9 * (n_maps + 2), 3.9 * len(models)), squeeze=False
    )
    for k, (label, model) in enumerate(models.items()):
        device = next(model.parameters()).device
        group, turn = model.group, _symmetric_turn(model.group)
        degrees = turn.degrees
        x = image[:1].to(device)
        gx = turn.on_images(x)
        maps = model.feature_maps(x)
        maps_g, expected = transformed_pair(model.feature_maps, x, group, turn)  # Φ(g·x), g·Φ(x)
        if group.order > 1:
            channel = int(maps[0].flatten(1).var(dim=1).argmax())
            show = [
                (maps[0, channel, e], maps_g[0, channel, e], f"ch {channel}, {_element_label(group, e)}")
                for e in range(min(n_maps, group.order))
            ]
        else:
            channels = maps[0, :, 0].flatten(1).var(dim=1).argsort(descending=True)[:n_maps].tolist()
            show = [(maps[0, c, 0], maps_g[0, c, 0], f"channel {c}") for c in channels]
        vmax = float(torch.stack([torch.stack([u, v]) for u, v, _ in show]).abs().max())
        err = relative_error(maps_g, expected)
        diff = (maps_g - expected).abs()[0].amax(dim=(0, 1))
        for row, (inp, which) in enumerate(((x, 0), (gx, 1))):
            ax_row = axes[2 * k + row]
            _show(
                ax_row[0],
                inp[0].mean(0).cpu(),
                f"{label}: input" + (f" turned {degrees:.0f}°" if row else " upright"),
                cmap="gray",
            )
            for j, triple in enumerate(show):
                _show(ax_row[j + 1], triple[which].cpu(), triple[2], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            for j in range(len(show) + 1, n_maps + 1):
                ax_row[j].axis("off")
            if row:
                _show(
                    ax_row[-1],
                    diff.cpu(),
                    f"|Φ(gx) − g·Φ(x)| (all ch.)\nrel. error {err:.1e}",
                    cmap="magma",
                    vmin=0,
                    vmax=vmax,
                )
            else:
                ax_row[-1].axis("off")
    fig.suptitle(
        "First-layer feature maps: a group CNN's maps rotate and cycle along the group axis, a CNN's do not",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _rgb(image: torch.Tensor) -> np.ndarray:
    x = image.detach().float().cpu()
    x = x.permute(1, 2, 0) if x.shape[0] in (3, 4) else x[0]
    return x.clamp(0, 1).numpy()


@torch.no_grad()
def group_maps_figure(model: torch.nn.Module, image: torch.Tensor, mask: torch.Tensor, title: str | None = None):
    """The |G| maps of `model.group_map` (before group pooling) for one image, laid out by group element (rows:
    mirror, columns: rotation), beside the image and its mask, and the pooled logits and prediction."""
    import matplotlib.pyplot as plt

    device = next(model.parameters()).device
    group = model.group
    maps, logits = model.group_map(image[:1].to(device)), model(image[:1].to(device))
    rows, cols = (2 if group.mirror else 1), group.n_rotations
    fig, axes = plt.subplots(max(rows, 2), cols + 2, figsize=(2.1 * (cols + 2), 2.3 * max(rows, 2)), squeeze=False)
    vmax = float(maps.abs().max()) or 1.0
    gt = mask[0, 0].cpu().numpy()
    _show(axes[0, 0], _rgb(image[0]), "test image")
    _show(axes[1, 0], gt, "ground-truth mask", cmap="gray")
    for ax in axes[:, 1 : cols + 1].flat:
        ax.axis("off")
    for a in range(group.order):
        m, r = group.elements[a]
        ax = axes[m, 1 + r]
        ax.axis("on")
        _show(ax, maps[0, 0, a].cpu(), f"g = {_element_label(group, a)}", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    _show(axes[0, -1], logits[0, 0].cpu(), "pooled over G (max)", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    pred = (logits[0, 0] > 0).cpu()
    iou = float(iou_per_image(pred[None, None], mask[:1].cpu() > 0.5)[0])
    _show(axes[1, -1], _rgb(image[0]), f"prediction, IoU {iou:.2f}")
    axes[1, -1].contour(pred.numpy().astype(float), levels=[0.5], colors="red", linewidths=1)
    axes[1, -1].contour(gt, levels=[0.5], colors="yellow", linewidths=1)
    for ax in axes[2:, :].flat:
        ax.axis("off")
    fig.suptitle(
        title
        or f"{getattr(model, 'name', 'model')}: last layer before group pooling, one map per element "
        "of the group (logits; red > 0)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


@torch.no_grad()
def predictions_figure(models: dict, images: torch.Tensor, masks: torch.Tensor, not_shown: str | None = None):
    """Rows: each test image upright, then turned 90° with the prediction turned back. Columns: the input with
    its ground-truth contour (yellow), then each model's prediction (red contour, shaded) and its IoU.
    `not_shown` names the compared models missing from the figure, and why; it is printed under the title."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    k = len(images)
    fig, axes = plt.subplots(2 * k, len(models) + 1, figsize=(2.2 * (len(models) + 1), 2.3 * 2 * k), squeeze=False)
    for i in range(k):
        x, gt = images[i : i + 1], masks[i : i + 1]
        gt_np = gt[0, 0].cpu().numpy()
        for row, turn in enumerate((0, 1)):
            ax_row = axes[2 * i + row]
            shown_input = torch.rot90(x, turn, (-2, -1))
            _show(ax_row[0], _rgb(shown_input[0]), f"test image {i}" + (", turned 90°" if turn else ""))
            ax_row[0].contour(
                torch.rot90(gt, turn, (-2, -1))[0, 0].cpu().numpy(), levels=[0.5], colors="yellow", linewidths=1
            )
            for j, (label, model) in enumerate(models.items()):
                device = next(model.parameters()).device
                logits = model(shown_input.to(device)).cpu()
                pred = torch.rot90(logits, -turn, (-2, -1)) > 0  # back to the upright frame
                iou = float(iou_per_image(pred, gt.cpu() > 0.5)[0])
                ax = ax_row[j + 1]
                _show(ax, _rgb(x[0]), f"{label}{' (turned back)' if turn else ''}\nIoU {iou:.3f}")
                ax.imshow(
                    np.ma.masked_where(~pred[0, 0].numpy(), pred[0, 0].numpy()),
                    cmap=ListedColormap(["red"]),
                    alpha=0.3,
                    vmin=0,
                    vmax=1,
                )
                if pred.any():
                    ax.contour(pred[0, 0].numpy().astype(float), levels=[0.5], colors="red", linewidths=1)
                ax.contour(gt_np, levels=[0.5], colors="yellow", linewidths=1)
    title = "Predictions (red) and ground truth (yellow) on test images and on their 90° rotations, turned back"
    fig.suptitle(title + (f"\nNot shown: {not_shown}" if not_shown else ""), fontsize=10)
    fig.tight_layout()
    return fig
