"""`make py-check` (scripts/check_packages.py): gcnn's dependencies are pyproject.toml's list, checked as
installed distributions less those skipped, with one line naming what is missing."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO

SCRIPT = REPO / "scripts" / "check_packages.py"
sys.path.insert(0, str(REPO / "scripts"))
import check_packages  # noqa: E402
import wheelhouse  # noqa: E402


def test_the_list_is_pyproject_s():
    names = [wheelhouse.requirement_name(r) for r in wheelhouse.dependencies()]
    assert {"torch", "hydra-core", "omegaconf", "albumentations", "wandb"} <= set(names)
    assert "pytest" not in names and "pytest" in map(wheelhouse.requirement_name, wheelhouse.dependencies(["dev"]))


def test_the_wheelhouse_brings_a_setuptools_that_reads_the_license_string():
    # An SPDX string in project.license needs setuptools >= 77 (older ones reject it, newer ones warn on a table);
    # the offline wheelhouse downloads pyproject.toml's build requirement, so the two must agree.
    (setuptools,) = [r for r in wheelhouse.build_requirements() if wheelhouse.requirement_name(r) == "setuptools"]
    assert isinstance(wheelhouse.pyproject()["project"]["license"], str)
    assert int(setuptools.split(">=")[1].split(".")[0]) >= 77


def test_this_interpreter_has_everything():
    assert check_packages.missing([]) == []
    assert subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True).returncode == 0


def test_a_missing_package_is_named_in_one_line_unless_skipped(monkeypatch, capsys):
    monkeypatch.setattr(check_packages, "dependencies", lambda: ["torch>=2.2", "no-such-package_xyz>=1.0"])
    assert check_packages.missing([]) == ["no-such-package-xyz"]
    assert check_packages.missing(["No_Such_Package-xyz"]) == []  # names compare as pip normalises them
    assert check_packages.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lacks gcnn's packages no-such-package-xyz:" in err and "SKIP=" in err
    assert check_packages.main(["--skip", "wandb no-such-package-xyz"]) == 0
