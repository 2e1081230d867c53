"""The SegNets' output block, one factor at a time: the notebook's (last conv → ReLU → BN) against a 1×1 conv head.

    make head-comparison                        # trains the runs (65×65 PH2, 40 epochs, 3 seeds), then this
    python scripts/head_comparison.py --results-dir results/head_65px

Reads the finished runs of runs/head_notebook/ and runs/head_conv1x1/ (every other setting equal: `make
head-comparison` runs both sweeps with one command line but model.head) and writes head_comparison.md and .csv
beside them: per model and head, the mean ± std over seeds of the train and test IoU scores, the last epoch's
training loss and validation score, and the epoch of the best validation score; then Welch's test of notebook −
1×1 on each score, Holm-adjusted over the table's tests (gcnn_study.report.stats).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from gcnn_study.config import layout
from gcnn_study.report.stats import Sample, holm, welch
from gcnn_study.run import records

HEADS = {"head_notebook": "notebook (conv → ReLU → BN)", "head_conv1x1": "1×1 conv"}
SCORES = (("train IoU score", "train_iou_score"), ("test IoU score", "test_iou_score"))


def runs(results_dir: Path) -> list[dict]:
    """One dict per finished run: experiment, run, seed, the two scores, last training loss, last and best val."""
    out = []
    for experiment in HEADS:
        for ref in layout.find(results_dir, experiment):
            record = records.read_metrics(ref.path)
            if record is None:
                continue
            with open(ref.path / "history.csv", newline="") as f:
                history = list(csv.DictReader(f))
            val = [float(r["val_iou_score"]) for r in history if r.get("val_iou_score")]
            out.append(
                {
                    "experiment": experiment,
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
    values = [r[key] for r in rows]
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else float("nan")
    return Sample(mean, std, n)


def fmt(s: Sample, digits: int = 3) -> str:
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f} (n={s.n})" if s.n > 1 else f"{s.mean:.{digits}f} (n={s.n})"


def table(rows: list[dict], command: str) -> tuple[str, list[dict]]:
    models = sorted({r["run"] for r in rows}, key=lambda m: (m != "segnet_t", m))
    columns = [*(key for _, key in SCORES), "final_train_loss", "final_val_iou_score", "best_val_epoch"]
    out_rows, lines = [], []
    header = ["model", "output block", *[title for title, _ in SCORES], "last training loss", "last val score"]
    header.append("best val epoch")
    lines += ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for model in models:
        for experiment, label in HEADS.items():
            sel = [r for r in rows if r["run"] == model and r["experiment"] == experiment]
            if not sel:
                continue
            stats = {key: sample(sel, key) for key in columns}
            cells = [fmt(stats[k]) for k in columns[:4]] + [fmt(stats["best_val_epoch"], 1)]
            lines.append(f"| {model} | {label} | " + " | ".join(cells) + " |")
            out_rows.append(
                {"model": model, "head": experiment, "seeds": ",".join(str(r["seed"]) for r in sel)}
                | {f"{k}_{part}": getattr(stats[k], part) for k in columns for part in ("mean", "std", "n")}
            )
    tests = []
    for model in models:
        by_head = {e: [r for r in rows if r["run"] == model and r["experiment"] == e] for e in HEADS}
        if not all(by_head.values()):
            continue
        for title, key in SCORES:
            notebook, conv1x1 = sample(by_head["head_notebook"], key), sample(by_head["head_conv1x1"], key)
            tests.append((model, title, welch(notebook, conv1x1)))
    adjusted = holm([t.p for _, _, t in tests]) if tests else []
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
    text = "\n".join(
        [
            "# The SegNets' output block: the notebook's against a 1×1 conv head",
            "",
            "Table 4's protocol (PH2, 100 / 50 / 50, Adam 1e-4, batch 20, 40 epochs) at 65×65 instead of 257×257; "
            "the models' channels as the notebook's (D4SegNet_T 16 / 32 / 64 / 64), the notebook's init for both "
            "heads: only model.head differs. Scores are the study's thresholded IoU score.",
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
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    rows = runs(results)
    if not rows:
        print(
            f"error: no finished runs under {results}/runs/head_notebook or head_conv1x1: make head-comparison",
            file=sys.stderr,
        )
        return 1
    text, out_rows = table(rows, args.command)
    (results / "head_comparison.md").write_text(text)
    with open(results / "head_comparison.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(out_rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    print(f"wrote {results / 'head_comparison.md'} and .csv from {len(rows)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
