"""The house rules a reader relies on, read from the source: no source file over 300 lines, and every module
opens with a docstring whose first line says its one job."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 300
SOURCES = ("src", "scripts")


def _sources() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (REPO / folder).rglob("*.py") if "egg-info" not in str(p))


def test_the_rules_see_every_source_file():
    names = {p.relative_to(REPO).as_posix() for p in _sources()}
    assert {"src/gcnn/groups.py", "src/gcnn_study/train.py", "scripts/quick_runs.py"} <= names


def test_no_source_file_is_over_300_lines():
    long = {p.relative_to(REPO).as_posix(): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by job (at most {MAX_LINES} lines each): {long}"


def test_every_module_says_its_job_on_its_first_line():
    """An empty `__init__.py` needs none; any other module starts with a docstring of one line or more."""
    missing = []
    for p in _sources():
        text = p.read_text()
        if p.name == "__init__.py" and not text.strip():
            continue
        doc = ast.get_docstring(ast.parse(text))
        if not doc or not doc.splitlines()[0].strip():
            missing.append(p.relative_to(REPO).as_posix())
    assert missing == []


def test_no_report_reads_numbers_back_out_of_markdown():
    """Reports read CSV and JSON (tableN.csv/.json, figures/*.csv); the regexes that once read numbers back out of
    tableN.md and equivariance.md are gone, and no report module imports `re` to bring them back."""
    report = sorted((REPO / "src" / "gcnn_study" / "report").rglob("*.py"))
    assert len(report) > 10
    parsing = []
    for p in report:
        for node in ast.walk(ast.parse(p.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if "re" in names or (isinstance(node, ast.ImportFrom) and node.module == "re"):
                parsing.append(p.relative_to(REPO).as_posix())
    assert parsing == []
