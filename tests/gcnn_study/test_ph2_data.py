"""PH2 loading, splitting, rotations, augmentation, the synthetic generator and the Hydra configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from gcnn_study.data.bundle import DataBundle, DataError
from gcnn_study.data.ph2 import build_ph2, find_ph2_pairs, load_ph2_arrays, split_ids
from gcnn_study.data.ph2_synthetic import build_ph2_synthetic, write_synthetic_ph2
from gcnn_study.data.transforms import make_augment, rotations90


def write_case(images_dir: Path, cid: str, w: int, h: int, ext: str, seed: int) -> tuple[Path, Path]:
    """One release-layout case: random RGB image and an elliptic 0/255 lesion mask of the same size."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    lesion = ((yy - h / 2) / (h / 3)) ** 2 + ((xx - w / 2) / (w / 4)) ** 2 < 1
    image_dir, mask_dir = images_dir / cid / f"{cid}_Dermoscopic_Image", images_dir / cid / f"{cid}_lesion"
    image_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    image_path, mask_path = image_dir / f"{cid}.{ext}", mask_dir / f"{cid}_lesion.{ext}"
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(image_path)
    Image.fromarray(lesion.astype(np.uint8) * 255).save(mask_path)
    return image_path, mask_path


def make_tree(root: Path, n: int = 12) -> Path:
    """A release-layout tree with .bmp and .png cases of different sizes; case ids written out of order."""
    images = root / "PH2 Dataset images"
    for i in reversed(range(1, n + 1)):
        write_case(images, f"IMD{i:03d}", 30 + i % 3, 22 + i % 4, "bmp" if i % 2 else "png", seed=i)
    return root


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_tree(tmp_path / "PH2Dataset")


def small(data_dir, **kw) -> DataBundle:
    args = dict(size=16, n_train=6, n_val=3, n_test=3)
    return build_ph2(data_dir, **{**args, **kw})


# --- layout and loading -------------------------------------------------------------------------


def test_find_pairs_sorted_and_mixed_extensions(tree):
    pairs = find_ph2_pairs(tree)
    assert [cid for cid, _, _ in pairs] == [f"IMD{i:03d}" for i in range(1, 13)]
    assert {p.suffix for _, p, _ in pairs} == {".bmp", ".png"}
    assert all(m.name == f"{cid}_lesion{m.suffix}" for cid, _, m in pairs)


def test_build_shapes_binary_and_split(tree):
    b = small(tree.parent)
    assert b.task == "segmentation" and b.name == "ph2" and not b.synthetic and b.augment is None
    assert b.in_channels == 3
    x, m = b.train
    assert x.shape == (6, 3, 16, 16) and m.shape == (6, 1, 16, 16)
    assert x.dtype == m.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    for name, n in [("train", 6), ("val", 3), ("test", 3), ("test_rotated", 12)]:
        xs, ms = b.evals[name]
        assert len(xs) == len(ms) == n
        assert set(ms.unique().tolist()) == {0.0, 1.0}
    split = b.info["split"]
    ids = split["train"] + split["val"] + split["test"]
    assert sorted(ids) == [f"IMD{i:03d}" for i in range(1, 13)]
    assert b.info["size"] == 16 and b.info["augment"] is False


def test_split_rows_match_loaded_ids(tree):
    b = small(tree.parent)
    pairs = {cid: (img, msk) for cid, img, msk in find_ph2_pairs(tree)}
    test_ids = b.info["split"]["test"]
    x, m = load_ph2_arrays([(cid, *pairs[cid]) for cid in test_ids], 16)
    assert torch.equal(b.evals["test"][0], x) and torch.equal(b.evals["test"][1], m)


def test_split_reproducible_and_seeded():
    ids = [f"IMD{i:03d}" for i in range(20)]
    a = split_ids(ids, 0, 10, 5, 5)
    assert a == split_ids(list(reversed(ids)), 0, 10, 5, 5)  # sorted before permuting
    assert a != split_ids(ids, 1, 10, 5, 5)
    assert sorted(a[0] + a[1] + a[2]) == ids


