"""Each default has one owner, the YAML under conf/: no schema field has a default, every key is set by the YAML.

`gcnn_study.config.schema` holds only types and rules; a key a schema declares but no YAML of a composed config sets is
left `???` by Hydra, which these tests find in every option of every group. The builders' signature defaults are
the library's own API (`GroupClassifier('p4')` without Hydra), not the study's values: no test ties them to conf/.
The allowed values of a setting have one owner too, the module that implements them. See docs/config.md.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from helpers import CONF
from hydra import compose, initialize_config_dir
from omegaconf import MISSING, OmegaConf

from gcnn_study.config import schema, validation

EVERY_SCHEMA = [schema.TrainConf, *schema.SCHEMAS.values()]


def base_files() -> list:
    """pytest params (group, file, schema) for every YAML that names a schema in its defaults."""
    names = {name: node for (_, name), node in schema.SCHEMAS.items()}
    out = []
    for path in sorted(CONF.glob("*/*.yaml")):
        for entry in OmegaConf.load(path).get("defaults") or []:
            target = str(entry).lstrip("/").split("@")[0]
            if target in names:
                out.append(pytest.param(path.parent.name, path, names[target], id=f"{path.parent.name}/{path.stem}"))
    return out


def every_option() -> list:
    """pytest params: the overrides that compose each option of each group (with an experiment it runs in)."""
    out = [pytest.param([], id="defaults")]
    for group in ("experiment", "dataset", "model", "trainer", "logger", "paths"):
        for name in sorted(p.stem for p in (CONF / group).glob("*.yaml")):
            overrides = [f"{group}={name}"]
            if name.startswith("ph2") or "segnet" in name:  # a segmentation option: the experiment of its size
                overrides.insert(0, "experiment=table4" if name.endswith("_t") else "experiment=table3")
            out.append(pytest.param(overrides, id=f"{group}={name}"))
    return out


@pytest.mark.parametrize("node", EVERY_SCHEMA, ids=lambda node: node.__name__)
def test_no_schema_field_has_a_default(node):
    defaulted = {
        f.name: f.default
        for f in dataclasses.fields(node)
        if f.default is not MISSING or f.default_factory is not dataclasses.MISSING
    }
    assert not defaulted, f"gcnn_study.config.schema.{node.__name__}: move these values to its YAML: {defaulted}"


@pytest.mark.parametrize("overrides", every_option())
def test_every_key_a_schema_declares_is_set_by_the_yaml(make_cfg, overrides):
    cfg = make_cfg(*overrides)
    assert not OmegaConf.missing_keys(cfg), f"{overrides}: set these in conf/: {sorted(OmegaConf.missing_keys(cfg))}"
    for group in ("dataset", "model", "trainer", "logger", "paths"):  # and each group is typed by its schema
        assert OmegaConf.get_type(cfg[group]) in set(schema.SCHEMAS.values()), group


def test_a_key_left_out_of_the_yaml_has_no_value_to_fall_back_on(tmp_path):
    """The rule the test above relies on: a value only in the schema would be gone; Hydra leaves it `???` and
    validate names it."""
    conf = shutil.copytree(CONF, tmp_path / "conf")
    trainer = conf / "trainer" / "default.yaml"
    trainer.write_text("".join(line for line in trainer.open() if not line.startswith("log_every:")))
    schema.register()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        cfg = compose("train", overrides=["experiment=table1"])
    assert OmegaConf.missing_keys(cfg) == {"trainer.log_every"}
    assert validation.validate(cfg) == [
        "trainer.log_every is not set: give it a value on the command line (trainer.log_every=...)"
    ]


def test_every_config_group_has_a_base_file_per_schema():
    found = {param.values[2] for param in base_files()}
    assert found == set(schema.SCHEMAS.values())


@pytest.mark.parametrize(("group", "path", "node"), base_files())
def test_a_base_yaml_sets_only_keys_its_schema_declares(group, path, node):
    written = set(OmegaConf.load(path)) - {"defaults"}
    assert written <= {f.name for f in dataclasses.fields(node)}, f"{path.relative_to(CONF)}: not in the schema"


def test_allowed_values_are_asked_of_the_module_that_implements_them():
    """The schema holds the owner's very tuple (or pattern), not a copy of it (docs/config.md)."""
    from gcnn import groups
    from gcnn.models import segnet
    from gcnn.nn import bases, layers
    from gcnn_study.run import tracking
    from gcnn_study.data import mnist, transforms

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
    group_rules = schema.ClassifierConf.__dataclass_fields__["group"].metadata
    for name in (*groups.NAMED_GROUPS, *groups.ALIASES, "P4", "p12m"):  # the pattern admits what get_group builds
        assert validation.check(name, group_rules) is None
        groups.get_group(name)
    for name in ("p0", "p4x", "c4", "d8"):  # and get_group refuses what the pattern refuses
        assert validation.check(name, group_rules) is not None
        with pytest.raises(ValueError, match="unknown group"):
            groups.get_group(name)
