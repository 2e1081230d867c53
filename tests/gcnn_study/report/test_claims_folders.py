"""The claim checker on results folders: the t-test over seeds and images on the runs' per_image.csv, with the test
of the same networks beside it (McNemar for classifiers, the paired permutation test for IoU scores, pooled over
seeds), with known answers; the fall-back to Welch's test that the verdict names; the machines read from
tableN.json (never the markdown); claims.md written for a folder; the committed claims.md files are what the code
writes from the committed tables and records."""

from __future__ import annotations

import json
import re
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_claims import by_statement, frame, table1

from gcnn_study.report import claims
from gcnn_study.report.stats import Sample, welch
from helpers import REPO

P4_OVER_P6 = by_statement('P4CNN beats P6CNN on "+')
SEGPLUS_OVER_D4 = by_statement("SegNet+ beats D4SegNet (test)")
LABELS = [i % 10 for i in range(20)]


def _per_image(tmp_path, experiment: str, run: str, seed: int, rows: pd.DataFrame, metric: float | None = None):
    """A run's per_image.csv and the metrics.json it belongs to (its metric: the rows' mean unless given)."""
    folder = tmp_path / "runs" / experiment / run / f"seed={seed}"
    folder.mkdir(parents=True, exist_ok=True)
    rows.to_csv(folder / "per_image.csv", index=False)
    split = rows["split"].iloc[0]
    if "pred" in rows:
        name, value = f"{split}_acc", float((rows["pred"] == rows["target"]).mean())
    else:
        name, value = f"{split}_iou_score", float(rows["iou_score"].mean())
    metrics = {name: value if metric is None else metric}
    (folder / "metrics.json").write_text(json.dumps({"metrics": metrics}))


def _classified(right: int, labels=LABELS) -> pd.DataFrame:
    """20 images of test_transformed, the first `right` predicted correctly."""
    pred = [y if i < right else (y + 1) % 10 for i, y in enumerate(labels)]
    return pd.DataFrame({"split": "test_transformed", "index": range(20), "target": labels, "pred": pred})


def _table1_folder(tmp_path, p6_right=10, p6_cell=0.5, seeds="0") -> None:
    """P4CNN right on all 20 images, P6CNN on the first `p6_right`: b = 20 − p6_right, c = 0."""
    t = table1({"p4cnn": 1.0, "p6cnn": p6_cell}, std=math.nan, n=1)
    t["seeds"] = seeds
    t.to_csv(tmp_path / "table1.csv", index=False)
    _per_image(tmp_path, "table1", "p4cnn", 0, _classified(20))
    _per_image(tmp_path, "table1", "p6cnn", 0, _classified(p6_right))


def _seeds(tmp_path, run: str, seeds: str) -> None:
    t = pd.read_csv(tmp_path / "table1.csv", dtype={"seeds": str})
    t.loc[t.run_name == run, "seeds"] = seeds
    t.to_csv(tmp_path / "table1.csv", index=False)


def _outcome(tmp_path, claim_id: str) -> claims.Outcome:
    frames = claims.frames_of(tmp_path)
    return dict((c.id, o) for c, o in claims.check(frames, claims.PerImage(tmp_path)))[claim_id]


def test_one_seed_a_side_reads_the_direction_with_these_networks_test_beside_it(tmp_path):
    """b = 10, c = 0 of 20 pairs: McNemar's exact p = 2 · 2⁻¹⁰ = 0.002 shows these two networks differ; one seed
    a side cannot say whether another seed would, so the verdict is the direction only."""
    _table1_folder(tmp_path)
    o = _outcome(tmp_path, P4_OVER_P6)
    assert o.tag == claims.ONE_SEED and o.direction_ok
    assert o.detail == (
        "the direction holds: P4CNN 50.0 points above P6CNN (n = 1, 1 seeds, 20 images; on these networks, "
        "McNemar p = 0.002 (20 image pairs over 1 seed))"
    )


