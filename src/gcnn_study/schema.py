"""The settings' schemas: one dataclass per config group, registered in Hydra's ConfigStore.

Each group's base file names its schema first in its `defaults:` list (`- /trainer_schema@_here_`), so Hydra
checks types at compose time (`trainer.lr=abc` fails there, with Hydra's message). The schemas are stored at
the top of the ConfigStore, not in the groups, so that they are never offered as a group's option
(`model=classifier_schema`). What a type cannot say (a range, a choice, a pattern, a key that no schema knows:
`+trainer.epoch=3`) is written once, as field metadata, and checked for every setting by `validate`, which the
trainer calls before it writes anything. A bad value gives one line: `trainer.epochs=-1: must be >= 1`.

`register()` stores them, and the resolvers of `gcnn_study.layout` that conf/ builds run names and directories with.
Hydra calls it itself through the plugin `hydra_plugins/gcnn_schemas` (found wherever gcnn is installed or src/ is
on the path), so `hydra.compose` on conf/ works from a notebook or any script with nothing imported first.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from gcnn.groups import FILTER_INTERPOLATIONS, GROUP_HELP, GROUP_PATTERN
from gcnn.models.segnet import DECODERS, SEGNET_FILTER_BASES, SEGNET_HEADS
from gcnn.nn.bases import FILTER_BASES
from gcnn.nn.conv import INITS
from gcnn.nn.layers import GROUP_POOL_MODES, UPSAMPLE_MODES
from gcnn_study import layout
from gcnn_study.data.mnist import SOURCES
from gcnn_study.data.transforms import PAD_MODES
from gcnn_study.tracking import MODES, TRACKERS

DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"


def setting(default=MISSING, **rules) -> Any:
    """A dataclass field with rules for `validate` (see `check`): ge, gt, le, lt (on every entry of a list), choices,
    pattern (+ help), nonempty, odd."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: default.copy(), metadata=rules)
    return field(default=default, metadata=rules)


# ----------------------------------------------------------------------------------------------- groups
@dataclass
class TrainerConf:
    epochs: int = setting(30, ge=1)
    batch_size: int = setting(64, ge=1)
    eval_batch_size: int = setting(256, ge=1)
    lr: float = setting(5e-5, gt=0)
    weight_decay: float = setting(1e-5, ge=0)
    shuffle: bool = True
    device: str = setting("auto", pattern=DEVICE_PATTERN, help="auto, cpu, cuda, cuda:N or mps")
    bf16: bool = False
    tf32: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False
    deterministic: bool = True
    limit_train_batches: int | None = setting(None, ge=1)
    limit_eval_batches: int | None = setting(None, ge=1)
    log_every: int = setting(50, ge=1)
    force: bool = False
    progress: Any = setting("auto", choices=("auto", True, False))
    num_threads: int | None = setting(None, ge=1)
    stop_at: float | None = setting(None, ge=0)


@dataclass
class LoggerConf:
    name: str = setting("none", choices=TRACKERS)
    project: str = "gcnn"
    entity: str | None = None
    mode: str = setting("auto", choices=MODES)
    group: str | None = None
    run_name: str | None = None
    tags: list = setting([])


@dataclass
class PathsConf:
    data_dir: str = "data"
    results_dir: str = "results"


@dataclass
class ClassifierConf:
    _target_: str = "gcnn.models.classifier.GroupClassifier"
    name: str = MISSING
    group: str = setting("z2", pattern=GROUP_PATTERN, help=GROUP_HELP)
    channels: list[int] = setting([16, 32, 64, 128, 256], ge=1, nonempty=True)
    in_channels: int = setting(1, ge=1)
    num_classes: int = setting(10, ge=2)
    kernel_size: int = setting(3, ge=1, odd=True)
    filter_basis: str = setting("pixel", choices=FILTER_BASES)
    max_frequency: int | None = setting(None, ge=0)
    dropout: float = setting(0.0, ge=0, lt=1)
    filter_interpolation: str = setting("nearest", choices=FILTER_INTERPOLATIONS)
    init: str = setting("fan_in", choices=INITS)


@dataclass
class SegNetConf:
    _target_: str = "gcnn.models.segnet.SegNet"
    name: str = MISSING
    group: str = setting("z2", pattern=GROUP_PATTERN, help=GROUP_HELP)
    channels: list[int] = setting([32, 64, 128, 256], ge=1, nonempty=True)
    decoder: str = setting("upsample", choices=DECODERS)
    filter_basis: str = setting("pixel", choices=SEGNET_FILTER_BASES)
    in_channels: int = setting(3, ge=1)
    out_channels: int = setting(1, ge=1)
    upsample_mode: str = setting("bilinear", choices=UPSAMPLE_MODES)
    skip: bool = False
    group_pool: str = setting("max", choices=GROUP_POOL_MODES)
    head: str = setting("conv_relu_bn", choices=SEGNET_HEADS)
    init: str = setting("notebook", choices=INITS)


