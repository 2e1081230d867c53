"""Every notebook runs as a notebook: executed top to bottom in a Jupyter kernel (nbclient), as a reader's Jupyter
would run it, not only as extracted code."""

import json

import pytest
from helpers import REPO, run_notebook

# results.ipynb needs trained runs: tests/gcnn_study/report/test_figures.py runs it on a tiny results folder it trains.
NOTEBOOKS = sorted(p for p in (REPO / "notebooks").glob("*.ipynb") if p.name != "results.ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    assert all(not cell.get("outputs") for cell in json.loads(path.read_text())["cells"]), "stored without outputs"
    executed = run_notebook(path)
    errors = [out for cell in executed.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, errors