def _two_seeds(tmp_path, p6_seed1_right=14) -> None:
    """P4CNN right on all 20 images in seeds 0 and 1, P6CNN on the first 10, then the first `p6_seed1_right`."""
    _table1_folder(tmp_path, seeds="0,1", p6_cell=(10 + p6_seed1_right) / 40)
    t = pd.read_csv(tmp_path / "table1.csv")
    t[["n", "test_transformed_acc_n"]] = 2
    t["test_transformed_acc_std"] = 0.0
    t.loc[t.run_name == "p6cnn", "test_transformed_acc_std"] = pd.Series([0.5, p6_seed1_right / 20]).std()
    t.to_csv(tmp_path / "table1.csv", index=False)
    _per_image(tmp_path, "table1", "p4cnn", 1, _classified(20))
    _per_image(tmp_path, "table1", "p6cnn", 1, _classified(p6_seed1_right))


def test_seeds_and_images_decide_and_these_networks_test_stands_beside(tmp_path):
    """The case of test_paired_stats.test_two_classifiers_by_hand: 40 points apart, t = 2.990 on 3.10 df, p = 0.0557,
    not significant; McNemar over both seeds (b = 16, c = 0 of 40 pairs) is."""
    _two_seeds(tmp_path)
    o = _outcome(tmp_path, P4_OVER_P6)
    assert o.tag == claims.HOLDS_MEANS and "40.0 points above P6CNN" in o.detail
    assert "seed-and-image t-test p = 0.056 (Holm p = " in o.detail and "n = 2, 2 seeds, 20 images" in o.detail
    assert o.detail.endswith("; on these networks, McNemar p < 0.001 (40 image pairs over 2 seeds)")


def test_seeds_without_per_image_results_count_in_the_seed_terms_only(tmp_path):
    """Seed 1 of P6CNN lost its per_image.csv: both seeds' spread stays, the image term comes from seed 0."""
    _two_seeds(tmp_path)
    (tmp_path / "runs/table1/p6cnn/seed=1/per_image.csv").unlink()
    o = _outcome(tmp_path, P4_OVER_P6)
    assert "n = 2, 2 seeds, 20 images" in o.detail and "(20 image pairs over 1 seed)" in o.detail
    assert o.detail.endswith("; image term from seed 0 (seed 1 kept no per-image results of both rows)")


@pytest.mark.parametrize(
    "spoil,note",
    [
        (lambda d: (d / "runs/table1/p6cnn/seed=0/per_image.csv").unlink(), "no per_image.csv for P6CNN seed 0"),
        (
            lambda d: _per_image(d, "table1", "p6cnn", 0, _classified(10), metric=0.6),
            "the per-image results of P6CNN seed 0 do not average to its metrics.json",
        ),
        (
            lambda d: (_seeds(d, "p6cnn", "1"), _per_image(d, "table1", "p6cnn", 1, _classified(10))),
            "the rows share no seed",
        ),
        (
            lambda d: _per_image(d, "table1", "p6cnn", 0, _classified(10, LABELS[::-1])),
            "seed 0 of the two rows was tested on different images",
        ),
    ],
)
def test_without_pairs_the_verdict_says_why_and_falls_back_to_welch(tmp_path, spoil, note):
    _table1_folder(tmp_path)
    spoil(tmp_path)
    o = _outcome(tmp_path, P4_OVER_P6)
    assert o.tag == claims.ONE_SEED and o.detail.endswith(f"; not paired: {note})")


def _table3_two_seeds(tmp_path, split: str, scores: dict[str, list[float]]) -> None:
    """Table 3 with the rows of `scores` over seeds 0 and 1 (std 0), each seed's runs scoring `scores` on `split`."""
    metric = f"{split}_iou_score"
    rows = {r: {metric: (sum(v) / len(v), 0.0, 0.7)} for r, v in scores.items()}
    t = frame("table3", rows, n=2)
    t["seeds"] = "0,1"
    t.to_csv(tmp_path / "table3.csv", index=False)
    for run, values in scores.items():
        for seed in (0, 1):
            per = pd.DataFrame({"split": split, "index": range(len(values)), "iou_score": values})
            _per_image(tmp_path, "table3", run, seed, per)


