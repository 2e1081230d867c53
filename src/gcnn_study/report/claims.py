"""Check the study's claims against the tables of a results folder: `python -m gcnn_study.report.claims --results-dir
results/full`.

Every quantitative or comparative sentence the study writes about its Tables 1–4 is one `Claim` below, in the
order of the text, with the sentence quoted, the cells of the tables it reads and the test it gets. Sentences
that the tables cannot decide (timing, figures, hypotheses, the protocol) are listed in `NOT_CHECKABLE` with
the reason. `claims.md` is written from the `tableN.csv` files the aggregator wrote (ours: mean, sample std and
n over seeds per metric; the study's figure beside, from `gcnn_study/reference/study_results.csv`).

Tests (`gcnn_study.report.stats`): a comparison of two rows is Welch's t-test on the seeds, reported with the
difference,
its 95 % interval, p and the n of each side; "A beats every other" needs each rival beaten. With one seed on
either side only the direction is read ("one seed: direction only"). Two columns of one row (test and rotated
test of the same runs) are compared the same way; the tables keep no per-seed values, so the pairing is not
used, which makes such a test conservative when the two scores move together. "The same" means equal means
to float precision; "about the same" is a difference whose interval contains 0; a ratio claim ("drops to a
third") holds when the ratio lies nearer to the stated factor than to its neighbours (1/4, 1/2 for a third).
The verdicts are arithmetic on the tables, rewritten with them; why a number differs from the study's is for
the reader (see `docs/protocol.md`).
"""

from __future__ import annotations

import argparse
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gcnn_study.report.stats import LEVEL, Comparison, Sample, gap, ratio, welch
from gcnn_study.specs import STUDY_TABLES, TABLES

EXACT = 1e-9  # "the same" score: equal means to float precision, not merely to the table's three decimals
PARAMS_TOLERANCE = 0.01  # "approximately the same number of parameters": within 1 % of the largest

# Verdict tags, shown in bold at the start of each verdict and counted in the summary.
HOLDS = "holds"  # the claimed relation, significant at 95 %
HOLDS_MEANS = "holds for the means, not significant"
FAILS_MEANS = "fails for the means, not significant"
CONTRADICTED = "contradicted"  # the opposite, significant at 95 %
ONE_SEED = "one seed: direction only"
CONSISTENT = "consistent"  # "about the same": no significant difference
NOT_HOLD = "does not hold"  # an exact statement (identical scores, parameter budget) that is false
UNCHECKED = "not checked"
TAGS = (HOLDS, HOLDS_MEANS, CONSISTENT, ONE_SEED, FAILS_MEANS, NOT_HOLD, CONTRADICTED, UNCHECKED)


# ----------------------------------------------------------------------------------------------- table cells
@dataclass(frozen=True)
class Cell:
    """One metric of one table row (run name as in `gcnn_study.specs`)."""

    table: str
    metric: str
    run: str

    @property
    def label(self) -> str:
        return dict((name, label) for label, name in TABLES[self.table].rows)[self.run]

    @property
    def column(self) -> str:
        spec = TABLES[self.table]
        return dict((key, title) for title, key in spec.columns + spec.extra)[self.metric]

    def _row(self, frames: dict[str, pd.DataFrame]):
        frame = frames.get(self.table)
        if frame is None or f"{self.metric}_mean" not in frame:
            return None
        rows = frame[frame["run_name"] == self.run]
        return None if rows.empty else rows.iloc[0]

    def sample(self, frames) -> Sample | None:
        """Mean, std and n of the cell; None when the table, the column or the row's runs are missing."""
        r = self._row(frames)
        if r is None or pd.isna(r[f"{self.metric}_mean"]):
            return None
        n = r.get(f"{self.metric}_n", r.get("n", 0))  # n per metric; older tables count runs per row
        return Sample(float(r[f"{self.metric}_mean"]), float(r[f"{self.metric}_std"]), int(n)) if n > 0 else None

    def study(self, frames) -> float:
        r = self._row(frames)
        value = r.get(f"{self.metric}_study", math.nan) if r is not None else math.nan
        return math.nan if pd.isna(value) else float(value)

    def missing(self, frames) -> str:
        if self.table not in frames:
            return f"{self.table}.csv is missing"
        if f"{self.metric}_mean" not in frames[self.table]:
            return f"{self.table}.csv has no column {self.metric}"
        return f"no finished runs of {self.run} in {self.table}"


