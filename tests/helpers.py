"""What the tests share, imported by name (`from helpers import REPO, tiny, compose_cfg`); fixtures stay in
conftest.py. pyproject.toml puts tests/ on pytest's path.

Configs are composed in one way only, through Hydra's compose API on the real `conf/` (`compose_cfg`, and the
`make_cfg` fixture that hands it out), as lightning-hydra-template's `cfg_train` does: no test merges
`defaults:` lists by hand.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

#: The one tiny trainer profile: two short epochs, two batches each way. A test that needs other numbers says
#: which (`tiny(epochs=1)`), so every tiny run is this one with its differences named.
TINY_TRAINER = {"epochs": 2, "batch_size": 16, "eval_batch_size": 32, "limit_train_batches": 2, "limit_eval_batches": 2}


def tiny(**changes) -> tuple[str, ...]:
    """Trainer overrides for a tiny run of any experiment: TINY_TRAINER with `changes` (None leaves a key out)."""
    return tuple(f"trainer.{k}={v}" for k, v in {**TINY_TRAINER, **changes}.items() if v is not None)


TINY = tiny()

# A classifier run on 64 of the sample digits: the smallest real run of the trainer.
SAMPLE_RUN = ("experiment=table1", "model=cnn", "dataset=mnist_sample", "dataset.max_train=64", "dataset.max_test=32")


def load_script(name: str):
    """scripts/<name>.py as a module (scripts/ is not a package), registered in sys.modules as dataclasses need."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


def shared_data_dir() -> Path:
    """The real MNIST / PH2 folder: GCNN_SHARED_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("GCNN_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def compose_cfg(*overrides: str, config_name: str = "train", return_hydra_config: bool = False):
    """The config `python -m gcnn_study.train <overrides>` would run, composed by Hydra itself."""
    from hydra import compose, initialize_config_dir

    from gcnn_study.config import schema

    schema.register()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def run_notebook(path: Path, timeout: int = 600, last_cell: str | None = None):
    """Execute a notebook as Jupyter does, in a kernel of this interpreter (nbclient), top to bottom; returns the
    executed notebook. `last_cell`: code appended as a final cell, whose outputs the caller reads. A cell that
    raises fails the call with the cell and its traceback (nbclient's CellExecutionError)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    if last_cell is not None:
        notebook.cells.append(nbformat.v4.new_code_cell(last_cell))
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    return notebook


def cell_text(cell) -> str:
    """What an executed cell printed (its stream outputs), as one string."""
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
