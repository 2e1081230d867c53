"""Transforms of whole image tensors, shared by the MNIST and PH2 builders.

Everything works on whole batches (index gathers, `grid_sample`), so the same code runs on a GPU, and every
random draw comes from a seeded `torch.Generator` (or a seed drawn from one), so every model and every seed
sees the same images. The one interpolated rotation is `gcnn.groups.rotate_images`; 90-degree rotations are
`torch.rot90` (exact).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gcnn.groups import rotate_images
from gcnn_study.data.bundle import Augment

PAD_MODES = ("edge", "zeros")  # pad_images' modes (dataset.pad_mode)
ROTATE_CHUNK = 8192  # images per grid_sample call: bounds the sampling grid's memory on 60k images


def pad_images(x: torch.Tensor, size: int = 33, mode: str = "edge") -> torch.Tensor:
    """Pad the last two axes to size x size (left/top (size - H) // 2, the rest right/bottom).

    The study edge-padded 28 -> 33 ("edge", replicate) so that every 3x3 / stride-2 / pad-1 pooling maps onto
    itself under rot90 (33 -> 17 -> 9 -> 5 -> 3); "zeros" is the alternative. Any dtype, any leading axes.
    """
    h, w = x.shape[-2:]
    if size < max(h, w):
        raise ValueError(f"pad size {size} is smaller than the images ({h}x{w})")
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")
    top, left = (size - h) // 2, (size - w) // 2
    if mode == "edge":  # gather with clamped indices: exact, dtype-agnostic, one op
        rows = (torch.arange(size, device=x.device) - top).clamp(0, h - 1)
        cols = (torch.arange(size, device=x.device) - left).clamp(0, w - 1)
        return x[..., rows[:, None], cols[None, :]]
    out = x.new_zeros(*x.shape[:-2], size, size)
    out[..., top : top + h, left : left + w] = x
    return out


def random_rotations(n: int, seed: int) -> torch.Tensor:
    """n angles (float64, radians) uniform in [0, 2π), drawn from `torch.Generator().manual_seed(seed)`."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.remainder(torch.rand(n, generator=gen, dtype=torch.float64) * (2 * math.pi), 2 * math.pi)


def rotate_in_chunks(x: torch.Tensor, angles: torch.Tensor, mode: str) -> torch.Tensor:
    """`gcnn.groups.rotate_images` (zero fill), ROTATE_CHUNK images per call, so 60,000 images do not need one
    60,000-image sampling grid. Each image is sampled on its own, so the result does not depend on the chunks."""
    if len(x) <= ROTATE_CHUNK:
        return rotate_images(x, angles, mode=mode)
    chunks = range(0, len(x), ROTATE_CHUNK)
    return torch.cat([rotate_images(x[i : i + ROTATE_CHUNK], angles[i : i + ROTATE_CHUNK], mode=mode) for i in chunks])


def shift_images(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Shift each image (B, C, H, W) by whole pixels (dy down, dx right), zero fill: a nearest grid_sample."""
    b, _, h, w = x.shape
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = -2 * dx.to(x) / w, -2 * dy.to(x) / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def transformed_test_set(
    x: torch.Tensor,
    seed: int,
    max_degrees: float = 180.0,
    flip_p: float = 0.5,
    translate: float = 0.0,
    mode: str = "nearest",
) -> torch.Tensor:
    """Table 1's "+transforms" test set, as run: float images (N, C, H, W) in [0, 1] -> the same shape.

    Per image, in this order: a rotation uniform in [-max_degrees, +max_degrees] (`mode` interpolation, zero
    fill), a horizontal flip with probability flip_p, and (off by default, as run; the text mentions it) a
    shift by whole pixels uniform in [-round(translate * W), +round(translate * W)] on each axis, zero fill.
    All draws come from one seeded generator in a fixed order (angles, flips, shifts), so every model sees the
    same images and switching translation on leaves the rotations and flips unchanged.
    """
    if x.dim() != 4:
        raise ValueError(f"transformed_test_set expects (N, C, H, W), got {tuple(x.shape)}")
    n, w = len(x), x.shape[-1]
    gen = torch.Generator().manual_seed(int(seed))
    angles = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * math.radians(max_degrees)
    flips = torch.rand(n, generator=gen, dtype=torch.float64) < flip_p
    out = rotate_in_chunks(x, angles, mode) if max_degrees else x.clone()
    out = torch.where(flips.to(x.device)[:, None, None, None], torch.flip(out, dims=(-1,)), out)
    m = int(round(translate * w))
    if m > 0:
        dy, dx = torch.randint(-m, m + 1, (2, n), generator=gen)
        out = shift_images(out, dy.to(x.device), dx.to(x.device))
    return out


ROTATIONS90 = 4  # rotations90 stacks this many blocks: row r of its output is a turn of image r mod (rows / 4)


def rotations90(x: torch.Tensor) -> torch.Tensor:
    """All four 90-degree rotations of every image, one block per k: [k=0 all, k=1 all, k=2 all, k=3 all]."""
    return torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(ROTATIONS90)])


def make_augment(seed: int = 0) -> Augment:
    """Random flips and 90-degree rotations (together: the whole dihedral group D4) of images and masks.

    The returned `(images, masks, generator) -> (images, masks)` draws one seed from `generator` per call,
    so a batch's transforms depend only on the generator's state; `seed` only seeds the Compose before its
    first call. Images must be square (a rotation swaps H and W). Masks are moved exactly, so stay binary.
    """
    import albumentations as A  # imported here: only PH2 augmentation needs it

    compose = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5)], seed=seed)

    def augment(images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator):
        compose.set_random_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        xs = images.detach().cpu().permute(0, 2, 3, 1).numpy()
        ms = masks.detach().cpu()[:, 0].numpy()
        out_x, out_m = [], []
        for x, m in zip(xs, ms):
            res = compose(image=x, mask=m)
            out_x.append(np.ascontiguousarray(res["image"]))
            out_m.append(np.ascontiguousarray(res["mask"]))
        x = torch.from_numpy(np.stack(out_x)).permute(0, 3, 1, 2).contiguous()
        m = torch.from_numpy(np.stack(out_m)).unsqueeze(1)
        return x.to(images.dtype), m.to(masks.dtype)

    return augment
