"""The P6 ablation's reading, written from the tables: `python -m gcnn_study.report.ablation --results-dir
results/reduced_cpu`.

Reads `ablation_p6_table1.csv` and `ablation_p6_table2.csv` (the aggregator's tables, rows from
`gcnn_study.specs.ABLATION_P6_ROWS`), the trained models' invariance errors from `equivariance.md` (written by
`python -m gcnn_study.report.figures`) when present, and measures single layers on the spot (`gcnn.equivariance`);
writes `ablation_p6.md`. Every number in it comes from those; every comparison is Welch's t-test over the seeds
(`gcnn_study.report.stats`), and a comparison whose rows have not been run says so. The report makes a dozen such tests
on one
metric (`CONTRASTS`), so it calls a difference significant only when its p survives Holm's correction for all of
them (`adjusted_p`); a p below 0.05 that does not is shown with its Holm-adjusted p and read as no finding.

The ablation varies two factors, each alone where the rows exist: the filters (pixel, or smooth harmonic) and
their transform (a group action, or an interpolation that is not one). The reading states what the runs show
and which comparisons still await their runs.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from gcnn import equivariance
from gcnn_study import measure, schema
from gcnn_study.report.stats import LEVEL, Comparison, Sample, holm, welch
from gcnn_study.specs import ABLATION_CONTROLS, ABLATION_VARIED, FILTER_VARIANTS, TABLES

TABLE1, TABLE2 = "ablation_p6_table1", "ablation_p6_table2"
UPRIGHT, TRANSFORMED = "test_acc", "test_transformed_acc"
MODELS = ABLATION_VARIED + ABLATION_CONTROLS  # the columns of the report's tables; its rows: FILTER_VARIANTS


@cache
def filter_settings(run: str) -> tuple[str, str, str]:
    """(group, filter_basis, filter_interpolation) of a run's model, as its config composes (conf/model/)."""
    model = schema.compose([f"model={run}"]).model
    return str(model.group), str(model.filter_basis), str(model.filter_interpolation)


def not_a_group_action(run: str) -> bool:
    """Whether the run's filter transform fails to compose like its group (the tables mark it †)."""
    return not equivariance.filter_transform_is_group_action(*filter_settings(run))


def layer_variants() -> tuple[tuple[str, str, str], ...]:
    """(label, filter_basis, filter_interpolation) of each filter variant, as P6CNN's configs make it: the
    columns of the single-layer table (`gcnn_study.measure.layer_error_table`)."""
    return tuple((v.label, *filter_settings(ABLATION_VARIED[0] + v.suffix)[1:]) for v in FILTER_VARIANTS)


@dataclass(frozen=True)
class Contrast:
    """a − b on one metric of the Table 1 protocol, and what differs between the two rows."""

    a: str
    b: str
    varied: str  # the factor(s) that differ
    fixed: str  # what the two rows share
    one_factor: bool = True


FILTERS, TRANSFORM = "filters: harmonic against pixel", "transform: group action against bilinear resampling"
CONTRASTS = (
    Contrast("p8cnn_harmonic", "p8cnn", FILTERS, "transform a group action in both"),
    Contrast("p4cnn_harmonic", "p4cnn", FILTERS, "exact quarter turns in both"),
    Contrast("d4cnn_harmonic", "d4cnn", FILTERS, "exact quarter turns and mirror in both"),
    Contrast("p6cnn_harmonic_bilinear", "p6cnn_bilinear", FILTERS, "bilinear 60°, not a group action"),
    Contrast("p8cnn_harmonic_bilinear", "p8cnn_bilinear", FILTERS, "bilinear 45°, not a group action"),
    Contrast("p6cnn_harmonic", "p6cnn_harmonic_bilinear", TRANSFORM, "harmonic filters"),
    Contrast("p8cnn_harmonic", "p8cnn_harmonic_bilinear", TRANSFORM, "harmonic filters"),
    Contrast("p6cnn_bilinear", "p6cnn", "interpolation: bilinear against nearest", "pixel filters, not a group action"),
    Contrast("p6cnn_harmonic", "p6cnn", "filters and transform at once", "the group", one_factor=False),
    Contrast("p6cnn_harmonic", "p8cnn_harmonic", "the group: p6 against p8", "harmonic filters, exact", False),
    Contrast("p6cnn_harmonic", "p4cnn_harmonic", "the group: p6 against p4", "harmonic filters, exact", False),
    Contrast("p6cnn_harmonic", "p4cnn", "the group and the filters", "exact transforms", one_factor=False),
)


