"""Every notebook's code runs top to bottom (matplotlib without a display)."""

import json

import matplotlib
import pytest
from helpers import REPO

# results.ipynb needs trained runs: tests/test_figures.py runs it on a tiny results folder it trains.
NOTEBOOKS = sorted(p for p in (REPO / "notebooks").glob("*.ipynb") if p.name != "results.ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    matplotlib.use("Agg")
    cells = json.loads(path.read_text())["cells"]
    namespace = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