def test_segmentation_scores_get_the_paired_permutation_test_beside(tmp_path):
    """SegNet+ against D4SegNet on 3 test images, differences 0.1, 0.2, 0.3 in both seeds: the seeds agree (std 0),
    so the t-test is the one-sample test of the differences, 0.2 ± t(0.975, 2)·0.1/√3, p = 1 − t/√(t² + 2) = 0.074
    at t = 2√3: not significant on three images, while on these networks 2 of the 2⁶ sign patterns reach
    |Σ d| = 1.2, p = 1/32."""
    _table3_two_seeds(tmp_path, "test", {"segnet+": [0.9, 0.8, 0.7], "d4segnet": [0.8, 0.6, 0.4]})
    o = _outcome(tmp_path, SEGPLUS_OVER_D4)
    assert o.tag == claims.HOLDS_MEANS
    assert o.detail == (
        "SegNet+ 0.200 above D4SegNet, 95 % CI [-0.048, +0.448], seed-and-image t-test p = 0.074, "
        "n = 2, 2 seeds, 3 images; on these networks, paired permutation p = 0.031 (6 image pairs over 2 seeds)"
    )


# ----------------------------------------------------------------------------------------------- machines, files
def _timed_table3(tmp_path) -> None:
    rows = {r: {"test_iou_score": (0.7, math.nan, 0.7)} for r in ("segnet+", "p4segnet")}
    t = frame("table3", rows, n=1)
    t["train_seconds_mean"] = [100.0, 150.0]
    t.to_csv(tmp_path / "table3.csv", index=False)


def test_the_machines_come_from_the_table_json_and_a_folder_without_it_names_none(tmp_path):
    _timed_table3(tmp_path)
    assert claims.machines_of(tmp_path) == {}
    text = claims.write(tmp_path).read_text()
    assert "SegNet+ 100 s and P4SegNet 150 s per run (1.5×), on the machine named under table3.md." in text
    facts = {"command": "make table3", "machines": {"Intel Xeon, 2 cores": ["segnet+"], "AMD EPYC": ["p4segnet"]}}
    (tmp_path / "table3.json").write_text(json.dumps(facts))
    (tmp_path / "table3.md").write_text("Machines (each run's provenance is in its metrics.json):\n- not read: x\n")
    assert claims.machines_of(tmp_path) == {"table3": "Intel Xeon, 2 cores; AMD EPYC"}
    assert "(1.5×), on Intel Xeon, 2 cores; AMD EPYC." in claims.write(tmp_path).read_text()


def test_a_broken_table_json_is_one_line_naming_it_and_the_fix(tmp_path):
    (tmp_path / "table3.json").write_text("{not json")
    with pytest.raises(SystemExit) as err:
        claims.machines_of(tmp_path)
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "table3.json") in message
    assert "python -m gcnn_study.report.tables table3 --results-dir" in message


