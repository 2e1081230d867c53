"""Write the study's tables from finished runs: `python -m gcnn_study.report.tables table1 --results-dir results`.

For each table named, writes `<name>.md`, `<name>.csv` and `<name>.json` into the results directory: the study's row
order, mean ± std over seeds with n, the study's value beside ours, parameters and training time with its placement
(`gcnn_study.report.rows`, `gcnn_study.report.placement`), then the data and epochs used, the machines, the runs that
are missing, failed, unfinished or not averaged (`gcnn_study.report.collect`), and the command that made it. The json
holds the command and the machines, so that no other report reads the markdown. A partial sweep gives a partial
table, never a crash. `--readme README.md` rewrites the README's results block (`gcnn_study.report.readme`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from gcnn_study.config.specs import PROTOCOLS, STUDY_TABLES, TABLES, TableSpec, parse_seeds, study_reference
from gcnn_study.report import claims
from gcnn_study.report.placement import placement, time_cell, time_note
from gcnn_study.report.readme import README_BEGIN, README_END, readme_block, write_readme
from gcnn_study.report.rows import aggregate, aggregated, compared_cells, ours_cell, row_marks
from gcnn_study.run import provenance

# What the callers of the aggregator import from here (the notebook, the tests), each owned by its module.
__all__ = [
    "README_BEGIN",
    "README_END",
    "STUDY_TABLES",
    "TABLES",
    "aggregate",
    "aggregated",
    "build_table",
    "make_table",
    "placement",
    "readme_block",
    "render_markdown",
    "study_reference",
    "write_readme",
]


def _launch_lines(runs: pd.DataFrame) -> list[str]:
    """The runs that more than one process trained, with the commit of each one's epochs (their settings are the
    same, the run directory saw to that; the code may not be): nothing when every run was one launch."""
    if "launches" not in runs:
        return []
    several = [
        f"- {r['run']} seed={r['seed']}: {provenance.launches_line(r['launches'])}"
        for _, r in runs.sort_values(["run", "seed"]).iterrows()
        if isinstance(r["launches"], list) and len(r["launches"]) > 1
    ]
    if not several:
        return []
    return [
        "",
        "Runs trained by several launches (each launch's command and machine are in its metrics.json):",
    ] + several


def _setup_lines(runs: pd.DataFrame) -> list[str]:
    """The footers on what the runs were: their data, input size, epochs and device, and their machines."""
    setups = runs.groupby(["dataset", "input_size", "epochs", "device", "synthetic"]).size().reset_index(name="runs")
    lines = ["", "Runs aggregated (dataset, input size, epochs, device):"]
    for _, s in setups.iterrows():
        synthetic = " — SYNTHETIC data, not comparable with the study" if s["synthetic"] else ""
        epochs = f"{s['epochs']} epoch{'' if s['epochs'] == 1 else 's'}"
        lines.append(
            f"- {s['dataset']} at {s['input_size']}, {epochs}, {s['device']}: "
            f"{s['runs']} run{'' if s['runs'] == 1 else 's'}{synthetic}"
        )
    if len(setups) > 1:
        lines.append(
            "- WARNING: the rows come from different setups (above): compare them with care; keep one "
            "setting per `RESULTS=` folder."
        )
    machines = runs.groupby("machine", sort=True)["run"].agg(lambda r: ", ".join(dict.fromkeys(r)))
    lines += ["", "Machines (each run's provenance is in its metrics.json):"]
    lines += [f"- {key}: {names}" for key, names in machines.items()]
    if len(machines) > 1:
        lines.append(
            "- WARNING: these runs come from different machines, whose numbers may differ beyond "
            "round-off (docs/reproducibility.md)."
        )
    return lines + _launch_lines(runs)


def render_markdown(spec: TableSpec, table, runs, problems, missing, command) -> str:
    """Table `spec` as markdown: its aggregated rows, then the footers (setups, machines, missing runs, command)."""
    header = ["Model"]
    for title, _ in spec.columns:
        header += [f"{title} (ours)", f"{title} (study)"]
    header += [f"{title} (ours)" for title, _ in spec.extra] + ["parameters", "train time / run (placement)"]
    lines = [f"# {spec.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    marks = row_marks(problems)
    for _, r in table.iterrows():
        mark = marks.get(r["run_name"])
        cells = [r["model"], *compared_cells(spec, r, mark)]
        cells += [ours_cell(spec, r, key, mark) for _, key in spec.extra]
        cells += [
            f"{int(r['params']):,}" if r["params"] is not None and not pd.isna(r["params"]) else "–",
            time_cell(r),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")

    lines += ["", "Ours: mean ± sample std over seeds (n: the runs that report that metric)."]
    if spec.columns:  # a table without the study's columns (the P6 ablation) has no study to cite
        lines[-1] += (
            " Study: the report's figures, from `src/gcnn_study/reference/study_results.csv`, never mixed with ours."
            " Its (inside), (above) or (below): where the study's one run lies against the 95 % prediction interval of"
            " one more of our runs, mean ± t(0.975, n − 1) · std · √(1 + 1/n), from n = 2 on."
        )
    lines += time_note(table)
    if len(runs):
        lines += _setup_lines(runs)
    if missing or problems:
        lines += ["", "Missing, unfinished or unaveraged runs:"]
        lines += [f"- {m} seed={s}: missing" for m, s in missing]
        lines += [f"- {p['model']} seed={p['seed']}: {p['status']}" for p in problems]
    else:
        lines += ["", "No run is missing."]
    lines += ["", f"Made by: `{command}` on {time.strftime('%Y-%m-%d %H:%M')}", ""]
    return "\n".join(lines)


def make_table(
    name: str,
    results_dir: Path,
    seeds: list[int] | None = None,
    command: str | None = None,
    protocol: str | None = None,
) -> tuple[str, pd.DataFrame, dict]:
    """Table `name` as markdown, as a frame and its `facts`, written nowhere (build_table writes them)."""
    spec, table, runs, problems = aggregated(name, results_dir, protocol)
    found_seeds = sorted({int(s) for s in runs["seed"]}) if len(runs) else []
    expected_seeds = seeds if seeds is not None else (found_seeds or [0])
    done = set(zip(runs["run"], runs["seed"].astype(int))) if len(runs) else set()
    reported = {(p["model"], str(s)) for p in problems for s in str(p["seed"]).split(",")}
    missing = [
        (n, s) for _, n in spec.rows for s in expected_seeds if (n, s) not in done and (n, str(s)) not in reported
    ]
    command = command or " ".join(["python -m gcnn_study.report.tables", *sys.argv[1:]])
    return render_markdown(spec, table, runs, problems, missing, command), table, facts(runs, command)


def facts(runs: pd.DataFrame, command: str) -> dict:
    """What the other reports need of a table beside its rows (`<name>.json`, so that none of them reads the
    markdown): the command that made it, and {machine: [run names]} of the runs it aggregates."""
    machines = {} if not len(runs) else {k: list(dict.fromkeys(v)) for k, v in runs.groupby("machine")["run"]}
    return {"command": command, "machines": machines}


def build_table(
    name: str,
    results_dir: Path,
    seeds: list[int] | None = None,
    command: str | None = None,
    protocol: str | None = None,
) -> Path:
    """Write `<results_dir>/<name>.md/.csv/.json` from the runs of `name` at `protocol` (None: protocol_of)."""
    text, table, about = make_table(name, results_dir, seeds, command, protocol)
    out = Path(results_dir) / f"{name}.md"
    try:
        out.write_text(text)
        table.to_csv(Path(results_dir) / f"{name}.csv", index=False)
        (Path(results_dir) / f"{name}.json").write_text(json.dumps(about, indent=1) + "\n")
    except OSError as err:
        raise SystemExit(
            f"error: cannot write {name} into {results_dir} ({err.strerror or err}): choose a folder you can write to"
        ) from None
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # No `choices`: argparse (3.11) refuses an empty list against them; aggregated() names the unknown table.
    parser.add_argument("tables", nargs="*", metavar="TABLE", help="which tables to build: " + ", ".join(TABLES))
    parser.add_argument("--results-dir", default="results", help="the paths.results_dir of the runs")
    parser.add_argument("--seeds", default=None, help="expected seeds, e.g. 0,1,2 (missing ones are listed)")
    parser.add_argument("--command", default=None, help="the command that made the runs, written under the table")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help="the runs of the protocol as run (runs/<table>/) or as written (runs/<table>_written/ where it "
        "differs); default: the one the results directory holds",
    )
    parser.add_argument(
        "--readme",
        default=None,
        metavar="README.md",
        help="rewrite that file's results block (Tables 1-4, ours beside the study's) from --results-dir",
    )
    args = parser.parse_args(argv)
    if not args.tables and not args.readme:
        parser.error("give the tables to build, or --readme README.md")
    try:
        seeds = parse_seeds(args.seeds, "--seeds") if args.seeds else None
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    for name in args.tables:
        out = build_table(name, Path(args.results_dir), seeds, args.command, args.protocol)
        print(out.read_text())
        print(f"wrote {out} and {out.with_suffix('.csv')}")
    if set(STUDY_TABLES) & set(args.tables):  # the verdicts follow the tables they read
        print(f"wrote {claims.write(Path(args.results_dir))} (the study's claims checked against these tables)")
    if {"ablation_p6_table1", "ablation_p6_table2"} & set(args.tables):  # and so do the ablation's comparisons
        from gcnn_study.report import ablation

        print(f"wrote {ablation.write(Path(args.results_dir))} (the P6 ablation's comparisons and tables)")
    if args.readme:
        changed = write_readme(Path(args.readme), Path(args.results_dir))
        print(f"{'rewrote' if changed else 'unchanged:'} the results block of {args.readme} from {args.results_dir}")


if __name__ == "__main__":
    main()