@dataclass(frozen=True)
class Gap:
    """first − second of one row (train − test of the same runs); its spread is the bound of
    `gcnn_study.report.stats.gap`."""

    first: Cell
    second: Cell

    @property
    def table(self) -> str:
        return self.first.table

    @property
    def label(self) -> str:
        return self.first.label

    def sample(self, frames) -> Sample | None:
        a, b = self.first.sample(frames), self.second.sample(frames)
        return None if a is None or b is None else gap(a, b)

    def study(self, frames) -> float:
        return self.first.study(frames) - self.second.study(frames)

    def missing(self, frames) -> str:
        return self.first.missing(frames) if self.first.sample(frames) is None else self.second.missing(frames)


def _percent(q) -> bool:
    return TABLES[q.table].percent


def _num(x: float, percent: bool) -> str:
    return "–" if pd.isna(x) else (f"{100 * x:.1f}" if percent else f"{x:.3f}")


def _pts(x: float, percent: bool) -> str:
    return f"{100 * x:.1f} points" if percent else f"{x:.3f}"


def _with_spread(s: Sample, percent: bool) -> str:
    text = _num(s.mean, percent)
    if s.n > 1:
        text += f" ± {_num(s.std, percent)}"
    return f"{text} (n={s.n})"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _interval(c: Comparison, percent: bool) -> str:
    lo, hi = (100 * c.low, 100 * c.high) if percent else (c.low, c.high)
    digits = 1 if percent else 3
    return f"{LEVEL:.0%} CI [{lo:+.{digits}f}, {hi:+.{digits}f}]".replace("%", " %")


def _stat_text(c: Comparison, percent: bool) -> str:
    return f"{_interval(c, percent)}, Welch {_p(c.p)}, n = {c.n_a}, {c.n_b}"


@dataclass(frozen=True)
class Outcome:
    ours: str
    study: str
    tag: str
    detail: str
    direction_ok: bool | None = None  # for one-seed verdicts: whether the claimed direction holds

    @property
    def verdict(self) -> str:
        return f"**{self.tag}**" + (f": {self.detail}" if self.detail else "")


def _unchecked(what) -> Outcome:
    return Outcome("–", "–", UNCHECKED, what)


# ----------------------------------------------------------------------------------------------- the tests
def _names(quantities, with_column: bool) -> list[str]:
    return [f"{q.label} {q.column}" if with_column and isinstance(q, Cell) else q.label for q in quantities]


def _listing(quantities, values, fmt, with_column) -> str:
    return ", ".join(f"{name} {fmt(v)}" for name, v in zip(_names(quantities, with_column), values))


@dataclass(frozen=True)
class Higher:
    """`subject` scores higher than each of `rivals` (lower when `lower`): Welch's test against every rival."""

    subject: Cell | Gap
    rivals: tuple
    lower: bool = False

    def _with_column(self) -> bool:
        return len({getattr(q, "metric", None) for q in (self.subject, *self.rivals)}) > 1

    def describe(self) -> str:
        what = "below" if self.lower else "above"
        each = "each of " if len(self.rivals) > 1 else ""
        me, *rivals = _names((self.subject, *self.rivals), self._with_column())
        same_runs = self._with_column() and all(getattr(r, "run", None) == self.subject.run for r in self.rivals)
        paired = " (same runs, treated as independent)" if same_runs else ""
        return f"{me} {what} {each}{', '.join(rivals)}: Welch's t-test{paired}"

    def check(self, frames) -> Outcome:
        quantities = (self.subject, *self.rivals)
        samples = [q.sample(frames) for q in quantities]
        if any(s is None for s in samples):
            return _unchecked(
                "; ".join(dict.fromkeys(q.missing(frames) for q, s in zip(quantities, samples) if s is None))
            )
        percent = _percent(self.subject)
        with_column = self._with_column()
        ours = _listing(quantities, samples, lambda s: _with_spread(s, percent), with_column)
        study = _listing(quantities, [q.study(frames) for q in quantities], lambda v: _num(v, percent), with_column)
        # Each comparison oriented so that a positive difference is the claimed direction.
        tests = [
            (rival, welch(samples[0], s) if not self.lower else welch(s, samples[0]))
            for rival, s in zip(_names(self.rivals, with_column), samples[1:])
        ]
        me = _names([self.subject], with_column)[0]
        claimed, other = ("below", "above") if self.lower else ("above", "below")

        def said(rival: str, c: Comparison) -> str:
            """The difference in words: positive c.diff is the claimed direction."""
            return f"{me} {_pts(abs(c.diff), percent)} {claimed if c.diff >= 0 else other} {rival}"

        if not all(c.testable for _, c in tests):
            worst = min(tests, key=lambda t: t[1].diff)
            ok = worst[1].diff > 0
            note = "the direction holds" if ok else "the direction fails"
            return Outcome(ours, study, ONE_SEED, f"{note}: {said(*worst)} (n = {worst[1].n_a}, {worst[1].n_b})", ok)
        against = [t for t in tests if t[1].diff <= 0]
        if not against:
            weakest = max(tests, key=lambda t: t[1].p)
            tag = HOLDS if all(c.significant for _, c in tests) else HOLDS_MEANS
            closest = "" if len(tests) == 1 else "closest: "
            return Outcome(ours, study, tag, f"{closest}{said(*weakest)}, {_stat_text(weakest[1], percent)}")
        significant = [t for t in against if t[1].significant]
        tag = CONTRADICTED if significant else FAILS_MEANS
        worst = min(significant or against, key=lambda t: t[1].diff)
        return Outcome(ours, study, tag, f"{said(*worst)}, {_stat_text(worst[1], percent)}")


