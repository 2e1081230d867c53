"""The library alone: gcnn imports, builds every model the study configures and checks it with torch and numpy
only (every package of the study refused at import), `import gcnn` loads and changes nothing, and every library
module says its one job in its first line and stays within 300 lines."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import CONF, REPO, compose_cfg
from omegaconf import OmegaConf

from gcnn.groups import get_group

SRC = REPO / "src"
LIBRARY = SRC / "gcnn"
REFUSED = ("hydra", "omegaconf", "pandas", "wandb", "albumentations", "matplotlib", "scipy", "torchvision", "PIL")
REFUSED += ("gcnn_study",)

# Runs in a fresh interpreter: refuses the study's packages, imports gcnn, then every library module, builds each
# model of the JSON it reads on stdin ({name: config with _target_}) and runs its check_equivariance().
CHILD = """
import contextlib, importlib, importlib.abc, io, json, os, pkgutil, sys

REFUSED = set(json.loads(sys.argv[1]))
asked = []


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            asked.append(name)
            raise ModuleNotFoundError(f"the library may not import {name}", name=name)
        return None


sys.meta_path.insert(0, Refuse())
configs = json.loads(sys.stdin.read())
before = set(sys.modules)
import gcnn

loaded = sorted(set(sys.modules) - before)
import torch

threads, environ, argv, rng = torch.get_num_threads(), dict(os.environ), list(sys.argv), torch.get_rng_state()
modules = sorted(m.name for m in pkgutil.walk_packages(gcnn.__path__, "gcnn."))
for name in modules:
    importlib.import_module(name)
unchanged = {
    "threads": torch.get_num_threads() == threads,
    "environ": dict(os.environ) == environ,
    "argv": sys.argv == argv,
    "rng": bool(torch.equal(rng, torch.get_rng_state())),
}
checked = {}
for name, config in configs.items():
    module, _, cls = config.pop("_target_").rpartition(".")
    torch.manual_seed(0)
    model = getattr(importlib.import_module(module), cls)(**config)
    rows = model.check_equivariance()
    checked[name] = {
        "group": model.group.name,
        "exact": [row["element"] for row in rows.values() if row["exact"]],
        "worst": max(row["error"] for row in rows.values() if row["exact"]),
    }
with contextlib.redirect_stdout(io.StringIO()) as out:
    status = gcnn.check.main(["--only", "p4cnn", "d4segnet_t"])
print(json.dumps({"loaded": loaded, "modules": modules, "unchanged": unchanged, "checked": checked,
                  "asked": sorted(set(asked)), "stdlib": sorted(sys.stdlib_module_names),
                  "command": [status, out.getvalue()]}))
"""


def _model_configs() -> dict[str, dict]:
    """Every model of conf/model/, as the study composes it (its settings and _target_), read here, in the test."""
    return {
        path.stem: OmegaConf.to_container(compose_cfg(f"model={path.stem}").model, resolve=True)
        for path in sorted((CONF / "model").glob("*.yaml"))
    }


def test_the_library_alone_builds_and_checks_every_model_of_the_study():
    configs = _model_configs()
    assert {"cnn", "p4cnn", "p6cnn", "p8cnn", "d4cnn", "segnet", "p4segnet", "d4segnet", "d4segnet_t"} <= set(configs)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(REFUSED)],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    stdlib = set(report["stdlib"])
    # import gcnn loads the package alone: no torch, no numpy, nothing outside the standard library
    assert [m for m in report["loaded"] if m.partition(".")[0] not in stdlib] == ["gcnn"], report["loaded"]
    assert report["unchanged"] == {"threads": True, "environ": True, "argv": True, "rng": True}
    assert {f"gcnn.{m}" for m in ("groups", "harmonic", "equivariance", "check", "nn.conv", "models.segnet")} <= set(
        report["modules"]
    )
    assert not [m for m in report["asked"] if m.startswith("gcnn_study")], report["asked"]
    for name, result in report["checked"].items():
        group = configs[name]["group"]
        assert result["group"] == {"d4": "p4m"}.get(group, group), name
        assert result["exact"] == get_group(group).exact_elements, name
        assert result["worst"] < 1e-5, (name, result)
    assert set(report["checked"]) == set(configs)
    status, out = report["command"]
    assert status == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["p4cnn", "d4segnet_t"]


def _library_files() -> list[Path]:
    return sorted(LIBRARY.rglob("*.py"))


def test_every_library_module_says_its_one_job_in_its_first_line():
    for path in _library_files():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{path.relative_to(REPO)} has no docstring"
        first = doc.splitlines()[0]
        assert first.endswith(".") and len(first) <= 120, f"{path.relative_to(REPO)}: first line {first!r}"


def test_every_library_file_stays_within_300_lines():
    long = {str(p.relative_to(REPO)): n for p in _library_files() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long
