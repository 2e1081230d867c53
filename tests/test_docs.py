"""The README and docs/ point only at files that exist: every relative Markdown link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target) and ![alt](target "title")


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    targets = (m.group(1).split("#", 1)[0] for m in LINK.finditer(text))
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # not http:, mailto:, ...


def test_the_pattern_finds_links():
    page = REPO / "README.md"
    assert "docs/running.md" in relative_links(page) and "results/README.md" in relative_links(page)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    missing = [t for t in relative_links(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to files that do not exist: {missing}"


def test_the_license_and_the_citation_agree_with_pyproject():
    """pyproject.toml owns the licence; LICENSE holds its text and CITATION.cff names it, with the study cited."""
    import yaml

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    licence = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert (REPO / "LICENSE").read_text().splitlines()[0] == f"{licence} License"
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == licence and cff["authors"]
    titles = [r["title"] for r in cff["references"]]
    assert "A Study on Group Equivariant CNNs" in titles and "Group Equivariant Convolutional Networks" in titles
