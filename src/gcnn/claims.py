"""Check the study's claims against the tables of a results folder: `python -m gcnn.claims --results-dir results/full`.

Reads the `tableN.csv` files the aggregator wrote (ours: mean, sample std and n over seeds; the study's figure
beside) and writes `claims.md`: for every claim the study makes, our numbers, the study's, and a verdict.
A ranking claim "holds" when its model comes first, and the margin is compared with the seeds' spread (the
larger of the two rows' std), so a win smaller than the spread is called what it is. "Exactly the same"
means equal means over the same seeds, to float precision. A claim whose table or rows are missing says so.
The verdicts are arithmetic on the tables, so they are rewritten whenever a table is; why a number differs
from the study's is for the reader (see `docs/protocol.md`).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gcnn.specs import CLASSIFIERS, TABLES

EXACT = 1e-9  # "the same" score: equal means to float precision, not merely to the table's three decimals


@dataclass(frozen=True)
class Row:
    label: str
    mean: float
    std: float  # nan with one seed
    n: int
    study: float


def _rows(frames: dict[str, pd.DataFrame], table: str, metric: str) -> dict[str, Row]:
    """{run name: Row} of one metric of one table; empty when the table or the metric is missing."""
    frame = frames.get(table)
    if frame is None or f"{metric}_mean" not in frame:
        return {}
    out = {}
    for _, r in frame.iterrows():
        if pd.notna(r[f"{metric}_mean"]) and r.get("n", 0) > 0:
            study = r.get(f"{metric}_study", math.nan)
            out[r["run_name"]] = Row(r["model"], r[f"{metric}_mean"], r[f"{metric}_std"], int(r["n"]), study)
    return out


def _num(x: float, percent: bool) -> str:
    return "–" if pd.isna(x) else (f"{100 * x:.1f}" if percent else f"{x:.3f}")


def _pts(x: float, percent: bool) -> str:
    return f"{100 * x:.1f} points" if percent else f"{x:.3f}"


def _spread(a: Row, b: Row) -> float:
    return max(a.std, b.std) if a.n > 1 and b.n > 1 else math.nan


def beats(rows: dict[str, Row], winner: str, others: list[str], percent: bool) -> tuple[str, str, str]:
    """(ours, study, verdict) for "`winner` scores higher than every one of `others`"."""
    need = [winner, *others]
    if any(name not in rows for name in need):
        return "–", "–", "not checked: no finished runs of " + ", ".join(n for n in need if n not in rows)
    w = rows[winner]
    best_other = max((rows[o] for o in others), key=lambda r: r.mean)
    ours = ", ".join(f"{rows[n].label} {_num(rows[n].mean, percent)}" for n in need)
    study = ", ".join(f"{rows[n].label} {_num(rows[n].study, percent)}" for n in need)
    margin, spread = w.mean - best_other.mean, _spread(w, best_other)
    if margin > 0:
        verdict = f"**holds**: {_pts(margin, percent)} ahead of {best_other.label}"
    else:
        verdict = f"**does not hold**: {best_other.label} is {_pts(-margin, percent)} ahead"
    if math.isnan(spread):
        verdict += " (one seed: spread unknown)"
    else:
        relation = ", more than" if abs(margin) > spread else ", within"
        verdict += f"{relation} the seeds' spread ({_pts(spread, percent)})"
    return ours, study, verdict


def same_scores(a: dict[str, Row], b: dict[str, Row], names: list[str], want_equal: bool) -> tuple[str, str, str]:
    """(ours, study, verdict) for "the scores of `a` and `b` are (not) the same" for each model in `names`."""
    if any(n not in a or n not in b for n in names):
        return "–", "–", "not checked: no finished runs of " + ", ".join(n for n in names if n not in a or n not in b)
    ours = ", ".join(f"{a[n].label} {_num(a[n].mean, False)} / {_num(b[n].mean, False)}" for n in names)
    study = ", ".join(f"{a[n].label} {_num(a[n].study, False)} / {_num(b[n].study, False)}" for n in names)
    gaps = {n: abs(a[n].mean - b[n].mean) for n in names}
    equal = [n for n, g in gaps.items() if g <= EXACT and a[n].n == b[n].n]
    largest = max(gaps.values())
    if want_equal:
        ok = len(equal) == len(names)
        verdict = "**holds**: identical means" if ok else f"**does not hold**: largest difference {largest:.2g}"
    else:
        ok = not equal
        verdict = f"**holds**: they differ by {largest:.3f}" if ok else "**does not hold**: identical means"
    return ours, study, verdict


def overfits_least(frames: dict[str, pd.DataFrame], winner: str) -> tuple[str, str, str]:
    """(ours, study, verdict) for "`winner` has the smallest train − test gap" in Table 4."""
    train, test = _rows(frames, "table4", "train_iou_score"), _rows(frames, "table4", "test_iou_score")
    names = [n for _, n in TABLES["table4"].rows]
    if any(n not in train or n not in test for n in names):
        return "–", "–", "not checked: Table 4 is incomplete"
    gap = {n: train[n].mean - test[n].mean for n in names}
    study_gap = {n: train[n].study - test[n].study for n in names}
    ours = ", ".join(f"{train[n].label} {gap[n]:.3f}" for n in names)
    study = ", ".join(f"{train[n].label} {study_gap[n]:.3f}" for n in names)
    runner_up = min((n for n in names if n != winner), key=gap.get)
    margin = gap[runner_up] - gap[winner]
    if margin > 0:
        return ours, study, f"**holds**: its gap is {margin:.3f} smaller than {train[runner_up].label}'s"
    return ours, study, f"**does not hold**: {train[runner_up].label}'s gap is {-margin:.3f} smaller"


def _other_classifiers(winner: str) -> list[str]:
    return [name for _, name in CLASSIFIERS if name != winner]


def check(frames: dict[str, pd.DataFrame]) -> list[tuple[str, str, str, str, str]]:
    """(claim, where, ours, study, verdict) for every claim of the study."""
    t1_up, t1_tr = _rows(frames, "table1", "test_acc"), _rows(frames, "table1", "test_transformed_acc")
    t2 = _rows(frames, "table2", "test_acc")
    t3, t3_rot = _rows(frames, "table3", "test_iou_score"), _rows(frames, "table3", "test_rotated_iou_score")
    t4 = _rows(frames, "table4", "test_iou_score")
    t1_tr_at, t1_up_at, t2_at = "Table 1, +transforms, %", "Table 1, upright, %", "Table 2, Rot-MNIST, %"
    t3_at = "Table 3, IoU score test / rotated"
    return [
        (
            "D4CNN is best on the transformed test set",
            t1_tr_at,
            *beats(t1_tr, "d4cnn", _other_classifiers("d4cnn"), True),
        ),
        ("CNN is best on the upright test set", t1_up_at, *beats(t1_up, "cnn", _other_classifiers("cnn"), True)),
        ("P4CNN beats P6CNN", t1_tr_at, *beats(t1_tr, "p4cnn", ["p6cnn"], True)),
        ("P8CNN beats P6CNN", t1_tr_at, *beats(t1_tr, "p8cnn", ["p6cnn"], True)),
        ("P4CNN beats P6CNN", t2_at, *beats(t2, "p4cnn", ["p6cnn"], True)),
        ("P8CNN beats P6CNN", t2_at, *beats(t2, "p8cnn", ["p6cnn"], True)),
        ("P4CNN is best on Rot-MNIST", t2_at, *beats(t2, "p4cnn", _other_classifiers("p4cnn"), True)),
        (
            "Group SegNets score the same on the test and rotated test sets",
            t3_at,
            *same_scores(t3, t3_rot, ["p4segnet", "d4segnet", "p4segnet+"], want_equal=True),
        ),
        ("SegNet+ is not equivariant (its two scores differ)", t3_at, *same_scores(t3, t3_rot, ["segnet+"], False)),
        (
            "D4SegNet_T is best on the test set",
            "Table 4, test IoU score",
            *beats(t4, "d4segnet_t", ["segnet_t", "p4segnet_t"], False),
        ),
        ("D4SegNet_T overfits least", "Table 4, train − test IoU score", *overfits_least(frames, "d4segnet_t")),
    ]


def render(frames: dict[str, pd.DataFrame]) -> str:
    """claims.md's text for these tables ({"table1": the aggregator's frame, ...})."""
    lines = [
        "# The study's claims, checked against these tables",
        "",
        "Written by `python -m gcnn.claims` from the `tableN.csv` files beside it (ours: mean over seeds; the "
        "study's figures from its report). Margins are compared with the seeds' spread (the larger sample std of "
        "the two rows). Which runs, data and epochs each table aggregates is printed under that table.",
        "",
        "| Claim | Where | Ours | Study | Verdict on ours |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in check(frames)]) + "\n"


def write(results_dir: Path) -> Path | None:
    """Write `claims.md` for the tables found in `results_dir`; None when it holds none of Tables 1–4."""
    results_dir = Path(results_dir)
    found = [t for t in ("table1", "table2", "table3", "table4") if (results_dir / f"{t}.csv").exists()]
    if not found:
        return None
    out = results_dir / "claims.md"
    out.write_text(render({t: pd.read_csv(results_dir / f"{t}.csv") for t in found}))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results", help="the folder holding table1.csv … table4.csv")
    args = parser.parse_args(argv)
    out = write(Path(args.results_dir))
    if out is None:
        raise SystemExit(f"error: {args.results_dir} holds no table1.csv … table4.csv; build them with `make tables`")
    print(out.read_text())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
