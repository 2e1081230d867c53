"""The settings' schemas and their checks: each schema describes exactly what its builder takes, every shipped
config passes the checks, and the one checking function gives the one-line messages the command line prints."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys

import hydra
import pytest
from helpers import CONF
from omegaconf import OmegaConf

from gcnn.groups import GROUP_HELP, GROUP_PATTERN
from gcnn.models import GroupClassifier, SegNet
from gcnn_study.config import schema, validation
from gcnn_study.data.mnist import build_mnist
from gcnn_study.data.ph2 import build_ph2
from gcnn_study.data.ph2_synthetic import build_ph2_synthetic


@pytest.mark.parametrize(
    "conf,target,base",
    [
        (schema.MnistConf, build_mnist, "dataset/mnist.yaml"),
        (schema.PH2Conf, build_ph2, "dataset/ph2.yaml"),
        (schema.PH2SyntheticConf, build_ph2_synthetic, "dataset/ph2_synthetic.yaml"),
        (schema.ClassifierConf, GroupClassifier, "model/cnn.yaml"),
        (schema.SegNetConf, SegNet, "model/segnet.yaml"),
    ],
)
def test_each_schema_holds_exactly_the_settings_its_builder_takes(conf, target, base):
    fields = {f.name for f in dataclasses.fields(conf)} - {"_target_"}
    params = set(inspect.signature(target).parameters) - {"self"}
    assert fields == params, fields ^ params
    assert hydra.utils.get_object(OmegaConf.load(CONF / base)._target_) is target  # the YAML's builder


@pytest.mark.parametrize("group", ["dataset", "model", "trainer", "logger"])
def test_every_shipped_config_composes_typed_and_passes_the_checks(make_cfg, group):
    names = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    assert names
    experiment = {"dataset": "table1", "model": "table1", "trainer": "table1", "logger": "table1"}[group]
    for name in names:
        overrides = [f"experiment={experiment}", f"{group}={name}"]
        if group == "dataset" and name.startswith("ph2") or group == "model" and "segnet" in name:
            overrides = ["experiment=table4" if name.endswith("_t") else "experiment=table3", f"{group}={name}"]
            if name == "ph2_synthetic":
                overrides.append("dataset.size=32")
        cfg = make_cfg(*overrides)
        node = cfg[group]
        assert OmegaConf.get_type(node) in set(schema.SCHEMAS.values()), name  # typed by its group's schema
        assert validation.validate(cfg) == [], (name, validation.validate(cfg))


@pytest.mark.parametrize(
    "value,rules,message",
    [
        (-1, {"ge": 1}, "must be >= 1"),
        (0.0, {"gt": 0}, "must be > 0"),
        (1.5, {"ge": 0, "lt": 1}, "must be < 1"),
        ([8, 0], {"ge": 1}, "every entry must be >= 1"),
        ([], {"nonempty": True}, "must not be empty"),
        ("cubic", {"choices": ("nearest", "bilinear")}, "must be one of nearest, bilinear"),
        ("q4", {"pattern": GROUP_PATTERN, "help": GROUP_HELP}, "must be a group name"),
        (2, {"odd": True}, "must be odd"),
    ],
)
def test_the_one_check_says_what_is_allowed(value, rules, message):
    assert message in validation.check(value, rules)


@pytest.mark.parametrize(
    "value,rules",
    [
        (1, {"ge": 1}),
        (None, {"ge": 1}),
        ("p12m", {"pattern": GROUP_PATTERN}),
        ("D4", {"pattern": GROUP_PATTERN}),
    ],
)
def test_allowed_values_pass(value, rules):
    assert validation.check(value, rules) is None


def test_every_broken_rule_is_reported_with_its_full_key(make_cfg):
    cfg = make_cfg("experiment=table3", "trainer.epochs=0", "model.group=q4", "dataset.n_train=0")
    problems = validation.validate(cfg)
    assert any(p.startswith("trainer.epochs=0: ") for p in problems)
    assert any(p.startswith("model.group=q4: ") for p in problems)
    assert any(p.startswith("dataset.n_train=0: ") for p in problems)


@pytest.mark.parametrize(
    "override,problem",
    [
        ("+trainer.epoch=3", "trainer.epoch: no such setting; the closest is trainer.epochs"),
        ("+seeds=3", "seeds: no such setting; the closest is seed"),
        ("+model.some_option=1", "model.some_option: no such setting; the closest is model."),
        ("+dataset.pad=40", "dataset.pad: no such setting; the closest is dataset.pad_to"),
    ],
)
def test_a_key_no_schema_declares_is_refused_naming_the_closest(make_cfg, override, problem):
    problems = validation.validate(make_cfg("experiment=table1", override))
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_hydras_own_composition_errors_become_one_line(make_cfg):
    for override, expected in (
        ("trainer.epoch=3", "trainer.epoch: no such setting; the closest is trainer.epochs"),
        ("seed=abc", "Error merging override seed=abc: Value 'abc' of type 'str' could not be converted to Integer"),
        ("dataset=mnist_smaple", "Could not find 'dataset/mnist_smaple' Available options in 'dataset': mnist"),
    ):
        with pytest.raises(Exception) as err:
            make_cfg("experiment=table1", override)
        line = validation.compose_problem(err.value)
        assert expected in line and "\n" not in line and "search path" not in line


TYPO_LINE = (
    "trainer.epoch: no such setting; the closest is trainer.epochs (every setting of trainer is in "
    "gcnn_study.config.schema.TrainerConf)"
)


@pytest.mark.parametrize(
    "args,line",
    [
        (["experiment=table1", "trainer.epoch=3"], TYPO_LINE),
        (["--multirun", "model=cnn,p4cnn", "trainer.epoch=3", "seed=0,1"], TYPO_LINE),  # a sweep's job too
        (["trainer.epoch=3", "trainer.lr=abc"], TYPO_LINE),
        (
            ["seeds=3"],
            "seeds: no such setting; the closest is seed (every setting of the run is in gcnn_study.config.schema.",
        ),
        (["logger.tagz=[a]"], "logger.tagz: no such setting; the closest is logger.tags"),
        (["paths.results=x"], "paths.results: no such setting; the closest is paths.results_dir"),
        # the schema of the option the run composes: table3's SegNet, table1's classifier
        (["experiment=table3", "model.chanels=[4]"], "model.chanels: no such setting; the closest is model.channels"),
        (
            ["experiment=table3", "model.chanels=[4]"],
            "(every setting of model is in gcnn_study.config.schema.SegNetConf)",
        ),
        (["model.chanels=[4]"], "(every setting of model is in gcnn_study.config.schema.ClassifierConf)"),
        (["dataset.sizee=32", "experiment=table3"], "dataset.sizee: no such setting; the closest is dataset.size"),
    ],
)
def test_a_typo_without_plus_gets_gcnns_line_naming_the_closest(args, line):
    found = validation.unknown_override(args)
    assert found is not None and (found == line or found.startswith(line) or found.endswith(line)), found


@pytest.mark.parametrize(
    "args",
    [
        ["experiment=table1", "model=p4cnn", "trainer=quick", "hydra/launcher=joblib", "seed=1", "trainer.epochs=3"],
        ["+trainer.epoch=3"],  # added with `+`: validate names it, in the same words
        ["~trainer.stop_at"],
        ["dataset.size=32"],  # a key of another dataset's schema: Hydra composes and says so itself
        ["hydra.job.chdir=true", "--config-name", "train", "paths.results_dir="],
        ["trainer.epochs=[unclosed"],  # Hydra's syntax error says it better
    ],
)
def test_known_keys_and_other_forms_are_left_to_hydra_and_validate(args):
    assert validation.unknown_override(args) is None


def _docs_example() -> str:
    text = (CONF.parent / "docs" / "running.md").read_text()
    block = text.split("<!-- tested: tests/gcnn_study/test_schema.py -->", 1)[1].split("```python\n", 1)[1]
    return block.split("```", 1)[0]


def test_the_docs_compose_a_config_with_nothing_registered_first():
    """In a fresh interpreter, as in a notebook: nothing registered and no `import gcnn_study` before compose."""
    code = _docs_example()
    assert code.index("compose(") < code.index("from gcnn") and "register" not in code
    env = {**os.environ, "PYTHONPATH": str(CONF.parent / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=CONF.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["results/runs/table1/p4cnn/seed=0 5", "[]"]