def test_split_too_few_ids():
    with pytest.raises(DataError, match="only 3 PH2 cases"):
        split_ids(["a", "b", "c"], 0, 2, 1, 1)


def test_rotated_test_blocks(tree):
    b = small(tree.parent)
    x, m = b.evals["test"]
    xr, mr = b.evals["test_rotated"]
    for k in range(4):
        assert torch.equal(xr[3 * k : 3 * k + 3], torch.rot90(x, k, dims=(-2, -1)))
        assert torch.equal(mr[3 * k : 3 * k + 3], torch.rot90(m, k, dims=(-2, -1)))
    assert torch.equal(rotations90(x)[:3], x)


def test_size_is_the_loaded_size(tree):
    b = small(tree.parent, size=17)
    assert b.train[0].shape[-2:] == (17, 17) and b.evals["test_rotated"][1].shape[-2:] == (17, 17)
    assert b.info["size"] == 17


# --- bad inputs -----------------------------------------------------------------------------------


def test_missing_root_folder(tmp_path):
    with pytest.raises(DataError) as err:
        build_ph2(tmp_path)
    msg = str(err.value)
    assert "PH2Dataset" in msg and "ph2%20database" in msg and "\n" not in msg


def test_missing_images_folder(tmp_path):
    (tmp_path / "PH2Dataset").mkdir()
    with pytest.raises(DataError, match="PH2 Dataset images"):
        build_ph2(tmp_path)


def test_no_cases(tmp_path):
    (tmp_path / "PH2Dataset" / "PH2 Dataset images").mkdir(parents=True)
    with pytest.raises(DataError, match="no case folders"):
        build_ph2(tmp_path)


def test_image_without_mask(tree):
    path = tree / "PH2 Dataset images" / "IMD004" / "IMD004_lesion" / "IMD004_lesion.png"
    path.unlink()
    with pytest.raises(DataError, match="IMD004_lesion"):
        small(tree.parent)


def test_mask_without_image_folder(tree):
    folder = tree / "PH2 Dataset images" / "IMD005" / "IMD005_Dermoscopic_Image"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    with pytest.raises(DataError, match="IMD005_Dermoscopic_Image"):
        small(tree.parent)


def test_corrupt_image(tree):
    path = tree / "PH2 Dataset images" / "IMD003" / "IMD003_Dermoscopic_Image" / "IMD003.bmp"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError) as err:
        small(tree.parent)
    assert "IMD003.bmp" in str(err.value) and "\n" not in str(err.value)


def test_non_binary_mask(tree):
    path = tree / "PH2 Dataset images" / "IMD006" / "IMD006_lesion" / "IMD006_lesion.png"
    w, h = Image.open(path).size
    Image.fromarray(np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))).save(path)
    with pytest.raises(DataError, match="IMD006_lesion.png.*not a binary mask"):
        small(tree.parent)


def test_mask_size_mismatch(tree):
    path = tree / "PH2 Dataset images" / "IMD002" / "IMD002_lesion" / "IMD002_lesion.png"
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(path)
    with pytest.raises(DataError, match="IMD002_lesion.png"):
        small(tree.parent)


# --- augmentation ---------------------------------------------------------------------------------


def test_augment_aligned_binary_deterministic():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(16, 3, 12, 12, generator=g)
    masks = (images[:, :1] > 0.5).float()  # mask derived from the image: alignment is checkable
    augment = make_augment(0)
    xa, ma = augment(images, masks, torch.Generator().manual_seed(5))
    assert xa.shape == images.shape and ma.shape == masks.shape
    assert xa.dtype == torch.float32 and ma.dtype == torch.float32
    assert torch.equal(ma, (xa[:, :1] > 0.5).float())
    assert set(ma.unique().tolist()) <= {0.0, 1.0}
    # each output is one of the 8 dihedral transforms of its input, and several different ones occur
    used = set()
    for x, y in zip(images, xa):
        dihedral = [torch.rot90(f, k, dims=(-2, -1)) for f in (x, x.flip(-1)) for k in range(4)]
        hits = [i for i, d in enumerate(dihedral) if torch.equal(d, y)]
        assert len(hits) == 1
        used.add(hits[0])
    assert len(used) >= 3
    xb, mb = make_augment(0)(images, masks, torch.Generator().manual_seed(5))
    assert torch.equal(xa, xb) and torch.equal(ma, mb)
    xc, _ = augment(images, masks, torch.Generator().manual_seed(6))
    assert not torch.equal(xa, xc)


