"""Shared fixtures. Real-data tests use ../shared/data beside the checkout and skip when it is absent.

Configs are composed in one way only, through Hydra's compose API on the real `conf/` (`make_cfg`), as
lightning-hydra-template's `cfg_train` does: no test merges `defaults:` lists by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gcnn import schema

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = str(REPO / "conf")


# Trainer overrides for a tiny run of any experiment: two short epochs, two batches each way.
TINY = (
    "trainer.epochs=2",
    "trainer.batch_size=16",
    "trainer.eval_batch_size=32",
    "trainer.limit_train_batches=2",
    "trainer.limit_eval_batches=2",
)


# A classifier run on 64 of the sample digits: the smallest real run of the trainer.
SAMPLE_RUN = ("experiment=table1", "model=cnn", "dataset=mnist_sample", "dataset.max_train=64", "dataset.max_test=32")


def _shared_data() -> Path:
    env = os.environ.get("GCNN_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def compose_cfg(*overrides: str, config_name: str = "train"):
    """The config `python -m gcnn.train <overrides>` would run, composed by Hydra itself."""
    schema.register()
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        return compose(config_name, overrides=list(overrides))


@pytest.fixture
def make_cfg():
    """`make_cfg("experiment=table1", "model=p4cnn")` → the composed DictConfig."""
    return compose_cfg


@pytest.fixture
def interrupt_at_epoch(monkeypatch):
    """`interrupt_at_epoch(n)`: the trainer's n-th epoch raises KeyboardInterrupt, as a killed run would; the
    epochs after it train normally, so the same command can resume."""
    from gcnn import train

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
    path = _shared_data()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent")
    return path


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