@dataclass(frozen=True)
class Identical:
    """Each run of `runs` has the same mean in `metric` and `other` (float precision) over the same seeds."""

    table: str
    metric: str
    other: str
    runs: tuple[str, ...]

    def describe(self) -> str:
        return f"equal means to {EXACT:g} over the same seeds"

    def check(self, frames) -> Outcome:
        pairs = [(Cell(self.table, self.metric, r), Cell(self.table, self.other, r)) for r in self.runs]
        missing = [c.missing(frames) for pair in pairs for c in pair if c.sample(frames) is None]
        if missing:
            return _unchecked("; ".join(dict.fromkeys(missing)))
        ours = ", ".join(
            f"{a.label} {_num(a.sample(frames).mean, False)} / {_num(b.sample(frames).mean, False)}"
            f" (n={a.sample(frames).n})"
            for a, b in pairs
        )
        study = ", ".join(
            f"{a.label} {_num(a.study(frames), False)} / {_num(b.study(frames), False)}" for a, b in pairs
        )
        gaps = [abs(a.sample(frames).mean - b.sample(frames).mean) for a, b in pairs]
        same_n = all(a.sample(frames).n == b.sample(frames).n for a, b in pairs)
        runs = sum(a.sample(frames).n for a, _ in pairs)
        if max(gaps) <= EXACT and same_n:
            return Outcome(
                ours, study, HOLDS, f"identical means in all {runs} runs (largest difference {max(gaps):.1g})"
            )
        return Outcome(ours, study, NOT_HOLD, f"largest difference {max(gaps):.2g}")


@dataclass(frozen=True)
class Differs:
    """`a` and `b` (two columns of one row) differ; and whether the difference is systematic over the seeds."""

    a: Cell
    b: Cell

    def describe(self) -> str:
        return "means differ beyond float precision (any difference shows the model is not exactly equivariant)"

    def check(self, frames) -> Outcome:
        sa, sb = self.a.sample(frames), self.b.sample(frames)
        if sa is None or sb is None:
            return _unchecked(self.a.missing(frames) if sa is None else self.b.missing(frames))
        ours = f"{self.a.label} {_with_spread(sa, False)} / {_with_spread(sb, False)}"
        study = f"{self.a.label} {_num(self.a.study(frames), False)} / {_num(self.b.study(frames), False)}"
        c = welch(sa, sb)
        if abs(c.diff) <= EXACT:
            return Outcome(ours, study, NOT_HOLD, "identical means")
        systematic = (
            f"; systematic over seeds? {_stat_text(c, False)}" if c.testable else " (one seed: no test of a trend)"
        )
        return Outcome(ours, study, HOLDS, f"they differ by {abs(c.diff):.3f}{systematic}")


@dataclass(frozen=True)
class Close:
    """`a` and `b` score about the same: the interval of their difference contains 0."""

    a: Cell
    b: Cell

    def describe(self) -> str:
        return "Welch's t-test: the 95 % CI of the difference contains 0"

    def check(self, frames) -> Outcome:
        sa, sb = self.a.sample(frames), self.b.sample(frames)
        if sa is None or sb is None:
            return _unchecked(self.a.missing(frames) if sa is None else self.b.missing(frames))
        percent = _percent(self.a)
        ours = f"{self.a.label} {_with_spread(sa, percent)}, {self.b.label} {_with_spread(sb, percent)}"
        study = ", ".join(f"{q.label} {_num(q.study(frames), percent)}" for q in (self.a, self.b))
        c = welch(sa, sb)
        diff = f"difference {_pts(c.diff, percent)}"
        if not c.testable:
            return Outcome(ours, study, ONE_SEED, f"{diff}, no test (n = {c.n_a}, {c.n_b})")
        if c.significant:
            return Outcome(ours, study, NOT_HOLD, f"{diff}, {_stat_text(c, percent)}")
        return Outcome(ours, study, CONSISTENT, f"{diff}, {_stat_text(c, percent)}: the runs cannot tell them apart")


