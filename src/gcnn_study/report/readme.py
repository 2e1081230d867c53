"""The README's results block: the study's four tables, ours beside the study's, from the finished runs' records.

`python -m gcnn_study.report.tables --readme README.md --results-dir results/full` (`make readme-results`) rewrites
what lies between the two marker lines; tests/gcnn_study/report/test_committed_results.py fails when the block no
longer matches the committed records. The block is tables, the claims' verdicts and links only: what they show is
read in docs/results.md.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from gcnn_study.config.specs import STUDY_TABLES
from gcnn_study.report.rows import aggregated, compared_cells, row_marks

# The README's results block lies between these two lines; `--readme` rewrites what is between them.
README_BEGIN = "<!-- results: written by `make readme-results` from the finished runs' records; do not edit -->"
README_END = "<!-- results: end -->"


def headline(results_dir: Path, link_dir: str) -> str:
    """The README's results block: one compact table per study table (its compared columns, ours beside the study's),
    headed by a link to its file under `link_dir` (`results_dir` as the README links it). Only finished runs count, so
    the block is the same in every clone of the same commit. Then the study's claims by our verdict, read against
    these same tables (as their csv files hold them) and the runs' per-image results."""
    lines, frames = [], {}
    for name in STUDY_TABLES:
        spec, table, _, problems = aggregated(name, results_dir)
        frames[name] = pd.read_csv(io.StringIO(table.to_csv(index=False)))  # what tableN.csv will read back
        marks = row_marks(problems)
        header = [f"[{spec.title.split(':')[0]}]({link_dir}/{name}.md)"]
        header += [cell for title, _ in spec.columns for cell in (f"{title} (ours)", "study")]
        lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        for _, r in table.iterrows():
            lines.append("| " + " | ".join([r["model"], *compared_cells(spec, r, marks.get(r["run_name"]))]) + " |")
        lines.append("")
    lines += verdict_lines(frames, results_dir, link_dir)
    return "\n".join(lines).rstrip() + "\n"


SPELLED_OUT = ("holds", "contradicted", "does not hold", "consistent")  # verdicts listed with their statements


def verdict_lines(frames: dict[str, pd.DataFrame], results_dir: Path, link_dir: str) -> list[str]:
    """The study's claims by our verdict on the tables `frames` ({"table1": its csv's frame, ...}) and the per-image
    results of the runs under `results_dir`: the decided ones by their statements, the rest by their numbers in
    claims.md; nothing when no claim can be read."""
    from gcnn_study.report import claims  # the claims read the tables that this package writes

    results = claims.check(frames, claims.PerImage(results_dir))
    if all(outcome.tag == claims.UNCHECKED for _, outcome in results):  # no table to read them against
        return []
    by_tag: dict[str, list] = {}
    for claim, outcome in results:
        by_tag.setdefault(outcome.tag, []).append(claim)
    lines = [f"[The study's {len(results)} claims]({link_dir}/claims.md), by our verdict:", ""]
    for tag in claims.TAGS:
        found = by_tag.get(tag, [])
        if found and tag in SPELLED_OUT:
            lines.append(f"- **{tag}** ({len(found)}): " + "; ".join(f"{c.statement} (#{c.id})" for c in found))
        elif found:
            lines.append(f"- **{tag}** ({len(found)}): #" + ", #".join(c.id for c in found))
    return lines


def _block_span(readme: Path) -> tuple[str, int, int]:
    """The README's text and where its results block starts and ends (between the marker lines)."""
    text = Path(readme).read_text()
    once = text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    if not once or text.index(README_BEGIN) > text.index(README_END):
        raise SystemExit(
            f"error: {readme} needs one results block: the line {README_BEGIN!r}, then the line {README_END!r}"
        )
    return text, text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)


def readme_block(readme: Path, results_dir: Path) -> tuple[str, str]:
    """(the README's results block as it stands, as `headline` writes it from `results_dir` now)."""
    text, start, end = _block_span(readme)
    link = Path(os.path.relpath(Path(results_dir).resolve(), Path(readme).resolve().parent)).as_posix()
    return text[start:end], "\n\n" + headline(Path(results_dir), link) + "\n"


def write_readme(readme: Path, results_dir: Path) -> bool:
    """Rewrite the README's results block from the records under `results_dir`; True when it changed."""
    current, fresh = readme_block(readme, results_dir)
    if current == fresh:
        return False
    text, start, end = _block_span(readme)
    Path(readme).write_text(text[:start] + fresh + text[end:])
    return True
