"""The study's picture figures, each computed as small arrays from a trained model, then drawn from the arrays.

Figure 1  `feature_maps_arrays`, `draw_feature_maps`: first-layer maps of a digit upright and turned (P4CNN, CNN).
Figure 2  `group_maps_arrays`, `draw_group_maps`: a SegNet's last layer before group pooling, one map per element.
Figure 3  `predictions_arrays`, `draw_predictions`: segmentations of test images and of their 90° turns, turned back.

The arrays are what a run records at its end (`figure_arrays`, kept by git in figures.npz beside metrics.json), so
that a clone draws the figures from the records alone; `feature_maps_figure` and the others compute and draw at once.
"""

from __future__ import annotations

import numpy as np
import torch

from gcnn.equivariance import Transform, relative_error, transformed_pair
from gcnn_study.metrics import iou_per_image

#: Test images whose predictions a SegNet records for Figure 3 (the first ones of its test split).
PREDICTION_IMAGES = 3
#: First-layer maps a classifier records for Figure 1.
FEATURE_MAPS = 4


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


def _rgb(image: torch.Tensor) -> np.ndarray:
    x = image.detach().float().cpu()
    x = x.permute(1, 2, 0) if x.shape[0] in (3, 4) else x[0]
    return x.clamp(0, 1).numpy()


def _uint8(image: torch.Tensor) -> np.ndarray:
    """An image as it is shown (`_rgb`), in 8 bits: what a record keeps of an input."""
    return np.round(_rgb(image) * 255).astype(np.uint8)


def _quantised(x: torch.Tensor, vmax: float) -> np.ndarray:
    """Maps shown on a ±vmax colour scale, as int8 steps of vmax / 127 (finer than the colour map's 256 colours)."""
    return torch.round(x.detach().float().cpu() / (vmax / 127)).clamp(-127, 127).to(torch.int8).numpy()


# ----------------------------------------------------------------------------------------------- Figure 1
@torch.no_grad()
def feature_maps_arrays(model: torch.nn.Module, image: torch.Tensor, n_maps: int = FEATURE_MAPS) -> dict:
    """What Figure 1 shows of one classifier: the digit upright and turned (90°, or 180° for groups without it),
    `n_maps` first-layer maps of each (one channel on each group element; a plain CNN's first channels by
    variance), and |Φ(g·x) − g·Φ(x)| over all channels with its relative error."""
    device = next(model.parameters()).device
    group, turn = model.group, _symmetric_turn(model.group)
    x = image[:1].to(device)
    maps = model.feature_maps(x)
    maps_g, expected = transformed_pair(model.feature_maps, x, group, turn)  # Φ(g·x), g·Φ(x)
    if group.order > 1:
        channel = int(maps[0].flatten(1).var(dim=1).argmax())
        shown = [(channel, e, f"ch {channel}, {_element_label(group, e)}") for e in range(min(n_maps, group.order))]
    else:
        channels = maps[0, :, 0].flatten(1).var(dim=1).argsort(descending=True)[:n_maps].tolist()
        shown = [(c, 0, f"channel {c}") for c in channels]
    pick = lambda m: torch.stack([m[0, c, e] for c, e, _ in shown]).float().cpu().numpy()  # noqa: E731
    return {
        "input": x[0].mean(0).float().cpu().numpy(),
        "input_turned": turn.on_images(x)[0].mean(0).float().cpu().numpy(),
        "maps": pick(maps),
        "maps_turned": pick(maps_g),
        "titles": np.array([t for _, _, t in shown]),
        "diff": (maps_g - expected).abs()[0].amax(dim=(0, 1)).float().cpu().numpy(),
        "rel_error": np.float64(relative_error(maps_g, expected)),
        "degrees": np.float64(turn.degrees),
    }