@dataclass(frozen=True)
class RatioNear:
    """a / b is nearer to `factor` than to the neighbouring factors: it lies in [low, high]."""

    a: Cell
    b: Cell
    factor: str  # as the study words it, e.g. "a third"
    low: float
    high: float

    def describe(self) -> str:
        a, b = (f"{q.label} {q.column}" if self.a.metric != self.b.metric else q.label for q in (self.a, self.b))
        return f"{a} / {b} in [{self.low:g}, {self.high:g}] (nearer {self.factor} than its neighbours)"

    def check(self, frames) -> Outcome:
        sa, sb = self.a.sample(frames), self.b.sample(frames)
        if sa is None or sb is None:
            return _unchecked(self.a.missing(frames) if sa is None else self.b.missing(frames))
        percent = _percent(self.a)
        names = [f"{q.label} {q.column}" if self.a.metric != self.b.metric else q.label for q in (self.a, self.b)]
        r = ratio(sa, sb)
        if math.isnan(r.value):
            return _unchecked(f"the ratio is undefined: {self.b.label}'s {self.b.column} is 0")
        study_r = self.a.study(frames) / self.b.study(frames)
        ours = f"{names[0]} {_with_spread(sa, percent)}, {names[1]} {_with_spread(sb, percent)}: ratio {r.value:.2f}"
        study = (
            f"{names[0]} {_num(self.a.study(frames), percent)}, {names[1]} {_num(self.b.study(frames), percent)}: "
            f"ratio {study_r:.2f}"
        )
        inside = self.low <= r.value <= self.high
        if not r.testable:
            note = "inside" if inside else "outside"
            return Outcome(ours, study, ONE_SEED, f"ratio {r.value:.2f}, {note} [{self.low:g}, {self.high:g}]", inside)
        ci = f"ratio {r.value:.2f}, {LEVEL:.0%} CI [{r.low:.2f}, {r.high:.2f}], n = {r.n_a}, {r.n_b}".replace("%", " %")
        if inside:
            tag = HOLDS if self.low <= r.low and r.high <= self.high else HOLDS_MEANS
        else:
            tag = CONTRADICTED if r.high < self.low or r.low > self.high else FAILS_MEANS
        return Outcome(ours, study, tag, f"{ci}; range [{self.low:g}, {self.high:g}]")


@dataclass(frozen=True)
class SmallestGap:
    """`winner` has the smallest train − test gap of the table; says when that comes from a low train score."""

    table: str
    train: str
    test: str
    winner: str

    def _gap(self, run: str) -> Gap:
        return Gap(Cell(self.table, self.train, run), Cell(self.table, self.test, run))

    def describe(self) -> str:
        return (
            "train − test gap below each other model's: Welch's t-test, the gap's spread bounded by "
            "std(train) + std(test)"
        )

    def check(self, frames) -> Outcome:
        runs = [name for _, name in TABLES[self.table].rows]
        others = tuple(self._gap(r) for r in runs if r != self.winner)
        outcome = Higher(self._gap(self.winner), others, lower=True).check(frames)
        if outcome.tag == UNCHECKED:
            return outcome
        gaps = {r: self._gap(r).sample(frames) for r in runs}
        ours = ", ".join(f"{self._gap(r).label} {_with_spread(gaps[r], False)}" for r in runs)
        study = ", ".join(f"{self._gap(r).label} {_num(self._gap(r).study(frames), False)}" for r in runs)
        runner_up = min((r for r in runs if r != self.winner), key=lambda r: gaps[r].mean)
        train = {r: Cell(self.table, self.train, r).sample(frames).mean for r in (self.winner, runner_up)}
        test = {r: Cell(self.table, self.test, r).sample(frames).mean for r in (self.winner, runner_up)}
        d_train, d_test = train[self.winner] - train[runner_up], test[self.winner] - test[runner_up]
        detail = outcome.detail
        if gaps[self.winner].mean < gaps[runner_up].mean and d_train < 0 and abs(d_train) > abs(d_test):
            w, o = Cell(self.table, self.train, self.winner).label, Cell(self.table, self.train, runner_up).label
            detail += (
                f". Its smaller gap comes mostly from a lower train score ({w} trains to {train[self.winner]:.3f} "
                f"against {o}'s {train[runner_up]:.3f}; test {test[self.winner]:.3f} against {test[runner_up]:.3f})"
            )
        return Outcome(ours, study, outcome.tag, detail, outcome.direction_ok)


