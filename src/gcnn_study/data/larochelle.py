"""Larochelle et al. 2007's MNIST variants, the datasets the study's notebooks ran: `.amat` reader and download.

basic    <data_dir>/mnist_larochelle/mnist_train.amat + mnist_test.amat                    12k / 50k
rotated  <data_dir>/mnist_rotation_new/mnist_all_rotation_normalized_float_{train_valid,test}.amat
"""

from __future__ import annotations

import shutil
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import torch

from gcnn_study.data.bundle import DataError, first_line

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
DOWNLOAD_TIMEOUT_S = 20


def read_amat(path, transpose: bool = False):
    """(x float32 (N, 28, 28) in [0, 1], y int64 (N,)) from a Larochelle `.amat` file; DataError naming it when
    malformed.

    Each row: 784 floats in [0, 1] (row-major 28x28) then the label written as a float. The pixels are kept as
    the file stores them (float32, clipped to [0, 1]), not rounded to bytes. The rotated set
    (`mnist_rotation_new`) is reported to store each image transposed relative to MNIST; the study's notebooks
    and Cohen & Welling's code reshape the rows as they are, so that is the default here. `transpose=True`
    swaps the two image axes (for uniformly rotated digits a transpose is only a mirror).
    Parsed with pandas' C reader (numpy.loadtxt takes minutes on the 50,000-row test file).
    """
    import pandas as pd

    path = Path(path)
    try:
        arr = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.float32, engine="c").to_numpy()
    except Exception as exc:  # empty file, ragged rows, text in a number column
        raise DataError(
            f"{path} is not a valid .amat file ({first_line(exc)}): delete it and download it again"
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
    x = torch.from_numpy(np.clip(pixels, 0, 1)).reshape(-1, 28, 28)
    if transpose:
        x = x.transpose(1, 2)
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


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
    """(train_x float32 (12000, 28, 28), train_y, test_x (50000, ...), test_y): the datasets the study ran.

    The train files hold train + validation (10,000 + 2,000), used together as the notebooks did.
    transpose: see `read_amat` (default False: rows reshaped as stored, as run).
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
                reason = f"download failed: {first_line(exc)}"
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise DataError(
                f"{' and '.join(missing)} missing in {folder} ({reason}): download {LAROCHELLE_URL + zip_name}, "
                f"unzip it and put {train_name} and {test_name} there"
            )
    train_x, train_y = read_amat(folder / train_name, transpose)
    test_x, test_y = read_amat(folder / test_name, transpose)
    return train_x, train_y, test_x, test_y
