"""Checking settings against the schemas' rules: one line per broken rule, and a typo named with its closest key.

`validate(cfg)` walks a composed config and checks every setting against the rules its schema writes as field
metadata (`gcnn_study.config.schema`): a range, a choice, a pattern, a key that no schema knows (`+trainer.epoch=3`), a
key that no YAML set (`???`). The trainer calls it before it writes anything; a bad value gives one line:
`trainer.epochs=-1: must be >= 1`. `unknown_override` and `compose_problem` turn what Hydra would say about a
typed or composed setting into the same kind of line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from gcnn_study.config.schema import SCHEMAS, SegNetConf, TrainConf, compose


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
        f"{prefix.rstrip('.') or 'the run'} is in gcnn_study.config.schema.{schema.__name__})"
    )


def unknown_override(args) -> str | None:
    """gcnn's one line for a command-line override, given without `+`, of a key that no schema of its group has
    (`trainer.epoch=3`): `trainer.epoch: no such setting; the closest is trainer.epochs (...)`, the line `validate`
    gives `+trainer.epoch=3`, instead of Hydra's hint to add the typo with `+`.

    None when every such override names a key some schema knows (Hydra then composes, and reports anything else
    itself). `args`: the command line's arguments after the program (options and their values are passed over).
    """
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
    """`compose_problem` of composing the command line's overrides (a sweep's aside) when it fails on `key`: the
    line that names the schema of the option the run composes (model=segnet: SegNetConf); None otherwise."""
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
