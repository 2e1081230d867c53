"""Aggregate finished runs into the study's tables: `python -m gcnn.tables table1 --results-dir results`.

Reads every `runs/<experiment>/<run>/seed=<seed>/metrics.json` under the results directory (`gcnn.layout`), writes
`tableN.md` and `tableN.csv` there: the study's row order, mean ± std over seeds with n, the study's value
beside ours (from the one reference file, `gcnn/reference/study_results.csv`), parameters and training time,
then the runs that are missing, failed or unfinished, and the data and epochs used. A partial sweep gives a
partial table, never a crash. Runs of one row are averaged only when their settings (`config.yaml`) are equal
apart from the seed; otherwise the row stays empty and the runs are listed as a problem under the table. A
metrics.json that is not a finished run's record (`gcnn.rundir.record_problem`: the wrong shape, or a NaN of a
run that diverged) is never averaged; it is listed under the table too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from gcnn import claims, layout, provenance
from gcnn.rundir import IGNORED, RunDirError, differences, read_metrics, record_settings_problem, settings
from gcnn.specs import (
    PROTOCOLS,
    STUDY_TABLES,
    TABLES,
    TableSpec,
    experiment_of,
    parse_seeds,
    protocol_of,
    study_reference,
)

# What may differ between the runs of one row: what cannot change a result, and the seed.
ROW_IGNORED = (*IGNORED, "seed", "dataset.augment_seed")


def collect_runs(results_dir: Path, experiment: str) -> tuple[pd.DataFrame, list[dict]]:
    """Finished runs as a frame (one row per run), and the run directories that failed or did not finish."""
    records, problems = [], []
    for ref in layout.find(results_dir, experiment):
        run_dir, name, seed = ref.path, ref.run, str(ref.seed)
        if (run_dir / "metrics.json").exists():
            try:
                data = read_metrics(run_dir)
            except RunDirError as err:
                problems.append({"model": name, "seed": seed, "status": f"not averaged: {err}"})
                continue
            inconsistent = record_settings_problem(run_dir, data)
            if inconsistent:  # its config.yaml drifted from the settings the record proves: neither can be trusted
                problems.append({"model": name, "seed": seed, "status": f"inconsistent, not averaged: {inconsistent}"})
                continue
            records.append(
                {
                    **{k: v for k, v in data.items() if k not in ("metrics", "provenance")},
                    **data["metrics"],
                    "run": name,
                    "machine": data.get("machine", "machine not recorded"),
                    "input_size": _input_size(run_dir),
                    "settings": _settings(run_dir),
                }
            )
        elif (run_dir / "failed.json").exists():
            try:
                error = json.loads((run_dir / "failed.json").read_text())["error"]
            except (OSError, ValueError, TypeError, KeyError):  # damaged, or not the trainer's shape
                error = "failed.json unreadable"
            problems.append({"model": name, "seed": seed, "status": f"failed: {error}"})
        else:
            status = (
                "unfinished (rerun the same command to resume)"
                if (run_dir / "checkpoint.pt").exists()
                else "started, no epoch finished"
            )
            problems.append({"model": name, "seed": seed, "status": status})
    return pd.DataFrame.from_records(records), problems


def _settings(run_dir: Path) -> dict | None:
    """The run's settings that must agree within a table row, or None when config.yaml is unreadable."""
    try:
        from omegaconf import OmegaConf

        return settings(OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml")), ROW_IGNORED)
    except Exception:
        return None


def split_mixed_rows(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Keep the runs of each row only when their settings agree (seed aside); list the others as problems."""
    if not len(runs):
        return runs, []
    keep, problems = [], []
    for name, sel in runs.groupby("run", sort=False):
        settings = sel["settings"].tolist()
        if any(s is None for s in settings):
            unknown = [str(seed) for seed, s in zip(sel["seed"], settings) if s is None]
            problems.append(
                {
                    "model": name,
                    "seed": ",".join(unknown),
                    "status": "config.yaml missing or unreadable: "
                    "settings unknown, not averaged (rerun with trainer.force=true)",
                }
            )
            sel = sel[[s is not None for s in settings]]
            settings = [s for s in settings if s is not None]
        first = settings[0] if settings else None
        odd = [i for i, s in enumerate(settings) if s != first]
        if odd:
            diff = differences(first, settings[odd[0]])
            shown = "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
            problems.append(
                {
                    "model": name,
                    "seed": ",".join(str(s) for s in sorted(sel["seed"])),
                    "status": f"runs with different settings, not averaged (seed {sel['seed'].iloc[0]} vs "
                    f"seed {sel['seed'].iloc[odd[0]]}: {shown}); rerun them with one setting "
                    f"(trainer.force=true) or keep each setting in its own RESULTS folder",
                }
            )
        else:
            keep.append(sel)
    return (pd.concat(keep) if keep else runs.iloc[0:0]), problems


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


def _input_size(run_dir: Path) -> str:
    """The image size the run trained on, from its data_info.json ('?' when unknown)."""
    try:
        info = json.loads((run_dir / "data_info.json").read_text())
        size = info.get("size") or info.get("pad_to") or 28
    except (OSError, ValueError, AttributeError):
        return "?"
    return f"{size}×{size}"


def aggregate(spec: TableSpec, runs: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """One row per model of the study, in its order: mean, std and n of every metric, the study's value."""
    ref = reference[reference.table == spec.experiment].set_index(["model", "metric"])["value"]
    rows = []
    for label, name in spec.rows:
        sel = runs[runs.run == name] if len(runs) else runs
        row = {"model": label, "run_name": name, "n": int(len(sel))}
        for _, key in spec.columns + spec.extra:
            values = sel[key].dropna() if key in sel else pd.Series(dtype=float)
            row[f"{key}_mean"] = values.mean() if len(values) else float("nan")
            row[f"{key}_std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
            row[f"{key}_n"] = int(len(values))  # runs that report this metric (n above counts the row's runs)
            if (name, key) in ref.index:
                row[f"{key}_study"] = float(ref[(name, key)])
        row["params"] = int(sel["params"].iloc[0]) if len(sel) else None
        row["train_seconds_mean"] = sel["train_seconds"].mean() if len(sel) else float("nan")
        row["seeds"] = ",".join(str(s) for s in sorted(sel["seed"].tolist())) if len(sel) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(mean, std, n, percent):
    if pd.isna(mean):
        return "–"
    scale, unit, digits = (100, " %", 2) if percent else (1, "", 3)
    text = f"{mean * scale:.{digits}f}"
    if not pd.isna(std):
        text += f" ± {std * scale:.{digits}f}"
    return f"{text}{unit} (n={n})"


def _fmt_study(value, percent):
    if value is None or pd.isna(value):
        return "–"
    return f"{value * 100:.2f} %" if percent else f"{value:.3f}"


def _fmt_time(seconds):
    if pd.isna(seconds):
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _compared_cells(spec: TableSpec, r) -> list[str]:
    """Ours, then the study's, for each compared column of one aggregated row."""
    cells = []
    for _, key in spec.columns:
        cells += [
            _fmt(r[f"{key}_mean"], r[f"{key}_std"], r[f"{key}_n"], spec.percent),
            _fmt_study(r.get(f"{key}_study"), spec.percent),
        ]
    return cells


def render_markdown(spec, table, runs, problems, missing, command) -> str:
    header = ["Model"]
    for title, _ in spec.columns:
        header += [f"{title} (ours)", f"{title} (study)"]
    header += [f"{title} (ours)" for title, _ in spec.extra] + ["parameters", "train time / run"]
    lines = [f"# {spec.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in table.iterrows():
        cells = [r["model"], *_compared_cells(spec, r)]
        cells += [_fmt(r[f"{key}_mean"], r[f"{key}_std"], r[f"{key}_n"], spec.percent) for _, key in spec.extra]
        cells += [
            f"{int(r['params']):,}" if r["params"] is not None and not pd.isna(r["params"]) else "–",
            _fmt_time(r["train_seconds_mean"]),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")

    lines += ["", "Ours: mean ± sample std over seeds (n: the runs that report that metric)."]
    if spec.columns:  # a table without the study's columns (the P6 ablation) has no study to cite
        lines[-1] += " Study: the report's figures, from `src/gcnn/reference/study_results.csv`, never mixed with ours."
    if len(runs):
        setups = (
            runs.groupby(["dataset", "input_size", "epochs", "device", "synthetic"]).size().reset_index(name="runs")
        )
        lines += ["", "Runs aggregated (dataset, input size, epochs, device):"]
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
        lines += _launch_lines(runs)
    if missing or problems:
        lines += ["", "Missing, unfinished or unaveraged runs:"]
        lines += [f"- {m} seed={s}: missing" for m, s in missing]
        lines += [f"- {p['model']} seed={p['seed']}: {p['status']}" for p in problems]
    else:
        lines += ["", "No run is missing."]
    lines += ["", f"Made by: `{command}` on {time.strftime('%Y-%m-%d %H:%M')}", ""]
    return "\n".join(lines)


def aggregated(name: str, results_dir: Path, protocol: str | None = None):
    """(spec, table, runs, problems) of table `name` from the runs under `results_dir` at `protocol` (None:
    protocol_of): what the table file, its csv and the README's block are all written from."""
    if name not in TABLES:
        raise SystemExit(f"error: unknown table {name!r}; choose one of {', '.join(TABLES)}")
    spec = TABLES[name]
    results_dir = Path(results_dir)
    if not results_dir.is_dir():  # a typo must not give a table of missing runs in a new folder
        raise SystemExit(f"error: {results_dir} is not a folder: give --results-dir the paths.results_dir of the runs")
    protocol = protocol or protocol_of(name, results_dir)
    runs, problems = collect_runs(results_dir, experiment_of(name, protocol))
    runs, mixed = split_mixed_rows(runs)
    return spec, aggregate(spec, runs, study_reference()), runs, problems + mixed


def make_table(
    name: str,
    results_dir: Path,
    seeds: list[int] | None = None,
    command: str | None = None,
    protocol: str | None = None,
) -> tuple[str, pd.DataFrame]:
    """Table `name` as markdown and as a frame, written nowhere (build_table writes them)."""
    spec, table, runs, problems = aggregated(name, results_dir, protocol)
    found_seeds = sorted({int(s) for s in runs["seed"]}) if len(runs) else []
    expected_seeds = seeds if seeds is not None else (found_seeds or [0])
    done = set(zip(runs["run"], runs["seed"].astype(int))) if len(runs) else set()
    reported = {(p["model"], str(s)) for p in problems for s in str(p["seed"]).split(",")}
    missing = [
        (n, s) for _, n in spec.rows for s in expected_seeds if (n, s) not in done and (n, str(s)) not in reported
    ]
    command = command or " ".join(["python -m gcnn.tables", *sys.argv[1:]])
    return render_markdown(spec, table, runs, problems, missing, command), table


def build_table(
    name: str,
    results_dir: Path,
    seeds: list[int] | None = None,
    command: str | None = None,
    protocol: str | None = None,
) -> Path:
    """Write `<results_dir>/<name>.md/.csv` from the runs of `name` at `protocol` (None: protocol_of)."""
    text, table = make_table(name, results_dir, seeds, command, protocol)
    out = Path(results_dir) / f"{name}.md"
    try:
        out.write_text(text)
        table.to_csv(Path(results_dir) / f"{name}.csv", index=False)
    except OSError as err:
        raise SystemExit(
            f"error: cannot write {name} into {results_dir} ({err.strerror or err}): choose a folder you can write to"
        ) from None
    return out


# The README's results block lies between these two lines; `--readme` rewrites what is between them.
README_BEGIN = "<!-- results: written by `make readme-results` from the finished runs' records; do not edit -->"
README_END = "<!-- results: end -->"


def headline(results_dir: Path, link_dir: str) -> str:
    """The README's results block: every row of Tables 1-4 with the compared columns, ours beside the study's,
    from the finished runs' records under `results_dir` (`link_dir`: that folder as the README links it).
    Only finished runs count, so the block is the same in every clone of the same commit."""
    lines = []
    for name in STUDY_TABLES:
        spec, table, runs, _ = aggregated(name, results_dir)
        header = ["Model"] + [f"{title} ({who})" for title, _ in spec.columns for who in ("ours", "study")]
        lines += [f"**[{spec.title}]({link_dir}/{name}.md)**", "", "| " + " | ".join(header) + " |"]
        lines.append("|---|" + "---:|" * (len(header) - 1))
        for _, r in table.iterrows():
            lines.append("| " + " | ".join([r["model"], *_compared_cells(spec, r)]) + " |")
        finished = int((table["n"] > 0).sum())
        machines = sorted(set(runs["machine"])) if len(runs) else []
        seeds = sorted({int(s) for s in runs["seed"]}) if len(runs) else []
        done = f"{finished} of {len(table)} rows finished"
        if seeds:
            done += f" (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
        lines += ["", done + (f", on {'; '.join(machines)}" if machines else "") + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


def _block_span(readme: Path) -> tuple[str, int, int]:
    """The README's text and where its results block starts and ends (between the marker lines)."""
    text = Path(readme).read_text()
    once = text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    if not once or text.index(README_BEGIN) > text.index(README_END):
        raise SystemExit(
            f"error: {readme} needs one results block: the line {README_BEGIN!r}, then the line {README_END!r}"
        )
    return text, text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)


def readme_block(readme: Path, results_dir: Path) -> tuple[str, str]:
    """(the README's results block as it stands, as `headline` writes it from `results_dir` now)."""
    text, start, end = _block_span(readme)
    link = Path(os.path.relpath(Path(results_dir).resolve(), Path(readme).resolve().parent)).as_posix()
    return text[start:end], "\n\n" + headline(Path(results_dir), link) + "\n"


def write_readme(readme: Path, results_dir: Path) -> bool:
    """Rewrite the README's results block from the records under `results_dir`; True when it changed."""
    current, fresh = readme_block(readme, results_dir)
    if current == fresh:
        return False
    text, start, end = _block_span(readme)
    Path(readme).write_text(text[:start] + fresh + text[end:])
    return True


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
    if {"ablation_p6_table1", "ablation_p6_table2"} & set(args.tables):  # and so does the ablation's reading
        from gcnn import ablation

        print(f"wrote {ablation.write(Path(args.results_dir))} (the P6 ablation's reading of these tables)")
    if args.readme:
        changed = write_readme(Path(args.readme), Path(args.results_dir))
        print(f"{'rewrote' if changed else 'unchanged:'} the results block of {args.readme} from {args.results_dir}")


if __name__ == "__main__":
    main()