def draw_feature_maps(panels: dict, n_maps: int = FEATURE_MAPS):
    """Figure 1 from `feature_maps_arrays` of each model ({label: arrays}): rows, each model on the digit upright
    and turned; columns, the input, the maps, and the difference map. Rotating the input rotates a group model's
    maps and cycles them along the group axis, so the difference is zero; a CNN's maps are not a rotation of each
    other."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2 * len(panels), n_maps + 2, figsize=(1.9 * (n_maps + 2), 3.9 * len(panels)), squeeze=False
    )
    for k, (label, a) in enumerate(panels.items()):
        vmax = float(np.abs(np.stack([a["maps"], a["maps_turned"]])).max())
        for row, (inp, maps) in enumerate(((a["input"], a["maps"]), (a["input_turned"], a["maps_turned"]))):
            ax_row = axes[2 * k + row]
            title = f"{label}: input" + (f" turned {float(a['degrees']):.0f}°" if row else " upright")
            _show(ax_row[0], inp, title, cmap="gray")
            for j, (m, t) in enumerate(zip(maps, a["titles"])):
                _show(ax_row[j + 1], m, str(t), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            for j in range(len(maps) + 1, n_maps + 1):
                ax_row[j].axis("off")
            if row:
                text = f"|Φ(gx) − g·Φ(x)| (all ch.)\nrel. error {float(a['rel_error']):.1e}"
                _show(ax_row[-1], a["diff"], text, cmap="magma", vmin=0, vmax=vmax)
            else:
                ax_row[-1].axis("off")
    fig.suptitle(
        "First-layer feature maps: a group CNN's maps rotate and cycle along the group axis, a CNN's do not",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def feature_maps_figure(models: dict, image: torch.Tensor, n_maps: int = FEATURE_MAPS):
    """Figure 1 drawn from loaded models ({label: model}) on one digit."""
    return draw_feature_maps({label: feature_maps_arrays(m, image, n_maps) for label, m in models.items()}, n_maps)


# ----------------------------------------------------------------------------------------------- Figure 2
def lesion_index(masks: torch.Tensor) -> int:
    """The first image whose mask holds a lesion (0 when none does): the image Figure 2 shows."""
    has = (masks.flatten(1).sum(1) > 0).nonzero()
    return int(has[0, 0]) if len(has) else 0


@torch.no_grad()
def group_maps_arrays(model: torch.nn.Module, image: torch.Tensor, mask: torch.Tensor) -> dict:
    """What Figure 2 shows of a group SegNet on one image: its |G| maps before group pooling (int8 on a ±max
    scale), the pooled logits on the same scale, the image, its mask, the prediction's IoU and the group's layout."""
    device = next(model.parameters()).device
    group = model.group
    maps, logits = model.group_map(image[:1].to(device)), model(image[:1].to(device))
    vmax = float(maps.abs().max()) or 1.0
    pred = (logits[0, 0] > 0).cpu()
    return {
        "image": _uint8(image[0]),
        "mask": (mask[0, 0] > 0.5).cpu().numpy(),
        "maps": _quantised(maps[0, 0], vmax),
        "logits": _quantised(logits[0, 0], vmax),
        "vmax": np.float64(vmax),
        "pred": pred.numpy(),
        "iou": np.float64(iou_per_image(pred[None, None], mask[:1].cpu() > 0.5)[0]),
        "elements": np.array(group.elements, dtype=np.int64),  # (mirror, rotation) of each map
        "labels": np.array([_element_label(group, a) for a in range(group.order)]),
        "n_rotations": np.int64(group.n_rotations),
    }


def draw_group_maps(a: dict, title: str):
    """Figure 2 from `group_maps_arrays`: the maps laid out by group element (rows: mirror, columns: rotation),
    beside the image and its mask, the pooled logits and the prediction."""
    import matplotlib.pyplot as plt

    elements, cols = a["elements"], int(a["n_rotations"])
    rows = 2 if elements[:, 0].any() else 1
    fig, axes = plt.subplots(max(rows, 2), cols + 2, figsize=(2.1 * (cols + 2), 2.3 * max(rows, 2)), squeeze=False)
    scale = float(a["vmax"]) / 127
    vmax = float(a["vmax"])
    gt = a["mask"].astype(float)
    _show(axes[0, 0], a["image"], "test image")
    _show(axes[1, 0], gt, "ground-truth mask", cmap="gray")
    for ax in axes[:, 1 : cols + 1].flat:
        ax.axis("off")
    for k, (m, r) in enumerate(elements):
        ax = axes[m, 1 + r]
        ax.axis("on")
        _show(ax, a["maps"][k] * scale, f"g = {a['labels'][k]}", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    _show(axes[0, -1], a["logits"] * scale, "pooled over G (max)", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    _show(axes[1, -1], a["image"], f"prediction, IoU {float(a['iou']):.2f}")
    axes[1, -1].contour(a["pred"].astype(float), levels=[0.5], colors="red", linewidths=1)
    axes[1, -1].contour(gt, levels=[0.5], colors="yellow", linewidths=1)
    for ax in axes[2:, :].flat:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def group_maps_figure(model: torch.nn.Module, image: torch.Tensor, mask: torch.Tensor, title: str | None = None):
    """Figure 2 drawn from a loaded group SegNet on one image."""
    title = title or (
        f"{getattr(model, 'name', 'model')}: last layer before group pooling, one map per element of the group "
        "(logits; red > 0)"
    )
    return draw_group_maps(group_maps_arrays(model, image, mask), title)


# ----------------------------------------------------------------------------------------------- Figure 3
@torch.no_grad()
def predictions_arrays(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor) -> dict:
    """What Figure 3 shows of one SegNet: for each image, the prediction on it and on its 90° turn (turned back),
    with their IoUs, and the images and masks themselves."""
    device = next(model.parameters()).device
    preds, ious = [], []
    for i in range(len(images)):
        x, gt = images[i : i + 1], masks[i : i + 1].cpu() > 0.5
        row_p, row_i = [], []
        for turn in (0, 1):
            logits = model(torch.rot90(x, turn, (-2, -1)).to(device)).cpu()
            pred = torch.rot90(logits, -turn, (-2, -1)) > 0  # back to the upright frame
            row_p.append(pred[0, 0].numpy())
            row_i.append(float(iou_per_image(pred, gt)[0]))
        preds.append(row_p)
        ious.append(row_i)
    return {
        "images": np.stack([_uint8(x) for x in images]),
        "masks": (masks[:, 0] > 0.5).cpu().numpy(),
        "pred": np.array(preds, dtype=bool),
        "iou": np.array(ious, dtype=np.float64),
    }


def draw_predictions(panels: dict, not_shown: str | None = None):
    """Figure 3 from `predictions_arrays` of each model ({label: arrays}, the same images in each). Rows: each test
    image upright, then turned 90° with the prediction turned back. Columns: the input with its ground-truth
    contour (yellow), then each model's prediction (red contour, shaded) and its IoU. `not_shown` names the
    compared models missing from the figure, and why; it is printed under the title."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    first = next(iter(panels.values()))
    k = min(len(p["images"]) for p in panels.values())
    fig, axes = plt.subplots(2 * k, len(panels) + 1, figsize=(2.2 * (len(panels) + 1), 2.3 * 2 * k), squeeze=False)
    for i in range(k):
        image, gt = first["images"][i], first["masks"][i].astype(float)
        for turn in (0, 1):
            ax_row = axes[2 * i + turn]
            _show(ax_row[0], np.rot90(image, turn), f"test image {i}" + (", turned 90°" if turn else ""))
            ax_row[0].contour(np.rot90(gt, turn), levels=[0.5], colors="yellow", linewidths=1)
            for j, (label, a) in enumerate(panels.items()):
                pred = a["pred"][i, turn]
                ax = ax_row[j + 1]
                _show(ax, image, f"{label}{' (turned back)' if turn else ''}\nIoU {a['iou'][i, turn]:.3f}")
                ax.imshow(np.ma.masked_where(~pred, pred), cmap=ListedColormap(["red"]), alpha=0.3, vmin=0, vmax=1)
                if pred.any():
                    ax.contour(pred.astype(float), levels=[0.5], colors="red", linewidths=1)
                ax.contour(gt, levels=[0.5], colors="yellow", linewidths=1)
    title = "Predictions (red) and ground truth (yellow) on test images and on their 90° rotations, turned back"
    fig.suptitle(title + (f"\nNot shown: {not_shown}" if not_shown else ""), fontsize=10)
    fig.tight_layout()
    return fig


