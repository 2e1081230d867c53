"""Load the study's claims from claims.yaml into the tests the engine runs, refusing unknown names in one line.

The file is `gcnn_study/reference/claims.yaml` (its header comment says what each field means); a claim that names
an unknown table, row, column, relation or test stops the load with the file, the claim's id and what to do."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from gcnn_study.config.specs import TABLES
from gcnn_study.report.claims.cells import Cell
from gcnn_study.report.claims.rankings import Higher, SmallestGap
from gcnn_study.report.claims.relations import Close, Differs, Identical, RatioNear, SimilarParameters

# Each relation: the tests it may name, and the fields it needs beyond id, source, quote, statement, relation, test
# and table.
RELATIONS = {
    "above": (("paired", "welch"), ("column", "subject", "rivals")),
    "below": (("paired", "welch"), ("column", "subject", "rivals")),
    "about_the_same": (("paired", "welch"), ("column", "a", "b")),
    "identical": (("exact",), ("column", "other", "rows")),
    "differs": (("exact",), ("column", "a", "b")),
    "ratio": (("delta_method",), ("column", "a", "b", "factor", "range")),
    "smallest_gap": (("welch",), ("column", "train", "subject")),
    "similar_parameters": (("parameter_budget",), ("tolerance",)),
}
TESTS = {test for tests, _ in RELATIONS.values() for test in tests}
COMMON = ("id", "source", "quote", "statement", "relation", "test", "table")


@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # where in the study: a section, or a table's bold type
    quote: str  # the study's sentence, verbatim
    statement: str  # what is tested, in our words
    test: Higher | Identical | Differs | Close | RatioNear | SmallestGap | SimilarParameters


@dataclass(frozen=True)
class Unchecked:
    id: str
    source: str
    quote: str
    reason: str
    timing: tuple[str, tuple[str, ...]] | None = None  # (table, (run, run)): our training times, for information


@dataclass(frozen=True)
class Catalogue:
    claims: tuple[Claim, ...]
    not_checkable: tuple[Unchecked, ...]


class ClaimsFileError(ValueError):
    """A claims file that names what no table has, or lacks what a relation needs."""


def default_path() -> Path:
    return Path(str(resources.files("gcnn_study.reference").joinpath("claims.yaml")))


def load(path: Path | str | None = None) -> Catalogue:
    """The claims and the uncheckable statements of `path` (default: the study's, read once), each name checked."""
    return _study() if path is None else _read(Path(path))


@functools.cache
def _study() -> Catalogue:
    return _read(default_path())


def _read(path: Path) -> Catalogue:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ClaimsFileError(f"{path}: cannot be read as YAML ({str(err).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ClaimsFileError(f"{path}: needs a list `claims:` (and `not_checkable:`); see its header comment")
    claims = tuple(_claim(path, entry) for entry in data["claims"])
    unchecked = tuple(_unchecked(path, entry) for entry in data.get("not_checkable") or [])
    ids = [c.id for c in claims] + [u.id for u in unchecked]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ClaimsFileError(f"{path}: claim {repeated[0]} appears twice; give each claim its own id")
    return Catalogue(claims, unchecked)


def _fail(path: Path, entry, what: str, fix: str):
    ident = entry.get("id", "?") if isinstance(entry, dict) else "?"
    raise ClaimsFileError(f"{path}: claim {ident}: {what}; {fix}")


def _texts(path: Path, entry, keys: tuple[str, ...]) -> list[str]:
    if not isinstance(entry, dict):
        _fail(path, entry, f"is {type(entry).__name__}, not a mapping", "write it as `- id: ...` with its fields")
    missing = [k for k in keys if not isinstance(entry.get(k), (str, int)) or str(entry[k]).strip() == ""]
    if missing:
        _fail(path, entry, f"lacks {', '.join(missing)}", "add it (see the header comment of the file)")
    return [str(entry[k]) for k in keys]


def _claim(path: Path, entry) -> Claim:
    ident, source, quote, statement, relation, test, table = _texts(path, entry, COMMON)
    if relation not in RELATIONS:
        _fail(path, entry, f"unknown relation {relation!r}", f"use one of {', '.join(RELATIONS)}")
    tests, required = RELATIONS[relation]
    if test not in tests:
        known = "" if test in TESTS else " (no such test)"
        _fail(path, entry, f"test {test!r} does not fit relation {relation}{known}", f"use {' or '.join(tests)}")
    if table not in TABLES:
        _fail(path, entry, f"unknown table {table!r}", f"use one of {', '.join(TABLES)}")
    extra = sorted(set(entry) - set(COMMON) - set(required))
    if extra:
        _fail(path, entry, f"unknown field {extra[0]!r} for relation {relation}", f"use {', '.join(required)}")
    absent = [k for k in required if entry.get(k) is None]
    if absent:
        _fail(path, entry, f"relation {relation} needs {', '.join(absent)}", "add it")
    spec = TABLES[table]
    rows, columns = [r.run for r in spec.rows], [key for _, key in spec.columns + spec.extra]

    def row(name) -> str:
        if name not in rows:
            _fail(path, entry, f"unknown row {name!r} of {table}", f"use one of {', '.join(rows)}")
        return name

    def column(name) -> str:
        if name not in columns:
            _fail(path, entry, f"unknown column {name!r} of {table}", f"use one of {', '.join(columns)}")
        return name

    def cell(ref) -> Cell:
        """`p4cnn` (the claim's column), or {row: p4cnn, column: test_acc}."""
        if isinstance(ref, dict):
            if set(ref) != {"row", "column"}:
                _fail(path, entry, f"cell {ref} is not {{row: ..., column: ...}}", "write both, and nothing else")
            return Cell(table, column(ref["column"]), row(ref["row"]))
        return Cell(table, column(entry["column"]), row(ref))

    paired = test == "paired"
    if relation in ("above", "below"):
        subject = cell(entry["subject"])
        rivals = entry["rivals"]
        if rivals == "all":
            rivals = [r for r in rows if r != subject.run]
        if not isinstance(rivals, list) or not rivals:
            _fail(path, entry, "rivals is neither `all` nor a list of rows", "list the rows it is compared with")
        rival_cells = tuple(cell(r) for r in rivals)
        _check_paired(path, entry, paired, subject, rival_cells)
        rule = Higher(subject, rival_cells, relation == "below", paired)
    elif relation == "about_the_same":
        a, b = cell(entry["a"]), cell(entry["b"])
        _check_paired(path, entry, paired, a, (b,))
        rule = Close(a, b, paired)
    elif relation == "identical":
        if not isinstance(entry["rows"], list) or not entry["rows"]:
            _fail(path, entry, "rows is not a list of rows", f"list rows of {table}, e.g. [{rows[0]}]")
        rule = Identical(table, column(entry["column"]), column(entry["other"]), tuple(row(r) for r in entry["rows"]))
    elif relation == "differs":
        rule = Differs(cell(entry["a"]), cell(entry["b"]))
    elif relation == "ratio":
        low, high = _range(path, entry)
        rule = RatioNear(cell(entry["a"]), cell(entry["b"]), str(entry["factor"]), low, high)
    elif relation == "smallest_gap":
        rule = SmallestGap(table, column(entry["train"]), column(entry["column"]), row(entry["subject"]))
    else:
        tolerance = entry["tolerance"]
        if not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
            _fail(path, entry, f"tolerance {tolerance!r} is not a fraction", "write e.g. 0.01 for 1 %")
        rule = SimilarParameters(table, float(tolerance))
    return Claim(ident, source, quote, statement, rule)


def _check_paired(path, entry, paired: bool, first: Cell, others: tuple[Cell, ...]) -> None:
    if paired and any(c.metric != first.metric or c.run == first.run for c in others):
        _fail(path, entry, "a paired test compares the same column of two rows", "use test: welch")


def _range(path: Path, entry) -> tuple[float, float]:
    bounds = entry["range"]
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)):
        _fail(path, entry, f"range {bounds!r} is not [low, high]", "write two numbers, e.g. [1.75, 2.25]")
    if bounds[0] > bounds[1]:
        _fail(path, entry, f"range {bounds} has low above high", "swap them")
    return float(bounds[0]), float(bounds[1])


def _unchecked(path: Path, entry) -> Unchecked:
    ident, source, quote, reason = _texts(path, entry, ("id", "source", "quote", "reason"))
    extra = sorted(set(entry) - {"id", "source", "quote", "reason", "timing"})
    if extra:
        _fail(path, entry, f"unknown field {extra[0]!r}", "use id, source, quote, reason and optionally timing")
    timing = entry.get("timing")
    if timing is None:
        return Unchecked(ident, source, quote, reason)
    table, runs = (timing.get("table"), timing.get("rows")) if isinstance(timing, dict) else (None, None)
    if table not in TABLES or not isinstance(runs, list) or len(runs) != 2:
        _fail(
            path, entry, f"timing {timing} is not {{table: <a table>, rows: [two rows]}}", "name a table and two rows"
        )
    unknown = [r for r in runs if r not in TABLES[table].runs]
    if unknown:
        _fail(path, entry, f"unknown row {unknown[0]!r} of {table} in timing", f"use rows of {table}")
    return Unchecked(ident, source, quote, reason, (table, tuple(runs)))
