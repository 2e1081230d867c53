"""Write the claims' verdicts as claims.md: the tests used, the summary, a row per claim, what cannot be decided."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from gcnn_study.config.specs import LABELS
from gcnn_study.report.claims.cells import ONE_SEED, TAGS, Outcome
from gcnn_study.report.claims.data import Claim, Unchecked
from gcnn_study.report.stats import LEVEL

PERCENT = f"{LEVEL:.0%}".replace("%", " %")  # "95 %"
HEADER = (
    "# The study's claims, checked against these tables",
    "",
    "Written by `python -m gcnn_study.report.claims` from the `tableN.csv` files beside it (ours: mean ± sample std "
    "over seeds, n per metric; the study's figures from `src/gcnn_study/reference/study_results.csv`) and the claims "
    "of `src/gcnn_study/reference/claims.yaml`. Every comparative or quantitative sentence the study writes about its "
    "tables is one claim, quoted; what the tables cannot decide is listed at the end with the reason. Which runs, "
    "data and epochs each table aggregates is printed under that table.",
    "",
    "Tests: the study's claims are about architectures, so a difference between two rows must outlast both "
    "another training seed and another draw of test images. Where the runs of both rows kept their per-image "
    "results (`per_image.csv`), a t-test over seeds and test images decides: the variance of the difference of "
    "the two rows' means is the spread of each row's runs over its seeds (Welch's terms) plus the variance over "
    "the same test images of the seed-averaged per-image differences, less the seed-to-seed noise that averaging "
    "leaves in it (a two-way random-effects model, Welch–Satterthwaite df). Beside it stands the test of the same "
    "networks on the same images, which holds the seeds fixed: McNemar's exact test on the classifiers' "
    "per-image correctness, a paired permutation test on the segmenters' per-image IoU scores, the pairs of all "
    "seeds pooled; it shows whether these networks differ, not whether another seed would. Seeds without "
    "per-image results (runs older than them) count in the seed terms, and the verdict names the seeds the image "
    "term came from. Where no run kept per-image results, Welch's t-test over the seeds decides, and the verdict "
    "says why it is not "
    f"paired. Each verdict names its test, with the difference, its {PERCENT} confidence interval, the two-sided p "
    "and the n (`gcnn_study.report.stats`). The rankings' comparisons (above, below, the smallest gap) within one "
    "table are one family: where it holds several tests, a difference is significant when Holm's adjusted p, shown "
    f'beside, is below {1 - LEVEL:.2f}. "best" needs every rival beaten, and the closest rival is shown. **holds**: '
    "the claimed direction, significant; **holds for the means, not significant**: the direction only; "
    "**contradicted**: the opposite, significant. With one seed on either side nothing measures how much a seed "
    "moves a row, so there is no test: **one seed: direction only**. Two metrics of one row (test and rotated "
    "test, train and test) come from the same runs, so they are compared seed by seed (a paired t-test over "
    "seeds; a ratio's interval from its per-seed contrast), and a train − test gap's spread is that of its "
    "seeds' own gaps; where a table keeps no per-seed values, Welch's test treats them as independent and a "
    "gap's spread is bounded by the sum of the two stds "
    '(both conservative when the metrics move together). "The same" means equal means to float '
    'precision; "about the same" means the interval of the difference contains 0, which does not show them '
    "equal. A ratio holds when it lies nearer to the stated factor than to its neighbours.",
)


def summary(results: list[tuple[Claim, Outcome]]) -> str:
    """ "28 claims checked: 2 holds; 11 one seed: direction only (10 in the claimed direction, 1 against it); …"."""
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


def timing(u: Unchecked, frames: dict[str, pd.DataFrame], machines: dict[str, str]) -> str:
    """Our training times of the two rows `u.timing` names, from their table's train_seconds, with the machine."""
    if u.timing is None:
        return ""
    table, (first, second) = u.timing
    frame = frames.get(table)
    if frame is None or "train_seconds_mean" not in frame:
        return ""
    t = frame.set_index("run_name")["train_seconds_mean"]
    if not {first, second} <= set(t.index) or t[[first, second]].isna().any():
        return ""
    where = machines.get(table, f"the machine named under {table}.md")
    return (
        f" Ours, for information: {LABELS[first]} {t[first]:.0f} s and {LABELS[second]} {t[second]:.0f} s per run "
        f"({t[second] / t[first]:.1f}×), on {where}."
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    results: list[tuple[Claim, Outcome]],
    not_checkable: tuple[Unchecked, ...],
    frames: dict[str, pd.DataFrame],
    machines: dict[str, str],
) -> str:
    """claims.md's text: the verdicts of `results`, then the statements the tables cannot decide."""
    lines = [
        *HEADER,
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
    for u in not_checkable:
        reason = u.reason + timing(u, frames, machines)
        lines.append("| " + " | ".join(_cell(c) for c in (u.id, f"{u.source}: “{u.quote}”", reason)) + " |")
    return "\n".join(lines) + "\n"
