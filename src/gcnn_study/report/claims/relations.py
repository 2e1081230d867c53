"""The other relations of a claim: about the same, identical, differs, a ratio near a factor, a parameter budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gcnn_study.config.specs import TABLES
from gcnn_study.report.claims.cells import (
    CONSISTENT,
    CONTRADICTED,
    EXACT,
    FAILS_MEANS,
    HOLDS,
    HOLDS_MEANS,
    NOT_HOLD,
    ONE_SEED,
    Cell,
    Evidence,
    Outcome,
    num,
    paired_test_name,
    percent_of,
    pts,
    same_runs,
    stat_text,
    unchecked,
    with_spread,
)
from gcnn_study.report.stats import LEVEL, paired_ratio, ratio


@dataclass(frozen=True)
class Close:
    """`a` and `b` score about the same: the interval of their difference contains 0 (paired where `paired` and
    the runs allow it)."""

    a: Cell
    b: Cell
    paired: bool = False

    @property
    def table(self) -> str:
        return self.a.table

    def describe(self) -> str:
        test = paired_test_name(self.table) if self.paired else "Welch's t-test"
        return f"{test}: the 95 % CI of the difference contains 0"

    def check(self, evidence: Evidence) -> Outcome:
        frames = evidence.frames
        sa, sb = self.a.sample(frames), self.b.sample(frames)
        if sa is None or sb is None:
            return unchecked(self.a.missing(frames) if sa is None else self.b.missing(frames))
        percent = percent_of(self.a)
        ours = f"{self.a.label} {with_spread(sa, percent)}, {self.b.label} {with_spread(sb, percent)}"
        study = ", ".join(f"{q.label} {num(q.study(frames), percent)}" for q in (self.a, self.b))
        c, note = evidence.compare(self.a, self.b, self.paired)
        diff = f"difference {pts(c.diff, percent)}"
        if not c.testable:
            return Outcome(ours, study, ONE_SEED, f"{diff}, no test ({stat_text(c, percent, note=note)})")
        if c.significant:
            return Outcome(ours, study, NOT_HOLD, f"{diff}, {stat_text(c, percent, note=note)}")
        text = f"{diff}, {stat_text(c, percent)}: the runs cannot tell them apart" + (f"; {note}" if note else "")
        return Outcome(ours, study, CONSISTENT, text)


@dataclass(frozen=True)
class Identical:
    """Each run of `runs` has the same mean in `metric` and `other` (float precision) over the same seeds."""

    table: str
    metric: str
    other: str
    runs: tuple[str, ...]

    def describe(self) -> str:
        return f"equal means to {EXACT:g} over the same seeds"

    def check(self, evidence: Evidence) -> Outcome:
        frames = evidence.frames
        pairs = [(Cell(self.table, self.metric, r), Cell(self.table, self.other, r)) for r in self.runs]
        missing = [c.missing(frames) for pair in pairs for c in pair if c.sample(frames) is None]
        if missing:
            return unchecked("; ".join(dict.fromkeys(missing)))
        a_b = [(a, a.sample(frames), b.sample(frames)) for a, b in pairs]
        ours = ", ".join(f"{a.label} {num(sa.mean, False)} / {num(sb.mean, False)} (n={sa.n})" for a, sa, sb in a_b)
        study = ", ".join(f"{a.label} {num(a.study(frames), False)} / {num(b.study(frames), False)}" for a, b in pairs)
        gaps = [abs(sa.mean - sb.mean) for _, sa, sb in a_b]
        runs = sum(sa.n for _, sa, _ in a_b)
        if max(gaps) <= EXACT and all(sa.n == sb.n for _, sa, sb in a_b):
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

    def check(self, evidence: Evidence) -> Outcome:
        frames = evidence.frames
        sa, sb = self.a.sample(frames), self.b.sample(frames)
        if sa is None or sb is None:
            return unchecked(self.a.missing(frames) if sa is None else self.b.missing(frames))
        ours = f"{self.a.label} {with_spread(sa, False)} / {with_spread(sb, False)}"
        study = f"{self.a.label} {num(self.a.study(frames), False)} / {num(self.b.study(frames), False)}"
        c, _ = evidence.compare(self.a, self.b, paired=False)
        if abs(c.diff) <= EXACT:
            return Outcome(ours, study, NOT_HOLD, "identical means")
        trend = f"; systematic over seeds? {stat_text(c, False)}" if c.testable else " (one seed: no test of a trend)"
        return Outcome(ours, study, HOLDS, f"they differ by {abs(c.diff):.3f}{trend}")


@dataclass(frozen=True)
class RatioNear:
    """a / b is nearer to `factor` than to the neighbouring factors: it lies in [low, high]."""

    a: Cell
    b: Cell
    factor: str  # as the study words it, e.g. "a third"
    low: float
    high: float

    def _names(self) -> list[str]:
        return [f"{q.label} {q.column}" if self.a.metric != self.b.metric else q.label for q in (self.a, self.b)]

    def describe(self) -> str:
        a, b = self._names()
        return f"{a} / {b} in [{self.low:g}, {self.high:g}] (nearer {self.factor} than its neighbours)"

    def check(self, evidence: Evidence) -> Outcome:
        frames = evidence.frames
        sa, sb = self.a.sample(frames), self.b.sample(frames)
        if sa is None or sb is None:
            return unchecked(self.a.missing(frames) if sa is None else self.b.missing(frames))
        percent, names = percent_of(self.a), self._names()
        seeds = same_runs(frames, self.a, self.b)  # two metrics of one row's runs: their ratio pairs by seed
        r = paired_ratio(*seeds) if seeds else ratio(sa, sb)
        if math.isnan(r.value):
            return unchecked(f"the ratio is undefined: {self.b.label}'s {self.b.column} is 0")
        study_a, study_b = self.a.study(frames), self.b.study(frames)
        ours = f"{names[0]} {with_spread(sa, percent)}, {names[1]} {with_spread(sb, percent)}: ratio {r.value:.2f}"
        study = f"{names[0]} {num(study_a, percent)}, {names[1]} {num(study_b, percent)}: ratio {study_a / study_b:.2f}"
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
class SimilarParameters:
    """The rows' parameter counts differ by at most `tolerance` of the largest (ours: the tables hold no study
    counts)."""

    table: str
    tolerance: float

    def describe(self) -> str:
        return f"largest − smallest parameter count ≤ {self.tolerance:.0%} of the largest".replace("%", " %")

    def check(self, evidence: Evidence) -> Outcome:
        frame = evidence.frames.get(self.table)
        if frame is None or "params" not in frame or frame["params"].isna().any():
            return unchecked(f"{self.table}.csv lacks parameter counts of some rows")
        labels = dict((name, label) for label, name in TABLES[self.table].rows)
        counts = {labels[r]: int(p) for r, p in zip(frame["run_name"], frame["params"]) if r in labels}
        spread = (max(counts.values()) - min(counts.values())) / max(counts.values())
        ours = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        tag = HOLDS if spread <= self.tolerance else NOT_HOLD
        return Outcome(ours, "– (not in its tables)", tag, f"they differ by {spread:.2%} at most".replace("%", " %"))