@dataclass
class MnistConf:
    _target_: str = "gcnn_study.data.mnist.build_mnist"
    data_dir: str = MISSING
    source: str = setting("mnist", choices=SOURCES)
    rotate_train: bool = False
    rotate_test: bool = False
    rotation_seed: int = setting(0, ge=0)
    rotation_mode: str = setting("bilinear", choices=("bilinear", "nearest"))
    pad_to: int | None = setting(33, ge=28, le=128)  # beyond 128 the images are mostly border
    pad_mode: str = setting("edge", choices=PAD_MODES)
    transformed_test: bool = True
    transformed_seed: int = setting(1234, ge=0)
    transformed_max_degrees: float = setting(180.0, ge=0, le=180)
    transformed_flip_p: float = setting(0.5, ge=0, le=1)
    transformed_translate: float = setting(0.0, ge=0, lt=1)
    transformed_mode: str = setting("nearest", choices=("nearest", "bilinear"))
    max_train: int | None = setting(None, ge=1)
    max_test: int | None = setting(None, ge=1)
    download: bool = True
    larochelle_transpose: bool = False
    name: str = "mnist"


@dataclass
class _PH2Common:
    """The settings both PH2 datasets take, the real and the synthetic: image size, split and augmentation."""

    size: int = setting(256, ge=16)
    split_seed: int = setting(0, ge=0)
    n_train: int = setting(100, ge=1)
    n_val: int = setting(50, ge=0)
    n_test: int = setting(50, ge=1)
    augment: bool = False
    augment_seed: int = setting(0, ge=0)


@dataclass
class PH2Conf(_PH2Common):
    _target_: str = "gcnn_study.data.ph2.build_ph2"
    data_dir: str = MISSING
    folder: str = "PH2Dataset"
    name: str = "ph2"


@dataclass
class PH2SyntheticConf(_PH2Common):
    _target_: str = "gcnn_study.data.ph2_synthetic.build_ph2_synthetic"
    data_dir: str = MISSING
    n_images: int = setting(60, ge=3)
    width: int = setting(96, ge=16)
    height: int = setting(72, ge=16)
    generator_seed: int = setting(0, ge=0)
    write_files: bool = False
    # Its own split of the synthetic cases (same rules as PH2's, other defaults): 32×32 images, 40 / 10 / 10.
    size: int = setting(32, ge=16)
    n_train: int = setting(40, ge=1)
    n_val: int = setting(10, ge=0)
    n_test: int = setting(10, ge=1)


@dataclass
class TrainConf:
    """The primary config (`conf/train.yaml`): the groups are typed by their own schemas."""

    dataset: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    logger: Any = MISSING
    paths: Any = MISSING
    experiment_name: str = "adhoc"
    seed: int = setting(0, ge=0)
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


# ----------------------------------------------------------------------------------------------- checks
def validate(cfg: DictConfig) -> list[str]:
    """Every rule broken by `cfg`, one line each (`trainer.epochs=-1: must be >= 1`); [] when all is well."""
    problems: list[str] = []
    _walk(cfg, "", problems)
    return problems + _across_groups(cfg)


def _across_groups(cfg: DictConfig) -> list[str]:
    """Rules that join two groups: a SegNet must be able to pool the dataset's image size exactly."""
    if OmegaConf.get_type(cfg.get("model")) is SegNetConf and "size" in cfg.get("dataset", {}):
        from gcnn.models.segnet import input_size_problem

        size, model = cfg.dataset.size, cfg.model
        problem = input_size_problem(size, size, model.decoder, len(model.channels))
        if problem and not validate_config_group(model):
            return [f"dataset.size={size}: model={model.name} {problem}"]
    return []


def validate_config_group(node: DictConfig) -> list[str]:
    """`validate` for one config group's node (cfg.model, cfg.dataset, ...), paths relative to it."""
    problems: list[str] = []
    _walk(node, "", problems)
    return problems