@dataclass(frozen=True)
class SimilarParameters:
    """The rows' parameter counts differ by at most PARAMS_TOLERANCE of the largest (ours: the tables hold no
    study counts)."""

    table: str

    def describe(self) -> str:
        return f"largest − smallest parameter count ≤ {PARAMS_TOLERANCE:.0%} of the largest".replace("%", " %")

    def check(self, frames) -> Outcome:
        frame = frames.get(self.table)
        if frame is None or "params" not in frame or frame["params"].isna().any():
            return _unchecked(f"{self.table}.csv lacks parameter counts of some rows")
        labels = dict((name, label) for label, name in TABLES[self.table].rows)
        counts = {labels[r]: int(p) for r, p in zip(frame["run_name"], frame["params"]) if r in labels}
        spread = (max(counts.values()) - min(counts.values())) / max(counts.values())
        ours = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        tag = HOLDS if spread <= PARAMS_TOLERANCE else NOT_HOLD
        return Outcome(ours, "– (not in its tables)", tag, f"they differ by {spread:.2%} at most".replace("%", " %"))


# ----------------------------------------------------------------------------------------------- the claims
@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # where in the study: a section, or a table's bold type
    quote: str  # the study's sentence, verbatim
    statement: str  # what is tested, in our words
    test: Higher | Identical | Differs | Close | RatioNear | SmallestGap | SimilarParameters


def _cells(table: str, metric: str, *runs: str) -> tuple[Cell, ...]:
    return tuple(Cell(table, metric, r) for r in runs)


def _rows(table: str) -> list[str]:
    return [name for _, name in TABLES[table].rows]


def _beats(table: str, metric: str, winner: str, rivals=None, lower: bool = False) -> Higher:
    rivals = [r for r in _rows(table) if r != winner] if rivals is None else rivals
    return Higher(Cell(table, metric, winner), _cells(table, metric, *rivals), lower)


