"""The settings' types and rules: one dataclass per config group, registered in Hydra's ConfigStore; no values.

Each default has one owner: the YAML under conf/ holds every value, this module only the types and the rules.
No field has a default (each is omegaconf's MISSING): a key that a group's YAML does not set stays `???` in the
composed config, and `gcnn_study.config.validation` refuses it (tests/gcnn_study/test_config_defaults.py composes every
option of every group and finds none). The library's builders (`gcnn.models.GroupClassifier`, `SegNet`) keep their own
signature defaults, the library's API for a user without Hydra; the study's values are conf/'s (docs/config.md).

Each group's base file names its schema first in its `defaults:` list (`- /trainer_schema@_here_`), so Hydra
checks types at compose time (`trainer.lr=abc` fails there, with Hydra's message). The schemas are stored at the
top of the ConfigStore, not in the groups, so that they are never offered as a group's option
(`model=classifier_schema`). What a type cannot say (a range, a choice, a pattern) is written once, as field
metadata (`setting(ge=1)`), and `gcnn_study.config.validation` checks it for every setting before the trainer writes
anything. The allowed values are imported from the module that implements them (`FILTER_BASES`, `DECODERS`, ...).

`register()` stores the schemas, and the resolvers of `gcnn_study.config.layout` that conf/ builds run names and
directories with. Hydra calls it itself through the plugin `hydra_plugins/gcnn_schemas` (found wherever gcnn is
installed or src/ is on the path), so `hydra.compose` on conf/ works from a notebook or any script with nothing
imported first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from gcnn.groups import FILTER_INTERPOLATIONS, GROUP_HELP, GROUP_PATTERN
from gcnn.models.segnet import DECODERS, SEGNET_FILTER_BASES, SEGNET_HEADS
from gcnn.nn.bases import FILTER_BASES
from gcnn.nn.conv import INITS
from gcnn.nn.layers import GROUP_POOL_MODES, UPSAMPLE_MODES
from gcnn_study.config import layout
from gcnn_study.data.mnist import SOURCES
from gcnn_study.data.transforms import PAD_MODES
from gcnn_study.run.tracking import MODES, TRACKERS

DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"
# The resampling modes of `grid_sample`, torch's own: written here only, passed to torch unchanged.
RESAMPLE_MODES = ("nearest", "bilinear")


def setting(**rules) -> Any:
    """A field with no default and rules for `gcnn_study.config.validation.check`: ge, gt, le, lt (on every entry of a
    list), choices, pattern (+ help), nonempty, odd."""
    return field(default=MISSING, metadata=rules)


# ----------------------------------------------------------------------------------------------- groups
@dataclass
class TrainerConf:
    epochs: int = setting(ge=1)
    batch_size: int = setting(ge=1)
    eval_batch_size: int = setting(ge=1)
    lr: float = setting(gt=0)
    weight_decay: float = setting(ge=0)
    shuffle: bool = MISSING
    device: str = setting(pattern=DEVICE_PATTERN, help="auto, cpu, cuda, cuda:N or mps")
    bf16: bool = MISSING
    tf32: bool = MISSING
    channels_last: bool = MISSING
    cudnn_benchmark: bool = MISSING
    compile: bool = MISSING
    deterministic: bool = MISSING
    limit_train_batches: int | None = setting(ge=1)
    limit_eval_batches: int | None = setting(ge=1)
    log_every: int = setting(ge=1)
    force: bool = MISSING
    progress: Any = setting(choices=("auto", True, False))
    num_threads: int | None = setting(ge=1)
    stop_at: float | None = setting(ge=0)


@dataclass
class LoggerConf:
    name: str = setting(choices=TRACKERS)
    project: str = MISSING
    entity: str | None = MISSING
    mode: str = setting(choices=MODES)
    group: str | None = MISSING
    run_name: str | None = MISSING
    tags: list = MISSING


@dataclass
class PathsConf:
    data_dir: str = MISSING
    results_dir: str = MISSING


@dataclass
class ClassifierConf:
    _target_: str = MISSING
    name: str = MISSING
    group: str = setting(pattern=GROUP_PATTERN, help=GROUP_HELP)
    channels: list[int] = setting(ge=1, nonempty=True)
    in_channels: int = setting(ge=1)
    num_classes: int = setting(ge=2)
    kernel_size: int = setting(ge=1, odd=True)
    filter_basis: str = setting(choices=FILTER_BASES)
    max_frequency: int | None = setting(ge=0)
    dropout: float = setting(ge=0, lt=1)
    filter_interpolation: str = setting(choices=FILTER_INTERPOLATIONS)
    init: str = setting(choices=INITS)


@dataclass
class SegNetConf:
    _target_: str = MISSING
    name: str = MISSING
    group: str = setting(pattern=GROUP_PATTERN, help=GROUP_HELP)
    channels: list[int] = setting(ge=1, nonempty=True)
    decoder: str = setting(choices=DECODERS)
    filter_basis: str = setting(choices=SEGNET_FILTER_BASES)
    in_channels: int = setting(ge=1)
    out_channels: int = setting(ge=1)
    upsample_mode: str = setting(choices=UPSAMPLE_MODES)
    skip: bool = MISSING
    group_pool: str = setting(choices=GROUP_POOL_MODES)
    head: str = setting(choices=SEGNET_HEADS)
    init: str = setting(choices=INITS)


@dataclass
class MnistConf:
    _target_: str = MISSING
    data_dir: str = MISSING
    source: str = setting(choices=SOURCES)
    rotate_train: bool = MISSING
    rotate_test: bool = MISSING
    rotation_seed: int = setting(ge=0)
    rotation_mode: str = setting(choices=RESAMPLE_MODES)
    pad_to: int | None = setting(ge=28, le=128)  # beyond 128 the images are mostly border
    pad_mode: str = setting(choices=PAD_MODES)
    transformed_test: bool = MISSING
    transformed_seed: int = setting(ge=0)
    transformed_max_degrees: float = setting(ge=0, le=180)
    transformed_flip_p: float = setting(ge=0, le=1)
    transformed_translate: float = setting(ge=0, lt=1)
    transformed_mode: str = setting(choices=RESAMPLE_MODES)
    max_train: int | None = setting(ge=1)
    max_test: int | None = setting(ge=1)
    download: bool = MISSING
    larochelle_transpose: bool = MISSING
    name: str = MISSING


@dataclass
class _PH2Common:
    """The settings both PH2 datasets take, the real and the synthetic: image size, split and augmentation."""

    size: int = setting(ge=16)
    split_seed: int = setting(ge=0)
    n_train: int = setting(ge=1)
    n_val: int = setting(ge=0)
    n_test: int = setting(ge=1)
    augment: bool = MISSING
    augment_seed: int = setting(ge=0)


@dataclass
class PH2Conf(_PH2Common):
    _target_: str = MISSING
    data_dir: str = MISSING
    folder: str = MISSING
    name: str = MISSING


@dataclass
class PH2SyntheticConf(_PH2Common):
    _target_: str = MISSING
    data_dir: str = MISSING
    n_images: int = setting(ge=3)
    width: int = setting(ge=16)
    height: int = setting(ge=16)
    generator_seed: int = setting(ge=0)
    write_files: bool = MISSING


@dataclass
class TrainConf:
    """The primary config (`conf/train.yaml`): the groups are typed by their own schemas."""

    dataset: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    logger: Any = MISSING
    paths: Any = MISSING
    experiment_name: str = MISSING
    seed: int = setting(ge=0)
    run_name: str = MISSING
    run_dir: str = MISSING


SCHEMAS = {  # (group, name) -> schema; the group's base yaml lists `/name@_here_` first in its defaults
    ("trainer", "trainer_schema"): TrainerConf,
    ("logger", "logger_schema"): LoggerConf,
    ("paths", "paths_schema"): PathsConf,
    ("model", "classifier_schema"): ClassifierConf,
    ("model", "segnet_schema"): SegNetConf,
    ("dataset", "mnist_schema"): MnistConf,
    ("dataset", "ph2_schema"): PH2Conf,
    ("dataset", "ph2_synthetic_schema"): PH2SyntheticConf,
}


def register() -> None:
    """Store every schema in Hydra's ConfigStore and register the resolvers conf/ uses (idempotent)."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConf)
    for (_, name), node in SCHEMAS.items():
        store.store(name=name, node=node)  # no group: not an option of one
    layout.register_resolvers()


_COMPOSE_LOCK = threading.Lock()  # Hydra's global state holds one initialisation at a time


def compose(overrides=()) -> DictConfig:
    """The config `python -m gcnn_study.train <overrides>` composes (Hydra's compose API on conf/, thread-safe)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register()
    with _COMPOSE_LOCK, initialize_config_dir(version_base="1.3", config_dir=layout.CONF_DIR):
        return hydra_compose("train", overrides=list(overrides))
