"""A small PH2-shaped synthetic dataset, so the segmentation pipeline runs without the real data.

The bundle is built from the generated arrays, resized exactly as PH2's loader resizes its files
(`gcnn_study.data.ph2.resize_pair`). `write_synthetic_ph2` can also write the cases in the release's folder layout
(lossless PNG), so that PH2's loader reads back the very same bundle (`write_files=True`). Each case is
a skin-coloured background with a gradient and vignetting, an irregular pigmented lesion (a blob whose
polar radius has a few random Fourier terms, darker brown with texture), a few dark hairs across, and
mild noise. The lesion mask is the blob. Everything follows from the seed (numpy default_rng).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from gcnn_study.data.bundle import DataBundle, DataError
from gcnn_study.data.ph2 import IMAGES_DIR, check_size_fits, resize_pair, segmentation_bundle

COMPLETE = ".complete"  # written last: its parameters say the tree is whole
GENERATED = ".synthetic"  # written first: says the tree belongs to this generator and may be rewritten


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int = 6) -> np.ndarray:
    """Low-frequency texture in [-1, 1]: a small random grid upsampled bicubically."""
    grid = rng.uniform(-1, 1, size=(cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC)).clip(-1, 1)


def _lesion_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Bool (h, w) blob: radius r(theta) = r0 (1 + sum_k a_k cos(k theta + phi_k)), k = 2..5."""
    cy = h / 2 + rng.uniform(-0.1, 0.1) * h
    cx = w / 2 + rng.uniform(-0.1, 0.1) * w
    r0 = rng.uniform(0.2, 0.34) * min(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = np.arctan2(yy - cy, xx - cx)
    radius = np.ones_like(theta)
    for k in range(2, 6):
        radius += rng.uniform(0.0, 0.08) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(yy - cy, xx - cx) < r0 * radius


def _hairs(rng: np.random.Generator, image: Image.Image) -> None:
    """Draw 1-4 dark quadratic-Bezier hairs across the image in place."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    t = np.linspace(0, 1, 24)[:, None]
    for _ in range(int(rng.integers(1, 5))):
        p0, p1, p2 = rng.uniform(0, 1, size=(3, 2)) * [w, h]
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        shade = int(rng.integers(20, 60))
        draw.line([tuple(p) for p in pts], fill=(shade, shade - 10, shade - 20), width=int(rng.integers(1, 3)))


def synthetic_case(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """One (image uint8 (h, w, 3), mask uint8 (h, w) in {0, 255}) pair; the size varies by +-2 px."""
    h = height + int(rng.integers(-2, 3))
    w = width + int(rng.integers(-2, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    skin = np.array([225, 180, 160], np.float32) + rng.uniform(-15, 15, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5))[..., None]
    image = skin + 30 * ramp + 6 * _smooth_noise(rng, h, w)[..., None]

    mask = _lesion_mask(rng, h, w)
    brown = np.array([110, 65, 40], np.float32) * rng.uniform(0.7, 1.2)
    texture = 1 + 0.25 * _smooth_noise(rng, h, w, cells=10)[..., None]
    image = np.where(mask[..., None], brown * texture, image)

    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)[..., None]
    image = image * (1 - rng.uniform(0.5, 0.9) * r2)  # vignetting: darker corners
    image = image + rng.normal(0, 3, size=image.shape)
    pil = Image.fromarray(image.clip(0, 255).astype(np.uint8))
    _hairs(rng, pil)
    return np.asarray(pil), mask.astype(np.uint8) * 255


def synthetic_cases(n_images: int, width: int, height: int, seed: int):
    """(id, image uint8 (h, w, 3), mask uint8 (h, w) in {0, 255}) for IMD001 ... IMD<n_images>, from one seeded rng."""
    rng = np.random.default_rng(seed)
    for i in range(1, n_images + 1):
        yield (f"IMD{i:03d}", *synthetic_case(rng, width, height))


def write_synthetic_ph2(
    root, n_images: int = 40, width: int = 96, height: int = 72, seed: int = 0, ext: str = "png"
) -> Path:
    """Write the synthetic tree `root/PH2 Dataset images/IMDnnn/...` and return `root`.

    Skipped when `root/.complete` records the same parameters. Otherwise the tree is rewritten from
    scratch (a half-written or differently-parameterised one included) and `.complete` is written last.
    A tree this generator did not write (no `.synthetic` flag) is never overwritten.
    """
    if ext not in ("png", "bmp"):
        raise ValueError(f"ext must be 'png' or 'bmp' (lossless, so masks stay binary), got {ext!r}")
    root = Path(root)
    params = {"n_images": n_images, "width": width, "height": height, "seed": seed, "ext": ext}
    marker, flag, images = root / COMPLETE, root / GENERATED, root / IMAGES_DIR
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return root
    if images.exists() and not flag.is_file():
        raise DataError(f"{images} exists but was not written by write_synthetic_ph2: choose another folder")
    marker.unlink(missing_ok=True)
    if images.exists():
        shutil.rmtree(images)
    root.mkdir(parents=True, exist_ok=True)
    flag.write_text("generated by gcnn_study.data.ph2_synthetic.write_synthetic_ph2\n")

    for cid, image, mask in synthetic_cases(n_images, width, height, seed):
        (images / cid / f"{cid}_Dermoscopic_Image").mkdir(parents=True)
        (images / cid / f"{cid}_lesion").mkdir(parents=True)
        Image.fromarray(image).save(images / cid / f"{cid}_Dermoscopic_Image" / f"{cid}.{ext}")
        Image.fromarray(mask).save(images / cid / f"{cid}_lesion" / f"{cid}_lesion.{ext}")
    marker.write_text(json.dumps(params))
    return root


def build_ph2_synthetic(
    data_dir,
    n_images: int = 60,
    width: int = 96,
    height: int = 72,
    generator_seed: int = 0,
    size: int = 32,
    split_seed: int = 0,
    n_train: int = 40,
    n_val: int = 10,
    n_test: int = 10,
    augment: bool = False,
    augment_seed: int = 0,
    write_files: bool = False,
) -> DataBundle:
    """The synthetic segmentation bundle, built from the generated arrays in memory (nothing is written).

    write_files: also write (once) the tree under `<data_dir>/ph2_synthetic/<params>/PH2Dataset`, e.g. to look
    at the images; `build_ph2` on that folder gives the same tensors.
    """
    check_size_fits(n_images, n_test, size)
    root = None
    if write_files:
        base = Path(data_dir) / "ph2_synthetic" / f"n{n_images}_{width}x{height}_s{generator_seed}"
        root = write_synthetic_ph2(base / "PH2Dataset", n_images, width, height, generator_seed)
    ids, xs, ms = [], [], []
    for cid, image, mask in synthetic_cases(n_images, width, height, generator_seed):
        x, m = resize_pair(Image.fromarray(image), Image.fromarray(mask), size, f"synthetic {cid}_lesion")
        ids.append(cid)
        xs.append(x)
        ms.append(m)
    generator = {"n_images": n_images, "width": width, "height": height, "seed": generator_seed}
    return segmentation_bundle(
        ids,
        torch.from_numpy(np.stack(xs)),
        torch.from_numpy(np.stack(ms)),
        "ph2_synthetic",
        split_seed,
        n_train,
        n_val,
        n_test,
        augment,
        augment_seed,
        synthetic=True,
        info={"root": None if root is None else str(root), "synthetic": True, "generator": generator},
    )
