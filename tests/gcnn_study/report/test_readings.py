"""The numbers in the prose of docs/results.md, docs/ablation_p6.md, docs/benchmarks.md and results/README.md, checked
against the committed tables they read (results/full/ and results/reduced_cpu/ *.csv, equivariance.md, and, for the
rerun's before-and-after, the earlier tables in git). A number that drifts from its table, or a qualitative reading
the statistics no longer support, fails here."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch

from gcnn_study.report import ablation, claims
from gcnn_study.data.transforms import rotations90
from gcnn.equivariance import filter_transform_is_group_action
from gcnn_study.metrics import THRESHOLDS
from gcnn.models.classifier import GroupClassifier, count_parameters
from gcnn_study.report.stats import welch
from helpers import REPO

pytestmark = pytest.mark.records  # they read the committed results

REDUCED = REPO / "results" / "reduced_cpu"
EARLIER = "4a2905d"  # the reduced_cpu tables before the rerun of 2026-11-27 (results/README.md)


def prose(path: Path) -> str:
    """The file with line breaks folded to spaces, so a sentence reads as one line."""
    return re.sub(r"\s+", " ", path.read_text())


RESULTS_DOC, ABLATION_DOC = prose(REPO / "docs" / "results.md"), prose(REPO / "docs" / "ablation_p6.md")
RESULTS_README = prose(REPO / "results" / "README.md")


def table(name: str, folder: Path = REDUCED) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv").set_index("run_name")


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def test_results_so_far():
    t1, t3, t4 = table("table1"), table("table3"), table("table4")
    d4, cnn = t1.loc["d4cnn"], t1.loc["cnn"]
    assert (
        f"D4CNN keeps {pct(d4.test_transformed_acc_mean)} ± {pct(d4.test_transformed_acc_std)} % on the "
        f'"+transforms" test set against {pct(cnn.test_transformed_acc_mean)} ± {pct(cnn.test_transformed_acc_std)} '
        "% for the CNN" in RESULTS_DOC
    )
    group = t3.loc[["p4segnet", "d4segnet", "p4segnet+"]]
    assert ((group.test_iou_mean - group.test_rotated_iou_mean).abs() <= claims.EXACT).all()
    assert f"in all {int(group.n.sum())} group-model runs of Table 3" in RESULTS_DOC
    assert "test_rotated_iou_mean" not in t4 and "the committed Table 4 has no rotated column" in RESULTS_DOC
    segnet = t3.loc["segnet"]
    assert f"SegNet drops from {segnet.test_iou_mean:.3f} to {segnet.test_rotated_iou_mean:.3f} IoU" in RESULTS_DOC
    assert f"spreads by ±{pct(t1.loc['p4cnn'].test_transformed_acc_std)} points" in RESULTS_DOC


def test_no_table_1_ranking_between_models_is_significant_as_the_docs_say():
    assert "none of Table 1's rankings between models is significant by Welch's test" in RESULTS_DOC
    frames = {t: pd.read_csv(REDUCED / f"{t}.csv") for t in ("table1", "table2", "table3", "table4")}
    between_models = [
        (c, o)
        for c, o in claims.check(frames)
        if isinstance(c.test, claims.Higher)
        and c.test.subject.table == "table1"
        and all(r.run != c.test.subject.run for r in c.test.rivals)
    ]
    assert between_models and not [c.id for c, o in between_models if o.tag in (claims.HOLDS, claims.CONTRADICTED)]


def test_the_reading_says_which_table_1_claims_are_decided():
    """Once every Table 1 row has two seeds, the reading counts its claims by verdict, each decided by a test (none
    "one seed" or unchecked), and quotes the interval of each that holds for the means only."""
    from gcnn_study.report.per_image import PerImage

    frames = {t: pd.read_csv(FULL / f"{t}.csv") for t in ("table1", "table2", "table3", "table4")}
    ns = frames["table1"].filter(regex="_n$")
    if (ns < 2).any().any():
        pytest.skip("a Table 1 row has one seed: its claims are read in claims.md only")
    outcomes = [
        (c, o)
        for c, o in claims.check(frames, PerImage(FULL))
        if (getattr(c.test, "table", None) or c.test.a.table) == "table1"
    ]
    tags = [o.tag for _, o in outcomes]
    assert set(tags) <= {claims.HOLDS, claims.HOLDS_MEANS, claims.CONTRADICTED}, tags
    assert (
        f"With at least two seeds in every Table 1 row, its {len(outcomes)} claims are decided: "
        f"{tags.count(claims.HOLDS)} hold" in RESULTS_DOC
    )
    means = [(c, o) for c, o in outcomes if o.tag == claims.HOLDS_MEANS]
    assert ({1: "and one holds for the means only"}.get(len(means), "hold for the means only")) in RESULTS_DOC
    for c, o in means:
        interval = re.match(r"ratio [0-9.]+, 95 % CI \[[0-9.]+, [0-9.]+\]", o.detail)
        assert interval and f"({c.statement}: {interval.group(0)}" in RESULTS_DOC, o.detail
        assert f"against the range [{c.test.low:.2f}, {c.test.high:.2f}]" in RESULTS_DOC
    assert tags.count(claims.CONTRADICTED) == 0  # the sentence names none; one that turns must be named there


def test_parameter_counts_in_the_p6_section():
    params = table("ablation_p6_table1").params
    fewer = [1 - params[f"{m}_harmonic"] / params[m] for m in ("p4cnn", "p6cnn", "p8cnn", "d4cnn")]
    assert f"{100 * min(fewer):.2f}–{100 * max(fewer):.2f} % below their pixel counterparts" in ABLATION_DOC
    notebooks = count_parameters(GroupClassifier("z2"))  # the default channels are the notebooks' 16–256
    text = count_parameters(GroupClassifier("z2", channels=(8, 16, 32, 64, 128)))
    assert f"(the CNN with 16–256 channels: {notebooks:,} parameters)" in ABLATION_DOC
    assert f"(8–128) would give a CNN of {text:,}" in ABLATION_DOC
    assert table("table1").loc["cnn", "params"] == notebooks


def test_the_p6_reading_in_the_docs_follows_the_statistics():
    frame = pd.read_csv(REDUCED / "ablation_p6_table1.csv")
    s = lambda run: ablation.sample(frame, run, "test_transformed_acc")  # noqa: E731
    one_factor = {
        (model, cause): welch(s(a), s(b))
        for model in ("p6cnn", "p8cnn")
        for cause, (a, b) in {
            "action": (f"{model}_harmonic", f"{model}_harmonic_bilinear"),
            "smooth": (f"{model}_harmonic_bilinear", f"{model}_bilinear"),
        }.items()
    }
    assert not any(w.significant for w in one_factor.values())
    assert "no comparison that differs in one factor is significant at n = 3" in ABLATION_DOC
    pct = {key: f"{100 * w.diff:+.1f}" for key, w in one_factor.items()}
    assert one_factor["p6cnn", "action"].diff > one_factor["p6cnn", "smooth"].diff
    assert one_factor["p8cnn", "smooth"].diff > one_factor["p8cnn", "action"].diff
    assert (
        "for P6 the group action carries the gain (harmonic exact against harmonic resampled, "
        f"{pct['p6cnn', 'action']} points;" in ABLATION_DOC
    )
    assert f"harmonic resampled against pixel bilinear, {pct['p6cnn', 'smooth']})" in ABLATION_DOC
    assert (
        f"for P8 the smooth filters do ({pct['p8cnn', 'smooth']}; the group action {pct['p8cnn', 'action']})"
        in ABLATION_DOC
    )
    vs_p8, vs_p4 = (welch(s("p6cnn_harmonic"), s(b)) for b in ("p8cnn_harmonic", "p4cnn_harmonic"))
    family = ablation.adjusted_p(frame, "test_transformed_acc")  # the report's comparisons, Holm-adjusted
    holm_p8, holm_p4 = family["p6cnn_harmonic", "p8cnn_harmonic"], family["p6cnn_harmonic", "p4cnn_harmonic"]
    assert vs_p8.diff < 0 and vs_p4.diff < 0 and vs_p8.significant and not vs_p4.significant
    assert holm_p8 >= 0.05 and holm_p4 >= 0.05  # neither survives the correction
    assert "P6CNN still trails P8CNN and P4CNN in the means, neither significantly" in ABLATION_DOC
    assert (
        f"against P8CNN Welch's p is {vs_p8.p:.3f} alone but {holm_p8:.3f} after Holm's correction for the "
        f"report's {len(family)} comparisons" in ABLATION_DOC
    )
    assert "trails P8CNN significantly" not in ABLATION_DOC
    errors = ablation.model_errors(REDUCED / "figures" / "equivariance.csv")["p6cnn_harmonic"]
    assert (
        errors["60°"] >= errors["30°"]
        and "no more invariant at 60°, an element of its group, than at 30°" in ABLATION_DOC
    )


def _earlier(name: str) -> pd.DataFrame:
    try:
        text = subprocess.run(
            ["git", "show", f"{EARLIER}:results/reduced_cpu/{name}.csv"],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"commit {EARLIER} is not in this clone's history")
    return pd.read_csv(io.StringIO(text)).set_index("run_name")


def test_the_reruns_before_and_after_numbers():
    old, new = _earlier("table1"), table("table1")
    for run in new.index:
        for m in ("test_acc", "test_transformed_acc"):
            moved = abs(new.loc[run, f"{m}_mean"] - old.loc[run, f"{m}_mean"])
            spread = max(new.loc[run, f"{m}_std"], old.loc[run, f"{m}_std"])
            assert (moved > spread) == ((run, m) == ("p6cnn", "test_transformed_acc"))
    p6o, p6n = old.loc["p6cnn"], new.loc["p6cnn"]
    assert (
        f"{pct(p6o.test_transformed_acc_mean)} ± {pct(p6o.test_transformed_acc_std)} % before and "
        f"{pct(p6n.test_transformed_acc_mean)} ± {pct(p6n.test_transformed_acc_std)} % now" in RESULTS_README
    )
    t2o, t2n = _earlier("table2"), table("table2")
    moved = (t2n.test_acc_mean - t2o.test_acc_mean).abs().drop("p6cnn")  # P6CNN moved with its fix
    assert moved.idxmax() == "p8cnn" and f"up to {pct(moved.max())} points" in RESULTS_README
    for run, name in (("p8cnn", "P8CNN on Rot-MNIST, "), ("p6cnn", "P6CNN ")):
        assert f"{name}{pct(t2o.loc[run, 'test_acc_mean'])} → {pct(t2n.loc[run, 'test_acc_mean'])} %" in RESULTS_README
    scores = {"table3": ("test_iou_score", "test_rotated_iou_score"), "table4": ("train_iou_score", "test_iou_score")}
    seg = [(table(t)[f"{m}_mean"] - _earlier(t)[f"{m}_mean"]).abs().max() for t, ms in scores.items() for m in ms]
    assert f"and {max(seg):.2f} IoU score" in RESULTS_README


def test_the_segnet_batch_reading_in_the_benchmarks_doc():
    """docs/benchmarks.md's (and results/README.md's) batch-2 against batch-20 rates and projections, from the
    bench files and the projection check."""
    bench, doc = REPO / "results" / "bench", prose(REPO / "docs" / "benchmarks.md")

    def row(path: Path, model: str) -> list[str]:
        (line,) = [x for x in path.read_text().splitlines() if x.startswith(f"| {model} |")]
        return [c.strip() for c in line.split("|")[1:-1]]

    old = {m: row(bench / "training_cpu_1t_2x.md", m) for m in ("segnet", "d4segnet")}
    new = {
        "segnet": row(bench / "training_cpu_1t_2x_segnet+p4segnet+segnet_t+p4segnet_t.md", "segnet"),
        "d4segnet": row(bench / "training_cpu_1t_2x_d4segnet+d4segnet_t.md", "d4segnet"),
    }
    assert all(old[m][1].startswith("2 × ") and new[m][1].startswith("20 × ") for m in old)
    assert f"SegNet trained {old['segnet'][2]} images/s per copy" in doc
    assert f"and at batch 20 {new['segnet'][2]}; D4SegNet {old['d4segnet'][2]} and {new['d4segnet'][2]}" in doc
    assert f"(SegNet {old['segnet'][2]} against {new['segnet'][2]} images/s at batch 20)" in RESULTS_README
    check = row(REPO / "results" / "full" / "projection_check.md", "runs/table3_conv1x1/segnet/seed=0")
    rate, projected, fastest, ratio = float(check[3]), float(check[4]), float(check[5]), check[8]
    assert rate == pytest.approx(float(new["segnet"][8]), abs=0.05)  # the check used the batch-20 rate
    assert f"SegNet is projected at {ratio} times its fastest epoch" in doc
    at_batch_2 = projected * rate / float(old["segnet"][8]) / fastest
    assert f"the batch-2 rate projected {at_batch_2:.2f} of it" in doc


FULL = REPO / "results" / "full"


def test_the_results_page_says_how_far_the_full_run_is():
    """docs/results.md: what results/full holds, from its records (not "under way", which no record can show)."""
    from gcnn_study.report.figures.runs import finished_records
    from gcnn_study.config.specs import STUDY_TABLES, TABLES

    finished = finished_records(FULL)
    conv1x1 = [ref for ref in finished if ref.experiment.endswith("_conv1x1")]
    assert len(conv1x1) == 8 and {ref.seed for ref in conv1x1} == {0}
    assert sum(len(TABLES[t].rows) for t in ("table3", "table4")) == 8  # one record per row of Tables 3 and 4
    assert "The eight seed-0 SegNet records trained with the 1×1 head are tables of their own" in RESULTS_DOC
    assert not any(ref.experiment.startswith("ablation") for ref in finished)
    assert "no P6 ablation run at that protocol is there yet" in RESULTS_DOC
    assert {ref.experiment for ref in finished} <= {*(f"{t}_written" for t in STUDY_TABLES), *(TABLES)}
    assert "under way" not in RESULTS_DOC


def test_the_reading_of_tables_1_and_2():
    """docs/results.md's reading of the full-protocol Tables 1 and 2: every accuracy above the study's, the one pair of
    neighbours per column whose order differs from the study's, and the trained models' measured equivariance."""
    columns = [("table1", "test_acc", "on MNIST"), ("table1", "test_transformed_acc", 'on "+transforms"')]
    columns.append(("table2", "test_acc", "on Rot-MNIST"))
    gaps, same, swapped, close = [], [], [], []
    for name, metric, where in columns:
        t = table(name, FULL)
        ours, study = t[f"{metric}_mean"], t[f"{metric}_study"]
        gaps += list(100 * (ours - study))
        order = [x for x, y in zip(ours.sort_values(ascending=False).index, study.sort_values(ascending=False).index)]
        moved = [
            x
            for x, y in zip(ours.sort_values(ascending=False).index, study.sort_values(ascending=False).index)
            if x != y
        ]
        assert len(moved) in (0, 2), (where, order)  # the same order, or one swap of two models
        if not moved:
            same.append(where)
            close.append(f"{100 * abs(ours['p4cnn'] - ours['p8cnn']):.2f}")
            continue
        first, second = sorted(moved, key=lambda r: t.loc[r, "model"])
        gap = 100 * abs(ours[first] - ours[second])
        swapped.append(f"{t.loc[first, 'model']} and {t.loc[second, 'model']} {where} ({gap:.2f} points apart")
    assert f"The models rank as in the study {' and '.join(same)}" in RESULTS_DOC
    assert f"(where P4CNN and P8CNN are {' and '.join(close)} points apart)" in RESULTS_DOC
    assert "; ".join(swapped) in RESULTS_DOC
    assert (
        f"{'one pair of neighbours trades' if len(swapped) == 1 else 'pairs of neighbours trade'} places" in RESULTS_DOC
    )
    assert len(gaps) == 15 and min(gaps) > 0
    later = sum(int(n) - 1 for name in ("table1", "table2") for n in table(name, FULL).n)  # seed 0 is complete
    assert all((table(name, FULL).n >= 1).all() for name in ("table1", "table2"))
    assert f"(seed 0 complete, and {later} of the 20 runs of seeds 1 and 2, each row's n in the tables;" in RESULTS_DOC
    assert (
        f"All 15 of our accuracies (means where n > 1) are above the study's, by {min(gaps):.2f} to {max(gaps):.2f} "
        "points" in RESULTS_DOC
    )
    eq = pd.read_csv(FULL / "figures" / "equivariance.csv")
    exact = eq[eq.in_group & eq.exact_on_grid & eq.experiment.isin(["table1_written", "table2_written"])]
    assert (exact.error < 1e-4).all() and f"({exact.error.max():.1e} at most)" in RESULTS_DOC
    cell = eq[(eq.experiment == "table1_written") & (eq.seed == 0)].set_index(["run", "transform"]).error
    assert (
        f"relative errors are {cell['p8cnn', '45°']:.2f} and {cell['p6cnn', '60°']:.2f}, against the plain CNN's "
        f"{cell['cnn', '45°']:.2f} and {cell['cnn', '60°']:.2f}" in RESULTS_DOC
    )
    # Their cause is not tested, so the reading names none: P8's filter turn is a group action, P6's is not, and the
    # image's interpolation and the pooling share the error.
    assert filter_transform_is_group_action("p8", "pixel") and not filter_transform_is_group_action("p6", "pixel")
    assert "because turning a 3×3 filter" not in RESULTS_DOC and "Their cause is not tested here" in RESULTS_DOC
    assert (
        "the filter transform, which for P8 is an exact group action (the 45° ring shift of a 3×3 filter) and for P6 "
        "is not; these runs do not separate the three causes" in RESULTS_DOC
    )


def test_the_reading_of_tables_3_and_4():
    """docs/results.md's reading of the 1×1-head Tables 3 and 4 (the seed-0 records kept under table{3,4}_conv1x1/):
    how many rows finished, the score's step on the test set, the gaps to the study, the equivariant models' equal
    scores, where P4SegNet stands among the rest, and the Table 4 order."""
    t3, t4 = table("table3_conv1x1", FULL), table("table4_conv1x1", FULL)
    done3, done4 = t3[t3.n > 0], t4[t4.n > 0]
    finished = f"({len(done3)} of {len(t3)} rows of Table 3 and {len(done4)} of {len(t4)} of Table 4 finished"
    assert finished in RESULTS_DOC
    assert f"thresholds {THRESHOLDS[0]:.2f}, {THRESHOLDS[1]:.2f}, …, {THRESHOLDS[-1]:.2f}" in RESULTS_DOC
    splits = [json.loads(p.read_text())["split"] for p in FULL.glob("runs/table[34]_conv1x1/*/seed=*/data_info.json")]
    (n_test,) = {len(split["test"]) for split in splits}  # every segmentation run is scored on the same images
    step = 1 / (len(THRESHOLDS) * n_test)
    assert f"on our {n_test} test images the score moves in steps of {step:.3f}" in RESULTS_DOC

    gap = (done3.test_iou_score_study - done3.test_iou_score_mean).round(3)
    lo, hi = gap.idxmin(), gap.idxmax()
    assert (gap > 0).all() and f"by {gap[lo]:.3f} ({t3.model[lo]}) to {gap[hi]:.3f} ({t3.model[hi]})" in RESULTS_DOC
    st, p4t, d4t = t4.loc["segnet_t"], t4.loc["p4segnet_t"], t4.loc["d4segnet_t"]
    for m in ("test_iou_score", "train_iou_score"):
        assert (done4[f"{m}_mean"] > done4[f"{m}_study"]).drop("d4segnet_t").all()
        assert d4t[f"{m}_mean"] < d4t[f"{m}_study"]
    assert (
        f"while D4SegNet_T is below it on both (test {d4t.test_iou_score_mean:.3f} against "
        f"{d4t.test_iou_score_study:.3f}, train {d4t.train_iou_score_mean:.3f} against "
        f"{d4t.train_iou_score_study:.3f})" in RESULTS_DOC
    )
    assert (
        f"(SegNet_T {st.test_iou_score_mean:.3f} against {st.test_iou_score_study:.3f}, P4SegNet_T "
        f"{p4t.test_iou_score_mean:.3f} against {p4t.test_iou_score_study:.3f})" in RESULTS_DOC
    )
    assert (
        f"(train score {st.train_iou_score_mean:.3f} and {p4t.train_iou_score_mean:.3f} against "
        f"{st.train_iou_score_study:.3f} and {p4t.train_iou_score_study:.3f})" in RESULTS_DOC
    )

    score, rotated = "test_iou_score_mean", "test_rotated_iou_score_mean"
    p4, seg, plus = t3.loc["p4segnet"], t3.loc["segnet"], t3.loc["segnet+"]
    assert p4[score] == p4[rotated] and p4t[score] == p4t[rotated]
    assert f"the rotated test set ({p4[score]:.3f} and {p4t[score]:.3f}), as their exact p4 equivariance" in RESULTS_DOC
    eq = pd.read_csv(FULL / "figures" / "equivariance.csv").set_index(["experiment", "run"])
    exact = (
        eq.loc[[("table3_conv1x1", "p4segnet"), ("table4_conv1x1", "p4segnet_t")]]
        .query("in_group and exact_on_grid")
        .error
    )
    assert exact.index.nunique() == 2 and f"turn with the input to {exact.max():.1e} at most" in RESULTS_DOC
    assert (
        f"SegNet drops from {seg[score]:.3f} to {seg[rotated]:.3f} (the study: "
        f"{seg.test_iou_score_study:.3f} to {seg.test_rotated_iou_score_study:.3f})" in RESULTS_DOC
    )
    assert f"holds {plus[score]:.3f} and {plus[rotated]:.3f}" in RESULTS_DOC
    p4plus = t3.loc["p4segnet+"]
    assert abs(p4plus[score] - p4plus[rotated]) < 1e-9  # the same per-image scores, summed in another order
    assert f"P4SegNet+ scores {p4plus[score]:.3f} on both (the study: {p4plus.test_iou_score_study:.3f})" in RESULTS_DOC
    d4 = t3.loc["d4segnet"]
    assert abs(d4[score] - d4[rotated]) < 1e-9 and d4.test_iou_score_study == d4.test_rotated_iou_score_study
    assert abs(d4t[score] - d4t[rotated]) < 1e-9
    assert (
        f"and so do D4SegNet and D4SegNet_T ({d4[score]:.3f} and {d4t[score]:.3f} on "
        f"both; the study: {d4.test_iou_score_study:.3f} and {d4t.test_iou_score_study:.3f})" in RESULTS_DOC
    )
    # Unmeasured, the D4 SegNets' p4m equivariance is not claimed: the equal scores show invariance of the score to
    # the quarter turns the rotated test set holds, and it holds no mirror image.
    unmeasured = pd.read_csv(FULL / "figures" / "equivariance_unmeasured.csv")
    assert set(zip(unmeasured.experiment, unmeasured.run)) == {
        ("table3_conv1x1", "d4segnet"),
        ("table4_conv1x1", "d4segnet_t"),
    }
    assert "exactly equivariant to p4m" not in RESULTS_DOC
    image = torch.arange(9.0).reshape(1, 3, 3)  # no symmetry: its turns and mirrors all differ
    turns = rotations90(image)  # how gcnn_study.data.ph2 makes the rotated test set
    assert len(turns) == 4 and all(torch.equal(turns[k], torch.rot90(image[0], k)) for k in range(4))
    assert not any(torch.equal(t, torch.flip(image[0], dims=(-1,))) for t in turns)
    assert (
        "their score is invariant to 90° turns of the input, the only transforms the rotated test set holds (it has "
        "no mirror images), and their equivariance to p4m was never measured, because their checkpoints were lost "
        "before the equivariance report could measure them" in RESULTS_DOC
    )
    shown = t3[score].round(3)
    assert set(shown[shown == shown.max()].index) == {"d4segnet", "p4segnet+"}
    assert f"Our best Table 3 score is shared by D4SegNet and P4SegNet+ ({shown.max():.3f})" in RESULTS_DOC
    assert plus.test_iou_score_study > d4.test_iou_score_study < plus.test_rotated_iou_score_study
    assert plus[score] < d4[score] and plus[rotated] < d4[rotated]
    assert (
        f"The study's SegNet+ beats D4SegNet on both sets ({plus.test_iou_score_study:.3f} and "
        f"{plus.test_rotated_iou_score_study:.3f} against {d4.test_iou_score_study:.3f}); ours does not "
        f"({plus[score]:.3f} and {plus[rotated]:.3f} against {d4[score]:.3f})" in RESULTS_DOC
    )
    study = t3.test_iou_score_study
    assert study.idxmax() == "p4segnet+" and study.drop("p4segnet+").idxmax() == "p4segnet"
    assert (
        f"Unlike the study's P4SegNet, above every model but P4SegNet+ ({p4.test_iou_score_study:.3f})" in RESULTS_DOC
    )
    assert round(seg[score] - p4[score], 9) == round(step, 9)
    assert (
        f"one step of the score below SegNet on the upright test set ({p4[score]:.3f} against {seg[score]:.3f}"
        in RESULTS_DOC
    )
    assert (
        f"{p4.test_iou_mean:.3f}" == f"{seg.test_iou_mean:.3f}"
        and f"raw IoU {p4.test_iou_mean:.3f} for both" in RESULTS_DOC
    )
    assert p4[rotated] > seg[rotated]
    assert all(p4[m] < other[m] for other in (plus, d4) for m in (score, rotated))
    assert "leads it on the rotated set only, and stays below SegNet+ and D4SegNet on both" in RESULTS_DOC
    assert p4t[score] > st[score] and p4t.test_iou_score_study > st.test_iou_score_study
    assert (
        f"P4SegNet_T is above SegNet_T as in the study ({p4t[score]:.3f} against {st[score]:.3f}; the study: "
        f"{p4t.test_iou_score_study:.3f} against {st.test_iou_score_study:.3f})" in RESULTS_DOC
    )
    assert t4.test_iou_score_study.idxmax() == "d4segnet_t" and t4[score].idxmin() == "d4segnet_t"
    assert (
        f"study's best, D4SegNet_T ({d4t.test_iou_score_study:.3f}), is our lowest on the upright test set "
        f"({d4t[score]:.3f}; raw IoU {d4t.test_iou_mean:.3f} against {st.test_iou_mean:.3f} and "
        f"{p4t.test_iou_mean:.3f})" in RESULTS_DOC
    )
    assert st[rotated] < d4t[rotated] < p4t[rotated]
    assert f"beats SegNet_T only on the rotated set ({d4t[rotated]:.3f} against {st[rotated]:.3f})" in RESULTS_DOC
    gaps = (t4.train_iou_score_mean - t4[score]).round(3)
    assert gaps.idxmin() == "d4segnet_t" and d4t.train_iou_score_mean == t4.train_iou_score_mean.min()
    assert f"({gaps['d4segnet_t']:.3f} against {gaps['p4segnet_t']:.3f} and {gaps['segnet_t']:.3f})" in RESULTS_DOC
    assert "because it fits the training set less, not because it scores better on the test set" in RESULTS_DOC


def test_the_allocator_reading_in_the_benchmarks_doc():
    """docs/benchmarks.md's P4SegNet rates with and without gcnn_study.process.allocator's tunables, from the committed
    reports."""
    text = (REPO / "results" / "bench" / "allocator_cpu_1t_2x_p4segnet_on_intel-xeon-processor.md").read_text()
    default, kept = [[c.strip() for c in x.split("|")[1:-1]] for x in text.splitlines() if x.startswith("| p4segnet |")]
    doc = prose(REPO / "docs" / "benchmarks.md")
    assert float(kept[2]) > float(default[2]) and float(kept[6]) > float(default[6])
    assert (
        f"trains {kept[2]} images/s per copy against {default[2]} and evaluates {kept[6]} against {default[6]}" in doc
    )


def test_table_3_s_time_column_says_how_its_runs_were_placed():
    """P4SegNet and P4SegNet+ are the same model; their times differ by the placement the time column states, which
    their records hold: one thread of two cores, against two threads of two from P4SegNet+'s second epoch on."""
    t3, text = table("table3_conv1x1", FULL), (FULL / "table3_conv1x1.md").read_text()
    runs = ("p4segnet", "p4segnet+")
    record = {r: json.loads((FULL / f"runs/table3_conv1x1/{r}/seed=0/metrics.json").read_text()) for r in runs}
    alone = record["p4segnet"]["provenance"]
    assert (alone["num_threads"], alone["cpu_count"]) == (1, 2) and "launches" not in record["p4segnet"]
    assert t3.loc["p4segnet", "placement"] == "1 thread of 2 cores"
    threads = [(x["machine"].split(", ")[2], x["epochs"]) for x in record["p4segnet+"]["launches"]]
    assert threads == [("1 threads", [1, 1]), ("2 threads", [2, 40])]
    assert record["p4segnet+"]["provenance"]["cpu_count"] == 2
    plus = "1 thread of 2 cores for epoch 1, 2 threads of 2 cores for epochs 2-40"
    assert t3.loc["p4segnet+", "placement"] == plus
    for run, placed in (("p4segnet", "1 thread of 2 cores"), ("p4segnet+", plus)):
        assert f"| {t3.loc[run, 'train_seconds_mean'] / 60:.1f} min ({placed}) |" in text
    assert "compare their times only between rows placed alike" in text


