"""What is committed under results/full/ is what the code writes from the committed records: each table's
rows, footers and csv, the claims, the README's results block, and the set of runs the figures measured. A record
added without its table, or a table edited by hand, fails here. Only finished runs are read, so a clone without
checkpoints gives the same answer as the work tree that ran them (the list of unfinished runs, which depends on
checkpoints, is not compared)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from gcnn import claims, layout, rundir
from gcnn.figures.draw import ANGLE_TABLES
from gcnn.specs import experiment_in
from gcnn.tables import STUDY_TABLES, make_table, readme_block
from helpers import REPO

FULL = REPO / "results/full"
pytestmark = pytest.mark.skipif(not (FULL / "runs").is_dir(), reason="no results/full/runs in this checkout")


def _compared(text: str) -> list[str]:
    """The table and its footers up to the list of missing or unfinished runs."""
    lines = text.splitlines()
    for stop in ("Missing, unfinished or unaveraged runs:", "No run is missing."):
        if stop in lines:
            return lines[: lines.index(stop)]
    raise AssertionError("a table without its list of missing runs")


@pytest.mark.parametrize("name", STUDY_TABLES)
def test_each_committed_table_is_what_its_records_give(name):
    rebuilt, _ = make_table(name, FULL, command="-")
    assert _compared((FULL / f"{name}.md").read_text()) == _compared(rebuilt), (
        f"results/full/{name}.md does not match its records: rewrite it with "
        f"`python -m gcnn.tables {name} --results-dir results/full --seeds 0`"
    )


@pytest.mark.parametrize("name", STUDY_TABLES)
def test_each_committed_csv_is_what_its_records_give(name):
    _, table = make_table(name, FULL, command="-")
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    buffer.seek(0)
    pd.testing.assert_frame_equal(pd.read_csv(FULL / f"{name}.csv"), pd.read_csv(buffer))


def test_the_committed_claims_are_what_the_committed_tables_give():
    frames = {t: pd.read_csv(FULL / f"{t}.csv") for t in STUDY_TABLES}
    assert (FULL / "claims.md").read_text() == claims.render(frames, claims.machines_of(FULL)), (
        "results/full/claims.md is stale: run `make claims RESULTS=results/full`"
    )


def test_the_readme_results_block_is_what_the_records_give():
    current, fresh = readme_block(REPO / "README.md", FULL)
    assert current == fresh, "README.md's results block is stale: run `make readme-results`"


def _finished_records() -> set[tuple[str, str, int]]:
    """(experiment, run, seed) of every committed record of a finished run under results/full/runs."""
    finished = set()
    for ref in layout.find(FULL):
        try:
            if rundir.read_metrics(ref.path) is not None:
                finished.add((ref.experiment, ref.run, ref.seed))
        except rundir.RunDirError:
            continue  # a diverged or damaged run: the tables list it, no figure draws it
    return finished


def _runs_in(csv: str) -> set[tuple[str, str, int]]:
    df = pd.read_csv(FULL / "figures" / csv)
    return set(zip(df["experiment"], df["run"], df["seed"].astype(int)))


def test_the_committed_equivariance_report_measures_exactly_the_finished_runs():
    # Drawn from the checkpoints, which git does not keep: a run finished after the last `make figures` (or a row
    # of a run whose record is gone) makes the report and README's links to it stale.
    reported, finished = _runs_in("equivariance.csv"), _finished_records()
    assert reported == finished, (
        f"results/full/equivariance.md is stale (lacks {sorted(finished - reported)}, has no record of "
        f"{sorted(reported - finished)}): run `make figures RESULTS=results/full` where the checkpoints are"
    )


def test_the_committed_angle_sweep_has_exactly_the_finished_classifiers():
    classifiers = {experiment_in(t, FULL) for t in ANGLE_TABLES}
    finished = {r for r in _finished_records() if r[0] in classifiers}
    reported = _runs_in("accuracy_vs_angle.csv")
    assert reported == finished, (
        f"results/full/figures/accuracy_vs_angle.csv is stale (lacks {sorted(finished - reported)}, has no record "
        f"of {sorted(reported - finished)}): run `make figures RESULTS=results/full` where the checkpoints are"
    )
