"""The SegNets' output block, one factor at a time: the notebook's (last conv → ReLU → BN) against a 1×1 conv head.

    make head-comparison                        # trains the runs (65×65 PH2, 40 epochs, 3 seeds), then this
    python scripts/head_comparison.py --results-dir results/head_65px
    python scripts/head_comparison.py --results-dir results/full --at full

Reads the finished runs of runs/head_notebook/ and runs/head_conv1x1/ (every other setting equal: `make
head-comparison` runs both sweeps with one command line but model.head) and writes head_comparison.md and .csv
beside them: per model and head, the mean ± std over seeds of the train and test IoU scores, the last epoch's
training loss and validation score, and the epoch of the best validation score; then Welch's test of notebook −
1×1 on each score, Holm-adjusted over the table's tests (gcnn_study.report.stats), where both heads have two seeds
or more. `--at full` reads the same from results/full: Tables 3 and 4 (the notebook's models) against the records
kept from before the models followed the notebook (table3_conv1x1/, table4_conv1x1/), which differ in more than
the head (module docstring of gcnn_study.config.specs, docs/protocol.md): the full-size view of the same question.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from gcnn_study.config import layout
from gcnn_study.config.specs import TABLES
from gcnn_study.report.stats import Sample, holm, sample_of, welch
from gcnn_study.run import records

HEADS = {"notebook": "notebook (conv → ReLU → BN)", "conv1x1": "1×1 conv"}
# Each comparison: the experiments it reads and the head of each, and what else differs between the two sides.
COMPARISONS = {
    "65px": {
        "experiments": {"head_notebook": "notebook", "head_conv1x1": "conv1x1"},
        "title": "# The SegNets' output block: the notebook's against a 1×1 conv head",
        "about": "Table 4's protocol (PH2, 100 / 50 / 50, Adam 1e-4, batch 20, 40 epochs) at 65×65 instead of "
        "257×257; the models' channels as the notebook's (D4SegNet_T 16 / 32 / 64 / 64), the notebook's init for "
        "both heads: only model.head differs. Scores are the study's thresholded IoU score.",
    },
    "full": {
        "experiments": {
            "table3": "notebook",
            "table4": "notebook",
            "table3_conv1x1": "conv1x1",
            "table4_conv1x1": "conv1x1",
        },
        "title": "# The SegNets' output block at full size: Tables 3 and 4 against their 1×1-head records",
        "about": "The study's protocol (PH2 at 256×256, 257×257 for the `_T` models, 100 / 50 / 50, Adam 1e-4, batch "
        "20, 40 epochs). The notebook's models (Tables 3 and 4) against the seed-0 records trained before our "
        "SegNets followed the notebook (`table3_conv1x1/`, `table4_conv1x1/`), which differ in more than the head: "
        "a 1×1 conv head instead of the last conv → ReLU → BN, the fan-in init instead of the notebook's, and "
        "channels 12 / 24 / 45 / 90 for the D4 SegNets (docs/protocol.md). So this is not one factor, as "
        "`results/head_65px/` is; it shows whether the same pattern holds at full size. Scores are the study's "
        "thresholded IoU score.",
    },
}
SCORES = (("train IoU score", "train_iou_score"), ("test IoU score", "test_iou_score"))
ORDER = [run for table in ("table3", "table4") for run in TABLES[table].runs]  # the models in the tables' order


def runs(results_dir: Path, experiments: dict[str, str] = COMPARISONS["65px"]["experiments"]) -> list[dict]:
    """One dict per finished run: experiment, its head, run, seed, the two scores, last training loss, last and best
    val."""
    out = []
    for experiment, head in experiments.items():
        for ref in layout.find(results_dir, experiment):
            record = records.read_metrics(ref.path)
            if record is None:
                continue
            with open(ref.path / "history.csv", newline="") as f:
                history = list(csv.DictReader(f))
            val = [float(r["val_iou_score"]) for r in history if r.get("val_iou_score") not in (None, "", "nan")]
            out.append(
                {
                    "experiment": experiment,
                    "head": head,
                    "run": ref.run,
                    "seed": ref.seed,
                    **{key: record["metrics"][key] for _, key in SCORES},
                    "final_train_loss": float(history[-1]["train_loss"]),
                    "final_val_iou_score": val[-1] if val else float("nan"),
                    "best_val_epoch": (val.index(max(val)) + 1) if val else float("nan"),
                    "epochs": record["epochs"],
                }
            )
    return out


def sample(rows: list[dict], key: str) -> Sample:
    """Mean ± std over the rows that recorded `key` (runs older than validation scores have none: NaN)."""
    return sample_of([r[key] for r in rows if r[key] == r[key]])


def fmt(s: Sample, digits: int = 3) -> str:
    if s.n == 0:
        return "–"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f} (n={s.n})" if s.n > 1 else f"{s.mean:.{digits}f} (n={s.n})"


def table(rows: list[dict], command: str, at: str = "65px") -> tuple[str, list[dict]]:
    models = sorted({r["run"] for r in rows}, key=lambda m: (ORDER.index(m) if m in ORDER else len(ORDER), m))
    columns = [*(key for _, key in SCORES), "final_train_loss", "final_val_iou_score", "best_val_epoch"]
    out_rows, lines = [], []
    header = ["model", "output block", *[title for title, _ in SCORES], "last training loss", "last val score"]
    header.append("best val epoch")
    lines += ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for model in models:
        for head, label in HEADS.items():
            sel = [r for r in rows if r["run"] == model and r["head"] == head]
            if not sel:
                continue
            (experiment,) = {r["experiment"] for r in sel}
            stats = {key: sample(sel, key) for key in columns}
            cells = [fmt(stats[k]) for k in columns[:4]] + [fmt(stats["best_val_epoch"], 1)]
            lines.append(f"| {model} | {label} | " + " | ".join(cells) + " |")
            out_rows.append(
                {"model": model, "head": experiment, "seeds": ",".join(str(r["seed"]) for r in sel)}
                | {f"{k}_{part}": getattr(stats[k], part) for k in columns for part in ("mean", "std", "n")}
            )
    tests, untested = [], []
    for model in models:
        by_head = {h: [r for r in rows if r["run"] == model and r["head"] == h] for h in HEADS}
        if not all(by_head.values()):
            continue
        if min(len(v) for v in by_head.values()) < 2:  # Welch needs each side's spread
            untested.append(f"{model} ({len(by_head['notebook'])} against {len(by_head['conv1x1'])})")
            continue
        for title, key in SCORES:
            notebook, conv1x1 = sample(by_head["notebook"], key), sample(by_head["conv1x1"], key)
            tests.append((model, title, welch(notebook, conv1x1)))
    adjusted = holm([t.p for _, _, t in tests]) if tests else []
    if tests:
        lines += [
            "",
            f"Notebook − 1×1, Welch's test over seeds, Holm-adjusted over the {len(tests)} tests of this table:",
            "",
            "| model | score | difference | 95 % interval | p | Holm p |",
            "|---|---|---:|---|---:|---:|",
        ]
    for (model, title, t), p_holm in zip(tests, adjusted):
        lines.append(
            f"| {model} | {title} | {t.diff:+.3f} | [{t.low:+.3f}, {t.high:+.3f}] | {t.p:.3g} | {p_holm:.3g} |"
        )
    if untested:
        lines += [
            "",
            "Not tested, one run on a side (notebook against 1×1 seeds): " + ", ".join(untested) + ". Welch's test "
            "needs the spread of each side; a single run's score is one draw of its seed.",
        ]
    text = "\n".join(
        [
            COMPARISONS[at]["title"],
            "",
            COMPARISONS[at]["about"],
            "",
            *lines,
            "",
            f"Made by: `{command}`",
            "",
        ]
    )
    return text, out_rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results/head_65px")
    parser.add_argument("--command", default="make head-comparison")
    parser.add_argument(
        "--at", choices=sorted(COMPARISONS), default="65px", help="which comparison: 65px (one factor) or full"
    )
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    experiments = COMPARISONS[args.at]["experiments"]
    rows = runs(results, experiments)
    if {r["head"] for r in rows} != set(HEADS):
        where = " or ".join(sorted(experiments))
        print(
            f"error: no finished runs of both heads under {results}/runs/ ({where}): "
            + ("make head-comparison" if args.at == "65px" else "make reproduce, and keep the 1×1-head records"),
            file=sys.stderr,
        )
        return 1
    text, out_rows = table(rows, args.command, args.at)
    (results / "head_comparison.md").write_text(text)
    with open(results / "head_comparison.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(out_rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    print(f"wrote {results / 'head_comparison.md'} and .csv from {len(rows)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