def test_build_with_augment(tree):
    b = small(tree.parent, augment=True, augment_seed=1)
    assert b.info["augment"] is True and callable(b.augment)
    x, m = b.augment(*b.train, torch.Generator().manual_seed(0))
    assert x.shape == b.train[0].shape and set(m.unique().tolist()) <= {0.0, 1.0}


# --- synthetic ------------------------------------------------------------------------------------


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_synthetic_deterministic(tmp_path):
    kw = dict(n_images=4, width=32, height=24)
    a = _files(write_synthetic_ph2(tmp_path / "a", seed=0, **kw))
    b = _files(write_synthetic_ph2(tmp_path / "b", seed=0, **kw))
    c = _files(write_synthetic_ph2(tmp_path / "c", seed=1, **kw))
    assert len(a) == 8 and a == b
    assert a.keys() == c.keys() and a != c
    sizes = {Image.open(tmp_path / "a" / k).size for k in a}
    assert len(sizes) > 1 and all(30 <= w <= 34 and 22 <= h <= 26 for w, h in sizes)


def test_synthetic_rewrites_only_when_needed(tmp_path):
    root = write_synthetic_ph2(tmp_path / "s", n_images=3, width=24, height=20)
    marker = root / ".complete"
    stamp = marker.stat().st_mtime_ns
    write_synthetic_ph2(root, n_images=3, width=24, height=20)
    assert marker.stat().st_mtime_ns == stamp  # same parameters: skipped
    write_synthetic_ph2(root, n_images=2, width=24, height=20)
    assert [cid for cid, _, _ in find_ph2_pairs(root)] == ["IMD001", "IMD002"]
    marker.unlink()  # a half-written tree is rewritten whole
    write_synthetic_ph2(root, n_images=2, width=24, height=20)
    assert marker.is_file()


def test_synthetic_never_overwrites_foreign_tree(tree):
    with pytest.raises(DataError, match="not written by write_synthetic_ph2"):
        write_synthetic_ph2(tree, n_images=2)


def test_build_synthetic(tmp_path):
    b = build_ph2_synthetic(tmp_path, n_images=12, width=40, height=32, size=24, n_train=6, n_val=3, n_test=3)
    assert b.synthetic and b.info["synthetic"] and b.name == "ph2_synthetic"
    assert b.train[0].shape == (6, 3, 24, 24) and b.evals["test_rotated"][0].shape == (12, 3, 24, 24)
    assert not any(tmp_path.iterdir()) and b.info["root"] is None  # built in memory: nothing written
    masks = torch.cat([b.evals[k][1] for k in ("train", "val", "test")])
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    fraction = masks.mean(dim=(1, 2, 3))
    assert bool(((fraction > 0.05) & (fraction < 0.7)).all())


@pytest.mark.parametrize("size", [24, 25])
def test_synthetic_files_read_back_through_the_ph2_loader_give_the_same_bundle(tmp_path, size):
    kw = dict(n_images=12, width=40, height=32, size=size, n_train=6, n_val=3, n_test=3, split_seed=2)
    b = build_ph2_synthetic(tmp_path, write_files=True, **kw)
    tree = tmp_path / "ph2_synthetic" / "n12_40x32_s0"
    assert (tree / "PH2Dataset" / ".complete").is_file() and b.info["root"] == str(tree / "PH2Dataset")
    loaded = build_ph2(tree, **{k: v for k, v in kw.items() if k not in ("n_images", "width", "height")})
    assert b.info["split"] == loaded.info["split"] and b.info["size"] == loaded.info["size"] == size
    assert b.train[0].dtype == loaded.train[0].dtype == torch.float32
    for split in ("train", "val", "test", "test_rotated"):
        assert all(torch.equal(a, c) for a, c in zip(b.evals[split], loaded.evals[split])), split
    in_memory = build_ph2_synthetic(tmp_path / "other", **kw)  # without files: the very same tensors
    assert all(torch.equal(a, c) for a, c in zip(b.train, in_memory.train))


