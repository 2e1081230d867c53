"""The README and docs/ point only at files that exist, retype none of the study's numbers, and the README stays a
quick start whose commands name what exists.

Every relative Markdown link resolves; src/gcnn_study/reference/study_results.csv alone holds the study's numbers;
README.md has at most 150 lines, and each `make` target, `python -m` module and Hydra choice it shows is there."""

from __future__ import annotations

import re
import shlex
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

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    licence = project["license"]  # an SPDX expression (PEP 639)
    assert project["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().splitlines()[0] == f"{licence} License"
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == licence and cff["authors"]
    titles = [r["title"] for r in cff["references"]]
    assert "A Study on Group Equivariant CNNs" in titles and "Group Equivariant Convolutional Networks" in titles


def _prose(page: Path) -> str:
    """The page without code blocks and without the README's generated results block, lines folded."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"<!-- results: written by.*?<!-- results: end -->", "", text, flags=re.S)
    return re.sub(r"\s+", " ", text)


def study_numbers_typed_in(text: str) -> list[str]:
    """Each "<model label> <number>" in `text` whose number is the study's figure for that model (as a percentage
    or as a score, to the digits shown): a copy of what src/gcnn_study/reference/study_results.csv owns."""
    import pandas as pd

    from gcnn_study.config.specs import LABELS

    reference = pd.read_csv(REPO / "src/gcnn_study/reference/study_results.csv")
    found = []
    for model, values in reference.groupby("model")["value"]:
        label = re.escape(LABELS[model])
        for m in re.finditer(rf"(?<![\w+]){label}(?![\w+]) (\d+(?:\.\d+)?)", text):
            number = m.group(1)
            unit = 0.5 * 10 ** -len(number.partition(".")[2])  # half the last digit shown
            if any(abs(float(number) - v * (100 if float(number) > 1 else 1)) <= unit for v in values):
                found.append(m.group(0))
    return found


def test_the_pattern_finds_a_typed_study_number():
    assert study_numbers_typed_in("as the study had (CNN 98.2 / 34.1, P4SegNet+ 0.788, SegNet 0.718)") == [
        "CNN 98.2",
        "P4SegNet+ 0.788",
        "SegNet 0.718",
    ]
    assert not study_numbers_typed_in("P4CNN 98.2, SegNet+ 0.718, CNN 98.74, CNN 3.1 s")  # other models, ours


@pytest.mark.parametrize("page", [*PAGES, REPO / "results/README.md"], ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_retypes_the_study_s_numbers(page):
    typed = study_numbers_typed_in(_prose(page))
    assert not typed, (
        f"{page.relative_to(REPO)} types the study's numbers {typed}: they live in "
        "src/gcnn_study/reference/study_results.csv only; link to it or to a generated table instead"
    )


# What the study's segmentation notebook prints for Table 4 (github.com/pollinab/GroupEquivariantCNN, commit fcddd0a,
# GroupEquivariantSegmentation.ipynb, cells counted from 0): cell 61 the test scores, cell 62 the train scores.
NOTEBOOK_TABLE4 = {
    ("segnet_t", "test_iou_score"): 0.6566667159398397,
    ("p4segnet_t", "test_iou_score"): 0.6700000365575155,
    ("d4segnet_t", "test_iou_score"): 0.6933333873748779,
    ("segnet_t", "train_iou_score"): 0.8290000200271607,
    ("p4segnet_t", "train_iou_score"): 0.8520000576972961,
    ("d4segnet_t", "train_iou_score"): 0.8340000152587891,
}


def test_a_notebook_figure_is_noted_on_the_row_it_differs_from():
    """study_results.csv notes the notebook's figure on the row (model and metric) whose study figure differs from
    what the notebook printed, and on no other row of Table 4; docs/protocol.md names that row."""
    import pandas as pd

    reference = pd.read_csv(REPO / "src/gcnn_study/reference/study_results.csv")
    table4 = reference[reference.table == "table4"].set_index(["model", "metric"])
    assert set(table4.index) == set(NOTEBOOK_TABLE4)
    for key, printed in NOTEBOOK_TABLE4.items():
        value, note = table4.loc[key, "value"], table4.loc[key, "note"]
        differs = bool(round(printed, 3) != value)
        assert ("notebook:" in note) is differs, (key, note)
        assert not differs or f"notebook: {printed:.3f} at commit fcddd0a, cell 62" in note
    assert [k for k, p in NOTEBOOK_TABLE4.items() if round(p, 3) != table4.loc[k, "value"]] == [
        ("p4segnet_t", "train_iou_score")
    ]
    protocol = _prose(REPO / "docs/protocol.md")
    assert "the note on P4SegNet_T's train score gives the 0.852 that the segmentation notebook prints" in protocol
    assert "P4SegNet_T test score in its note" not in protocol


# ----------------------------------------------------------------------------------------- the README, a quick start
README = REPO / "README.md"


def test_the_readme_is_a_quick_start_of_at_most_150_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move what is not a quick start to docs/"


def _readme_commands() -> list[str]:
    """The shell lines of the README's bash blocks, comments removed."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def _make_targets() -> set[str]:
    targets = set()
    for line in (REPO / "Makefile").read_text().splitlines():
        m = re.match(r"([a-z0-9][a-z0-9 %-]*):(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def test_every_command_the_readme_shows_names_what_exists():
    """Each `make` target the README shows is the Makefile's, each `python -m` module imports, and each Hydra
    choice of `experiment=`/`model=` is a config file in conf/."""
    import importlib.util

    commands = _readme_commands()
    assert any(c.startswith("make ") for c in commands) and any(c.startswith("python -m ") for c in commands)
    targets = _make_targets()
    for command in commands:
        words = shlex.split(command)
        if words[0] == "make":
            wanted = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
            assert wanted and set(wanted) <= targets, f"README.md: `{command}` names no target of the Makefile"
        elif words[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(words[2]), f"README.md: `{command}`: no module {words[2]}"
        for group in ("experiment", "model"):
            for choice in re.findall(rf"(?<![.\w]){group}=([\w,]+)", command):
                for name in choice.split(","):
                    assert (REPO / "conf" / group / f"{name}.yaml").exists(), f"README.md: `{command}`: no {name}"


def test_the_readme_shows_the_two_commands_and_the_layout_of_both_packages():
    text = README.read_text()
    commands = _readme_commands()
    assert "make demo" in commands and "make test" in commands
    assert "src/gcnn/" in text and "src/gcnn_study/" in text


def test_the_readme_s_python_runs():
    """The README's library example runs as shown (its assert is the layer's measured equivariance)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
