"""PH2 dermoscopic lesion segmentation (Tables 3 and 4 of the study).

Reads the release's folder layout, `<root>/PH2 Dataset images/IMDnnn/IMDnnn_Dermoscopic_Image/IMDnnn.<ext>`
with the mask in `IMDnnn_lesion/IMDnnn_lesion.<ext>` (ext: bmp, png, jpg, jpeg; image sizes vary around
761-769 x 553-577 in the release). The original read the folders in unsorted `os.walk` order, so its split
was not portable: here ids are sorted, then permuted with a seed. Every malformed case raises `DataError`;
nothing is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gcnn_study.data.bundle import DataBundle, DataError, check_memory, first_line
from gcnn_study.data.transforms import ROTATIONS90, make_augment, rotations90

# Evaluated sets made of turned copies of one set's images: {split: copies per image}. Their images are not
# independent draws, so a test across images first averages each image's copies (gcnn_study.report.per_image).
COPIES = {"test_rotated": ROTATIONS90}

IMAGES_DIR = "PH2 Dataset images"
EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg")
# A mask counts as binary when at most this fraction of its pixels lies strictly between 10 % and 90 %
# of the grey range (JPEG ringing or a resized mask leaves a thin band of such pixels; a grey-level
# image given as a mask has most of its pixels there).
MAX_INTERMEDIATE_FRACTION = 0.01
DOWNLOAD_HINT = (
    "PH2 cannot be downloaded by a script: request it from its authors at "
    "https://www.fc.up.pt/addi/ph2%20database.html and unpack it as <data_dir>/PH2Dataset/ "
    "(containing the 'PH2 Dataset images' folder)"
)


def _one_file(folder: Path, stem: str) -> Path:
    """The single `<stem>.<ext>` file in `folder`; DataError when it is absent or ambiguous."""
    found = sorted(p for p in folder.glob(f"{stem}.*") if p.suffix.lower() in EXTENSIONS)
    if not found:
        raise DataError(f"{folder / stem}.<bmp|png|jpg|jpeg> is missing: restore it from the PH2 release")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(f"{folder} holds several candidates ({names}): keep exactly one")
    return found[0]


def find_ph2_pairs(root) -> list[tuple[str, Path, Path]]:
    """(id, image path, mask path) for every case folder under `<root>/PH2 Dataset images`, ids sorted.

    Checks the layout only (folders and file names); `load_ph2_arrays` checks the files' contents.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"PH2 folder {root} does not exist; {DOWNLOAD_HINT}")
    images = root / IMAGES_DIR
    if not images.is_dir():
        raise DataError(f"{images} does not exist (not the PH2 release layout); {DOWNLOAD_HINT}")
    pairs = []
    for case in sorted(p for p in images.iterdir() if p.is_dir()):
        cid = case.name
        image_dir, mask_dir = case / f"{cid}_Dermoscopic_Image", case / f"{cid}_lesion"
        if not image_dir.is_dir():
            raise DataError(f"{image_dir} is missing (case {cid} has no image folder): restore it from the PH2 release")
        if not mask_dir.is_dir():
            raise DataError(f"{mask_dir} is missing (image {cid} has no mask): restore it from the PH2 release")
        pairs.append((cid, _one_file(image_dir, cid), _one_file(mask_dir, f"{cid}_lesion")))
    if not pairs:
        raise DataError(f"{images} contains no case folders (IMDnnn); {DOWNLOAD_HINT}")
    return pairs