# --- Hydra configs --------------------------------------------------------------------------------


def test_hydra_ph2_synthetic_instantiates(tmp_path, make_cfg):
    tiny = dict(n_images=8, width=32, height=24, size=17, n_train=4, n_val=2, n_test=2, augment=True)
    overrides = [f"dataset.{k}={v}" for k, v in tiny.items()]
    cfg = make_cfg("dataset=ph2_synthetic", f"paths.data_dir={tmp_path}", "seed=7", *overrides)
    assert cfg.dataset.augment_seed == 7 and not cfg.dataset.write_files
    assert "odd_size" not in cfg.dataset  # one fact, one name: dataset.size is the size loaded
    b = instantiate(cfg.dataset)
    assert isinstance(b, DataBundle) and b.synthetic
    assert b.train[0].shape == (4, 3, 17, 17) and b.augment is not None
    assert not any(tmp_path.iterdir())


def test_hydra_ph2_defaults(tmp_path, make_cfg):
    cfg = make_cfg("dataset=ph2", f"paths.data_dir={tmp_path}")
    resolved = OmegaConf.to_container(cfg.dataset, resolve=True)
    assert resolved["_target_"] == "gcnn_study.data.ph2.build_ph2"
    assert resolved["data_dir"] == str(tmp_path) and "odd_size" not in resolved
    assert (resolved["size"], resolved["n_train"], resolved["n_val"], resolved["n_test"]) == (256, 100, 50, 50)
    # the synthetic default must fit the 4-level upsampling SegNet exactly (a multiple of 2^4)
    assert make_cfg("dataset=ph2_synthetic").dataset.size % 16 == 0
    with pytest.raises(InstantiationException) as err:  # instantiate reaches the loader; Hydra wraps errors
        instantiate(cfg.dataset)
    assert isinstance(err.value.__cause__, DataError) and "PH2Dataset" in str(err.value.__cause__)


@pytest.mark.parametrize("dataset,table4_size", [("ph2", 257), ("ph2_synthetic", 33)])
def test_the_experiments_set_the_size_the_segnets_need(make_cfg, dataset, table4_size):
    """Table 3's SegNets pool 2x2 (size a multiple of 16), Table 4's pool 3x3/stride 2 (size ≡ 1 mod 16): the
    experiment file sets 257 for PH2; with the synthetic data the demo passes dataset.size=33."""
    t3 = make_cfg("experiment=table3", f"dataset={dataset}")
    extra = [] if dataset == "ph2" else [f"dataset.size={table4_size}"]
    t4 = make_cfg("experiment=table4", f"dataset={dataset}", *extra)
    assert t3.dataset.size % 16 == 0 and t4.dataset.size == table4_size and t4.dataset.size % 16 == 1
    assert make_cfg("experiment=table4", "dataset=ph2_synthetic").dataset.size == 257  # the experiment's value
    for cfg in (t3, t4):
        model = instantiate(cfg.model)
        model.check_input_size(cfg.dataset.size, cfg.dataset.size)  # raises when they do not fit


# --- real data ------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_ph2_smoke(shared_data):
    if not (shared_data / "PH2Dataset").is_dir():
        pytest.skip("no PH2Dataset in the shared data folder")
    b = build_ph2(shared_data, size=32)
    assert [len(b.evals[k][0]) for k in ("train", "val", "test")] == [100, 50, 50]
    assert b.evals["test_rotated"][0].shape == (200, 3, 32, 32)
    masks = torch.cat([b.evals[k][1] for k in ("train", "val", "test")])
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    assert 0.05 < masks.mean().item() < 0.7
