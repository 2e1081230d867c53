"""The packages' imports: the library (gcnn) never imports the study (gcnn_study), no circle, no module importing the
entry point, and nothing registered at import.

A circle (once: portable.py → train.seed_everything → train.py → provenance.py → portable.py) makes the order of
imports matter, and a module that imports `gcnn_study.train` pulls the Hydra entry point in with it. Both are read
from the source, every `import` of it counted, those inside functions too: such a one closed the circle.
The rest runs in a fresh interpreter, where nothing else has been imported first.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("gcnn", "gcnn_study")  # the library, and the study that uses it
ENTRY_POINT = "gcnn_study.train"


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of gcnn and gcnn_study → the modules of either it imports anywhere in its source (itself left
    out)."""
    paths = {_module(p): p for package in PACKAGES for p in sorted((SRC / package).rglob("*.py"))}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, one level up per extra dot
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from gcnn import train` imports the module gcnn_study.train; `from gcnn_study.train import run`
                # imports it too
                imported |= {f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names}
        graph[name] = {m for m in imported if m in paths and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk meets (none when the graph has none), each as the modules along it."""
    found, state = [], {}

    def walk(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                found.append(path[path.index(other) :] + [module, other])
            elif other not in state:
                walk(other, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            walk(module, [])
    return found


def _fresh(code: str) -> list:
    """Run `code` in a new interpreter with src/ on the path; its last line of output, read as JSON."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=SRC.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_import_graph_is_read_from_every_module():
    graph = import_graph()
    assert {
        "gcnn_study.train",
        "gcnn_study.process.portable",
        "gcnn_study.process.runtime",
        "gcnn_study.report.figures.runs",
        "gcnn.nn.conv",
    } <= set(graph)
    assert (
        "gcnn_study.process.runtime" in graph["gcnn_study.train"]
        and "gcnn_study.process.portable" in graph["gcnn_study.run.provenance"]
    )
    # a made-up circle is found, so an empty answer below means there is none
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_circle():
    assert circles(import_graph()) == []


def test_the_library_imports_nothing_of_the_study():
    """The layering: gcnn (groups, layers, models) is usable alone; only gcnn_study imports gcnn."""
    graph = import_graph()
    library = {m for m in graph if m.split(".")[0] == "gcnn"}
    assert library and all(m.split(".")[0] == "gcnn" for lib in library for m in graph[lib]), {
        lib: sorted(m for m in graph[lib] if m.split(".")[0] != "gcnn") for lib in library
    }
    # the graph sees a study module importing the library, so the check above has something to miss
    assert "gcnn.groups" in graph["gcnn_study.data.transforms"]


def test_no_module_imports_the_entry_point():
    assert sorted(m for m, imported in import_graph().items() if ENTRY_POINT in imported) == []


def test_portable_and_provenance_load_neither_torch_nor_the_trainer():
    """portable must run before torch loads (it sets the variables torch reads once); provenance imports it."""
    code = (
        "import sys, json, gcnn_study.process.portable, gcnn_study.run.provenance; "
        "print(json.dumps(sorted(m for m in ('torch', 'hydra', 'gcnn_study.train') if m in sys.modules)))"
    )
    assert _fresh(code) == []


def test_runtime_imports_torch_and_numpy_only():
    code = (
        "import sys, json, gcnn_study.process.runtime; "
        "ours = ('gcnn', 'gcnn_study', 'hydra', 'omegaconf'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ours)))"
    )
    # `import gcnn_study` loads portable and allocator (neither imports anything heavy), by design
    assert _fresh(code) == [
        "gcnn_study",
        "gcnn_study.process",
        "gcnn_study.process.allocator",
        "gcnn_study.process.portable",
        "gcnn_study.process.runtime",
    ]


def test_importing_the_trainer_registers_no_schema_and_no_resolver():
    """`schema.register()` runs where a config is composed (train.main, reproduce, the tests' compose), not as a
    side effect of `import gcnn_study.train`."""
    code = """
import json
import gcnn_study.train
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from gcnn_study.config import schema

def stored():
    schemas = sorted(k for k in ConfigStore.instance().repo if k.endswith("_schema.yaml"))
    return [schemas, OmegaConf.has_resolver("gcnn.run_dir")]

before = stored()
schema.register()
print(json.dumps([before, stored()]))
"""
    before, after = _fresh(code)
    assert before == [[], False]
    assert "train_schema.yaml" in after[0] and "trainer_schema.yaml" in after[0] and after[1] is True