T1_UP, T1_TR, T2, T3, T3_ROT, T4_TRAIN, T4_TEST = (
    ("table1", "test_acc"),
    ("table1", "test_transformed_acc"),
    ("table2", "test_acc"),
    ("table3", "test_iou_score"),
    ("table3", "test_rotated_iou_score"),
    ("table4", "train_iou_score"),
    ("table4", "test_iou_score"),
)
Q_DOUBLES = "As we see in table 1, P4CNN almost doubles the accuracy of models trained on MNIST and tested on randomly rotated images."  # noqa: E501
Q_BEST_UP = (
    "As expected, for the testing on the original test set, the CNN performs best as it does not spend any of its "
    "parameters trying to encode rotational information. […] As a result we see a clear decline in performance "
    "over the other equivariant models."
)
Q_P4P8_T1 = "A closer inspection reveals better accuracies for P4 and P8 than for P6."
Q_P4P8_T2 = "P4 and P8 outperform P6 again, for similar reasons as cited previously."
Q_P4SEG = "P4SegNet outperforms other models when training with and without augmentations."
Q_SEGPLUS = (
    "However, when trained with augmentations it learns to capture data symmetries and beat D4SegNet on both test "
    'and the "rotated test" sets.'
)
Q_INFERIOR = (
    "It is important to note that although SegNet+ is inferior to P4SegNet and does not come with equivariance "
    "guaranties, it trains almost 1.5 faster."
)
Q_SAME_PARAMS_CLS = (
    "Next, for P4CNN architecture we replaced each convolution layer by a p4-group convolution layer and divided "
    "the number of filters by √4 = 2 to approximately fix the total number of trainable parameters. For the "
    "subsequent models P6CNN and P8CNN, the number of channels is similarly adjusted to keep the total parameters "
    "constant."
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "1",
        "§4.1.2",
        Q_SAME_PARAMS_CLS,
        "The five classifiers have about the same number of parameters",
        SimilarParameters("table1"),
    ),
    Claim(
        "2",
        "§4.1.2",
        Q_DOUBLES,
        "P4CNN's \"+transforms\" accuracy is about twice the CNN's",
        RatioNear(Cell(*T1_TR, "p4cnn"), Cell(*T1_TR, "cnn"), "2", 1.75, 2.25),
    ),
    Claim("3", "§4.1.3", Q_BEST_UP, "CNN is best on the upright test set", _beats(*T1_UP, "cnn")),
    Claim(
        "4",
        "§4.1.3",
        "At once, it can be observed that the CNN accuracy drops to a third.",
        'CNN\'s "+transforms" accuracy is about a third of its upright accuracy',
        RatioNear(Cell(*T1_TR, "cnn"), Cell(*T1_UP, "cnn"), "a third", 0.29, 0.42),
    ),
    Claim(
        "5",
        "§4.1.3",
        "The best accuracy is seen for the D4CNN model with p4m-equivariant layers.",
        'D4CNN is best on the "+transforms" test set',
        _beats(*T1_TR, "d4cnn"),
    ),
    Claim("6", "§4.1.3", Q_P4P8_T1, 'P4CNN beats P6CNN on "+transforms"', _beats(*T1_TR, "p4cnn", ["p6cnn"])),
    Claim("7", "§4.1.3", Q_P4P8_T1, 'P8CNN beats P6CNN on "+transforms"', _beats(*T1_TR, "p8cnn", ["p6cnn"])),
    Claim(
        "8",
        "§4.1.3",
        "Another interesting question might be as to why there is a difference between the accuracies of D4CNN "
        "between the two testing sets if it is group equivariant.",
        'D4CNN scores lower on "+transforms" than upright',
        Higher(Cell(*T1_UP, "d4cnn"), (Cell(*T1_TR, "d4cnn"),)),
    ),
    Claim(
        "9",
        "§4.1.3",
        "As expected, the CNN model performs the worst, due to the unavailability of learnable parameters to "
        "explicitly encode rotational features.",
        "CNN is the worst on Rot-MNIST",
        _beats(*T2, "cnn", lower=True),
    ),
    Claim("10", "§4.1.3", Q_P4P8_T2, "P4CNN beats P6CNN on Rot-MNIST", _beats(*T2, "p4cnn", ["p6cnn"])),
    Claim("11", "§4.1.3", Q_P4P8_T2, "P8CNN beats P6CNN on Rot-MNIST", _beats(*T2, "p8cnn", ["p6cnn"])),
    Claim(
        "12",
        "§4.1.3",
        "D4CNN does not give impressive results because there are no mirroring transformations in the dataset, for "
        "it to be equivariant to. As a result, it is effectively a version of P4 with fewer channels.",
        "D4CNN is below P4CNN on Rot-MNIST",
        _beats(*T2, "d4cnn", ["p4cnn"], lower=True),
    ),
    Claim(
        "13",
        "Table 2 (bold)",
        "(no sentence: Table 2 sets the P4CNN row in bold)",
        "P4CNN is best on Rot-MNIST",
        _beats(*T2, "p4cnn"),
    ),
    Claim(
        "14",
        "§4.2.2",
        "The numbers of filters are chosen independently for each model so they all have approximately the same "
        "number of parameters.",
        "The five SegNets have about the same number of parameters",
        SimilarParameters("table3"),
    ),
    Claim(
        "15",
        "§4.2.2",
        Q_P4SEG,
        "Without augmentation, P4SegNet beats SegNet and D4SegNet (test)",
        _beats(*T3, "p4segnet", ["segnet", "d4segnet"]),
    ),
    Claim(
        "16",
        "§4.2.2",
        Q_P4SEG,
        "Without augmentation, P4SegNet beats SegNet and D4SegNet (rotated test)",
        _beats(*T3_ROT, "p4segnet", ["segnet", "d4segnet"]),
    ),
    Claim(
        "17",
        "§4.2.2",
        Q_P4SEG,
        "With augmentation, P4SegNet+ beats SegNet+ (test)",
        _beats(*T3, "p4segnet+", ["segnet+"]),
    ),
    Claim(
        "18",
        "§4.2.2",
        Q_P4SEG,
        "With augmentation, P4SegNet+ beats SegNet+ (rotated test)",
        _beats(*T3_ROT, "p4segnet+", ["segnet+"]),
    ),
    Claim(
        "19",
        "§4.2.2",
        "Although, since the set of augmentations is mostly covered by the group p4, P4SegNet+ demonstrates the same "
        "performance as P4SegNet.",
        "P4SegNet+ ≈ P4SegNet (test)",
        Close(Cell(*T3, "p4segnet+"), Cell(*T3, "p4segnet")),
    ),
    Claim(
        "20",
        "§4.2.2",
        "As expected, since P4SegNet and D4SegNet are equivariant to rotations they show same results on the test and "
        'the "rotated test" sets.',
        "The group SegNets (P4SegNet+ too) score the same on the test and rotated test sets",
        Identical("table3", "test_iou_score", "test_rotated_iou_score", ("p4segnet", "d4segnet", "p4segnet+")),
    ),
    Claim(
        "21",
        "§4.2.2",
        "At the same time the SegNet model does not generalize well on the rotated data, experiencing a considerable "
        "drop in the score.",
        "SegNet scores lower on the rotated test set",
        Higher(Cell(*T3, "segnet"), (Cell(*T3_ROT, "segnet"),)),
    ),
    Claim("22", "§4.2.2", Q_SEGPLUS, "SegNet+ beats D4SegNet (test)", _beats(*T3, "segnet+", ["d4segnet"])),
    Claim("23", "§4.2.2", Q_SEGPLUS, "SegNet+ beats D4SegNet (rotated test)", _beats(*T3_ROT, "segnet+", ["d4segnet"])),
    Claim(
        "24",
        "§4.2.2",
        "But since the scores on the two sets differ, we conclude that SegNet+ is not fully equivariant to rotations.",
        "SegNet+'s test and rotated test scores differ",
        Differs(Cell(*T3, "segnet+"), Cell(*T3_ROT, "segnet+")),
    ),
    Claim("25", "§4.2.2", Q_INFERIOR, "P4SegNet beats SegNet+ (test)", _beats(*T3, "p4segnet", ["segnet+"])),
    Claim(
        "26", "§4.2.2", Q_INFERIOR, "P4SegNet beats SegNet+ (rotated test)", _beats(*T3_ROT, "p4segnet", ["segnet+"])
    ),
    Claim(
        "27",
        "§4.2.2",
        "D4SegNet_T demonstrates the best result on the test set and it also appears to overfit less on the training "
        "data.",
        "D4SegNet_T is best on the test set",
        _beats(*T4_TEST, "d4segnet_t"),
    ),
    Claim(
        "28",
        "§4.2.2",
        "D4SegNet_T demonstrates the best result on the test set and it also appears to overfit less on the training "
        "data.",
        "D4SegNet_T has the smallest train − test gap",
        SmallestGap("table4", "train_iou_score", "test_iou_score", "d4segnet_t"),
    ),
)


