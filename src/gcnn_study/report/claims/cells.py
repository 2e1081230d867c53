"""What a claim reads and how its verdict reads: table cells, gaps, their comparisons, verdict tags, number format.

A comparison of two rows is paired on the runs' per-image results where they kept them and by Welch's t-test
otherwise; the comparisons of one table's rankings are one family, read through Holm's adjusted p."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import pandas as pd

from gcnn_study.config.specs import TABLES
from gcnn_study.report.per_image import PerImage, seed_list, seeds_of
from gcnn_study.report.stats import (
    LEVEL,
    Comparison,
    Sample,
    differences,
    gap,
    mcnemar,
    paired_permutation,
    paired_seeds,
    seeds_and_images,
    welch,
)

EXACT = 1e-9  # "the same" score: equal means to float precision, not merely to the table's three decimals

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


@dataclass(frozen=True)
class Cell:
    """One metric of one table row (run name as in `gcnn_study.config.specs`)."""

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

    def per_seed(self, frames) -> dict[int, float] | None:
        """{seed: value} of the cell's runs; None where the table does not keep them (tables written before it did)."""
        r = self._row(frames)
        if r is None or pd.isna(r.get(f"{self.metric}_per_seed", math.nan)):
            return None
        return {int(seed): float(v) for seed, v in json.loads(r[f"{self.metric}_per_seed"]).items()}

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


def same_runs(frames, a: Cell, b: Cell) -> tuple[list[float], list[float]] | None:
    """Two metrics of one row's runs, seed by seed in the same order; None unless both tables keep every seed."""
    x, y = a.per_seed(frames), b.per_seed(frames)
    if not x or not y or sorted(x) != sorted(y) or a.run != b.run:
        return None
    return [x[s] for s in sorted(x)], [y[s] for s in sorted(x)]


@dataclass(frozen=True)
class Gap:
    """first − second of one row (train − test of the same runs): the spread of its seeds' own gaps
    (`gcnn_study.report.stats.differences`), or the bound of `gcnn_study.report.stats.gap` where the table keeps
    no per-seed values."""

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
        if a is None or b is None:
            return None
        seeds = same_runs(frames, self.first, self.second)
        return differences(*seeds) if seeds else gap(a, b)

    def study(self, frames) -> float:
        return self.first.study(frames) - self.second.study(frames)

    def missing(self, frames) -> str:
        return self.first.missing(frames) if self.first.sample(frames) is None else self.second.missing(frames)


@dataclass
class Evidence:
    """The tables ({"table1": the aggregator's frame, ...}), the per-image results of their runs (None: not read),
    and, once `family` is filled, each comparison's Holm-adjusted p and its family's size."""

    frames: dict[str, pd.DataFrame]
    per_image: PerImage | None = None
    family: dict[frozenset, tuple[float, int]] = field(default_factory=dict)
    _done: dict = field(default_factory=dict)

    def compare(self, a, b, paired: bool) -> tuple[Comparison, str]:
        """a − b by a paired test when `paired` and the runs of both rows kept their per-image results, else by
        Welch's t-test; with a note saying why a paired comparison fell back ("" when none)."""
        key = (a, b, paired)
        if key not in self._done:
            self._done[key] = self._compare(a, b, paired)
        return self._done[key]

    def _compare(self, a, b, paired: bool) -> tuple[Comparison, str]:
        if isinstance(a, Cell) and isinstance(b, Cell) and a.run == b.run:  # two metrics of the same runs
            seeds = same_runs(self.frames, a, b)
            if seeds:
                return paired_seeds(*seeds), ""
            return welch(a.sample(self.frames), b.sample(self.frames)), "same runs, treated as independent"
        welch_test = welch(a.sample(self.frames), b.sample(self.frames))
        if not paired:
            return welch_test, ""
        if self.per_image is None:
            return welch_test, "not paired: the runs' per-image results were not read"
        pairs = self.per_image.pair(self.frames, a, b)
        if isinstance(pairs, str):
            return welch_test, f"not paired: {pairs}"
        first, second, seeds = pairs
        within = (mcnemar if TABLES[a.table].task == "classification" else paired_permutation)(first, second)
        both = seeds_and_images(a.sample(self.frames), b.sample(self.frames), first, second)
        return replace(both, within=within), images_note(a, b, seeds, self.frames)

    def holm(self, a, b) -> tuple[float, int]:
        """The Holm-adjusted p of a against b within its table's family, with the family's size."""
        return self.family.get(frozenset((a, b)), (math.nan, 0))

    def significant(self, a, b, c: Comparison) -> bool:
        """Significant at LEVEL: by the Holm-adjusted p where the comparison belongs to a family."""
        adjusted, m = self.holm(a, b)
        return c.significant if m < 2 else adjusted < 1 - LEVEL


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


def unchecked(what) -> Outcome:
    return Outcome("–", "–", UNCHECKED, what)


def images_note(a, b, seeds: list[int], frames) -> str:
    """ "" when the image term used every seed of both rows, else which seeds it came from."""
    rows = set(seeds_of(frames[a.table], a.run) or []) | set(seeds_of(frames[a.table], b.run) or [])
    if rows <= set(seeds):
        return ""
    used, left = sorted(seeds), sorted(rows - set(seeds))
    return f"image term from {seed_list(used)} ({seed_list(left)} kept no per-image results of both rows)"


def paired_test_name(table: str) -> str:
    """How a claim's Test column names a comparison of `table`'s rows on per-image results."""
    within = "McNemar" if TABLES[table].task == "classification" else "a paired permutation test"
    return (
        "t-test over seeds and test images (the spread over seeds plus the per-image differences; "
        f"{within} on the same networks beside it; Welch's t-test where no run kept per_image.csv)"
    )


def percent_of(q) -> bool:
    return TABLES[q.table].percent


def num(x: float, percent: bool) -> str:
    return "–" if pd.isna(x) else (f"{100 * x:.1f}" if percent else f"{x:.3f}")


def pts(x: float, percent: bool) -> str:
    return f"{100 * x:.1f} points" if percent else f"{x:.3f}"


def with_spread(s: Sample, percent: bool) -> str:
    text = num(s.mean, percent)
    if s.n > 1:
        text += f" ± {num(s.std, percent)}"
    return f"{text} (n={s.n})"


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def interval(c: Comparison, percent: bool) -> str:
    lo, hi = (100 * c.low, 100 * c.high) if percent else (c.low, c.high)
    digits = 1 if percent else 3
    return f"{LEVEL:.0%} CI [{lo:+.{digits}f}, {hi:+.{digits}f}]".replace("%", " %")


def stat_text(c: Comparison, percent: bool, holm: tuple[float, int] = (math.nan, 0), note: str = "") -> str:
    """The interval, the test that gave p (with Holm's p where the table holds a family of tests) and the n's."""
    family = f" (Holm {p_text(holm[0])} over the table's {holm[1]} comparisons)" if holm[1] > 1 else ""
    sizes = f"n = {c.n_a}, {c.n_b}" + (f" seeds, {c.pairs} images" if c.pairs else "")
    test = f"{interval(c, percent)}, {c.test} {p_text(c.p)}{family}, {sizes}" if c.testable else sizes
    if c.within is not None:
        w, plural = c.within, "s" if c.within.n_a > 1 else ""
        test += f"; on these networks, {w.test} {p_text(w.p)} ({w.pairs} image pairs over {w.n_a} seed{plural})"
    return test + (f"; {note}" if note else "")