def _open(path: Path) -> Image.Image:
    """Fully decoded PIL image; DataError naming the file when it cannot be read."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except Exception as exc:  # PIL raises several types for truncated / foreign files
        raise DataError(
            f"{path} cannot be read as an image ({first_line(exc)}): replace it with the release's file"
        ) from None


def _mask_levels(where, mask: Image.Image) -> np.ndarray:
    """Grey mask as float32 in [0, 1]; DataError when it is not binary (rule: MAX_INTERMEDIATE_FRACTION).

    Masks stored as 0/255 (or mode "1") are divided by 255; masks stored as 0/1 labels (maximum 1)
    are taken as they are.
    """
    grey = np.asarray(mask.convert("L"), dtype=np.float32)
    grey /= 1.0 if grey.max() <= 1 else 255.0
    between = np.mean((grey > 0.1) & (grey < 0.9))
    if between > MAX_INTERMEDIATE_FRACTION:
        raise DataError(
            f"{where} is not a binary mask ({between:.1%} of pixels are intermediate grey levels): "
            "use the release's 0/255 lesion mask"
        )
    return grey


def resize_pair(image: Image.Image, mask: Image.Image, size: int, where) -> tuple[np.ndarray, np.ndarray]:
    """One case at size x size: (image float32 (3, size, size) in [0, 1], mask float32 (1, size, size) in {0, 1}).

    Image: RGB, bilinear (antialiased) resize. Mask: checked binary, bilinear resize, then > 0.5.
    `where` names the mask (its path) in the DataErrors.
    """
    if image.size != mask.size:
        raise DataError(
            f"{where} is {mask.size[0]}x{mask.size[1]} but its image is {image.size[0]}x{image.size[1]}: "
            "restore the matching files from the PH2 release"
        )
    grey = Image.fromarray(_mask_levels(where, mask))  # float32 -> mode "F"
    rgb = image.convert("RGB").resize((size, size), Image.BILINEAR)  # PIL antialiases when downscaling
    small = np.asarray(grey.resize((size, size), Image.BILINEAR))
    x = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
    m = (small > 0.5).astype(np.float32)[None]
    return x, m


def check_size_fits(n_images: int, n_test: int, size: int) -> None:
    """Refuse a dataset.size whose tensors would not fit in memory, before any is made: image and mask (4 float32
    channels) of every case, stacked once more, and the test cases in their four rotations."""
    check_memory(
        4 * 4 * size * size * (2 * n_images + 4 * n_test),
        f"dataset.size={size}: {n_images} cases of {size}×{size}",
        "lower dataset.size (the study's is 256, or 257 for Table 4)",
    )


def load_ph2_arrays(pairs, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images float32 (N, 3, size, size) in [0, 1] and masks float32 (N, 1, size, size) in {0, 1} (`resize_pair`)."""
    xs, ms = zip(*(resize_pair(_open(img), _open(msk), size, msk) for _, img, msk in pairs))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ms))


def split_ids(ids, seed: int, n_train: int, n_val: int, n_test: int) -> tuple[list[str], list[str], list[str]]:
    """Sorted ids, permuted by torch.randperm with a Generator seeded by `seed`, cut into train/val/test."""
    ids = sorted(ids)
    need = n_train + n_val + n_test
    if len(ids) < need:
        raise DataError(
            f"only {len(ids)} PH2 cases found but the split needs {need} "
            f"({n_train} train + {n_val} val + {n_test} test): lower the split sizes or add the missing cases"
        )
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen = [ids[i] for i in order]
    return chosen[:n_train], chosen[n_train : n_train + n_val], chosen[n_train + n_val : need]


def segmentation_bundle(
    ids: list[str],
    images: torch.Tensor,
    masks: torch.Tensor,
    name: str,
    split_seed: int,
    n_train: int,
    n_val: int,
    n_test: int,
    augment: bool,
    augment_seed: int,
    synthetic: bool = False,
    info: dict | None = None,
) -> DataBundle:
    """The segmentation DataBundle of the cases `ids` (row i of images / masks is case ids[i]): split by
    `split_ids`; evals "train", "val", "test" and "test_rotated" (the test set in all four 90-degree rotations)."""
    index = {cid: i for i, cid in enumerate(ids)}
    train_ids, val_ids, test_ids = split_ids(list(index), split_seed, n_train, n_val, n_test)

    def take(chosen):
        rows = torch.tensor([index[i] for i in chosen], dtype=torch.long)
        return images[rows], masks[rows]

    train, val, test = take(train_ids), take(val_ids), take(test_ids)
    return DataBundle(
        task="segmentation",
        name=name,
        train=train,
        evals={
            "train": train,
            "val": val,
            "test": test,
            "test_rotated": (rotations90(test[0]), rotations90(test[1])),
        },
        augment=make_augment(augment_seed) if augment else None,
        synthetic=synthetic,
        info={
            **(info or {}),
            "size": int(images.shape[-1]),
            "split": {"train": train_ids, "val": val_ids, "test": test_ids},
            "augment": augment,
        },
    )


def build_ph2(
    data_dir,
    size: int = 256,
    split_seed: int = 0,
    n_train: int = 100,
    n_val: int = 50,
    n_test: int = 50,
    augment: bool = False,
    augment_seed: int = 0,
    folder: str = "PH2Dataset",
    name: str = "ph2",
) -> DataBundle:
    """The PH2 segmentation bundle from `<data_dir>/<folder>`, every image resized to size x size.

    The SegNets fix the size: a multiple of 16 for the upsampling decoder (256), ≡ 1 mod 16 for the
    transposed-convolution one (257, set by experiment=table4). Every case is loaded (so every file is
    checked), then the split picks its ids.
    """
    root = Path(data_dir) / folder
    pairs = find_ph2_pairs(root)
    check_size_fits(len(pairs), n_test, size)
    images, masks = load_ph2_arrays(pairs, size)
    ids = [cid for cid, _, _ in pairs]
    return segmentation_bundle(
        ids, images, masks, name, split_seed, n_train, n_val, n_test, augment, augment_seed, info={"root": str(root)}
    )