@dataclass(frozen=True)
class Unchecked:
    id: str
    source: str
    quote: str
    reason: str


NOT_CHECKABLE: tuple[Unchecked, ...] = (
    Unchecked(
        "N1",
        "Abstract",
        "G-CNNs increase the representative capacity of such models with minimal computational overhead.",
        "Cost is not in the study's tables; ours is measured in `results/bench/` (layers and training steps).",
    ),
    Unchecked(
        "N2",
        "§4.1.1",
        "Being one of the classic image classification datasets, basic techniques such as KNNs can solve the task "
        "with high accuracies of over 95%.",
        "No KNN is run, by the study or here.",
    ),
    Unchecked(
        "N3",
        "§4.1.2",
        "The resulting feature maps [fig: 1] consist of rotation-invariant features with the same transformations "
        "as the input image.",
        "About Figure 1, not a table; measured in `equivariance.md` and drawn in `figures/` of each results folder.",
    ),
    Unchecked(
        "N4",
        "§4.1.3",
        "First the different models were trained on raw MNIST images (original unrotated dataset) for 30 epochs and "
        "varying the number of channels to keep the net trainable parameters constant, as mentioned previously.",
        "The protocol, not a result: each table's footer states the epochs its runs used; `docs/protocol.md` "
        "compares the text with the notebooks. The parameter budget is claim 1.",
    ),
    Unchecked(
        "N5",
        "§4.1.3",
        "The reasoning behind this may be hypothesised as P6 lacking the multiples of 90°, hence only having "
        "interpolated pixel values.",
        "A hypothesis about a cause; the tables cannot test it. The P6 ablation (`make ablation-p6`, "
        "`ablation_p6.md`) does.",
    ),
    Unchecked(
        "N6",
        "§4.1.3",
        "However, in practice, this equivariance produces substantially good feature maps for angles in between by "
        "interpolation.",
        "About angles the tables do not test; the accuracy-against-angle figure (`figures/accuracy_vs_angle.png`) "
        "shows it.",
    ),
    Unchecked(
        "N7",
        "§4.2.2",
        Q_INFERIOR,
        "Training time is not in the study's tables, and the text names neither the times nor the machine; ours "
        "come from another machine and scale, so they can neither confirm nor refute it.",
    ),
    Unchecked(
        "N8",
        "§4.2.2",
        "Thus, we may hypothesize that enhancing weight-sharing can prevent overfitting.",
        "A hypothesis; the measured part (smallest gap) is claim 28.",
    ),
    Unchecked(
        "N9",
        "§5",
        "In all, for specific datasets and tasks that require the model to learn rotational and reflection "
        "symmetries through equivariance, this technique works very effectively, even for low resolutions of SO(2) "
        "such as in the p4 algorithm.",
        "A summary without a measurable criterion; the claims above test its parts.",
    ),
)


def _timing(frames, machines: dict[str, str]) -> str:
    """Our SegNet+ against P4SegNet training time, from table3.csv's train_seconds, with the machine."""
    frame = frames.get("table3")
    if frame is None or "train_seconds_mean" not in frame:
        return ""
    t = frame.set_index("run_name")["train_seconds_mean"]
    if not {"segnet+", "p4segnet"} <= set(t.index) or t[["segnet+", "p4segnet"]].isna().any():
        return ""
    where = machines.get("table3", "the machine named under table3.md")
    return (
        f" Ours, for information: SegNet+ {t['segnet+']:.0f} s and P4SegNet {t['p4segnet']:.0f} s per run "
        f"({t['p4segnet'] / t['segnet+']:.1f}×), on {where}."
    )


