"""Each default has one owner, the schema dataclass (`gcnn_study.schema`); its copies must agree with it, or this fails.

The base YAML of every config group (the file that names the schema first in its `defaults:`) writes its settings
out so that a reader sees them with their comments; a builder's signature (`build_mnist`, `SegNet`, …) keeps
defaults so that it can be called from Python. Both are copies of the schema's defaults: every key a base YAML
writes equals the schema's default (value and type, int vs float), and so does every defaulted argument of the
builder the YAML's `_target_` names. See docs/config.md.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from hydra.utils import get_method
from omegaconf import MISSING, OmegaConf

from gcnn_study import schema

CONF = Path(__file__).resolve().parents[1] / "conf"

# Keys a file sets to choose its variant, not to restate a default: they differ from the schema by design.
VARIANT_KEYS = {("logger", "wandb.yaml"): {"name"}}
# Builder arguments that are not settings (filled in by the trainer or by Hydra), or that the schema leaves unset.
NOT_SETTINGS = {"data_dir"}


def base_files() -> list:
    """pytest params (group, file, schema) for every YAML that names a schema in its defaults."""
    names = {name: node for (_, name), node in schema.SCHEMAS.items()}
    out = []
    for path in sorted(CONF.glob("*/*.yaml")):
        defaults = OmegaConf.load(path).get("defaults") or []
        for entry in defaults:
            target = str(entry).lstrip("/").split("@")[0]
            if target in names:
                out.append(pytest.param(path.parent.name, path, names[target], id=f"{path.parent.name}/{path.stem}"))
    return out


def schema_defaults(node: type) -> dict:
    out = {}
    for f in dataclasses.fields(node):
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if value is not MISSING and value is not dataclasses.MISSING:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _same(a, b) -> bool:
    a, b = (list(v) if isinstance(v, tuple) else v for v in (a, b))
    return a == b and (a is None or b is None or type(a) is type(b))


def test_every_config_group_has_a_base_file_per_schema():
    found = {param.values[2] for param in base_files()}
    assert found == set(schema.SCHEMAS.values())


@pytest.mark.parametrize(("group", "path", "node"), base_files())
def test_base_yaml_writes_the_schema_defaults(group, path, node):
    written = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    written.pop("defaults", None)
    defaults = schema_defaults(node)
    skip = VARIANT_KEYS.get((group, path.name), set())
    assert set(written) <= {f.name for f in dataclasses.fields(node)}, "a key the schema does not know"
    drift = {
        key: (value, defaults.get(key))
        for key, value in written.items()
        if key not in skip and key in defaults and not (isinstance(value, str) and "${" in value)
        if not _same(value, defaults[key])
    }
    assert not drift, f"{path.relative_to(CONF)} disagrees with gcnn_study.schema.{node.__name__}: {drift}"


BUILT = [node for node in schema.SCHEMAS.values() if "_target_" in schema_defaults(node)]  # models and data sets


@pytest.mark.parametrize("node", BUILT, ids=lambda node: node.__name__)
def test_builder_signature_defaults_are_the_schema_defaults(node):
    defaults = schema_defaults(node)
    builder = get_method(defaults["_target_"])
    parameters = inspect.signature(builder).parameters
    settings = set(defaults) - {"_target_"}
    assert settings - NOT_SETTINGS <= set(parameters), "a setting the builder does not take"
    drift = {
        key: (param.default, defaults[key])
        for key, param in parameters.items()
        if key in defaults and key not in NOT_SETTINGS and param.default is not inspect.Parameter.empty
        if not _same(param.default, defaults[key])
    }
    assert not drift, f"{defaults['_target_']} disagrees with gcnn_study.schema.{node.__name__}: {drift}"


@pytest.mark.parametrize("node", list(schema.SCHEMAS.values()), ids=lambda node: node.__name__)
def test_a_schema_that_changes_an_inherited_default_keeps_its_rules(node):
    for base in node.__mro__[1:]:
        for f in dataclasses.fields(base) if dataclasses.is_dataclass(base) else ():
            assert dict(node.__dataclass_fields__[f.name].metadata) == dict(f.metadata), (base.__name__, f.name)


def test_allowed_values_are_asked_of_the_module_that_implements_them():
    """The schema holds the owner's very tuple (or pattern), not a copy of it (docs/config.md)."""
    from gcnn import groups
    from gcnn_study import tracking
    from gcnn_study.data import mnist, transforms
    from gcnn.models import segnet
    from gcnn.nn import bases, layers

    owners = {
        (schema.ClassifierConf, "group", "pattern"): groups.GROUP_PATTERN,
        (schema.SegNetConf, "group", "pattern"): groups.GROUP_PATTERN,
        (schema.ClassifierConf, "filter_interpolation", "choices"): groups.FILTER_INTERPOLATIONS,
        (schema.ClassifierConf, "filter_basis", "choices"): bases.FILTER_BASES,
        (schema.SegNetConf, "filter_basis", "choices"): segnet.SEGNET_FILTER_BASES,
        (schema.SegNetConf, "decoder", "choices"): segnet.DECODERS,
        (schema.SegNetConf, "upsample_mode", "choices"): layers.UPSAMPLE_MODES,
        (schema.SegNetConf, "group_pool", "choices"): layers.GROUP_POOL_MODES,
        (schema.MnistConf, "source", "choices"): mnist.SOURCES,
        (schema.MnistConf, "pad_mode", "choices"): transforms.PAD_MODES,
        (schema.LoggerConf, "name", "choices"): tracking.TRACKERS,
        (schema.LoggerConf, "mode", "choices"): tracking.MODES,
    }
    for (node, key, rule), owned in owners.items():
        assert node.__dataclass_fields__[key].metadata[rule] is owned, (node.__name__, key)
    assert set(segnet.SEGNET_FILTER_BASES) <= set(bases.FILTER_BASES)
    for name in (*groups.NAMED_GROUPS, *groups.ALIASES, "P4", "p12m"):  # the pattern admits what get_group builds
        assert schema.check(name, schema.ClassifierConf.__dataclass_fields__["group"].metadata) is None
        groups.get_group(name)
    for name in ("p0", "p4x", "c4", "d8"):  # and get_group refuses what the pattern refuses
        assert schema.check(name, schema.ClassifierConf.__dataclass_fields__["group"].metadata) is not None
        with pytest.raises(ValueError, match="unknown group"):
            groups.get_group(name)
