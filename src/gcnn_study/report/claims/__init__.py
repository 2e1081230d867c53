"""The claims engine: run the study's claims (claims.yaml) on a results folder's tables and write its claims.md.

`python -m gcnn_study.report.claims --results-dir results/full`. The claims are data, in
`gcnn_study/reference/claims.yaml` (loaded and checked by `gcnn_study.report.claims.data`): each quotes the
study's sentence, names the table cells it compares, the relation it asserts and the test it needs. This engine
runs them on the `tableN.csv` files the aggregator wrote (ours: mean, sample std and n over seeds per metric; the
study's figure beside) and on the runs' per-image results where they kept them (`gcnn_study.report.per_image`),
and writes `claims.md` (`gcnn_study.report.claims.render`).

Tests (`gcnn_study.report.stats`): two rows are compared on the same test images when every run of both kept its
`per_image.csv` (McNemar for classifiers, a paired permutation test for IoU scores, seed by seed, pooled), else
by Welch's t-test on the seeds, and the verdict says which and why. The rankings' comparisons within one table
form one family: with several, significance is read from Holm's adjusted p. With one seed on either side and
nothing to pair, only the direction is read. The verdicts are arithmetic on the records, rewritten with them; why
a number differs from the study's is for the reader (see `docs/protocol.md`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from gcnn_study.config.specs import STUDY_TABLES
from gcnn_study.report.claims.cells import (  # noqa: F401  (the verdicts' names, read by the tests and the docs)
    CONSISTENT,
    CONTRADICTED,
    EXACT,
    FAILS_MEANS,
    HOLDS,
    HOLDS_MEANS,
    NOT_HOLD,
    ONE_SEED,
    TAGS,
    UNCHECKED,
    Cell,
    Evidence,
    Gap,
    Outcome,
)
from gcnn_study.report.claims.data import Catalogue, Claim, ClaimsFileError, Unchecked, load  # noqa: F401
from gcnn_study.report.claims.rankings import Higher, SmallestGap  # noqa: F401
from gcnn_study.report.claims.relations import Close, Differs, Identical, RatioNear, SimilarParameters  # noqa: F401
from gcnn_study.report.claims.render import markdown, summary  # noqa: F401
from gcnn_study.report.per_image import PerImage
from gcnn_study.report.stats import holm


def check(
    frames: dict[str, pd.DataFrame], per_image: PerImage | None = None, catalogue: Catalogue | None = None
) -> list[tuple[Claim, Outcome]]:
    """Every claim with its outcome on these tables ({"table1": the aggregator's frame, ...}), paired on the runs'
    per-image results where `per_image` has them."""
    catalogue = catalogue or load()
    evidence = Evidence(frames, per_image)
    families: dict[str, dict] = {}  # table -> {the pair compared: its comparison}, each pair once
    for claim in catalogue.claims:
        if hasattr(claim.test, "comparisons"):
            families.setdefault(claim.test.table, {}).update(claim.test.comparisons(evidence))
    for family in families.values():
        adjusted = holm([c.p for c in family.values()])
        size = sum(not math.isnan(p) for p in adjusted)
        evidence.family.update({key: (p, size) for key, p in zip(family, adjusted)})
    return [(claim, claim.test.check(evidence)) for claim in catalogue.claims]


def render(
    frames: dict[str, pd.DataFrame],
    machines: dict[str, str] | None = None,
    per_image: PerImage | None = None,
    catalogue: Catalogue | None = None,
) -> str:
    """claims.md's text for these tables; `machines` ({table: its machines}) names where times came from."""
    catalogue = catalogue or load()
    results = check(frames, per_image, catalogue)
    return markdown(results, catalogue.not_checkable, frames, machines or {})


def machines_of(results_dir: Path) -> dict[str, str]:
    """{table: its machines, "; "-joined}, from the `tableN.json` the aggregator writes beside each table (a table
    without one names no machine)."""
    out = {}
    for path in sorted(Path(results_dir).glob("table*.json")):
        try:
            machines = json.loads(path.read_text())["machines"]
            out[path.stem] = "; ".join(machines)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SystemExit(
                f"error: {path} is not a table's facts ({type(err).__name__}: {err}); rebuild it with "
                f"`python -m gcnn_study.report.tables {path.stem} --results-dir {results_dir}`"
            ) from None
    return {table: text for table, text in out.items() if text}


def frames_of(results_dir: Path) -> dict[str, pd.DataFrame]:
    """The study's tables found in `results_dir`, by name."""
    results_dir = Path(results_dir)
    return {t: pd.read_csv(results_dir / f"{t}.csv") for t in STUDY_TABLES if (results_dir / f"{t}.csv").exists()}


def render_folder(results_dir: Path, catalogue: Catalogue | None = None) -> str | None:
    """claims.md's text for the tables, machines and per-image results of `results_dir`; None without any of
    Tables 1–4."""
    frames = frames_of(results_dir)
    if not frames:
        return None
    return render(frames, machines_of(results_dir), PerImage(results_dir), catalogue)


def write(results_dir: Path) -> Path | None:
    """Write `claims.md` for the tables found in `results_dir`; None when it holds none of Tables 1–4."""
    text = render_folder(results_dir)
    if text is None:
        return None
    out = Path(results_dir) / "claims.md"
    out.write_text(text)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results", help="the folder holding table1.csv … table4.csv")
    parser.add_argument("--claims", default=None, help="the claims file (default: the study's claims.yaml)")
    args = parser.parse_args(argv)
    try:
        catalogue = load(args.claims)
    except ClaimsFileError as err:
        raise SystemExit(f"error: {err}") from None
    text = render_folder(Path(args.results_dir), catalogue)
    if text is None:
        raise SystemExit(f"error: {args.results_dir} holds no table1.csv … table4.csv; build them with `make tables`")
    out = Path(args.results_dir) / "claims.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