def test_the_output_block_reading_follows_the_head_comparison():
    """docs/results.md's reading of results/head_65px/head_comparison.csv (make head-comparison): every number."""
    csv_path = REPO / "results" / "head_65px" / "head_comparison.csv"
    t = pd.read_csv(csv_path).set_index(["model", "head"])
    seg_nb, seg_1x1 = t.loc[("segnet_t", "head_notebook")], t.loc[("segnet_t", "head_conv1x1")]
    d4_nb, d4_1x1 = t.loc[("d4segnet_t", "head_notebook")], t.loc[("d4segnet_t", "head_conv1x1")]
    assert (t.train_iou_score_n == 3).all() and (t.test_iou_score_n == 3).all()
    text = (REPO / "results" / "head_65px" / "head_comparison.md").read_text()
    holm = {
        line.split(" | ")[0].strip("| ") + "/" + line.split(" | ")[1]: float(line.rstrip(" |").split(" | ")[-1])
        for line in text.splitlines()
        if line.startswith("| segnet_t | t") or line.startswith("| d4segnet_t | t")
    }
    assert (
        f"{seg_nb.train_iou_score_mean:.3f} ± {seg_nb.train_iou_score_std:.3f} against "
        f"{seg_1x1.train_iou_score_mean:.3f} ± {seg_1x1.train_iou_score_std:.3f} "
        f"(−{seg_1x1.train_iou_score_mean - seg_nb.train_iou_score_mean:.3f}, Holm-adjusted p "
        f"{holm['segnet_t/train IoU score']:.2g})" in RESULTS_DOC
    )
    assert (
        holm["segnet_t/train IoU score"] < 0.05 and min(holm[k] for k in holm if k != "segnet_t/train IoU score") > 0.05
    )
    assert f"stays at {seg_nb.final_train_loss_mean:.3f} against {seg_1x1.final_train_loss_mean:.3f}" in RESULTS_DOC
    assert f"({d4_nb.final_train_loss_mean:.3f} against {d4_1x1.final_train_loss_mean:.3f})" in RESULTS_DOC
    assert (
        f"{d4_nb.train_iou_score_mean:.3f} ± {d4_nb.train_iou_score_std:.3f} against "
        f"{d4_1x1.train_iou_score_mean:.3f} ± {d4_1x1.train_iou_score_std:.3f}, is not separable at n = 3 (Holm p "
        f"{holm['d4segnet_t/train IoU score']:.2g})" in RESULTS_DOC
    )
    assert (
        f"(SegNet_T {seg_nb.test_iou_score_mean:.3f} against {seg_1x1.test_iou_score_mean:.3f}, D4SegNet_T "
        f"{d4_nb.test_iou_score_mean:.3f} against {d4_1x1.test_iou_score_mean:.3f})" in RESULTS_DOC
    )
    seg_train = (seg_nb.train_iou_score_mean, seg_1x1.train_iou_score_mean)
    d4_train = (d4_nb.train_iou_score_mean, d4_1x1.train_iou_score_mean)
    assert max(d4_train) < min(seg_train)
    assert f"({d4_train[0]:.3f} and {d4_train[1]:.3f} against {seg_train[0]:.3f} and {seg_train[1]:.3f})" in RESULTS_DOC
    seg_best = sorted((seg_nb.best_val_epoch_mean, seg_1x1.best_val_epoch_mean))
    assert d4_nb.best_val_epoch_mean == d4_1x1.best_val_epoch_mean
    assert (
        f"(at epoch {d4_nb.best_val_epoch_mean:.0f} of 40, against {seg_best[0]:.0f} to {seg_best[1]:.0f} for SegNet_T)"
        in RESULTS_DOC
    )
    assert d4_nb.test_iou_score_mean > seg_nb.test_iou_score_mean
    assert f"({d4_nb.test_iou_score_mean:.3f} against {seg_nb.test_iou_score_mean:.3f})" in RESULTS_DOC
    gaps = (
        d4_nb.train_iou_score_mean - d4_nb.test_iou_score_mean,
        seg_nb.train_iou_score_mean - seg_nb.test_iou_score_mean,
    )
    assert f"train − test gap of {gaps[0]:.3f} against {gaps[1]:.3f}" in RESULTS_DOC