def _walk(node: DictConfig, prefix: str, problems: list[str]) -> None:
    schema = OmegaConf.get_type(node)
    fields = {f.name: f for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else {}
    for key in node.keys():
        path = f"{prefix}{key}"
        if fields and key not in fields and path != "hydra":  # added with `+`, which Hydra lets past a schema
            problems.append(_unknown(path, prefix, fields, schema))
            continue
        if OmegaConf.is_missing(node, key):
            problems.append(f"{path} is not set: give it a value on the command line ({path}=...)")
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            _walk(value, path + ".", problems)
        elif key in fields and fields[key].metadata:
            message = check(value, fields[key].metadata)
            if message:
                problems.append(f"{path}={_show(value)}: {message}")


def compose_problem(err: Exception) -> str:
    """One line for an error Hydra raised while composing (its own message spans several): a key no schema knows
    is named with its closest, as `validate` does; other errors keep Hydra's words, minus the search path."""
    cause = err.__cause__
    key, kind = getattr(cause, "full_key", None), getattr(cause, "object_type", None)
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and key and dataclasses.is_dataclass(kind):
        prefix = key.rpartition(".")[0]
        return _unknown(key, prefix + "." if prefix else "", {f.name: f for f in dataclasses.fields(kind)}, kind)
    text = str(err).split("Config search path:")[0]
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return f"{line}: {str(cause).splitlines()[0]}" if cause is not None and str(cause) else line


def _unknown(path: str, prefix: str, fields: dict, schema: type) -> str:
    """`trainer.epoch: no such setting; the closest is trainer.epochs (...)`: always names the closest key."""
    key = path[len(prefix) :]
    closest = difflib.get_close_matches(key, fields, n=1, cutoff=0.0) or sorted(fields)[:1]
    return (
        f"{path}: no such setting; the closest is {prefix}{closest[0]} (every setting of "
        f"{prefix.rstrip('.') or 'the run'} is in gcnn_study.schema.{schema.__name__})"
    )


def unknown_override(args) -> str | None:
    """gcnn's one line for a command-line override, given without `+`, of a key that no schema of its group has
    (`trainer.epoch=3`): `trainer.epoch: no such setting; the closest is trainer.epochs (...)`, the line `validate`
    gives `+trainer.epoch=3`, instead of Hydra's hint to add the typo with `+`. None when every such override names a
    key some schema knows (Hydra then composes, and reports anything else itself). `args`: the command line's
    arguments after the program (options and their values are passed over)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    try:
        parsed = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-") and "=" in a])
    except Exception:  # Hydra's own syntax error says it better
        return None
    groups = {group for group, _ in SCHEMAS} | {"experiment", "hydra"}
    for override in parsed:
        key = override.key_or_group
        if override.type is not OverrideType.CHANGE or override.package is not None or "/" in key:
            continue  # `+`/`++`/`~` (validate and Hydra see to them), a package, or a group's option
        head, _, rest = key.partition(".")
        if not rest:
            schemas = [] if head in groups else [TrainConf]
        else:
            schemas = [node for (group, _), node in SCHEMAS.items() if group == head]
        fields = {f.name: f for node in schemas for f in dataclasses.fields(node)}
        name = rest.partition(".")[0] if rest else head
        if not schemas or name in fields:
            continue
        prefix = f"{head}." if rest else ""
        problem = _composed_problem(args, f"{prefix}{name}")
        if problem:
            return problem
        closest = (difflib.get_close_matches(name, fields, n=1, cutoff=0.0) or sorted(fields))[0]
        schema = next(node for node in schemas if closest in {f.name for f in dataclasses.fields(node)})
        return _unknown(f"{prefix}{name}", prefix, {f.name: f for f in dataclasses.fields(schema)}, schema)
    return None


def _composed_problem(args, key: str) -> str | None:
    """`compose_problem` of composing the command line's overrides (a sweep's aside) when it fails on `key`: the line
    that names the schema of the option the run composes (model=segnet: SegNetConf); None otherwise."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if not a.startswith("-") and "=" in a]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        compose([text for text, o in zip(overrides, parsed) if not o.is_sweep_override()])
    except Exception as err:
        problem = compose_problem(err)
        return problem if problem.startswith(f"{key}: no such setting") else None
    return None


_BOUNDS = (
    ("ge", ">=", lambda v, b: v >= b),
    ("gt", ">", lambda v, b: v > b),
    ("le", "<=", lambda v, b: v <= b),
    ("lt", "<", lambda v, b: v < b),
)


def check(value, rules: dict) -> str | None:
    """What is wrong with `value` under `rules`, or None. The one place where the error text is written."""
    if value is None:
        return None  # Optional fields: None means "not set" (type checks already happened in Hydra)
    if isinstance(value, float) and not math.isfinite(value):  # `trainer.lr=inf` passes every bound
        return "must be a finite number"
    if "choices" in rules and value not in rules["choices"]:
        return "must be one of " + ", ".join(_show(c) for c in rules["choices"])
    if "pattern" in rules and not re.fullmatch(rules["pattern"], str(value)):
        return f"must be {rules.get('help', 'of the form ' + rules['pattern'])}"
    is_list = isinstance(value, (list, tuple, ListConfig))
    values = list(value) if is_list else [value]
    if rules.get("nonempty") and not values:
        return "must not be empty"
    for name, sign, ok in _BOUNDS:
        if name in rules and not all(ok(v, rules[name]) for v in values):
            return f"{'every entry ' if is_list else ''}must be {sign} {rules[name]}"
    if "odd" in rules and not all(int(v) % 2 == 1 for v in values):
        return "must be odd"
    return None


def _show(value) -> str:
    if isinstance(value, ListConfig):
        value = list(value)
    return str(value).lower() if isinstance(value, bool) else str(value)