def check(frames: dict[str, pd.DataFrame]) -> list[tuple[Claim, Outcome]]:
    """Every claim of the study with its outcome on these tables ({"table1": the aggregator's frame, ...})."""
    return [(claim, claim.test.check(frames)) for claim in CLAIMS]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary(results: list[tuple[Claim, Outcome]]) -> str:
    counts = Counter(o.tag for _, o in results)
    parts = []
    for tag in TAGS:
        if not counts[tag]:
            continue
        if tag == ONE_SEED:
            held = sum(1 for _, o in results if o.tag == ONE_SEED and o.direction_ok)
            parts.append(f"{counts[tag]} {tag} ({held} in the claimed direction, {counts[tag] - held} against it)")
        else:
            parts.append(f"{counts[tag]} {tag}")
    return f"{len(results)} claims checked: " + "; ".join(parts) + "."


def render(frames: dict[str, pd.DataFrame], machines: dict[str, str] | None = None) -> str:
    """claims.md's text for these tables; `machines` ({table: its machine line}) names where times came from."""
    results = check(frames)
    lines = [
        "# The study's claims, checked against these tables",
        "",
        "Written by `python -m gcnn_study.report.claims` from the `tableN.csv` files beside it "
        "(ours: mean ± sample std over "
        "seeds, n per metric; the study's figures from `src/gcnn_study/reference/study_results.csv`). "
        "Every comparative "
        "or quantitative sentence the study writes about its tables is one claim, quoted; what the tables cannot "
        "decide is listed at the end with the reason. Which runs, data and epochs each table aggregates is printed "
        "under that table.",
        "",
        f"Tests: two rows are compared by Welch's t-test over their seeds, with the difference, its {LEVEL:.0%} "
        "confidence interval, the two-sided p and the n of each side (`gcnn_study.report.stats`); "
        '"best" needs every rival '
        "beaten, and the closest rival is shown. **holds**: the claimed direction, significant; **holds for the "
        "means, not significant**: the direction only; **contradicted**: the opposite, significant. With one seed "
        "on either side there is no test: **one seed: direction only**. Test and rotated test of one row come "
        "from the same runs; the tables keep no per-seed values, so the test treats them as independent "
        "(conservative when they move together). A train − test gap's spread is bounded by the sum of the two "
        'stds. "The same" means equal means to float precision; "about the same" means the interval of the '
        "difference contains 0, which does not show them equal. A ratio holds when it lies nearer to the stated "
        "factor than to its neighbours.".replace("%", " %"),
        "",
        summary(results),
        "",
        "| # | The study says | Claim tested | Test | Ours | Study | Verdict on ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for claim, o in results:
        quote = f"{claim.source}: " + (claim.quote if claim.quote.startswith("(") else f"“{claim.quote}”")
        cells = [claim.id, quote, claim.statement, claim.test.describe(), o.ours, o.study, o.verdict]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        "## Statements the tables cannot decide",
        "",
        "| # | The study says | Why not checked here |",
        "|---|---|---|",
    ]
    for u in NOT_CHECKABLE:
        reason = u.reason + (_timing(frames, machines or {}) if u.id == "N7" else "")
        lines.append("| " + " | ".join(_cell(c) for c in (u.id, f"{u.source}: “{u.quote}”", reason)) + " |")
    return "\n".join(lines) + "\n"


def machines_of(results_dir: Path) -> dict[str, str]:
    """{table: the machine line(s) under tableN.md}, read from the aggregator's footer."""
    out = {}
    for md in Path(results_dir).glob("table*.md"):
        text = md.read_text()
        block = re.search(r"^Machines \(.*?\):\n((?:- .*\n?)+)", text, re.M)
        if block:
            lines = [line[2:] for line in block.group(1).splitlines() if not line.startswith("- WARNING")]
            out[md.stem] = "; ".join(line.rsplit(": ", 1)[0] for line in lines)  # "<machine>: <runs>"
    return out


def write(results_dir: Path) -> Path | None:
    """Write `claims.md` for the tables found in `results_dir`; None when it holds none of Tables 1–4."""
    results_dir = Path(results_dir)
    found = [t for t in STUDY_TABLES if (results_dir / f"{t}.csv").exists()]
    if not found:
        return None
    out = results_dir / "claims.md"
    out.write_text(render({t: pd.read_csv(results_dir / f"{t}.csv") for t in found}, machines_of(results_dir)))
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
