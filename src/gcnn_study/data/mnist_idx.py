"""The official MNIST digits (60,000 / 10,000) from their four IDX files, gzip-compressed or not."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import torch

from gcnn_study.data.bundle import DataError, first_line

MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def read_idx(path, magic: int) -> torch.Tensor:
    """An IDX file (optionally gzip-compressed) as a uint8 tensor; DataError naming the file when corrupt.

    Parsed here rather than through torchvision because torchvision wants the uncompressed files, and a
    user who downloaded the four `.gz` files by hand (as ../shared/data has them) has only those.
    magic: 2051 for images (N, rows, cols), 2049 for labels (N,).
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} cannot be read ({first_line(exc)}): delete it and download it again") from None
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


def _mnist_paths(raw: Path) -> dict[str, Path] | None:
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
                reason = f"download failed: {first_line(exc)}"
            paths = _mnist_paths(raw)
        if paths is None:
            names = ", ".join(f"{stem}.gz" for stem in MNIST_FILES.values())
            retry = "run again with internet access" if download else "set dataset.download=true with internet access"
            raise DataError(
                f"MNIST is missing in {raw} ({reason or 'downloaded files not found'}): put {names} there "
                f"(from https://ossci-datasets.s3.amazonaws.com/mnist/) or {retry}"
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