def _labels(table: str = TABLE1) -> dict[str, str]:
    return {name: label for label, name in TABLES[table].rows}


def _sample(frame: pd.DataFrame | None, run: str, metric: str) -> Sample | None:
    if frame is None or f"{metric}_mean" not in frame:
        return None
    rows = frame[frame["run_name"] == run]
    if rows.empty or pd.isna(rows.iloc[0][f"{metric}_mean"]):
        return None
    r = rows.iloc[0]
    n = int(r.get(f"{metric}_n", r.get("n", 0)))
    return Sample(float(r[f"{metric}_mean"]), float(r[f"{metric}_std"]), n) if n else None


def _pct(s: Sample) -> str:
    return f"{100 * s.mean:.1f}" + (f" ± {100 * s.std:.1f}" if s.n > 1 else "") + f" % (n={s.n})"


AWAITING = "awaiting runs"


def variant_table(frame: pd.DataFrame | None, metric: str) -> str:
    """Filters × model: mean ± std (n) of one metric, "awaiting runs" where a row has no finished run."""
    lines = ["| filters | " + " | ".join(m.upper() for m in MODELS) + " |"]
    lines.append("| --- |" + " --- |" * len(MODELS))
    known = set(_labels())
    for variant in FILTER_VARIANTS:
        cells = []
        for model in MODELS:
            run = model + variant.suffix
            if run not in known:
                cells.append("–")
                continue
            s = _sample(frame, run, metric)
            mark = " †" if not_a_group_action(run) else ""
            cells.append((_pct(s) if s else AWAITING) + mark)
        lines.append(f"| {variant.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def adjusted_p(frame: pd.DataFrame | None, metric: str) -> dict[tuple[str, str], float]:
    """{(a, b): Holm-adjusted p} of every contrast of `CONTRASTS` that the seeds can test on `metric`: the family
    is every comparison the report makes on that metric, one-factor or not (`gcnn_study.report.stats.holm`)."""
    tested = {}
    for c in CONTRASTS:
        sa, sb = _sample(frame, c.a, metric), _sample(frame, c.b, metric)
        if sa is not None and sb is not None and welch(sa, sb).testable:
            tested[c.a, c.b] = welch(sa, sb).p
    return dict(zip(tested, holm(list(tested.values()))))


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def contrast_row(frame: pd.DataFrame | None, c: Contrast, metric: str) -> tuple[str, ...]:
    """(comparison, varied, shared, difference, interval and p) of one contrast; the p is Welch's alone and, for a
    contrast of `CONTRASTS`, Holm-adjusted over the report's family (`adjusted_p`)."""
    labels = _labels()
    name = f"{labels[c.a]} − {labels[c.b]}"
    sa, sb = _sample(frame, c.a, metric), _sample(frame, c.b, metric)
    if sa is None or sb is None:
        missing = ", ".join(r for r, s in ((c.a, sa), (c.b, sb)) if s is None)
        return name, c.varied, c.fixed, AWAITING + f" ({missing})", ""
    w = welch(sa, sb)
    diff = f"{100 * w.diff:+.1f} points"
    if not w.testable:
        return name, c.varied, c.fixed, diff, f"one seed: direction only (n = {w.n_a}, {w.n_b})"
    family = adjusted_p(frame, metric)
    holm_p = f", Holm {_p(family[c.a, c.b])}" if (c.a, c.b) in family else ""
    ci = f"{LEVEL:.0%} CI [{100 * w.low:+.1f}, {100 * w.high:+.1f}]".replace("%", " %")
    return name, c.varied, c.fixed, diff, f"{ci}, Welch {_p(w.p)}{holm_p}, n = {w.n_a}, {w.n_b}"


def contrast_table(frame: pd.DataFrame | None, metric: str, one_factor: bool) -> str:
    head = "| comparison | what differs | what is shared | difference | 95 % CI, p (Welch; Holm-adjusted), n |"
    lines = [head, "| --- |" + " --- |" * 4]
    for c in CONTRASTS:
        if c.one_factor == one_factor:
            lines.append("| " + " | ".join(contrast_row(frame, c, metric)) + " |")
    return "\n".join(lines)


def model_errors(equivariance_md: Path, experiment: str = TABLE1) -> dict[str, dict[str, float]]:
    """{run: {transform label: mean error}} of one experiment's section of `equivariance.md` ({} when absent)."""
    if not Path(equivariance_md).exists():
        return {}
    text = Path(equivariance_md).read_text()
    section = re.search(rf"^## {re.escape(experiment)} \(.*?\)\n\n(\|.*\n)+", text, re.M)
    if not section:
        return {}
    rows = [line.strip().strip("|").split("|") for line in section.group(0).splitlines()[2:] if line.startswith("|")]
    header = [h.strip() for h in rows[0]]
    out = {}
    for row in rows[2:]:
        cells = [c.strip() for c in row]
        out[cells[0]] = {h: float(v.split()[0]) for h, v in zip(header[3:], cells[3:]) if v}
    return out


def _parameters(frame: pd.DataFrame | None) -> str:
    """How many fewer parameters the harmonic models have than their pixel counterparts, and the budget's origin."""
    import inspect

    from gcnn.models.classifier import GroupClassifier, count_parameters

    notebooks = inspect.signature(GroupClassifier).parameters["channels"].default  # the channels as run
    text = (8, 16, 32, 64, 128)  # §4.1.2: "5 layers of 3×3 convolutions with 8, 16, 32, 64 and 128 channels"
    lines = []
    if frame is not None and "params" in frame:
        params = frame.set_index("run_name")["params"].dropna()
        pairs = [(m + "_harmonic", m) for m in MODELS if m in params and m + "_harmonic" in params]
        fewer = [(1 - params[h] / params[p]) * 100 for h, p in pairs]
        if fewer:
            lines.append(
                f"The harmonic models have {min(fewer):.2f}–{max(fewer):.2f} % fewer parameters than their pixel "
                f"counterparts ({', '.join(f'{h} {int(params[h]):,} against {int(params[p]):,}' for h, p in pairs)});"
                " each resampled variant has its harmonic model's channels and count."
            )
    lines.append(
        f"The parameter budget all of them keep is the notebooks' (their CNN, with {', '.join(map(str, notebooks))} "
        f"channels, has {count_parameters(GroupClassifier('z2', channels=notebooks)):,} parameters); the channels the "
        f"study's text gives ({', '.join(map(str, text))}) make a CNN of "
        f"{count_parameters(GroupClassifier('z2', channels=text)):,}."
    )
    return " ".join(lines)


def _made_by(results_dir: Path, table: str) -> str:
    md = Path(results_dir) / f"{table}.md"
    match = re.search(r"^Made by: `(.*)` on", md.read_text(), re.M) if md.exists() else None
    return match.group(1) if match else ""


class Tested(NamedTuple):
    """One comparison of `CONTRASTS` as the reading uses it: Welch's test, its words, and its p adjusted over the
    report's family of `family` tests (nan with one seed)."""

    w: Comparison
    words: str
    holm: float
    family: int

    @property
    def shown(self) -> bool:
        """Significant at LEVEL in the family: the Holm-adjusted p below 1 − LEVEL."""
        return self.w.testable and self.holm < 1 - LEVEL


def _welch(frame, a: str, b: str, metric: str = TRANSFORMED) -> Tested | None:
    """Contrast a − b of `CONTRASTS` with its words 'x points (95 % CI [..], Welch p = .., Holm p = .., n = ..)',
    or None when a row is missing."""
    sa, sb = _sample(frame, a, metric), _sample(frame, b, metric)
    if sa is None or sb is None:
        return None
    row = contrast_row(frame, next(c for c in CONTRASTS if (c.a, c.b) == (a, b)), metric)
    family = adjusted_p(frame, metric)
    return Tested(welch(sa, sb), f"{row[3]} ({row[4]})", family.get((a, b), float("nan")), len(family))


def _strength(t: Tested) -> str:
    """How far a comparison can be read: significant in the report's family of tests, significant alone only,
    the direction of the means, or one seed."""
    if not t.w.testable:
        return "one seed, direction only"
    if t.shown:
        return f"significant at 95 % after Holm's correction for the report's {t.family} comparisons"
    if t.w.significant:
        return f"significant alone but not after Holm's correction for the report's {t.family} comparisons"
    return "in the means only, not significant"


def _causes(frame, model: str):
    """(group action, smooth filters) of one group, each a `_welch` pair of rows that differ in that factor alone;
    None when a row is missing."""
    action = _welch(frame, f"{model}_harmonic", f"{model}_harmonic_bilinear")
    smooth = _welch(frame, f"{model}_harmonic_bilinear", f"{model}_bilinear")
    return (action, smooth) if action and smooth else None


def _verdict(causes) -> str:
    """What the one-factor comparisons show together: what is significant, else which factor leads in the means,
    and what that says of the study's hypothesis and of ours for P6."""
    shown = [
        f"{word} for {model.upper()} ({t.w.diff * 100:+.1f} points)"
        for model, pair in causes.items()
        for word, t in zip(("the group action", "smooth filters"), pair)
        if t.shown
    ]
    leads = []
    for model, (action, smooth) in causes.items():
        action, smooth = action.w, smooth.w
        bigger = "the group action" if action.diff >= smooth.diff else "smooth filters"
        leads.append(
            f"{bigger} for {model.upper()} ({max(action.diff, smooth.diff) * 100:+.1f} points against "
            f"{min(action.diff, smooth.diff) * 100:+.1f})"
        )
    p6_tested, _ = causes[ABLATION_VARIED[0]]
    p6_action = p6_tested.w
    n = f"n = {p6_action.n_a}, {p6_action.n_b}" if p6_action.testable else "one seed"
    if p6_tested.shown and p6_action.diff > 0:
        p6 = (
            "For P6 the group action is shown to matter: with the same smooth filters, a transform that is not a "
            "group action costs accuracy, as our hypothesis says."
        )
    else:
        p6 = (
            f"For P6 neither cause is shown at {n}: the study's hypothesis and ours (a filter transform that is "
            "not a group action) are consistent with the means, not established by them; more seeds would decide."
        )
    family = f"Holm's correction for the report's {p6_tested.family} comparisons"
    lead = (
        f"Shown at 95 %: {'; '.join(shown)}, after {family}."
        if shown
        else f"No one-factor difference is significant at 95 % after {family}."
    )
    return f"- **What that shows.** {lead} Larger in the means: {'; '.join(leads)}. {p6}"


def reading(frame: pd.DataFrame | None, errors: dict[str, dict[str, float]]) -> list[str]:
    """The reading, sentence by sentence, from the numbers; a sentence whose rows are missing is left out."""
    out = []
    p8 = _welch(frame, "p8cnn_harmonic", "p8cnn")
    if p8:
        if p8.w.diff > 0 and p8.shown:
            lead, end = (
                "Smooth filters matter on their own.",
                "So part of the harmonic gain has another cause than the group action.",
            )
        else:
            lead, end = "Smooth filters alone: not shown.", "This does not separate the filters from the group action."
        out.append(
            f"- **{lead}** P8CNN's pixel transform (the nearest 45° ring shift of a 3×3 filter) already is a group "
            f'action, and harmonic filters change its "+transforms" accuracy by {p8.words}. {end}'
        )
    p6p8, p6p4h, p6p4 = (_welch(frame, "p6cnn_harmonic", b) for b in ("p8cnn_harmonic", "p4cnn_harmonic", "p4cnn"))
    if p6p8 and p6p4h and p6p4:
        behind = all(t.w.diff < 0 for t in (p6p8, p6p4h))
        shown = all(t.shown for t in (p6p8, p6p4h))
        lead = "With exact filters P6 does not trail both"
        if behind:
            lead = "P6 still trails with exact filters" if shown else "With exact filters P6 still trails in the means"
        out.append(
            f"- **{lead}** (harmonic against harmonic): P6CNN − P8CNN {p6p8.words}, {_strength(p6p8)}; "
            f'P6CNN − P4CNN {p6p4h.words}, {_strength(p6p4h)}. "Level with P4CNN" compared harmonic P6CNN with '
            f"pixel P4CNN, {p6p4.words}: two factors at once (the group and the filters)."
        )
    p6 = errors.get("p6cnn_harmonic", {})
    if "60°" in p6 and "30°" in p6:
        relation = "no more" if p6["60°"] >= p6["30°"] else "more"
        out.append(
            f"- **Trained, the harmonic P6CNN is {relation} invariant at 60° (an element of p6) than at 30° (not "
            f"one):** logit error {p6['60°']:.2f} against {p6['30°']:.2f} (`equivariance.md`), although its single "
            "layers are close to equivariant at 60° (below). Their small errors compound over five layers, and "
            "strided pooling on the square grid and the interpolated rotation of the digit add their own; this "
            "ablation does not separate them."
        )
    causes = {model: _causes(frame, model) for model in ABLATION_VARIED}
    if all(causes.values()):
        parts = []
        for model, (action, smooth) in causes.items():
            parts.append(
                f"{model.upper()}: the group action (harmonic exact − harmonic resampled) {action.words}, "
                f"{_strength(action)}; smooth filters (harmonic resampled − pixel bilinear) {smooth.words}, "
                f"{_strength(smooth)}"
            )
        out.append(f'- **The two causes, one factor at a time** ("+transforms"). {". ".join(parts)}.')
        out.append(_verdict(causes))
    else:
        out.append(
            "- **Awaiting the one-factor runs.** Which share of P6's harmonic gain is the group action and which "
            'the smooth filters is what the rows "harmonic, resampled bilinear" measure (same filters as '
            "harmonic, same kind of transform as pixel bilinear); they have not been run at this scale. Until they "
            'are, neither the study\'s hypothesis ("P6 lacking the multiples of 90°") nor ours (a filter transform '
            "that is not a group action) is shown to be the cause."
        )
    return out


def _family_note(frame: pd.DataFrame | None) -> list[str]:
    """The sentence that says how the comparisons' p are read (nothing when no comparison can be tested)."""
    m = len(adjusted_p(frame, TRANSFORMED))
    if not m:
        return []
    return [
        f"Each comparison is Welch's t-test over the seeds, with its own 95 % interval and p. The {m} comparisons "
        "of the two tables below are one family: the Holm-adjusted p corrects each p for all of them, and only a "
        "difference whose adjusted p is below 0.05 is read as significant.",
        "",
    ]


def render(results_dir: Path) -> str:
    results_dir = Path(results_dir)
    frames = {t: pd.read_csv(results_dir / f"{t}.csv") for t in (TABLE1, TABLE2) if (results_dir / f"{t}.csv").exists()}
    t1, t2 = frames.get(TABLE1), frames.get(TABLE2)
    errors = model_errors(results_dir / "equivariance.md")
    layers = measure.layer_error_table(layer_variants())
    lines = [
        "# The P6 question: what costs P6 accuracy?",
        "",
        f"Written by `python -m gcnn_study.report.ablation --results-dir {results_dir}` "
        "from the aggregator's tables beside it "
        f"([`{TABLE1}.md`]({TABLE1}.md), [`{TABLE2}.md`]({TABLE2}.md), each with the command that made its runs), "
        "the trained models' errors in [`equivariance.md`](equivariance.md) and single layers measured on the spot "
        "(`gcnn.equivariance`). No number here is typed.",
        "",
        'The study saw P6CNN trail P4CNN and P8CNN and guessed the cause: "P6 lacking the multiples of 90°, hence '
        'only having interpolated pixel values". Two factors can be at work, and the ablation varies each alone:',
        "",
        "- **the filters**: pixel (9 free values per 3×3 filter) or harmonic (6 coefficients of smooth, "
        "band-limited functions: Gaussian rings × circular harmonics, `gcnn.harmonic`);",
        "- **their transform**: a group action (quarter turns and the mirror, P8's nearest 45° ring shift, the "
        "rotation of harmonic coefficients) or an interpolation that is not one (marked †: nearest and bilinear "
        "60°, bilinear 45°, and the harmonic filter resampled bilinearly at the rotated grid).",
        "",
        '"Harmonic, resampled bilinear" has the harmonic model\'s filters and channels and the pixel bilinear '
        "model's kind of transform, so each of those two differs from it in one factor.",
        "",
        '## Table 1 protocol: "+transforms" accuracy',
        "",
        variant_table(t1, TRANSFORMED),
        "",
        "Upright (MNIST test) accuracy:",
        "",
        variant_table(t1, UPRIGHT),
        "",
        '### Comparisons that differ in one factor ("+transforms")',
        "",
        *_family_note(t1),
        contrast_table(t1, TRANSFORMED, one_factor=True),
        "",
        "### Comparisons that differ in more than one factor, for reference",
        "",
        contrast_table(t1, TRANSFORMED, one_factor=False),
        "",
        "## What the runs say",
        "",
        *reading(t1, errors),
        "",
        "## Table 2 protocol (Rot-MNIST)",
        "",
        variant_table(t2, UPRIGHT).replace("| filters |", "| filters (Rot-MNIST test accuracy) |"),
        "",
    ]
    if t2 is not None and (t2.get(f"{UPRIGHT}_n", t2["n"]) <= 1).all():
        lines += ["One seed per row: read the directions only.", ""]
    if errors:
        lines += [
            "## Trained models: invariance to their group's rotation and to 30°",
            "",
            "Logit error ‖f(g·x) − f(x)‖ / ‖f(x)‖ on held-out digits (mean over seeds), from "
            "[`equivariance.md`](equivariance.md): the group's smallest rotation (60° for P6, 45° for P8), an "
            "element of the group, beside 30°, an element of neither.",
            "",
            "| model | group rotation | error at it | error at 30° |",
            "| --- | --- | --- | --- |",
        ]
        for model, angle in (("p6cnn", "60°"), ("p8cnn", "45°")):
            for variant in FILTER_VARIANTS:
                e = errors.get(model + variant.suffix)
                if e and angle in e and "30°" in e:
                    lines.append(f"| {model + variant.suffix} | {angle} | {e[angle]:.2f} | {e['30°']:.2f} |")
        lines.append("")
    lines += [
        "## Single layers: equivariance error at the group's smallest rotation",
        "",
        "Relative error ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ of one random layer (2 → 4 channels, 3×3), mean over "
        f"{len(measure.SEEDS)} random layers, on a smooth bump of {measure.SIZE}×"
        f"{measure.SIZE} (blurred noise under a Gaussian envelope) compared inside the inscribed disc "
        "(`gcnn.equivariance`). The input and the output are rotated alike, so what remains is the layer's "
        "own error: its filter transform and the pixel grid.",
        "",
        measure.layer_table_markdown(layers),
        "",
        "## Caveats",
        "",
    ]
    params = _parameters(t1)
    if params:
        lines.append(f"- {params}")
    for table in (TABLE1, TABLE2):
        made_by = _made_by(results_dir, table)
        if made_by:
            lines.append(f"- `{table}` runs: `{made_by}`.")
    lines += [
        "- These P6CNN pixel runs use the nearest rotation that rounds ties away from the filter's centre (exact at "
        "180°); see `results/README.md`.",
        "",
    ]
    return "\n".join(lines)


def write(results_dir: Path) -> Path | None:
    results_dir = Path(results_dir)
    if not (results_dir / f"{TABLE1}.csv").exists():
        return None
    out = results_dir / "ablation_p6.md"
    out.write_text(render(results_dir))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results", help="the folder holding ablation_p6_table1.csv")
    parser.add_argument("--layers", action="store_true", help="only print the single-layer table (no runs needed)")
    args = parser.parse_args(argv)
    if args.layers:
        print(measure.layer_table_markdown(measure.layer_error_table(layer_variants())))
        return
    out = write(Path(args.results_dir))
    if out is None:
        raise SystemExit(f"error: {args.results_dir} holds no {TABLE1}.csv; build it with `make ablation-p6`")
    print(out.read_text())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