def _per_seed(row, metric: str) -> dict[str, float]:
    """A table row's value of `metric` for each seed (the csv's `<metric>_per_seed` column, JSON)."""
    return json.loads(row[f"{metric}_per_seed"])


def notebook_tables_phrases() -> list[str]:
    """The numbers and words of docs/results.md's reading of Tables 3 and 4 (the notebook's SegNets), each computed
    from the committed tables and results/full/head_comparison.csv; the reading must contain every one."""
    from gcnn_study.report.stats import paired_seeds

    t3, t4 = table("table3", FULL), table("table4", FULL)
    phrases = []
    done3, done4 = t3[t3.n > 0], t4[t4.n > 0]
    phrases.append(f"({len(done3)} of {len(t3)} rows of Table 3 and {len(done4)} of {len(t4)} of Table 4 have run")
    both = pd.concat([t3, t4])
    full_rows = both[both.n == both.n.max()]
    phrases.append(f"at n = {both.n.max()}: {', '.join(full_rows.model)}")
    # Where the study's one run lies against the prediction interval of our rows with two seeds or more.
    reads = [
        (row.model, c[: -len("_study_reads")], row[c])
        for _, row in both[both.n >= 2].iterrows()
        for c in both.columns
        if c.endswith("_study_reads") and isinstance(row[c], str)
    ]
    inside = [r for r in reads if r[2] == "inside"]
    phrases.append(f"inside our 95 % prediction interval in {len(inside)} of {len(reads)} cells")
    # Table 3: every finished row below the study on the upright test set.
    gap = (done3.test_iou_score_study - done3.test_iou_score_mean).round(3)
    assert (gap > 0).all()
    lo, hi = gap.idxmin(), gap.idxmax()
    phrases.append(
        f"below the study's in every finished row, by {gap[lo]:.3f} ({t3.model[lo]}) to {gap[hi]:.3f} ({t3.model[hi]})"
    )
    st = t4.loc["segnet_t"]
    assert st.train_iou_score_mean > st.train_iou_score_study and st.test_iou_score_mean > st.test_iou_score_study
    phrases.append(
        f"(train {st.train_iou_score_mean:.3f} against {st.train_iou_score_study:.3f}, test "
        f"{st.test_iou_score_mean:.3f} against {st.test_iou_score_study:.3f})"
    )
    # SegNet drops on the rotated set: the paired t-test over its seeds.
    seg = t3.loc["segnet"]
    up, turned = _per_seed(seg, "test_iou_score"), _per_seed(seg, "test_rotated_iou_score")
    test = paired_seeds([up[s] for s in sorted(up)], [turned[s] for s in sorted(up)])
    assert test.p < 0.05 or seg.n < 3
    phrases.append(
        f"SegNet drops from {seg.test_iou_score_mean:.3f} to {seg.test_rotated_iou_score_mean:.3f} (the study: "
        f"{seg.test_iou_score_study:.3f} to {seg.test_rotated_iou_score_study:.3f}; paired t-test over its "
        f"{seg.n} seeds, p = {test.p:.2g})"
    )
    plus = t3.loc["segnet+"]
    phrases.append(f"SegNet+ scores {plus.test_iou_score_mean:.3f} and {plus.test_rotated_iou_score_mean:.3f}")
    for run in ("p4segnet", "p4segnet+"):
        row = t3.loc[run]
        if row.n:
            assert abs(row.test_iou_score_mean - row.test_rotated_iou_score_mean) < 1e-9
            phrases.append(f"{row.model} {row.test_iou_score_mean:.3f} on both")
    # The output block at full size: the notebook's block against the 1×1-head records.
    heads = pd.read_csv(FULL / "head_comparison.csv").set_index(["model", "head"])
    pairs = [
        (model, heads.loc[(model, e)], heads.loc[(model, f"{e}_conv1x1")])
        for model, e in heads.index
        if not e.endswith("_conv1x1") and (model, f"{e}_conv1x1") in heads.index
    ]
    nb_loss = [nb.final_train_loss_mean for _, nb, _ in pairs]
    one_loss = [one.final_train_loss_mean for _, _, one in pairs]
    assert min(nb_loss) > max(one_loss)
    phrases.append(
        f"last training loss at {min(nb_loss):.2f} to {max(nb_loss):.2f} where the 1×1 head reached "
        f"{min(one_loss):.2f} to {max(one_loss):.2f}"
    )
    assert all(nb.train_iou_score_mean < one.train_iou_score_mean for _, nb, one in pairs)
    labels = dict(zip(both.index, both.model))
    phrases.append(
        f"lower train score in all {len(pairs)} models that have both ("
        + ", ".join(
            f"{labels[m]} {nb.train_iou_score_mean:.3f} against {one.train_iou_score_mean:.3f}" for m, nb, one in pairs
        )
        + ")"
    )
    drop = {m: round(one.test_iou_score_mean - nb.test_iou_score_mean, 3) for m, nb, one in pairs}
    if min(drop.values()) > 0:  # every notebook model below its 1×1 run on the test set
        lo, hi = min(drop, key=drop.get), max(drop, key=drop.get)
        phrases.append(
            f"every test score is lower too, by {drop[lo]:.3f} ({labels[lo]}) to {drop[hi]:.3f} ({labels[hi]})"
        )
    else:
        phrases.append(f"test scores differ by {max(abs(d) for d in drop.values()):.3f} at most")
    return phrases


def test_the_reading_of_the_notebook_tables_3_and_4():
    """docs/results.md's reading of Tables 3 and 4 as the notebook built them, and of the output block at full
    size: every number and direction computed from the committed tables (`notebook_tables_phrases`)."""
    missing = [p for p in notebook_tables_phrases() if p not in RESULTS_DOC]
    assert not missing, missing