def test_write_makes_claims_md_and_an_empty_folder_is_one_line(tmp_path):
    assert claims.write(tmp_path) is None
    proc = subprocess.run(
        [sys.executable, "-m", "gcnn_study.report.claims", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": ""},
    )  # fmt: skip
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1 and str(tmp_path) in proc.stderr
    table1().to_csv(tmp_path / "table1.csv", index=False)
    text = claims.write(tmp_path).read_text()
    assert text.count('| D4CNN is best on the "+transforms" test set |') == 1 and "not checked" in text
    assert "## Statements the tables cannot decide" in text


# ----------------------------------------------------------------------------------------------- committed folders
FOLDERS = ["results/reduced_cpu", "results/demo", "results/full"]


@pytest.mark.records
@pytest.mark.parametrize("folder", FOLDERS)
def test_the_committed_claims_md_is_what_the_code_writes_from_the_committed_records(folder):
    assert (REPO / folder / "claims.md").read_text() == claims.render_folder(REPO / folder), (
        f"{folder}/claims.md is stale: run `make claims RESULTS={folder}`"
    )


def test_a_local_make_demo_is_paired():
    """`make demo`'s runs keep per_image.csv; git keeps none of them, so a clone skips this (the paired tests' own
    cases are in tmp folders above)."""
    if not (REPO / "results/demo/runs").is_dir():
        pytest.skip("results/demo/runs is not in git: `make demo` makes it")
    demo = claims.check(claims.frames_of(REPO / "results/demo"), claims.PerImage(REPO / "results/demo"))
    paired = [o for c, o in demo if getattr(c.test, "paired", False)]
    assert paired and all("image pairs over 1 seed)" in o.detail for o in paired)


def test_the_reduced_runs_fall_back_to_welch():
    reduced = REPO / "results/reduced_cpu"
    out = {c.statement: o for c, o in claims.check(claims.frames_of(reduced), claims.PerImage(reduced))}
    assert "not paired: no per_image.csv for" in out["SegNet+ beats D4SegNet (test)"].detail


def test_the_reduced_runs_against_what_the_issue_says_they_do():
    """CNN 91.6 > P4CNN 88.6 on Rot-MNIST (one seed), D4SegNet above P4SegNet; SegNet+ below D4SegNet, significant
    alone (Welch p = 0.038) but not among Table 3's comparisons (Holm)."""
    frames = claims.frames_of(REPO / "results/reduced_cpu")
    out = {c.statement: o for c, o in claims.check(frames)}
    assert out["CNN is the worst on Rot-MNIST"].direction_ok is False
    assert (
        "P4SegNet 0.028 below D4SegNet" in out["Without augmentation, P4SegNet beats SegNet and D4SegNet (test)"].detail
    )
    t3 = frames["table3"].set_index("run_name")
    cell = lambda r: Sample(t3.loc[r, "test_iou_score_mean"], t3.loc[r, "test_iou_score_std"], 3)  # noqa: E731
    alone = welch(cell("segnet+"), cell("d4segnet"))
    below = out["SegNet+ beats D4SegNet (test)"]
    assert alone.significant and below.tag == claims.FAILS_MEANS and "(Holm p = " in below.detail
    assert "trains to 0.692" in out["D4SegNet_T has the smallest train − test gap"].detail


def test_the_readme_lists_every_claim_once_by_its_verdict(tmp_path):
    """The README's block ends with the claims by verdict: the decided ones by their statements, the rest by
    number, each of the 28 exactly once, from the same tables as claims.md."""
    from gcnn_study.report.readme import verdict_lines

    assert verdict_lines({}, tmp_path, "x") == []  # no table: no verdicts
    table1().to_csv(tmp_path / "table1.csv", index=False)
    lines = verdict_lines(claims.frames_of(tmp_path), tmp_path, "results/x")
    assert lines[0] == "[The study's 28 claims](results/x/claims.md), by our verdict:"
    listed = [i for line in lines[2:] for i in re.findall(r"#(\d+)", line)]
    assert sorted(listed, key=int) == [str(i) for i in range(1, 29)]
    tags = {c.id: o.tag for c, o in claims.check(claims.frames_of(tmp_path), claims.PerImage(tmp_path))}
    held = next(line for line in lines if line.startswith("- **holds** ("))
    assert all(f"(#{i})" in held for i, tag in tags.items() if tag == claims.HOLDS)


def test_the_rotated_test_set_counts_each_image_once_not_its_four_turns(tmp_path):
    """test_rotated holds every test image in four turns, block by block (rotations90): 8 rows are 2 images, and
    the tests across images see 2 per seed, each the mean of its turns."""
    from gcnn_study.report.per_image import per_source

    assert per_source(np.array([1.0, 0.0, 0.8, 0.2, 0.6, 0.4, 0.6, 0.2]), 4).tolist() == pytest.approx([0.75, 0.2])
    with pytest.raises(ValueError, match="7 per-image rows are not 4 blocks"):
        per_source(np.zeros(7), 4)
    _table3_two_seeds(tmp_path, "test_rotated", {"segnet+": [0.9, 0.8] * 4, "d4segnet": [0.7, 0.6] * 4})
    o = _outcome(tmp_path, by_statement("SegNet+ beats D4SegNet (rotated"))
    assert "n = 2, 2 seeds, 2 images" in o.detail and "(4 image pairs over 2 seeds)" in o.detail
