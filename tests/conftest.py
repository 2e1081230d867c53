"""Fixtures only; what tests share by name (REPO, the tiny trainer profile, compose_cfg) is in helpers.py.
Real-data tests use ../shared/data beside the checkout and skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import compose_cfg, shared_data_dir


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run where CUDA is (the GPU machine: `pytest -m gpu`) and skip, saying so, everywhere else."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (this machine has none)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def make_cfg():
    """`make_cfg("experiment=table1", "model=p4cnn")` → the composed DictConfig."""
    return compose_cfg


@pytest.fixture
def interrupt_at_epoch(monkeypatch):
    """`interrupt_at_epoch(n)`: the trainer's n-th epoch raises KeyboardInterrupt, as a killed run would; the
    epochs after it train normally, so the same command can resume."""
    from gcnn_study import train

    real_epoch = train.train_one_epoch

    def interrupt(n: int) -> None:
        calls = {"n": 0}

        def epoch(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt("simulated interruption")
            return real_epoch(*args, **kwargs)

        monkeypatch.setattr(train, "train_one_epoch", epoch)

    return interrupt


@pytest.fixture
def shared_data() -> Path:
    """The real MNIST / PH2 folder of the study's data, or a skip when this machine has none."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent")
    return path


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
