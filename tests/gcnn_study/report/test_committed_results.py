"""What is committed under results/full/ is what the code writes from the committed records: each table's
rows, footers and csv, the claims, the README's results block, and the set of runs the figures measured. A record
added without its table, or a table edited by hand, fails here. Only finished runs are read, so a clone without
checkpoints gives the same answer as the work tree that ran them (the list of unfinished runs, which depends on
checkpoints, is not compared)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from gcnn_study.report import claims
from gcnn_study.report.figures.draw import ANGLE_TABLES
from gcnn_study.report.figures.runs import finished_records
from gcnn_study.run.records import record_id
from gcnn_study.config.specs import experiment_in
from gcnn_study.report.tables import STUDY_TABLES, make_table, readme_block
from helpers import REPO

FULL = REPO / "results/full"
pytestmark = [
    pytest.mark.records,
    pytest.mark.skipif(not (FULL / "runs").is_dir(), reason="no results/full/runs in this checkout"),
]


def _compared(text: str) -> list[str]:
    """The table and its footers up to the list of missing or unfinished runs."""
    lines = text.splitlines()
    for stop in ("Missing, unfinished or unaveraged runs:", "No run is missing."):
        if stop in lines:
            return lines[: lines.index(stop)]
    raise AssertionError("a table without its list of missing runs")


@pytest.mark.parametrize("name", STUDY_TABLES)
def test_each_committed_table_is_what_its_records_give(name):
    rebuilt, _, _ = make_table(name, FULL, command="-")
    assert _compared((FULL / f"{name}.md").read_text()) == _compared(rebuilt), (
        f"results/full/{name}.md does not match its records: rewrite it with "
        f"`python -m gcnn_study.report.tables {name} --results-dir results/full --seeds 0`"
    )


@pytest.mark.parametrize("name", STUDY_TABLES)
def test_each_committed_csv_is_what_its_records_give(name):
    _, table, _ = make_table(name, FULL, command="-")
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    buffer.seek(0)
    pd.testing.assert_frame_equal(pd.read_csv(FULL / f"{name}.csv"), pd.read_csv(buffer))


def test_the_committed_claims_are_what_the_committed_tables_give():
    assert (FULL / "claims.md").read_text() == claims.render_folder(FULL), (
        "results/full/claims.md is stale: run `make claims RESULTS=results/full`"
    )


def test_the_readme_results_block_is_what_the_records_give():
    current, fresh = readme_block(REPO / "README.md", FULL)
    assert current == fresh, "README.md's results block is stale: run `make readme-results`"


REDRAW = "run `make figures RESULTS=results/full` where the checkpoints are"


def _check_measured(csv: str, finished: dict) -> None:
    """The runs in results/full/figures/<csv>, with those listed as unmeasured beside it (finished, their checkpoint
    lost before they were measured), are exactly `finished` ({(experiment, run, seed): run dir}), each row from the
    record that is committed now (a run trained again since has another record)."""
    df = pd.read_csv(FULL / "figures" / csv)
    unmeasured = pd.read_csv(FULL / "figures" / csv.replace(".csv", "_unmeasured.csv"))
    measured = set(zip(df["experiment"], df["run"], df["seed"].astype(int)))
    listed = set(zip(unmeasured["experiment"], unmeasured["run"], unmeasured["seed"].astype(int)))
    both = measured & listed
    assert not both, f"results/full/figures/{csv} both measures and lists as unmeasured {sorted(both)}"
    assert measured | listed == set(finished), (
        f"results/full/figures/{csv} is stale (lacks {sorted(set(finished) - measured - listed)}, has no record of "
        f"{sorted((measured | listed) - set(finished))}): {REDRAW}"
    )
    rows = [*zip(df["experiment"], df["run"], df["seed"].astype(int), df["record"])]
    rows += zip(unmeasured["experiment"], unmeasured["run"], unmeasured["seed"].astype(int), unmeasured["record"])
    other = sorted({(e, r, s) for e, r, s, rec in rows if rec != record_id(finished[e, r, s])})
    assert not other, f"results/full/figures/{csv} measured other records of {other}: {REDRAW}"


def _finished() -> dict:
    return {(ref.experiment, ref.run, ref.seed): ref.path for ref in finished_records(FULL)}


def test_the_committed_equivariance_report_measures_exactly_the_finished_runs():
    # Drawn from the checkpoints, which git does not keep: a run finished after the last `make figures`, a run
    # trained again since, or a row of a run whose record is gone makes the report and docs/results.md's reading stale.
    _check_measured("equivariance.csv", _finished())


def test_the_committed_angle_sweep_has_exactly_the_finished_classifiers():
    classifiers = {experiment_in(t, FULL) for t in ANGLE_TABLES}
    _check_measured("accuracy_vs_angle.csv", {k: v for k, v in _finished().items() if k[0] in classifiers})


@pytest.mark.records
def test_table1_says_its_cnn_row_mixes_two_processor_generations():
    """Seed 0 of Table 1 trained on a Zen 4 "AMD EPYC" (its CNN before the records named the model), seeds 1-2 on a
    Zen 5 one: the same name, other kernels. The table must say so, in its footer and in the CNN row."""
    text = (FULL / "table1.md").read_text()
    assert "AMD EPYC (AuthenticAMD family 25 model 17)" in text and "AMD EPYC (AuthenticAMD family 26 model 2)" in text
    assert "WARNING: these runs come from different machines" in text
    cnn = next(line for line in text.splitlines() if line.startswith("| CNN |"))
    assert "mixed:" in cnn and "family 26 model 2" in cnn
