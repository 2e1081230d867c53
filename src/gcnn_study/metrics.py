"""Classification accuracy and the segmentation metrics of the study (plain torch).

The study's segmentation figure is not plain IoU but a detection-challenge style score: per image, the
fraction of the thresholds 0.50, 0.55, ..., 0.95 that the image's IoU strictly exceeds. The original
averaged it per batch with unequal batch sizes; `SegmentationMeter` averages per image instead, and also
reports raw IoU (per-image mean and dataset-level) and Dice so the score can be read against them.
"""

from __future__ import annotations

import torch

THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def count_correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Rows of `logits` (N, C) whose argmax equals the int label in `targets` (N,), as a 0-d tensor on their
    device (no host sync): summed over batches, it gives an exact accuracy whatever the batch sizes."""
    return (logits.argmax(dim=1) == targets).sum()


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows of `logits` (N, C) whose argmax equals the int label in `targets` (N,)."""
    return int(count_correct(logits, targets)) / len(targets)


class AccuracyMeter:
    """Accumulates correct predictions over batches of any size, on the batches' device.

    update(logits, labels) queues no host sync; compute() reads once: {"acc": fraction, "n": rows}.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._correct: torch.Tensor | int = 0
        self._n = 0
        self._pred: list[torch.Tensor] = []
        self._target: list[torch.Tensor] = []

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        pred = logits.detach().argmax(dim=1)
        self._correct = self._correct + (pred == labels).sum()
        self._n += len(labels)
        self._pred.append(pred)
        self._target.append(labels.detach())

    def per_image(self) -> dict[str, list]:
        """Each image's label and predicted class, in the order of the updates (a paired test's input)."""
        return {"target": torch.cat(self._target).tolist(), "pred": torch.cat(self._pred).tolist()}

    def compute(self) -> dict:
        if not self._n:
            raise ValueError("AccuracyMeter.compute() called before any update()")
        return {"acc": int(self._correct) / self._n, "n": self._n}


def _flat_bool(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) or (N, H, W) binary tensor -> bool (N, H*W); non-bool values count as 1 above 0.5."""
    x = x if x.dtype == torch.bool else x > 0.5
    return x.reshape(x.shape[0], -1)


def _counts(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: |pred & target|, |pred | target| and |pred| + |target| (int64)."""
    p, t = _flat_bool(pred), _flat_bool(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}")
    inter = (p & t).sum(dim=1)
    union = (p | t).sum(dim=1)
    total = p.sum(dim=1) + t.sum(dim=1)
    return inter, union, total


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den in float64, with 1.0 where den == 0 (both masks empty: a perfect prediction)."""
    num, den = num.double(), den.double()
    return torch.where(den > 0, num / den.clamp(min=1), torch.ones_like(num))


def iou_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of each image, float64 (N,). Convention: prediction and target both empty -> 1.0."""
    inter, union, _ = _counts(pred, target)
    return _ratio(inter, union)


def dice_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice 2|P&T| / (|P|+|T|) of each image, float64 (N,). Convention: both empty -> 1.0."""
    inter, _, total = _counts(pred, target)
    return _ratio(2 * inter, total)


def iou_score_per_image(iou: torch.Tensor) -> torch.Tensor:
    """The study's score per image: the fraction of THRESHOLDS that the IoU *strictly* exceeds.

    IoU 0.5 scores 0 (0.5 is not exceeded); IoU 0.76 scores 0.6 (0.50 ... 0.75 exceeded); IoU 1 scores 1.
    """
    thr = torch.tensor(THRESHOLDS, dtype=torch.float64, device=iou.device)
    return (iou.double().unsqueeze(-1) > thr).double().mean(dim=-1)


class SegmentationMeter:
    """Accumulates per-image IoU/Dice and total counts over batches of any size.

    update(logits, masks): prediction = logits > 0 (probability > 0.5); masks in {0, 1}.
    compute(): iou (mean per-image IoU), iou_dataset (total intersection / total union over the split),
    iou_score (mean per-image study score), dice (mean per-image Dice), n (images).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._iou: list[torch.Tensor] = []
        self._dice: list[torch.Tensor] = []
        self._inter: torch.Tensor | int = 0
        self._union: torch.Tensor | int = 0

    def update(self, logits: torch.Tensor, masks: torch.Tensor) -> None:
        # Everything stays on the batches' device until compute(): no host sync per batch.
        pred = logits.detach() > 0
        inter, union, total = _counts(pred, masks.detach())
        self._iou.append(_ratio(inter, union))
        self._dice.append(_ratio(2 * inter, total))
        self._inter = self._inter + inter.sum()
        self._union = self._union + union.sum()

    def per_image(self) -> dict[str, list]:
        """Each image's IoU, study score and Dice, in the order of the updates."""
        iou = torch.cat(self._iou).cpu()
        return {
            "iou": iou.tolist(),
            "iou_score": iou_score_per_image(iou).tolist(),
            "dice": torch.cat(self._dice).tolist(),
        }

    def compute(self) -> dict:
        if not self._iou:
            raise ValueError("SegmentationMeter.compute() called before any update()")
        iou, dice = torch.cat(self._iou).cpu(), torch.cat(self._dice).cpu()
        inter, union = int(self._inter), int(self._union)
        return {
            "iou": iou.mean().item(),
            "iou_dataset": inter / union if union else 1.0,
            "iou_score": iou_score_per_image(iou).mean().item(),
            "dice": dice.mean().item(),
            "n": int(iou.numel()),
        }
