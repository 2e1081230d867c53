"""The ranking relations of a claim: a row above or below each rival, and the smallest train − test gap.

Each rival is tested (paired on per-image results where the runs allow it), Holm-adjusted within the table."""

from __future__ import annotations

from dataclasses import dataclass

from gcnn_study.config.specs import TABLES
from gcnn_study.report.claims.cells import (
    CONTRADICTED,
    FAILS_MEANS,
    HOLDS,
    HOLDS_MEANS,
    ONE_SEED,
    UNCHECKED,
    Cell,
    Evidence,
    Gap,
    Outcome,
    num,
    paired_test_name,
    percent_of,
    pts,
    stat_text,
    unchecked,
    with_spread,
)
from gcnn_study.report.stats import Comparison


def _names(quantities, with_column: bool) -> list[str]:
    return [f"{q.label} {q.column}" if with_column and isinstance(q, Cell) else q.label for q in quantities]


def _listing(quantities, values, fmt, with_column) -> str:
    return ", ".join(f"{name} {fmt(v)}" for name, v in zip(_names(quantities, with_column), values))


@dataclass(frozen=True)
class Higher:
    """`subject` scores higher than each of `rivals` (lower when `lower`), each rival tested (paired where
    `paired` and the runs allow it, else Welch), Holm-adjusted within the table."""

    subject: Cell | Gap
    rivals: tuple
    lower: bool = False
    paired: bool = False

    @property
    def table(self) -> str:
        return self.subject.table

    def _with_column(self) -> bool:
        return len({getattr(q, "metric", None) for q in (self.subject, *self.rivals)}) > 1

    def describe(self) -> str:
        what = "below" if self.lower else "above"
        each = "each of " if len(self.rivals) > 1 else ""
        me, *rivals = _names((self.subject, *self.rivals), self._with_column())
        same_runs = self._with_column() and all(getattr(r, "run", None) == self.subject.run for r in self.rivals)
        test = paired_test_name(self.table) if self.paired else "Welch's t-test"
        if same_runs:  # two metrics of one row: its runs pair with themselves, seed by seed
            test = "paired t-test over seeds (the same runs; Welch's t-test where the table keeps no per-seed values)"
        return f"{me} {what} {each}{', '.join(rivals)}: {test}"

    def _oriented(self, rival) -> tuple:
        """(first, second) such that a positive first − second is the claimed direction."""
        return (rival, self.subject) if self.lower else (self.subject, rival)

    def comparisons(self, evidence: Evidence) -> list[tuple[frozenset, Comparison]]:
        """Each rival's comparison, keyed by the pair compared: what Holm's family of the table holds."""
        if any(q.sample(evidence.frames) is None for q in (self.subject, *self.rivals)):
            return []
        return [
            (frozenset((self.subject, r)), evidence.compare(*self._oriented(r), self.paired)[0]) for r in self.rivals
        ]

    def check(self, evidence: Evidence) -> Outcome:
        frames = evidence.frames
        quantities = (self.subject, *self.rivals)
        samples = [q.sample(frames) for q in quantities]
        if any(s is None for s in samples):
            return unchecked(
                "; ".join(dict.fromkeys(q.missing(frames) for q, s in zip(quantities, samples) if s is None))
            )
        percent, with_column = percent_of(self.subject), self._with_column()
        ours = _listing(quantities, samples, lambda s: with_spread(s, percent), with_column)
        study = _listing(quantities, [q.study(frames) for q in quantities], lambda v: num(v, percent), with_column)
        # (rival's name, rival, comparison with a positive difference in the claimed direction, fallback note)
        tests = [
            (name, rival, *evidence.compare(*self._oriented(rival), self.paired))
            for name, rival in zip(_names(self.rivals, with_column), self.rivals)
        ]
        me = _names([self.subject], with_column)[0]
        claimed, other = ("below", "above") if self.lower else ("above", "below")

        def said(name: str, c: Comparison) -> str:
            """The difference in words: positive c.diff is the claimed direction."""
            return f"{me} {pts(abs(c.diff), percent)} {claimed if c.diff >= 0 else other} {name}"

        def stats(rival, c: Comparison, note: str) -> str:
            return stat_text(c, percent, evidence.holm(self.subject, rival), note)

        if not all(c.testable for _, _, c, _ in tests):
            name, _, c, note = min(tests, key=lambda t: t[2].diff)
            ok = c.diff > 0
            where = stat_text(c, percent, note=note)  # untestable: the n's, and any test on these networks
            return Outcome(
                ours, study, ONE_SEED, f"the direction {'holds' if ok else 'fails'}: {said(name, c)} ({where})", ok
            )
        significant = [evidence.significant(self.subject, rival, c) for _, rival, c, _ in tests]
        against = [(t, sig) for t, sig in zip(tests, significant) if t[2].diff <= 0]
        if not against:
            name, rival, c, note = max(tests, key=lambda t: t[2].p)
            tag = HOLDS if all(significant) else HOLDS_MEANS
            closest = "" if len(tests) == 1 else "closest: "
            return Outcome(ours, study, tag, f"{closest}{said(name, c)}, {stats(rival, c, note)}")
        worst = min([t for t, sig in against if sig] or [t for t, _ in against], key=lambda t: t[2].diff)
        tag = CONTRADICTED if any(sig for _, sig in against) else FAILS_MEANS
        name, rival, c, note = worst
        return Outcome(ours, study, tag, f"{said(name, c)}, {stats(rival, c, note)}")


@dataclass(frozen=True)
class SmallestGap:
    """`winner` has the smallest train − test gap of the table; says when that comes from a low train score."""

    table: str
    train: str
    test: str
    winner: str

    def _gap(self, run: str) -> Gap:
        return Gap(Cell(self.table, self.train, run), Cell(self.table, self.test, run))

    def _below_the_others(self) -> Higher:
        runs = [name for _, name in TABLES[self.table].rows]
        return Higher(self._gap(self.winner), tuple(self._gap(r) for r in runs if r != self.winner), lower=True)

    def describe(self) -> str:
        return (
            "train − test gap below each other model's: Welch's t-test on the gaps of each model's seeds (where the "
            "table keeps no per-seed values, the gap's spread bounded by std(train) + std(test))"
        )

    def comparisons(self, evidence: Evidence) -> list[tuple[frozenset, Comparison]]:
        return self._below_the_others().comparisons(evidence)

    def check(self, evidence: Evidence) -> Outcome:
        frames = evidence.frames
        outcome = self._below_the_others().check(evidence)
        if outcome.tag == UNCHECKED:
            return outcome
        runs = [name for _, name in TABLES[self.table].rows]
        gaps = {r: self._gap(r).sample(frames) for r in runs}
        ours = ", ".join(f"{self._gap(r).label} {with_spread(gaps[r], False)}" for r in runs)
        study = ", ".join(f"{self._gap(r).label} {num(self._gap(r).study(frames), False)}" for r in runs)
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