def predictions_figure(models: dict, images: torch.Tensor, masks: torch.Tensor, not_shown: str | None = None):
    """Figure 3 drawn from loaded SegNets ({label: model})."""
    return draw_predictions({label: predictions_arrays(m, images, masks) for label, m in models.items()}, not_shown)


# ----------------------------------------------------------------------------------------------- a run's record
def figure_arrays(model: torch.nn.Module, data) -> dict:
    """{"<figure>/<name>": array}: what Figures 1-3 need of one trained model, on fixed test images (the first
    digit; the first PREDICTION_IMAGES test images and the first with a lesion). The trainer keeps them in
    figures.npz, so that the figures are drawn from the records alone (`read_figure_arrays`)."""
    was_training = model.training
    model.eval()
    try:
        x, y = data.evals["test"]
        if data.task == "classification":
            out = {"figure1": feature_maps_arrays(model, x[:1])}
        else:
            k = min(PREDICTION_IMAGES, len(x))
            out = {"figure3": predictions_arrays(model, x[:k], y[:k])}
            if model.group.order > 1:
                i = lesion_index(y)
                out["figure2"] = {**group_maps_arrays(model, x[i : i + 1], y[i : i + 1]), "index": np.int64(i)}
                if i < k:  # the image is one of Figure 3's already: kept once (read_figure_arrays puts it back)
                    del out["figure2"]["image"], out["figure2"]["mask"]
        return {f"{fig}/{name}": value for fig, arrays in out.items() for name, value in arrays.items()}
    finally:
        model.train(was_training)


def read_figure_arrays(path, figure: str) -> dict | None:
    """The arrays of `figure` ("figure1", …) in a run's figures.npz, None when the run recorded none for it."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    prefix = f"{figure}/"
    found = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    if figure == "figure2" and found and "image" not in found:  # kept once, with Figure 3's images
        i = int(found["index"])
        found["image"], found["mask"] = arrays["figure3/images"][i], arrays["figure3/masks"][i]
    return found or None
